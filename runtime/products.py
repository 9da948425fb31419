"""The single products the crossbar's lossless MVMs reduce to (``NumpyCrossbar.kernel``).

A *kernel* ``f(x, out)`` computes one MVM's outputs for inputs ``x`` (``vl x h``) into ``out``:
:class:`FloatKernel` is ``X @ G`` (ideal DAC and ADC), :class:`ExactKernel` is ``q(X) @ G`` on
exact integer cells through an ADC that never rounds or clips, and :class:`CyclesKernel` is the
DAC cycle loop of quantized inputs on exact integer cells through a real ADC (no read noise).
``f.bind(x, out)`` is the same
computation on these two operands as a call without arguments, for a caller that repeats it on
the same views (the interpreter's prepared MVMs): on a float kernel whose inputs are an ordinary
matrix, that is numpy's ``matmul`` itself, with no Python step between the instruction and the
product.

:func:`banded_matmul` is the product of inputs whose rows overlap (a convolution's shifted
windows), which BLAS does not take as one matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from runtime import intcycles
from runtime.ops import kernels

#: Narrower bands than this (a conv on a few input channels) are slower than numpy's copy.
_BAND_MIN = 32


def _apart(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``x``, or a copy of it where it overlaps ``out`` (a product written over its own
    inputs)."""
    return x if out is None or not np.may_share_memory(x, out) else np.array(x)


def _overlap(x: np.ndarray) -> int:
    """The row stride ``xs`` (in elements) of a 2-D view of contiguous rows that overlap (``0 <
    xs < h``), else 0."""
    if x.ndim != 2 or x.shape[0] < 2:
        return 0
    s0, s1 = x.strides
    item = x.itemsize
    if s1 != item or s0 % item or not 0 < s0 < x.shape[1] * item:
        return 0
    return s0 // item


def banded_matmul(x: np.ndarray, g: np.ndarray, out: np.ndarray | None,
                  buffer: Callable[[str, tuple[int, ...], type], np.ndarray]) -> np.ndarray:
    """``x @ g`` (into ``out`` when given). Inputs whose rows overlap (a convolution's shifted
    windows: row ``m + 1`` starts ``xs < h`` elements after row ``m``) are no matrix BLAS
    takes, and numpy would copy them whole; their product is summed over bands of ``xs``
    columns instead, each an ordinary strided matrix, the partial products in ``buffer("band",
    shape, dtype)``. (Integer products below ``2**24`` stay exact in any order.)"""
    xs = _overlap(x)
    if xs < _BAND_MIN:
        return np.matmul(x, g, out=out)
    out = np.matmul(x[:, :xs], g[:xs], out=out)
    tmp = buffer("band", out.shape, out.dtype)
    for j in range(xs, x.shape[1], xs):
        np.matmul(x[:, j : j + xs], g[j : j + xs], out=tmp)
        out += tmp
    return out


