"""Weight quantization and bit-slicing onto conductance levels.

A weight matrix ``W`` (K x N, rows are inputs) is quantized per output column to signed
``w_bits``-bit integers, then mapped onto non-negative cell levels of ``cell_bits`` bits as
*blocks*: ``W_q = sum_b coef[b] * blocks[b]``, which the machine's ``vsadd`` recombines (see
docs/machine.md, "Weight slicing and signed weights").

- ``differential``: ``W_q = W+ - W-``; each magnitude has ``w_bits - 1`` bits, cut into
  ``S = ceil((w_bits - 1) / cell_bits)`` slices; block ``b = 2*s + p`` holds slice ``s`` of
  ``W+`` (``p = 0``) or ``W-`` (``p = 1``), with ``coef = (-1)**p * 2**(s*cell_bits)``.
- ``offset``: ``U = W_q + 2**(w_bits-1)`` (``w_bits`` unsigned bits) cut into
  ``S = ceil(w_bits / cell_bits)`` slices, block ``b = s``, ``coef = 2**(s*cell_bits)``; the
  offset is removed with a reference column: a column of weight 0, whose recombined value is the
  offset itself, subtracted from every other column.

``w_bits = 0`` is the float path: no quantization, scale 1, and the differential blocks hold the
float magnitudes ``max(W, 0)`` and ``max(-W, 0)``; with the ``direct`` scheme (ideal chips whose
float cells hold signed values) one block holds ``W`` itself, one column per weight.

>>> import numpy as np
>>> W = np.array([[0.5, -1.0], [0.2, 0.0]], dtype=np.float32)
>>> q = quantize(W, 4)
>>> q.values.tolist(), q.scale.tolist()
([[7, -7], [3, 0]], [0.0714285746216774, 0.1428571492433548])
>>> s = slice_blocks(q.values, SliceSpec(4, 2, "differential"))
>>> s.shape, coefficients(SliceSpec(4, 2, "differential")).tolist()
((4, 2, 2), [1, -1, 4, -4])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SliceSpec:
    """How a layer's weights are stored: bits per weight (0 = float), bits per cell, scheme."""

    w_bits: int
    cell_bits: int
    scheme: str = "differential"  # or "offset", or "direct" (float only)

    @property
    def is_float(self) -> bool:
        return self.w_bits == 0

    @property
    def slices(self) -> int:
        if self.is_float:
            return 1
        mag = self.w_bits - 1 if self.scheme == "differential" else self.w_bits
        return max(1, -(-mag // self.cell_bits))

    @property
    def polarities(self) -> int:
        return 2 if self.scheme == "differential" else 1

    @property
    def blocks(self) -> int:
        """Column blocks per weight column (slices x polarities)."""
        return self.slices * self.polarities

    @property
    def max_level(self) -> int:
        return (1 << self.cell_bits) - 1


@dataclass(frozen=True)
class Quantized:
    """Integer weights (or the float weights, for w_bits = 0) and their per-column scales."""

    values: np.ndarray | LevelsView  # [K, N]: the narrowest signed integers that hold w_bits
    # (float32 on the float path)
    scale: np.ndarray  # float32 [N]: W ~= values * scale


class LevelsView:
    """The levels ``rint(W / scale)`` clipped to ``[-qmax, qmax]`` that :func:`quantize` makes,
    made a block at a time as they are read (``view[rows, cols]``, two slices), never whole:
    a layer is sliced onto cells holding its weights and one tile's levels, not its weights'
    levels beside them (the levels of GPT-2 medium's output layer alone are 51 MB in int8).
    Each level is the same as in the whole array: the formula is element by element. The last
    block read is kept: a tile's parts read the same one."""

    def __init__(self, W: np.ndarray, scale: np.ndarray, qmax: int) -> None:
        self._w, self._scale, self._qmax = W, scale, qmax
        self.shape = W.shape
        self.dtype = np.dtype(_level_type(qmax))
        self._last: tuple | None = None

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        v = _levels(self._w[rows, cols], self._scale[cols], self._qmax, clip=True)
        self._last = (key, v)
        return v


def quantize(W: np.ndarray, w_bits: int, percentile: float | None = None,
             scale: np.ndarray | None = None, lazy: bool = False) -> Quantized:
    """Symmetric per-output-column quantization to ``w_bits`` signed bits (round half to even).

    ``scale[n] = r[n] / (2**(w_bits-1) - 1)`` with ``r[n] = max |W[:, n]|``, or, given a
    ``percentile``, that percentile of ``|W[:, n]|`` (larger weights are clipped: fewer levels
    go to rare outliers); a column with ``r = 0`` gets scale 1. A given ``scale`` (the model's,
    imcc/qdq.py) is used as it is where every ``rint(W / scale)`` fits ``w_bits``. The levels
    are the narrowest signed integers that hold them (int8 up to 8 bits), computed a chunk of
    rows at a time: the weights' only full-size companion is their levels (a float32 copy, its
    absolute values and int32 levels each took the weights' size again). With ``lazy`` the
    levels computed from the scales are a :class:`LevelsView` of ``W``, made as they are read.
    """
    W = np.asarray(W, dtype=np.float32)
    if w_bits == 0:
        return Quantized(W, np.ones(W.shape[1], dtype=np.float32))
    if w_bits < 2:
        raise ValueError("w_bits must be 0 (float) or >= 2")
    qmax = (1 << (w_bits - 1)) - 1
    if scale is not None:
        s = np.asarray(scale, dtype=np.float32)
        q = _levels(W, s, qmax, clip=False)
        if q is not None:
            return Quantized(q, s)
    if percentile is None or percentile >= 100:
        amax = np.zeros(W.shape[1], np.float32)
        for rows in _chunks(W):
            np.maximum(amax, np.abs(W[rows]).max(axis=0, initial=0), out=amax)
    else:
        amax = np.percentile(np.abs(W), percentile, axis=0).astype(np.float32)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    if lazy:
        return Quantized(LevelsView(W, scale, qmax), scale)
    return Quantized(_levels(W, scale, qmax, clip=True), scale)


#: Elements of ``W`` quantized in one pass (:func:`_levels`): 4 MiB of float32 temporaries.
_CHUNK = 1 << 20


def _chunks(W: np.ndarray):
    step = max(1, _CHUNK // max(1, W.shape[1]))
    return (slice(r, r + step) for r in range(0, W.shape[0], step))


def _levels(W: np.ndarray, scale: np.ndarray, qmax: int, *, clip: bool) -> np.ndarray | None:
    """``rint(W / scale)`` (float32, round half to even), clipped to ``[-qmax, qmax]`` with
    ``clip``, else None where a level falls outside it; in the narrowest signed integers that
    hold ``qmax``."""
    out = np.empty(W.shape, _level_type(qmax))
    for rows in _chunks(W):
        t = np.divide(W[rows], scale, dtype=np.float32)
        np.rint(t, out=t)
        if clip:
            np.clip(t, -qmax, qmax, out=t)
        elif np.abs(t).max(initial=0) > qmax:
            return None
        out[rows] = t
    return out


def _level_type(qmax: int) -> type:
    """The narrowest signed integers that hold ``[-qmax, qmax]``."""
    return np.int8 if qmax <= 127 else np.int16 if qmax <= 32767 else np.int32


def coefficients(spec: SliceSpec) -> np.ndarray:
    """The shift-and-add coefficient of each block, as ``vsadd`` applies it."""
    p = spec.polarities
    b = np.arange(spec.blocks)
    sign = np.where((p == 2) & (b % 2 == 1), -1, 1)
    return sign * (1 << (spec.cell_bits * (b // p))) if not spec.is_float else sign


def slice_blocks(values: np.ndarray, spec: SliceSpec,
                 blocks: tuple[int, ...] | None = None, out: np.ndarray | None = None
                 ) -> np.ndarray:
    """Blocks of cell values, shape ``[blocks, K, N]``: uint16 levels, or float32 on the float
    path. ``sum_b coefficients[b] * blocks[b]`` equals ``values`` (offset: ``values + offset``).
    ``blocks`` picks some of them, in that order (default: all); ``out`` is an array of that
    shape (any strides, a type that holds the levels) to write them into, and is returned."""
    picks = tuple(range(spec.blocks)) if blocks is None else tuple(blocks)
    p = spec.polarities
    if spec.is_float:
        v = np.asarray(values, dtype=np.float32)
        if out is None:
            out = np.empty((len(picks), *v.shape), dtype=np.float32)
        for i, b in enumerate(picks):
            if spec.scheme == "direct":
                out[i] = v
            else:  # differential: max(v, 0), max(-v, 0)
                np.maximum(v if b == 0 else np.negative(v, out=out[i]), 0, out=out[i])
        return out
    if spec.scheme not in ("differential", "offset"):
        raise ValueError(f"unknown signed-weight scheme {spec.scheme!r}")
    v = np.asarray(values, dtype=np.int32)
    mask = spec.max_level
    if out is None:
        out = np.empty((len(picks), *v.shape), dtype=np.uint16)
    mags: dict[int, np.ndarray] = {}
    for i, b in enumerate(picks):
        pol, sl = b % p, b // p
        mag = mags.get(pol)
        if mag is None:
            if spec.scheme == "offset":
                mag = v + (1 << (spec.w_bits - 1))
            else:
                mag = np.maximum(v, 0) if pol == 0 else np.maximum(-v, 0)
            mags[pol] = mag
        out[i] = (mag >> (sl * spec.cell_bits)) & mask
    return out
