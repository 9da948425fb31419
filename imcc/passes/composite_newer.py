"""Operators of opsets 24 and later as compositions of operators the machine has (``Swish``,
``SwiGLU``, ``CumProd``, ``BitShift``, ``BitCast``, ``TensorScatter``,
``CausalConvWithState``), each as onnx's specification defines it; and ``CumSum`` with a
runtime axis, which ``CumProd`` shares."""

from __future__ import annotations

import numpy as np
import onnx

from imcc.opdefs.forms import bitcast_kinds
from imcc.passes.composite_registry import FLOAT32, FLOATS, Ops, composite

#: The longest axis ``CumProd`` is unrolled along (one ``Mul`` per element of it).
CUMPROD_MAX_LENGTH = 256
_CUMPROD_TYPES = frozenset({"float32", "float64", "int32", "int64"})


def _gate(o: Ops) -> str:
    """``sigmoid(alpha * x)`` of the node's first input."""
    alpha = float(o.n.attrs.get("alpha", 1.0))
    return o.op("Sigmoid", o.op("Mul", o.x, o.const(alpha)) if alpha != 1.0 else o.x)


@composite("Swish", dtypes=FLOATS)
def _swish_op(o: Ops) -> bool:
    """``Swish(x) = x * sigmoid(alpha * x)`` (opset 24)."""
    o.final("Mul", o.x, _gate(o))
    return True


@composite("SwiGLU", dtypes=FLOATS)
def _swiglu(o: Ops) -> bool:
    """``SwiGLU(a, b) = Swish(a) * b``, ``Swish(a) = a * sigmoid(alpha * a)`` (opset 28; ``a``
    and ``b`` of one shape)."""
    b = o.n.inputs[1]
    if o.rw.type(b).shape != o.xt.shape:
        return False
    o.final("Mul", o.op("Mul", o.x, _gate(o)), b)
    return True


def _select_axis(o: Ops, along) -> str:
    """``along(a)`` for the axis ``a`` that the node's runtime axis input (rank 0, negative
    counted from the end) names: every axis computed, then ``Where`` of ``Equal``."""
    rank = o.xt.rank
    given = o.op("Cast", o.n.inputs[1], shape=o.rw.type(o.n.inputs[1]).shape,
                 dtype="float32", to=1, saturate=1)
    shape = o.rw.type(given).shape
    axis = o.op("Where", o.op("Less", given, o.const(0.0, "float32"), shape=shape,
                              dtype="bool"),
                o.op("Add", given, o.const(float(rank), "float32"), shape=shape,
                     dtype="float32"), given, shape=shape, dtype="float32")
    y = along(rank - 1)
    for a in range(rank - 2, -1, -1):
        pick = o.op("Equal", axis, o.const(float(a), "float32"), shape=shape, dtype="bool")
        y = o.op("Where", pick, along(a), y)
    return y


@composite("CumSum")
def _cumsum_runtime_axis(o: Ops) -> bool:
    """``CumSum(x, axis)`` with a runtime ``axis``: the ``CumSum`` along every axis (each
    lowered as it is with a constant axis), the one ``axis`` names selected. A constant axis
    is left to the lowering."""
    n = o.n
    if o.rw.is_const(n.inputs[1]) or o.xt.rank == 0:
        return False

    def along(a: int) -> str:
        return o.op("CumSum", o.x, o.rw.const(f"{n.name}_axis", np.array(a, np.int64)),
                    **{k: v for k, v in n.attrs.items()})

    o.rw.alias(n.outputs[0], _select_axis(o, along))
    return True