class FloatKernel:
    """The kernel of an MVM through an ideal DAC and ADC: ``f(x, out) = x @ G`` in float32
    (:func:`banded_matmul`), ``G`` the region's cells or its combined cells."""

    __slots__ = ("_buffer", "_g")

    def __init__(self, g: np.ndarray, buffer: Callable):
        self._g, self._buffer = g, buffer

    def __call__(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return banded_matmul(np.asarray(x, dtype=np.float32), self._g, out, self._buffer)

    def bind(self, x: np.ndarray, out: np.ndarray) -> Callable[[], np.ndarray]:
        """``self(x, out)`` as a call without arguments: numpy's ``matmul`` of the two views
        where that is what :func:`banded_matmul` calls (float32 inputs whose rows do not
        overlap in bands)."""
        if x.dtype == np.float32 and _overlap(x) < _BAND_MIN:
            return partial(np.matmul, x, self._g, out=out)
        return partial(self, x, out)


class ExactKernel:
    """The kernel of an MVM with quantized inputs on exact integer cells through an ADC that
    never rounds or clips: ``f(x, out) = q(x) @ G``, exact. :meth:`quantize` and
    :meth:`product` are its two halves, for a caller that keeps the ``q`` of an input it knows
    to be unchanged (the interpreter does, until a write reaches the input's words). A
    depthwise region's product is its diagonals' only (:class:`~runtime.blocks.Diagonal`) where
    float32 sums are exact, the same bits. ``xbar`` is the
    :class:`~runtime.crossbar.NumpyCrossbar` whose quantizer and exact product it calls."""

    __slots__ = ("_bound", "_g", "_p", "_xbar")

    def __init__(self, xbar, p, g, bound: float):
        self._xbar, self._p, self._g, self._bound = xbar, p, g, bound

    def __call__(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        xbar = self._xbar
        return xbar._exact_product(xbar._quantized(x, self._p), self._g, self._bound, out)

    def bind(self, x: np.ndarray, out: np.ndarray) -> Callable[[], np.ndarray]:
        """``self(x, out)`` as a call without arguments."""
        return partial(self, x, out)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """``q`` for the inputs ``x``, in an array of its own."""
        return self._xbar._quantized(x, self._p, fresh=True)

    def product(self, q: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``q @ G`` for ``q`` from :meth:`quantize` (of this or another kernel of the same
        precision)."""
        return self._xbar._exact_product(q, self._g, self._bound, out)


class CyclesKernel:
    """The kernel of an MVM with quantized inputs on exact integer cells, without read noise,
    through a real ADC that may round or clip: ``f(x, out)`` is the DAC cycle loop
    (:func:`runtime.bitserial.cycles_exact`) on ``q(x)``, what ``NumpyCrossbar.mvm`` computes
    for the region, with the region's cells, bound and grouping looked up once; with ``coef``
    (``sablk`` blocks), the loop's columns as float32 and their shift-and-add
    (:func:`runtime.ops.kernels.weighted_sum`), what the interpreter computes from ``mvm``'s
    columns where ``mvm_combined`` has no combined cells. Its :meth:`quantize` and
    :meth:`product` halves let the interpreter keep the ``q`` of an unchanged operand for the
    other MVMs on it (a layer's column tiles), as for :class:`ExactKernel`. ``region`` is
    ``(array, row, col, h, w, None)``."""

    __slots__ = ("_bound", "_coef", "_g", "_int", "_p", "_region", "_xbar")

    def __init__(self, xbar, p, region: tuple, g: np.ndarray, bound: float,
                 coef: np.ndarray | None = None):
        self._xbar, self._p, self._region, self._g, self._bound = xbar, p, region, g, bound
        self._coef = coef
        self._int = None  # (int8 cells or None, any negative), on the first product

    def _loop(self, q: np.ndarray) -> np.ndarray:
        """The cycle loop on ``q``: :func:`runtime.intcycles.cycles_int` on the int8 cells where
        :func:`runtime.bitserial.cycles_exact` would take it (kept after the first call: the
        kernel lives no longer than the cells), else the crossbar's loop."""
        xbar, p, bound = self._xbar, self._p, self._bound
        if self._int is None:
            self._int = intcycles.int_cells(self._g, (xbar._groups, self._region[:5])) \
                if intcycles.usable(p, bound) else (None, False)
        g8, negative = self._int
        if g8 is not None:
            return intcycles.cycles_int(xbar._buffer, q, g8, p, bound, negative)
        return xbar._bit_serial(self._region, q, self._g, p, True, bound)

    def __call__(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return self.product(self._xbar._quantized(x, self._p), out)

    def bind(self, x: np.ndarray, out: np.ndarray) -> Callable[[], np.ndarray]:
        """``self(x, out)`` as a call without arguments."""
        return partial(self, x, out)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """``q`` for the inputs ``x``, in an array of its own."""
        return self._xbar._quantized(x, self._p, fresh=True)

    def product(self, q: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """The cycle loop on ``q`` (from :meth:`quantize`, or a scratch view of the
        crossbar's) into ``out`` (a new float32 array where None)."""
        xbar, coef = self._xbar, self._coef
        y = self._loop(q)
        if coef is None:
            if out is None:
                return y.astype(np.float32)  # a copy: y is a scratch buffer
            out[...] = y
            return out
        vl, w = y.shape
        wo = w // len(coef)
        if y.dtype != np.float32:  # the columns as mvm writes them
            cols = xbar._buffer("cols", y.shape, np.float32)
            cols[...] = y
            y = cols
        if out is None:
            out = np.empty((vl, wo), np.float32)
        kernels.weighted_sum(out, y.reshape(vl, len(coef), wo).transpose(0, 2, 1), coef)
        return out
