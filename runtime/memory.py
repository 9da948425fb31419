"""Global memory and tile buffers: 32-bit words seen as uint32 (``lw``/``sw``) or float32.

Region 0 is global memory (byte addresses ``0 .. global_mib * 2**20``); region ``1 + t`` is tile
``t``'s buffer (``0x80000000 + t * 0x01000000 .. + buffer_kib * 1024``). An operand is a strided
view; :meth:`Memory.view` checks that its lowest and highest element lie in one region before it
builds the numpy view, so a view never reaches outside its region.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from isa.spec import TILE_BASE, TILE_STRIDE
from runtime.state import Trap

_TILE_SHIFT = TILE_STRIDE.bit_length() - 1
assert 1 << _TILE_SHIFT == TILE_STRIDE


class Memory:
    """The machine's data memory. :meth:`reset` gives every region fresh zeros."""

    def __init__(self, global_bytes: int, tiles: int, buffer_bytes: int):
        self.global_bytes = global_bytes
        self.tiles = tiles
        self.buffer_bytes = buffer_bytes
        self.u32: list[np.ndarray] = []
        self.f32: list[np.ndarray] = []
        self.words: list[memoryview] = []
        self.reset()

    def reset(self) -> None:
        """Zero every region (fresh, lazily zeroed pages: cheap for untouched memory)."""
        sizes = [self.global_bytes] + [self.buffer_bytes] * self.tiles
        self.u32 = [np.zeros(n // 4, np.uint32) for n in sizes]
        self.f32 = [a.view(np.float32) for a in self.u32]
        self.words = [memoryview(a) for a in self.u32]

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

    def region_of(self, addr: int) -> int:
        return self.locate(addr)[0]

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

    def view(self, addr: int, shape: tuple[int, ...],
             strides: tuple[int, ...]) -> tuple[int, np.ndarray]:
        """``(region, float32 view)`` of the elements at ``addr + 4 * sum_k i_k * strides[k]``,
        ``i_k < shape[k]``, after checking that all of them lie in one region; trap on a
        misaligned base or an operand that leaves its region."""
        if addr & 3:
            raise Trap(f"misaligned operand address {addr:#010x}")
        lo = hi = 0
        for n, s in zip(shape, strides):
            if n <= 0:
                return 0, np.empty(shape, np.float32)
            if s > 0:
                hi += s * (n - 1)
            else:
                lo += s * (n - 1)
        first = addr + 4 * lo
        if first < 0:
            raise Trap(f"operand at {addr:#010x} reaches below address 0 (to {first})")
        r, i0 = self.locate(first)
        if i0 + (hi - lo) >= len(self.f32[r]):
            last = addr + 4 * hi
            raise Trap(f"operand {first:#x}..{last + 3:#x} leaves {self.describe(r)}")
        base = self.f32[r][i0 - lo :]
        return r, as_strided(base, shape, tuple(4 * s for s in strides))

    def span(self, addr: int, nwords: int) -> tuple[int, np.ndarray]:
        """``(region, contiguous uint32 view)`` of ``nwords`` words at ``addr``."""
        if addr & 3:
            raise Trap(f"misaligned address {addr:#010x}")
        r, i = self.locate(addr)
        if i + nwords > len(self.u32[r]):
            raise Trap(f"{nwords} words at {addr:#x} leave {self.describe(r)}")
        return r, self.u32[r][i : i + nwords]