def _cumprod_along(o: Ops, axis: int) -> str:
    """The cumulative product of the node's input along ``axis``, one ``Mul`` per element."""
    n = o.n
    exclusive, reverse = int(n.attrs.get("exclusive", 0)), int(n.attrs.get("reverse", 0))
    length = o.xt.shape[axis]
    part = list(o.xt.shape)
    part[axis] = 1
    sc = o.rw.shape_const

    def element(k: int) -> str:
        return o.op("Slice", o.x, sc(f"{n.name}_start", [k]), sc(f"{n.name}_end", [k + 1]),
                    sc(f"{n.name}_axes", [axis]), shape=part)

    order = range(length - 1, -1, -1) if reverse else range(length)
    out: dict[int, str] = {}
    running = None
    for k in order:
        if exclusive:
            out[k] = running if running is not None else o.const(np.ones(part))
        x = element(k)
        running = x if running is None else o.op("Mul", running, x, shape=part)
        if not exclusive:
            out[k] = running
    parts = [out[k] for k in range(length)]
    return o.op("Concat", *parts, axis=axis) if len(parts) > 1 else parts[0]


@composite("CumProd", dtypes=_CUMPROD_TYPES)
def _cumprod(o: Ops) -> bool:
    """``CumProd(x, axis)``: ``y[k] = x[0] * ... * x[k]`` along ``axis`` (``exclusive``: up to
    ``x[k - 1]``, 1 for ``k = 0``; ``reverse``: from the other end), unrolled as one ``Mul``
    per element of the axis, so integer products stay exact (opset 26). A runtime ``axis``
    computes the product along every axis and selects the one ``axis`` names (``Where`` of
    ``Equal``): the output's shape is the input's whichever it is."""
    n = o.n
    rank = o.xt.rank
    if rank == 0 or max(o.xt.shape) > CUMPROD_MAX_LENGTH:
        return False
    v = o.rw.value(n.inputs[1])
    if v is not None:
        o.rw.alias(n.outputs[0], _cumprod_along(o, int(np.asarray(v).reshape(-1)[0]) % rank))
        return True
    o.rw.alias(n.outputs[0], _select_axis(o, lambda a: _cumprod_along(o, a)))
    return True


_SHIFT_TYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                          "uint64"})


@composite("BitShift", dtypes=_SHIFT_TYPES)
def _bitshift(o: Ops) -> bool:
    """``BitShift(x, y)`` of ``w``-bit integers: ``LEFT`` is ``x * 2**y`` wrapped to its low
    ``w`` bits (two's complement for a signed type), ``RIGHT`` is ``floor(x / 2**y)`` (an arithmetic
    shift); a shift outside ``0 .. w - 1`` gives 0 (``RIGHT`` of a negative ``x``: -1), as
    opset 28 defines it for the signed types. ``2**y`` is read from a constant table, so every
    step is exact in float32."""
    n = o.n
    dtype = o.xt.dtype
    width = np.dtype(dtype).itemsize * 8
    y = n.inputs[1]
    shape = o.graph.types[n.outputs[0]].shape
    yshape = o.rw.type(y).shape
    xf = o.op("Cast", o.x, dtype="float32", to=1, saturate=1)
    yf = o.op("Cast", y, shape=yshape, dtype="float32", to=1, saturate=1)
    inside = o.op("And", o.op("GreaterOrEqual", yf, o.const(0.0, "float32"), shape=yshape,
                              dtype="bool"),
                  o.op("Less", yf, o.const(float(width), "float32"), shape=yshape,
                       dtype="bool"), shape=yshape, dtype="bool")
    index = o.op("Cast", o.op("Clip", yf, o.const(0.0, "float32"),
                              o.const(float(width - 1), "float32"), shape=yshape,
                              dtype="float32"), shape=yshape, dtype="int64", to=7, saturate=1)
    powers = o.rw.const(f"{n.name}_powers", np.exp2(np.arange(width)).astype(np.float32))
    scale = o.op("Gather", powers, index, shape=yshape, dtype="float32", axis=0)
    if str(n.attrs.get("direction", "")).upper() == "LEFT":
        shifted = o.op("Mul", xf, scale, shape=shape, dtype="float32")
        # the low w bits: v - 2**w * floor((v + offset) / 2**w), offset 2**(w - 1) for a
        # signed type (exact: v is at most 24 significant bits times a power of two)
        signed = np.dtype(dtype).kind == "i"
        low = o.op("Add", shifted, o.const(2.0 ** (width - 1), "float32"), shape=shape,
                   dtype="float32") if signed else shifted
        wraps = o.op("Floor", o.op("Mul", low, o.const(2.0 ** -width, "float32"), shape=shape,
                                   dtype="float32"), shape=shape, dtype="float32")
        wrapped = o.op("Sub", shifted, o.op("Mul", wraps, o.const(2.0 ** width, "float32"),
                                            shape=shape, dtype="float32"),
                       shape=shape, dtype="float32")
        result = o.op("Where", inside, wrapped, o.const(0.0, "float32"), shape=shape,
                      dtype="float32")
        o.final("Cast", result, to=_onnx_type(dtype), saturate=1)
        return True
    quotient = o.op("Floor", o.op("Div", xf, scale, shape=shape, dtype="float32"), shape=shape,
                    dtype="float32")
    fill = o.op("Where", o.op("Less", xf, o.const(0.0, "float32"), dtype="bool"),
                o.const(-1.0, "float32"), o.const(0.0, "float32"), dtype="float32")
    o.final("Cast", o.op("Where", inside, quotient, fill, shape=shape, dtype="float32"),
            to=_onnx_type(dtype), saturate=1)
    return True


