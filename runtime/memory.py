"""Global memory and tile buffers: 32-bit words seen as uint32 (``lw``/``sw``) or float32.

Region 0 is global memory (byte addresses ``0 .. global_mib * 2**20``); region ``1 + t`` is tile
``t``'s buffer (``0x80000000 + t * 0x01000000 .. + buffer_kib * 1024``). An operand is a strided
view; :meth:`Memory.view` checks that its lowest and highest element lie in one region before it
builds the numpy view, so a view never reaches outside its region.

The buffers live as long as the machine. Every write path records the extent of words it may
have written (:meth:`Memory.touch`), so :meth:`Memory.reset` zeroes only that extent instead of
the whole memory, and values derived from memory words (:meth:`Memory.remember`: the quantized
inputs of MVMs) are dropped as soon as a write may reach those words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from isa.spec import TILE_BASE, TILE_STRIDE
from runtime.state import Trap

_TILE_SHIFT = TILE_STRIDE.bit_length() - 1
assert 1 << _TILE_SHIFT == TILE_STRIDE

@dataclass(frozen=True)
class MemoryLimits:
    """How much the memory keeps beside its words (tests shrink it)."""

    #: Bytes of derived values kept at most (counted as the words they were computed from);
    #: one more empties the store first.
    derived_bytes: int = 1 << 22


class Memory:
    """The machine's data memory, all zero after :meth:`reset`."""

    def __init__(self, global_bytes: int, tiles: int, buffer_bytes: int,
                 limits: MemoryLimits = MemoryLimits()):
        self.limits = limits
        self.global_bytes = global_bytes
        self.tiles = tiles
        self.buffer_bytes = buffer_bytes
        sizes = [global_bytes] + [buffer_bytes] * tiles
        self.u32 = [np.zeros(n // 4, np.uint32) for n in sizes]  # lazily zeroed pages
        self.f32 = [a.view(np.float32) for a in self.u32]
        self.words = [memoryview(a) for a in self.u32]
        self.dirty: list[tuple[int, int] | None] = [None] * len(sizes)  # written word extents
        self.derived: dict = {}  # key -> value computed from memory words (remember)
        self._watched: list[tuple[int, int] | None] = [None] * len(sizes)  # their words
        self._derived_bytes = 0

    def touch(self, region: int, lo: int, hi: int) -> None:
        """Record that words ``lo .. hi - 1`` of ``region`` may have been written."""
        d = self.dirty[region]
        self.dirty[region] = (lo, hi) if d is None else (min(d[0], lo), max(d[1], hi))
        w = self._watched[region]
        if w is not None and lo < w[1] and hi > w[0]:
            self.forget()

    def take_dirty(self) -> list[tuple[int, int] | None]:
        """The extents written since the last reset (or the last call), per region; the record
        then starts afresh, and :meth:`merge_dirty` adds them back."""
        taken, self.dirty = self.dirty, [None] * len(self.dirty)
        return taken

    def merge_dirty(self, extents: list[tuple[int, int] | None]) -> None:
        """Add extents from :meth:`take_dirty` back to the record of written words."""
        for r, e in enumerate(extents):
            d = self.dirty[r]
            if e is not None:
                self.dirty[r] = e if d is None else (min(d[0], e[0]), max(d[1], e[1]))

    def remember(self, key, region: int, lo: int, hi: int, value):
        """Keep ``value``, computed from words ``lo .. hi - 1`` of ``region``, in
        :attr:`derived` under ``key`` until a write may reach those words (:meth:`touch`) or
        the memory is reset; return it. The store keeps one extent of watched words per region,
        so a write anywhere between two remembered operands drops both."""
        n = 4 * (hi - lo)
        cap = self.limits.derived_bytes
        if self._derived_bytes + n > cap:
            self.forget()
            if n > cap:
                return value
        self.derived[key] = value
        self._derived_bytes += n
        w = self._watched[region]
        self._watched[region] = (lo, hi) if w is None else (min(w[0], lo), max(w[1], hi))
        return value

    def forget(self) -> None:
        """Drop every derived value."""
        if self.derived:
            self.derived.clear()
        self._watched = [None] * len(self._watched)
        self._derived_bytes = 0

    def reset(self, overwritten: tuple[tuple[int, int, int], ...] = ()) -> None:
        """Zero everything written since the last reset, except the ``(region, lo, hi)`` word
        ranges in ``overwritten``, which the caller is about to overwrite entirely."""
        self.forget()
        for r, extent in enumerate(self.dirty):
            if extent is None:
                continue
            lo, hi = extent
            for kr, klo, khi in sorted(overwritten):
                if kr != r or khi <= lo or klo >= hi:
                    continue
                if klo > lo:
                    self.u32[r][lo:klo] = 0
                lo = max(lo, khi)
            if lo < hi:
                self.u32[r][lo:hi] = 0
            self.dirty[r] = None

    # ---- addressing ---------------------------------------------------------------------------

    def describe(self, region: int) -> str:
        if region == 0:
            return f"global memory (0x0..{self.global_bytes:#x})"
        t = region - 1
        base = TILE_BASE + t * TILE_STRIDE
        return f"tile {t}'s buffer ({base:#x}..{base + self.buffer_bytes:#x})"

    def locate(self, addr: int) -> tuple[int, int]:
        """``(region, word index)`` of byte address ``addr``; trap if it is in no region."""
        if 0 <= addr < self.global_bytes:
            return 0, addr >> 2
        off = addr - TILE_BASE
        t = off >> _TILE_SHIFT
        if off >= 0 and t < self.tiles and (off & (TILE_STRIDE - 1)) < self.buffer_bytes:
            return 1 + t, (off & (TILE_STRIDE - 1)) >> 2
        raise Trap(f"address {addr & 0xFFFFFFFF:#010x} is outside every memory region")

    def load_word(self, addr: int) -> int:
        """The raw 32-bit word at ``addr`` (4-aligned)."""
        if addr & 3:
            raise Trap(f"misaligned word address {addr:#010x}")
        r, i = self.locate(addr)
        return self.words[r][i]

    def store_word(self, addr: int, value: int) -> None:
        if addr & 3:
            raise Trap(f"misaligned word address {addr:#010x}")
        r, i = self.locate(addr)
        self.words[r][i] = value
        self.touch(r, i, i + 1)

    def view(self, addr: int, shape: tuple[int, ...], strides: tuple[int, ...], *,
             write: bool = False) -> tuple[int, np.ndarray]:
        """``(region, float32 view)`` of the elements at ``addr + 4 * sum_k i_k * strides[k]``,
        ``i_k < shape[k]``, after checking that all of them lie in one region; trap on a
        misaligned base or an operand that leaves its region. ``write`` records the extent."""
        r, v, lo, hi = self.extent(addr, shape, strides)
        if write and hi > lo:
            self.touch(r, lo, hi)
        return r, v

    def extent(self, addr: int, shape: tuple[int, ...], strides: tuple[int, ...]
               ) -> tuple[int, np.ndarray, int, int]:
        """As :meth:`view` without recording a write: ``(region, view, lo, hi)``, the operand's
        elements lying in words ``lo .. hi - 1`` of the region (``lo = hi`` when it is empty),
        for a caller that keeps the view and records its writes with :meth:`touch`."""
        if addr & 3:
            raise Trap(f"misaligned operand address {addr:#010x}")
        lo = hi = 0
        for n, s in zip(shape, strides):
            if n <= 0:
                return 0, np.empty(shape, np.float32), 0, 0
            if s > 0:
                hi += s * (n - 1)
            else:
                lo += s * (n - 1)
        first = addr + 4 * lo
        if first < 0:
            raise Trap(f"operand at {addr:#010x} reaches below address 0 (to {first})")
        r, i0 = self.locate(first)
        end = i0 + (hi - lo) + 1
        if end > len(self.f32[r]):
            last = addr + 4 * hi
            raise Trap(f"operand {first:#x}..{last + 3:#x} leaves {self.describe(r)}")
        # The bounds are checked above; ndarray() builds the view far faster than as_strided.
        v = np.ndarray(shape, np.float32, buffer=self.f32[r], offset=4 * (i0 - lo),
                       strides=tuple(4 * s for s in strides))
        return r, v, i0, end

    def span(self, addr: int, nwords: int, *, write: bool = False) -> tuple[int, np.ndarray]:
        """``(region, contiguous uint32 view)`` of ``nwords`` words at ``addr``."""
        if addr & 3:
            raise Trap(f"misaligned address {addr:#010x}")
        r, i = self.locate(addr)
        if i + nwords > len(self.u32[r]):
            raise Trap(f"{nwords} words at {addr:#x} leave {self.describe(r)}")
        if write:
            self.touch(r, i, i + nwords)
        return r, self.u32[r][i : i + nwords]
