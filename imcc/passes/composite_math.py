"""Expansions of ``expand-composites`` for the trigonometric and hyperbolic functions, OneHot,
GatherND, LRN and Det, over ops the machine has (each registered with
:func:`~imcc.passes.composite_registry.composite`).

The machine has ``exp``, ``log``, ``sqrt``, ``sin`` and ``cos``; the rest are their textbook
identities, with the cancellations that lose float32 precision avoided:

* ``sinh`` near 0 (``|x| < 0.5``), ``asinh`` and ``atanh`` near 0 (``|x| < 0.25``) by their
  Taylor series (the first omitted term is below ``1e-8`` relative); elsewhere
  ``(e^x - e^-x) / 2``, ``sign(x) log(|x| + sqrt(x^2 + 1))`` (``log(2|x|)`` beyond ``1e9``,
  where ``x^2`` would overflow), ``log((1 + x) / (1 - x)) / 2``;
* ``atan`` by halving the angle three times, ``t -> t / (1 + sqrt(1 + t^2))`` (``|t| <
  tan(pi/16)``), then its series to ``t^15`` (``atan x = 8 atan t``; ``x`` clipped to
  ``+-1e18``, whose arctangent is ``pi/2`` in float32); ``asin x = atan(x / sqrt(1 - x^2))``,
  ``acos x = 2 atan(sqrt((1 - x) / (1 + x)))``; arguments outside the domain give NaN, as
  numpy does;
* ``OneHot(indices, depth, values)``: ``Where(Equal(index, ramp), on, off)`` with negative
  indices counted from ``depth`` (the output's size along ``axis``);
* ``GatherND``: a ``Gather`` of the flat indices (batches offset) from a reshaped ``data``;
* ``LRN``: the squares summed over the channel window by ``size`` shifted ``Slice``s of a
  zero-padded copy, then ``x / (bias + alpha / size * sum) ** beta``;
* ``Det``: Gaussian elimination with partial pivoting (``_det``).
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from imcc.opdefs.forms import DET_MAX
from imcc.passes.composite_index import _bin, _const, _slice, _where, first_hit
from imcc.passes.composite_registry import FLOAT32, composite


def _poly_odd(o, x: str, coeffs) -> str:
    """``x * (c0 + c1 x^2 + c2 x^4 + ...)`` by Horner's rule."""
    u = o.op("Mul", x, x)
    acc = o.const(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = o.op("Add", o.op("Mul", u, acc), o.const(c))
    return o.op("Mul", acc, x)


def _small(o, x: str, bound: float) -> str:
    return o.op("Less", o.op("Abs", x), o.const(bound), dtype="bool")


@composite("Tan", dtypes=FLOAT32)
def _tan(o) -> bool:
    """``tan(x) = sin(x) / cos(x)``."""
    o.final("Div", o.op("Sin", o.x), o.op("Cos", o.x))
    return True


@composite("Sinh", dtypes=FLOAT32)
def _sinh(o) -> bool:
    """``sinh(x) = (e^x - e^-x) / 2``; its Taylor series for ``|x| < 0.5``."""
    e, ei = o.op("Exp", o.x), o.op("Exp", o.op("Neg", o.x))
    big = o.op("Mul", o.op("Sub", e, ei), o.const(0.5))
    series = _poly_odd(o, o.x, [1.0 / math.factorial(k) for k in (1, 3, 5, 7, 9)])
    o.final("Where", _small(o, o.x, 0.5), series, big)
    return True


@composite("Cosh", dtypes=FLOAT32)
def _cosh(o) -> bool:
    """``cosh(x) = (e^x + e^-x) / 2``."""
    e, ei = o.op("Exp", o.x), o.op("Exp", o.op("Neg", o.x))
    o.final("Mul", o.op("Add", e, ei), o.const(0.5))
    return True


def _log_x_plus_root(o, a: str, sign: float) -> str:
    """``log(a + sqrt(a^2 + sign))``, as ``log(2a)`` where ``a > 1e9``."""
    root = o.op("Sqrt", o.op("Add", o.op("Mul", a, a), o.const(sign)))
    huge = o.op("Greater", a, o.const(1e9), dtype="bool")
    arg = o.op("Where", huge, o.op("Mul", a, o.const(2.0)), o.op("Add", a, root))
    return o.op("Log", arg)


@composite("Asinh", dtypes=FLOAT32)
def _asinh(o) -> bool:
    """``asinh(x) = sign(x) log(|x| + sqrt(x^2 + 1))``; its Taylor series for
    ``|x| < 0.25``."""
    big = o.op("Mul", o.op("Sign", o.x), _log_x_plus_root(o, o.op("Abs", o.x), 1.0))
    series = _poly_odd(o, o.x, [1.0, -1 / 6, 3 / 40, -15 / 336, 105 / 3456, -945 / 42240])
    o.final("Where", _small(o, o.x, 0.25), series, big)
    return True


@composite("Acosh", dtypes=FLOAT32)
def _acosh(o) -> bool:
    """``acosh(x) = log(x + sqrt(x^2 - 1))``, NaN below 1."""
    below = o.op("Less", o.x, o.const(1.0), dtype="bool")  # outside the domain (x^2 may be inf)
    o.final("Where", below, o.const(np.nan), _log_x_plus_root(o, o.x, -1.0))
    return True


@composite("Atanh", dtypes=FLOAT32)
def _atanh(o) -> bool:
    """``atanh(x) = log((1 + x) / (1 - x)) / 2``; its Taylor series for ``|x| < 0.25``."""
    ratio = o.op("Div", o.op("Add", o.const(1.0), o.x), o.op("Sub", o.const(1.0), o.x))
    big = o.op("Mul", o.op("Log", ratio), o.const(0.5))
    series = _poly_odd(o, o.x, [1.0 / k for k in (1, 3, 5, 7, 9, 11, 13)])
    o.final("Where", _small(o, o.x, 0.25), series, big)
    return True


def _atan_of(o, x: str) -> str:
    t = o.op("Clip", x, o.const(-1e18), o.const(1e18))
    for _ in range(3):
        root = o.op("Sqrt", o.op("Add", o.op("Mul", t, t), o.const(1.0)))
        t = o.op("Div", t, o.op("Add", root, o.const(1.0)))
    series = _poly_odd(o, t, [(-1.0) ** k / (2 * k + 1) for k in range(8)])
    return o.op("Mul", series, o.const(8.0))


@composite("Atan", dtypes=FLOAT32)
def _atan(o) -> bool:
    """``atan(x) = 8 atan(t)``, ``t`` the angle halved three times."""
    o.rw.alias(o.n.outputs[0], _atan_of(o, o.x))
    return True


@composite("Asin", dtypes=FLOAT32)
def _asin(o) -> bool:
    """``asin(x) = atan(x / sqrt(1 - x^2))``."""
    root = o.op("Sqrt", o.op("Sub", o.const(1.0), o.op("Mul", o.x, o.x)))
    o.rw.alias(o.n.outputs[0], _atan_of(o, o.op("Div", o.x, root)))
    return True


@composite("Acos", dtypes=FLOAT32)
def _acos(o) -> bool:
    """``acos(x) = 2 atan(sqrt((1 - x) / (1 + x)))``."""
    ratio = o.op("Div", o.op("Sub", o.const(1.0), o.x), o.op("Add", o.const(1.0), o.x))
    o.final("Mul", _atan_of(o, o.op("Sqrt", ratio)), o.const(2.0))
    return True


@composite("OneHot")
def _one_hot(o) -> bool:
    """``OneHot(indices, depth, values) = Where(Equal(index, ramp), on, off)``, negative
    indices counted from ``depth`` (the output's size along ``axis``)."""
    n, rw = o.n, o.rw
    y = o.graph.types[n.outputs[0]]
    axis = int(n.attrs.get("axis", -1)) % len(y.shape)
    depth = y.shape[axis]
    shape = list(o.xt.shape)
    shape.insert(axis, 1)
    idx = n.inputs[0]
    if o.xt.dtype.startswith("float"):  # the spec casts float indices to integers
        idx = o.op("Cast", idx, dtype="int64", to=int(onnx.TensorProto.INT64), saturate=1)
    it = rw.type(idx).dtype
    depth_c = rw.const(f"{n.name}_depth", np.asarray(depth, it))
    neg = o.op("Less", idx, rw.const(f"{n.name}_zero", np.asarray(0, it)), dtype="bool")
    idx = o.op("Where", neg, o.op("Add", idx, depth_c, dtype=it), idx, dtype=it)
    idx = o.op("Reshape", idx, rw.shape_const(f"{n.name}_shape", shape), shape=shape, dtype=it)
    ramp_shape = [1] * len(y.shape)
    ramp_shape[axis] = depth
    ramp = rw.const(f"{n.name}_ramp", np.arange(depth, dtype=it).reshape(ramp_shape))
    hit = o.op("Equal", idx, ramp, shape=y.shape, dtype="bool")
    vt = rw.type(n.inputs[2])
    pick = {}
    for k, what in ((0, "off"), (1, "on")):
        pick[what] = o.op("Gather", n.inputs[2], rw.const(f"{n.name}_{what}",
                                                           np.asarray(k, np.int64)),
                          shape=(), dtype=vt.dtype, axis=0)
    o.final("Where", hit, pick["on"], pick["off"])
    return True


@composite("LRN", dtypes=FLOAT32)
def _lrn(o) -> bool:
    """``LRN(x) = x / (bias + alpha / size * square_sum) ** beta``, the squares summed
    over the channel window by ``size`` shifted ``Slice``s of a zero-padded copy."""
    if o.xt.rank < 3:
        return False
    n, rw = o.n, o.rw
    size = int(n.attrs["size"])
    alpha, beta = float(n.attrs.get("alpha", 1e-4)), float(n.attrs.get("beta", 0.75))
    bias = float(n.attrs.get("bias", 1.0))
    c = o.xt.shape[1]
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    rank = o.xt.rank
    pads = [0] * (2 * rank)
    pads[1], pads[rank + 1] = before, after
    sq = o.op("Mul", o.x, o.x)
    pshape = list(o.xt.shape)
    pshape[1] += size - 1
    padded = o.op("Pad", sq, rw.shape_const(f"{n.name}_pads", pads), shape=pshape,
                  mode="constant")
    total = None
    for k in range(size):
        part = o.op("Slice", padded, rw.shape_const(f"{n.name}_start", [k]),
                    rw.shape_const(f"{n.name}_end", [k + c]),
                    rw.shape_const(f"{n.name}_axis", [1]))
        total = part if total is None else o.op("Add", total, part)
    base = o.op("Add", o.op("Mul", total, o.const(alpha / size)), o.const(bias))
    o.final("Div", o.x, o.op("Pow", base, o.const(beta)))
    return True


@composite("GatherND")
def _gather_nd(o) -> bool:
    """``GatherND``: the flat index of each index tuple into the ``k`` axes after the
    ``batch_dims`` leading ones (negative entries counted from the end), ``sum(idx * strides)``
    plus its batch's offset (the batch's position times the ``k`` axes' size), then a
    ``Gather`` along axis 0 of ``data`` reshaped to ``[batch * d_b * ... * d_(b+k-1),
    rest...]``."""
    n, rw = o.n, o.rw
    b = int(n.attrs.get("batch_dims", 0))
    data = o.xt
    it = rw.type(n.inputs[1])
    k = it.shape[-1]
    batch, lead, rest = data.shape[:b], data.shape[b : b + k], data.shape[b + k:]
    if tuple(it.shape[:b]) != tuple(batch):
        return False
    strides = [int(np.prod(lead[j + 1:], dtype=np.int64)) for j in range(k)]
    idx = n.inputs[1]
    dims = rw.const(f"{n.name}_dims", np.asarray(lead, np.int64))
    neg = o.op("Less", idx, rw.const(f"{n.name}_zero", np.asarray(0, np.int64)),
               shape=it.shape, dtype="bool")
    idx = o.op("Where", neg, o.op("Add", idx, dims, shape=it.shape, dtype="int64"), idx,
               shape=it.shape, dtype="int64")
    scaled = o.op("Mul", idx, rw.const(f"{n.name}_strides", np.asarray(strides, np.int64)),
                  shape=it.shape, dtype="int64")
    sub = type(o)(rw, o.graph, n)
    sub.x, sub.xt = scaled, rw.type(scaled)
    flat = sub.reduce("ReduceSum", scaled, [len(it.shape) - 1], 0)
    size = int(np.prod(lead, dtype=np.int64))
    if b:
        offsets = (np.arange(int(np.prod(batch, dtype=np.int64)), dtype=np.int64) * size
                   ).reshape(tuple(batch) + (1,) * (len(it.shape) - 1 - b))
        flat = o.op("Add", flat, rw.const(f"{n.name}_batches", offsets),
                    shape=it.shape[:-1], dtype="int64")
    table_shape = [int(np.prod(batch, dtype=np.int64)) * size, *rest]
    table = o.op("Reshape", n.inputs[0], rw.shape_const(f"{n.name}_table", table_shape),
                 shape=table_shape)
    o.final("Gather", table, flat, axis=0)
    return True


@composite("Det", dtypes=FLOAT32)
def _det(o) -> bool:
    """``Det(X)`` of ``[..., n, n]``: Gaussian elimination with partial pivoting, as LAPACK's
    LU: at step ``k`` the row of the largest ``|X[i, k]|`` (``i >= k``, the first on a tie) is
    swapped with row ``k`` (the sign flips), the pivot joins the product, and the rows below
    lose their multiple of row ``k`` (a zero pivot multiplies nothing, and the product is 0)."""
    shape = tuple(o.xt.shape)
    if len(shape) < 2 or shape[-1] != shape[-2] or not 1 <= shape[-1] <= DET_MAX:
        return False
    n, lead = shape[-1], shape[:-2]
    ramp = _const(o, "rows", np.arange(n).reshape(n, 1), np.int64)
    a, det, sign = o.x, None, _const(o, "one", 1.0, np.float32)
    for k in range(n):
        column = _slice(o, a, len(shape) - 1, k, k + 1)  # [..., n, 1]
        above = _const(o, "above", (np.arange(n) < k).reshape(n, 1), np.bool_)
        size = _where(o, above, _const(o, "below_zero", -1.0, np.float32),
                      o.op("Abs", column, shape=(*lead, n, 1)))
        top = o.on(size).reduce("ReduceMax", size, [len(shape) - 2], 1)
        _, first = first_hit(o.on(size), _bin(o, "Equal", size, top, dtype="bool"),
                             len(shape) - 2, 0, 1)
        first = _bin(o, "Min", first, _const(o, "last_row", n - 1.0, np.float32))  # NaN: none
        p = o.op("Cast", first, shape=(*lead, 1, 1), dtype="int64",
                 to=int(onnx.TensorProto.INT64), saturate=1)
        kk = _const(o, "k", k, np.int64)
        index = _where(o, _const(o, "is_k", (np.arange(n) == k).reshape(n, 1), np.bool_), p,
                       _where(o, _bin(o, "Equal", ramp, p, dtype="bool"), kk, ramp))
        index = o.op("Expand", index, o.rw.shape_const(f"{o.n.name}_full", shape),
                     shape=shape, dtype="int64")
        a = o.op("GatherElements", a, index, shape=shape, axis=len(shape) - 2)
        moved = o.op("Not", _bin(o, "Equal", p, kk, dtype="bool"), shape=(*lead, 1, 1),
                     dtype="bool")
        sign = _where(o, moved, o.op("Neg", sign, shape=o.rw.type(sign).shape), sign)
        row = _slice(o, a, len(shape) - 2, k, k + 1)  # [..., 1, n]
        pivot = _slice(o, row, len(shape) - 1, k, k + 1)  # [..., 1, 1]
        det = pivot if det is None else _bin(o, "Mul", det, pivot)
        if k == n - 1:
            break
        zero = _const(o, "zero", 0.0, np.float32)
        factor = _bin(o, "Div", _slice(o, a, len(shape) - 1, k, k + 1), pivot)
        below = _const(o, "below", (np.arange(n) > k).reshape(n, 1), np.bool_)
        factor = _where(o, below, _where(o, _bin(o, "Equal", pivot, zero, dtype="bool"),
                                         zero, factor), zero)
        a = _bin(o, "Sub", a, _bin(o, "Mul", factor, row))
    o.final("Reshape", _bin(o, "Mul", det, sign), o.rw.shape_const(f"{o.n.name}_out", lead))
    return True