def _onnx_type(dtype: str) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


@composite("TensorScatter", dtypes=FLOAT32)
def _tensor_scatter(o: Ops) -> bool:
    """``TensorScatter(past, update[, write_indices])`` (opset 24): the cache ``past`` with
    ``update``'s ``S`` entries along ``axis`` written from position ``write_indices[b]`` of each
    batch ``b`` (0 without them; ``circular``: modulo the cache length ``M``). Position ``p``
    takes ``update[b, .., t, ..]`` where ``t = p - write_indices[b]`` (modulo ``M``) is in
    ``0 .. S - 1``: a ``GatherElements`` at the clipped ``t``, then ``Where``."""
    n = o.n
    past, update = n.inputs[0], n.inputs[1]
    rank = o.xt.rank
    axis = int(n.attrs.get("axis", -2)) % rank
    if axis == 0:
        return False  # the batch axis indexes write_indices
    b, m, s = o.xt.shape[0], o.xt.shape[axis], o.rw.type(update).shape[axis]
    grid = [1] * rank
    grid[0], grid[axis] = b, m
    pos = np.arange(m, dtype=np.float32).reshape([1] * axis + [m] + [1] * (rank - axis - 1))
    t = o.rw.const(f"{n.name}_positions", pos)
    if len(n.inputs) > 2 and n.inputs[2]:
        start = o.op("Cast", n.inputs[2], shape=(b,), dtype="float32", to=1, saturate=1)
        start = o.op("Reshape", start, o.rw.shape_const(f"{n.name}_shape", [b] + [1] * (rank - 1)),
                     shape=[b] + [1] * (rank - 1), dtype="float32")
        t = o.op("Sub", t, start, shape=grid, dtype="float32")
    if str(n.attrs.get("mode", "linear")) == "circular":
        turns = o.op("Floor", o.op("Mul", t, o.const(1.0 / m, "float32"), dtype="float32",
                                   shape=o.rw.type(t).shape), dtype="float32",
                     shape=o.rw.type(t).shape)
        t = o.op("Sub", t, o.op("Mul", turns, o.const(float(m), "float32"), dtype="float32",
                                shape=o.rw.type(t).shape), dtype="float32",
                 shape=o.rw.type(t).shape)
    tshape = o.rw.type(t).shape
    inside = o.op("And", o.op("GreaterOrEqual", t, o.const(0.0, "float32"), shape=tshape,
                              dtype="bool"),
                  o.op("Less", t, o.const(float(s), "float32"), shape=tshape, dtype="bool"),
                  shape=tshape, dtype="bool")
    clipped = o.op("Clip", t, o.const(0.0, "float32"), o.const(float(s - 1), "float32"),
                   shape=tshape, dtype="float32")
    index = o.op("Cast", o.op("Expand", clipped, o.rw.shape_const(f"{n.name}_full",
                                                                   o.xt.shape),
                              dtype="float32"), dtype="int64", to=7, saturate=1)
    taken = o.op("GatherElements", update, index, axis=axis)
    o.final("Where", inside, taken, past)
    return True


