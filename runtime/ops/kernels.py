"""Faster numpy kernels for the vector unit's strided operands, with the same results.

numpy runs an operation on strided views as an outer loop around an inner loop over the
innermost dimension (after merging the dimensions that are contiguous in every operand). An
im2col copy or a pooling window has innermost dimensions of two or three elements, so numpy
spends its time entering inner loops: a 3x3 max pool over a 64x112x112 image takes 25 ms, an
im2col copy several milliseconds. Looping over those few innermost index positions in Python
instead, each step one numpy operation on a large view, is 10 to 40 times faster.

Every kernel computes what the plain numpy expression computes, element for element: copies and
element-wise operations evaluate each element once with the same operation, and ``max``/``min``
are exact in any order. The window sums of :func:`reduce_window` add the window's elements in
index order into one float64 accumulator (numpy's own order for a short strided window); they
equal numpy's sums exactly whenever float64 holds the sum exactly, as for integer values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

#: An innermost run shorter than this makes numpy's inner loop the bottleneck.
SHORT_RUN = 8
#: The most index positions looped over in Python.
LOOP_MAX = 64
#: ... and the fewest elements each looped operation must still cover.
MIN_BLOCK = 1024
#: Fewer elements than this are never looped over (numpy alone is fast enough).
LOOP_MIN_ELEMENTS = LOOP_MAX * MIN_BLOCK // 4


def _inner_run(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> int:
    """Elements of the innermost run numpy iterates at once: the trailing dimensions merged
    while they are contiguous in every operand (dimensions of size 1 ignored)."""
    dims = [k for k, n in enumerate(shape) if n > 1]
    if not dims:
        return 1
    inner = dims[-1]
    run = shape[inner]
    for k in reversed(dims[:-1]):
        if any(s[k] != s[inner] * run for s in strides):
            break
        run *= shape[k]
    return run


def loop_axes(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """The trailing axes to loop over in Python (empty: numpy alone is fast enough).

    ``strides`` are the element strides of every operand over ``shape``."""
    total = math.prod(shape)
    if total < LOOP_MIN_ELEMENTS or _inner_run(shape, strides) >= SHORT_RUN:
        return ()
    axes: list[int] = []
    count = 1
    for k in reversed(range(len(shape))):
        if shape[k] == 1:
            continue
        if count * shape[k] > LOOP_MAX:
            break
        axes.append(k)
        count *= shape[k]
    if not axes or total // count < MIN_BLOCK:
        return ()
    return tuple(sorted(axes))


def _positions(shape: Sequence[int], axes: tuple[int, ...]):
    """Index tuples selecting, for each position of ``axes``, the sub-view over the others."""
    full = [slice(None)] * len(shape)
    for pos in np.ndindex(*(shape[k] for k in axes)):
        idx = list(full)
        for k, i in zip(axes, pos):
            idx[k] = i
        yield tuple(idx)


def _strides(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


def independent(dst: np.ndarray, src: np.ndarray) -> bool:
    """True when splitting an operation into pieces cannot change what it reads: the operands
    do not overlap, or they are the same view (each element read, then written, in place)."""
    if not np.may_share_memory(dst, src):
        return True
    return (dst.__array_interface__["data"][0] == src.__array_interface__["data"][0]
            and dst.shape == src.shape
            and all(a == b for n, a, b in zip(dst.shape, dst.strides, src.strides) if n > 1))


def copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` (numpy buffers an overlapping source first)."""
    if dst.size < LOOP_MIN_ELEMENTS:
        dst[...] = src
        return
    axes = loop_axes(dst.shape, (_strides(dst), _strides(src)))
    if axes and independent(dst, src):
        for idx in _positions(dst.shape, axes):
            dst[idx] = src[idx]
    else:
        dst[...] = src


def ufunc(f: Callable, dst: np.ndarray, *srcs, **kw) -> None:
    """``f(*srcs, out=dst)`` for a numpy ufunc ``f``; sources are views of ``dst``'s shape or
    scalars (numpy buffers overlapping inputs)."""
    if dst.size < LOOP_MIN_ELEMENTS:
        f(*srcs, out=dst, **kw)
        return
    views = [a for a in srcs if isinstance(a, np.ndarray) and a.ndim]
    axes = loop_axes(dst.shape, (_strides(dst), *(_strides(a) for a in views)))
    if axes and all(independent(dst, a) for a in views):
        for idx in _positions(dst.shape, axes):
            f(*(a[idx] if isinstance(a, np.ndarray) and a.ndim else a for a in srcs),
              out=dst[idx], **kw)
    else:
        f(*srcs, out=dst, **kw)