@composite("CausalConvWithState", dtypes=FLOATS)
def _causal_conv_with_state(o: Ops) -> bool:
    """``CausalConvWithState(x, w[, bias, past_state])`` (opset 27): ``padded = Concat(past_state
    (zeros without it), x)`` along the length; ``y[b, c, t] = sum_j w[c, 0, j] * padded[b, c, t +
    j] + bias[c]`` (a depthwise causal convolution, one ``Mul`` per tap), then ``y *
    sigmoid(y)`` for ``activation`` ``silu`` or ``swish``; ``present_state`` is the last ``k - 1``
    positions of ``padded``."""
    n = o.n
    ins = list(n.inputs) + [""] * (4 - len(n.inputs))
    w, bias, past = ins[1:4]
    if o.xt.rank != 3 or o.rw.type(w).rank != 3:
        return False
    b, c, length = o.xt.shape
    k = o.rw.type(w).shape[2]
    activation = str(n.attrs.get("activation", "none"))
    if activation not in ("none", "silu", "swish") or o.rw.type(w).shape[:2] != (c, 1):
        return False
    sc = o.rw.shape_const
    if k > 1:
        pad = past or o.rw.const(f"{n.name}_zeros", np.zeros((b, c, k - 1), o.xt.dtype))
        padded = o.op("Concat", pad, o.x, shape=(b, c, length + k - 1), axis=2)
    else:
        padded = o.x

    def window(t: str, start: int, size: int, shape) -> str:
        return o.op("Slice", t, sc(f"{n.name}_start", [start]), sc(f"{n.name}_end", [start + size]),
                    sc(f"{n.name}_axes", [2]), shape=shape)

    y = None
    for j in range(k):
        tap = o.op("Reshape", window(w, j, 1, (c, 1, 1)), sc(f"{n.name}_tap", [1, c, 1]),
                   shape=(1, c, 1))
        term = o.op("Mul", window(padded, j, length, (b, c, length)), tap)
        y = term if y is None else o.op("Add", y, term)
    if bias:
        y = o.op("Add", y, o.op("Reshape", bias, sc(f"{n.name}_bias", [1, c, 1]),
                                shape=(1, c, 1)))
    if activation != "none":
        y = o.op("Mul", y, o.op("Sigmoid", y))
    outs = list(n.outputs) + [""]
    o.rw.alias(outs[0], y)
    if outs[1]:
        state = window(padded, length, k - 1, (b, c, k - 1)) if k > 1 else \
            o.rw.const(f"{n.name}_state", np.zeros((b, c, 0), o.xt.dtype))
        o.rw.alias(outs[1], state)
    return True


@composite("BitCast")
def _bitcast(o: Ops) -> bool:
    """``BitCast(x, to)`` (opset 26) between integer types of one width: the same bits read in
    the other sign convention, ``x + 2**w`` for a negative ``x`` read as unsigned,
    ``x - 2**w`` for an ``x`` of ``2**(w - 1)`` or more read as signed (a bool is 0 or 1)."""
    dst = o.graph.types[o.n.outputs[0]].dtype
    if not bitcast_kinds(o.xt.dtype, dst):
        return False
    width = np.dtype(dst).itemsize * 8
    x = o.op("Cast", o.x, dtype="float32", to=1, saturate=1)
    if np.dtype(dst).kind == "u":
        wrap = o.op("Less", x, o.const(0.0, "float32"), dtype="bool")
        moved = o.op("Add", x, o.const(2.0 ** width, "float32"), dtype="float32")
    else:
        wrap = o.op("GreaterOrEqual", x, o.const(2.0 ** (width - 1), "float32"), dtype="bool")
        moved = o.op("Sub", x, o.const(2.0 ** width, "float32"), dtype="float32")
    o.final("Cast", o.op("Where", wrap, moved, x, dtype="float32"), to=_onnx_type(dst),
            saturate=1)
    return True