#: Elements per step of :func:`extremum`'s blocked loop (its block of one value is 64 KB).
EXTREMUM_BLOCK = 1 << 14
_filled: dict[int, np.ndarray] = {}  # float32 bits -> a block of that value
#: Below this many destination elements, :func:`copy`, :func:`ufunc` and :func:`extremum` are
#: one plain numpy call (``dst[...] = src``, ``f(*srcs, out=dst)``).
PLAIN_BELOW = min(LOOP_MIN_ELEMENTS, EXTREMUM_BLOCK)


def single_value(b) -> np.float32 | None:
    """The one value ``b`` holds, a scalar or a view whose strides are all 0, else None."""
    if not isinstance(b, np.ndarray):
        return np.float32(b)
    if b.size == 0 or any(st for n, st in zip(b.shape, b.strides) if n > 1):
        return None
    return b.flat[0]  # (reshape would copy a broadcast view whole)


def _flat_pair(dst: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """1-D views of ``dst`` and ``a`` in memory order, where both are the same permutation of
    a contiguous array (the same strides over their dimensions of size > 1); else None."""
    big = [k for k in range(dst.ndim) if dst.shape[k] > 1]
    if any(dst.strides[k] != a.strides[k] for k in big):
        return None
    order = sorted(big, key=lambda k: -dst.strides[k])
    order += [k for k in range(dst.ndim) if dst.shape[k] <= 1]
    d, x = dst.transpose(order), a.transpose(order)
    if not (d.flags.c_contiguous and x.flags.c_contiguous):
        return None
    return d.reshape(-1), x.reshape(-1)


def extremum(f: Callable, dst: np.ndarray, a: np.ndarray, b, *,
             block_elements: int = EXTREMUM_BLOCK) -> None:
    """``f(a, b, out=dst)`` for ``f`` = ``np.maximum`` or ``np.minimum``. numpy's loop for a
    second operand that is one value (a ReLU's 0, a clip's bound) runs at a third of the speed
    of its loop over two arrays, with the same comparison per element (signed zeros and NaN
    payloads included). Where ``b`` is one value and ``dst`` and ``a`` are contiguous, the
    operation runs over blocks of ``a`` against a block filled with that value (element by
    element in memory order: channels-last activations are contiguous views in another axis
    order); ``block_elements`` per step."""
    step = block_elements
    c = single_value(b)
    flat = None
    if c is not None and dst.size >= step and independent(dst, a):
        flat = _flat_pair(dst, a)
    if flat is None:
        ufunc(f, dst, a, b)
        return
    d, x = flat
    key = int(np.float32(c).view(np.uint32))
    block = _filled.get(key)
    if block is None or len(block) != step:
        if len(_filled) >= 64:
            _filled.clear()
        block = _filled[key] = np.full(step, c, np.float32)
    n = d.size
    for i in range(0, n - step + 1, step):
        f(x[i : i + step], block, out=d[i : i + step])
    rest = n % step
    if rest:
        f(x[n - rest :], block[:rest], out=d[n - rest :])


def weighted_sum(dst: np.ndarray, a: np.ndarray, coef: np.ndarray) -> None:
    """``dst = sum_b coef[b] * a[..., b]``, accumulated in float64 over ``b`` in order and
    rounded once (``vsadd``). The coefficients are signed powers of two, so every product is
    exact; integer inputs give the exact integer sum.

    One differential slice (``a0 - a1``, the float path) is subtracted in float32: rounding the
    float64 difference of two float32 numbers to float32 gives the float32 difference itself
    (double rounding is innocuous when 53 >= 2 * 24 + 2; Figueroa, SIGNUM 1995)."""
    weighted_sum_call(dst, a, coef)()


def weighted_sum_call(dst: np.ndarray, a: np.ndarray, coef: np.ndarray) -> Callable[[], None]:
    """:func:`weighted_sum` of these operands as a call without arguments (for a caller that
    repeats it on the same views: on a small destination, the one numpy call it makes)."""
    small = dst.size < PLAIN_BELOW
    if a.shape[-1] == 1 and coef[0] in (1.0, -1.0):  # the one product, rounded once: exact
        c = np.float32(coef[0])
        return partial(np.multiply, a[..., 0], c, out=dst) if small else \
            partial(ufunc, np.multiply, dst, a[..., 0], c)
    if a.shape[-1] == 2 and coef[0] == 1.0 and coef[1] == -1.0:
        return partial(np.subtract, a[..., 0], a[..., 1], out=dst) if small else \
            partial(ufunc, np.subtract, dst, a[..., 0], a[..., 1])
    return partial(_weighted_sum64, dst, a, coef)


def _weighted_sum64(dst: np.ndarray, a: np.ndarray, coef: np.ndarray) -> None:
    parts = [a[..., b] for b in range(a.shape[-1])]
    acc = np.multiply(parts[0], coef[0], dtype=np.float64)
    for p, c in zip(parts[1:], coef[1:]):
        acc += np.multiply(p, c, dtype=np.float64)
    dst[...] = acc


def _mean64(a: np.ndarray, axes: tuple[int, ...], window: int):
    """``a.mean(axes, dtype=np.float64)`` for ``window > 0`` elements per mean, as numpy
    computes it (the float64 sum divided by the count) without its Python-level wrapper."""
    total = np.add.reduce(a, axis=axes, dtype=np.float64)
    count = np.intp(window)
    if isinstance(total, np.ndarray):
        return np.true_divide(total, count, out=total, casting="unsafe", subok=False)
    return total.dtype.type(total / count)


def _mean64_into(dst: np.ndarray, a: np.ndarray, axes: tuple[int, ...], count: np.intp,
                 total: np.ndarray) -> None:
    """``dst[...] = _mean64(a, axes, count)``, the sum kept in ``total`` (float64, ``dst``'s
    shape)."""
    np.add.reduce(a, axis=axes, dtype=np.float64, out=total)
    np.true_divide(total, count, out=total, casting="unsafe", subok=False)
    dst[...] = total


def _plain_window(a: np.ndarray, axes: tuple[int, ...], window: int) -> bool:
    """Whether :func:`reduce_window` reduces ``axes`` in one numpy call (not by its loop)."""
    outer = a.size // window if window else 0
    run = _inner_run([a.shape[k] for k in axes], [[_strides(a)[k] for k in axes]])
    return window <= 1 or window > LOOP_MAX or outer < MIN_BLOCK or run >= SHORT_RUN


def reduce_window_call(kind: str, dst: np.ndarray, a: np.ndarray, nred: int
                       ) -> Callable[[], None]:
    """``dst[...] = reduce_window(kind, a, nred)`` as a call without arguments (for a caller
    that repeats it on the same views: a small mean is numpy's sum and division into a buffer
    kept with the call)."""
    axes = tuple(range(a.ndim - nred, a.ndim))
    window = math.prod(a.shape[k] for k in axes)
    if kind == "mean" and window and _plain_window(a, axes, window):
        return partial(_mean64_into, dst, a, axes, np.intp(window),
                       np.empty(dst.shape, np.float64))
    return partial(_assign, dst, partial(reduce_window, kind, a, nred))


def _assign(dst: np.ndarray, value: Callable[[], np.ndarray]) -> None:
    dst[...] = value()


def reduce_window(kind: str, a: np.ndarray, nred: int) -> np.ndarray:
    """``a`` reduced over its ``nred`` innermost axes: ``max``, ``min`` (float32), ``sum`` or
    ``mean`` (accumulated in float64), as ``a.max(axes)`` ... ``a.mean(axes, dtype=float64)``
    compute them."""
    axes = tuple(range(a.ndim - nred, a.ndim))
    window = math.prod(a.shape[k] for k in axes)
    if _plain_window(a, axes, window):
        if kind in ("max", "min"):
            return getattr(a, kind)(axes)
        if kind == "mean" and window:
            return _mean64(a, axes, window)
        return getattr(a, kind)(axes, dtype=np.float64)
    pieces = (a[(Ellipsis, *pos)] for pos in np.ndindex(*(a.shape[k] for k in axes)))
    if kind in ("max", "min"):
        step = np.maximum if kind == "max" else np.minimum
        out = np.array(next(pieces))
    else:
        step = np.add
        out = next(pieces).astype(np.float64)
    for p in pieces:
        step(out, p, out=out)
    if kind == "mean":
        out /= window
    return out
