"""Quantized operators as compositions of float32 operators the machine has, each computed as
onnx's reference (:mod:`onnx.reference.ops`) computes it:

* ``QuantizeLinear(x, s, zp) = Cast(Clip(Round(x / s) + zp, lo, hi))`` to an integer type
  (round half to even, saturated to the type's range), ``Cast(x / s)`` to a float 8 type
  (``saturate`` as given; the zero point, which must be 0, is not added) and
  ``Cast(x / s + zp)`` to ``float4e2m1``;
* ``DequantizeLinear(x, s, zp) = (float(x) - float(zp)) * s`` (the zero point of a float 8 or
  ``float4e2m1`` input is not read);
* ``QLinearMatMul`` and ``QLinearConv``: the integer product of the centred operands
  ``(a - a_zp) @ (b - b_zp)`` (a ``MatMul`` or ``Conv`` of float32 holding those integers,
  plus the int32 bias of ``QLinearConv``; a runtime convolution weight tap by tap), times ``a_s * b_s / y_s``, plus ``y_zp``, rounded
  and saturated as ``QuantizeLinear``; ``MatMulInteger`` and ``ConvInteger``: the integer
  product alone, as int32.

The scale and zero point are a scalar, one value per slice along ``axis`` (per-axis), or one per
block of ``block_size`` slices (blocked: repeated along ``axis`` by a ``Gather``). Where they and
the quantized operand are constants, the dequantized or centred operand is computed here, so a
weight reaches the arrays as one float32 matrix (a ``DequantizeLinear`` whose inputs are all
constants is folded by ``fold-constants`` before this pass). The integers are exact while every
sum of products stays within 2**24 (float32's integers); the rescaled product is rounded to
float32 before it is rounded to an integer, where onnx's reference holds it in float64.
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.ir import Node, onnx_elem_type
from imcc.opdefs.attrs import conv as conv_attrs
from imcc.opdefs.forms import FLOAT4, FLOAT8, INT_RANGES
from imcc.opdefs.forms import quant as why_not
from imcc.passes.composite_registry import Ops, composite

_F32 = int(onnx.TensorProto.FLOAT)


def _f32(o: Ops, t: str) -> str:
    """``t`` as float32 (computed here where it is a constant)."""
    v = o.rw.value(t)
    if v is not None:
        return o.rw.const(f"{o.n.name}_f", np.asarray(v).astype(np.float32))
    tt = o.rw.type(t)
    if tt.dtype == "float32":
        return t
    return o.op("Cast", t, shape=tt.shape, dtype="float32", to=_F32, saturate=1)


def _broadcast(o: Ops, t: str, x_shape, axis: int, block: int) -> str:
    """The float32 scale or zero point ``t`` in a shape that broadcasts against ``x_shape``:
    a scalar as it is, one value per slice along ``axis`` as ``[1, .., n, .., 1]``, one per
    block of ``block`` slices repeated along ``axis``."""
    t = _f32(o, t)
    tt = o.rw.type(t)
    rank = len(x_shape)
    if tt.rank == 0:
        return t
    if block:
        index = np.arange(x_shape[axis], dtype=np.int64) // block
        v = o.rw.value(t)
        if v is not None:
            return o.rw.const(f"{o.n.name}_blocks", np.take(v, index, axis=axis))
        shape = tuple(x_shape[axis] if i == axis else d for i, d in enumerate(tt.shape))
        return o.op("Gather", t, o.rw.const(f"{o.n.name}_block_index", index), shape=shape,
                    dtype="float32", axis=axis)
    dims = [1] * rank
    if tt.numel > 1:
        dims[axis] = tt.numel
    v = o.rw.value(t)
    if v is not None:
        return o.rw.const(f"{o.n.name}_axis", np.asarray(v).reshape(dims))
    return o.op("Reshape", t, o.rw.shape_const(f"{o.n.name}_dims", dims), shape=dims,
                dtype="float32")


def _axis_block(o: Ops, rank: int) -> tuple[int, int]:
    axis = int(o.n.attrs.get("axis", 1))
    return (axis + rank if axis < 0 else axis), int(o.n.attrs.get("block_size", 0) or 0)


def _saturate(o: Ops, v: str, shape, dtype: str) -> None:
    """The node's output: ``Cast(Clip(Round(v)))`` to the integer ``dtype``."""
    lo, hi = INT_RANGES[dtype]
    r = o.op("Round", v, shape=shape, dtype="float32")
    r = o.op("Clip", r, o.const(float(lo), "float32"), o.const(float(hi), "float32"),
             shape=shape, dtype="float32")
    o.final("Cast", r, to=onnx_elem_type(dtype), saturate=1)


@composite("QuantizeLinear")
def _quantize(o: Ops) -> bool:
    """``QuantizeLinear`` (module doc)."""
    n = o.n
    if o.xt.dtype != "float32" or why_not(n, o.graph) != "this form is not supported":
        return False
    shape, out = o.xt.shape, o.graph.types[n.outputs[0]].dtype
    axis, block = _axis_block(o, o.xt.rank)
    q = o.op("Div", o.x, _broadcast(o, n.inputs[1], shape, axis, block), dtype="float32")
    zp = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else ""
    if out in FLOAT8:
        o.final("Cast", q, to=onnx_elem_type(out), saturate=int(n.attrs.get("saturate", 1)))
        return True
    if zp and out in INT_RANGES:
        q = o.op("Add", o.op("Round", q, dtype="float32"),
                 _broadcast(o, zp, shape, axis, block), dtype="float32")
    elif zp:
        q = o.op("Add", q, _broadcast(o, zp, shape, axis, block), dtype="float32")
    if out in INT_RANGES:
        _saturate(o, q, shape, out)
    else:
        o.final("Cast", q, to=onnx_elem_type(out), saturate=1)
    return True


@composite("DequantizeLinear")
def _dequantize(o: Ops) -> bool:
    """``DequantizeLinear`` (module doc)."""
    n = o.n
    shape = o.xt.shape
    axis, block = _axis_block(o, o.xt.rank)
    x = _f32(o, o.x)
    zp = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else ""
    if zp and o.xt.dtype not in FLOAT8 and o.xt.dtype != FLOAT4:  # as onnx's reference
        x = o.op("Sub", x, _broadcast(o, zp, shape, axis, block), dtype="float32")
    scale = _broadcast(o, n.inputs[1], shape, axis, block)
    if o.graph.types[n.outputs[0]].dtype == "float32":
        o.final("Mul", x, scale)
    else:
        o.final("Cast", o.op("Mul", x, scale, dtype="float32"),
                to=onnx_elem_type(o.graph.types[n.outputs[0]].dtype), saturate=1)
    return True


def _centred(o: Ops, t: str, zp: str, per_channel: bool = False) -> str:
    """``float(t) - float(zp)`` (``zp`` per output channel of a convolution's weight when
    ``per_channel``), computed here where both are constants."""
    tv, zv = o.rw.value(t), (o.rw.value(zp) if zp else np.zeros((), np.float32))
    if tv is not None and zv is not None:
        zv = np.asarray(zv, np.float32)
        if per_channel and zv.ndim == 1 and zv.size == tv.shape[0]:
            zv = zv.reshape((-1,) + (1,) * (tv.ndim - 1))
        return o.rw.const(f"{o.n.name}_centred", np.asarray(tv, np.float32) - zv)
    x = _f32(o, t)
    if not zp:
        return x
    z = _f32(o, zp)
    zt = o.rw.type(z)
    if per_channel and zt.rank == 1 and zt.numel > 1:
        dims = [zt.numel] + [1] * (o.rw.type(t).rank - 1)
        z = o.op("Reshape", z, o.rw.shape_const(f"{o.n.name}_dims", dims), shape=dims,
                 dtype="float32")
    return o.op("Sub", x, z, shape=o.rw.type(t).shape, dtype="float32")


def _opt(n: Node, k: int) -> str:
    return n.inputs[k] if len(n.inputs) > k else ""


def _rescale(o: Ops, c: str, scales: tuple[str, str, str], y_zp: str, out_shape,
             channel_axis: int | None) -> None:
    """The node's output: ``c * (a_s * b_s / y_s) + y_zp``, rounded and saturated to the
    output's integer type (``b_s`` one per output channel along ``channel_axis`` if given)."""
    a_s, b_s, y_s = (_f32(o, s) for s in scales)
    bt = o.rw.type(b_s)
    if channel_axis is not None and bt.numel > 1:
        dims = [1] * len(out_shape)
        dims[channel_axis] = bt.numel
        b_s = o.op("Reshape", b_s, o.rw.shape_const(f"{o.n.name}_dims", dims), shape=dims,
                   dtype="float32")
    fshape = np.broadcast_shapes(*(o.rw.type(s).shape for s in (a_s, b_s, y_s)))
    factor = o.op("Div", o.op("Mul", a_s, b_s, shape=fshape, dtype="float32"), y_s,
                  shape=fshape, dtype="float32")
    d = o.op("Mul", c, factor, shape=out_shape, dtype="float32")
    if y_zp:
        d = o.op("Add", d, _f32(o, y_zp), shape=out_shape, dtype="float32")
    _saturate(o, d, out_shape, o.graph.types[o.n.outputs[0]].dtype)


@composite("QLinearMatMul", "MatMulInteger")
def _qlinear_matmul(o: Ops) -> bool:
    """``QLinearMatMul`` and ``MatMulInteger`` (module doc)."""
    n = o.n
    q = n.op_type == "QLinearMatMul"
    a = n.inputs[0]
    a_zp, b, b_zp = (n.inputs[2], n.inputs[3], _opt(n, 5)) if q else \
        (_opt(n, 2), n.inputs[1], _opt(n, 3))
    if not q and a_zp and o.rw.type(a_zp).numel > 1:
        return False
    out_shape = o.graph.types[n.outputs[0]].shape
    c = o.op("MatMul", _centred(o, a, a_zp), _centred(o, b, b_zp), shape=out_shape,
             dtype="float32")
    if q:
        _rescale(o, c, (n.inputs[1], n.inputs[4], n.inputs[6]), _opt(n, 7), out_shape, None)
    else:
        o.final("Cast", c, to=onnx_elem_type("int32"), saturate=1)
    return True


#: The most taps times input channels (``C * kh * kw``) of a runtime weight: its convolution
#: is one product of two activations per tap.
RUNTIME_WEIGHT_TAPS = 1024
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def _conv_by_taps(o: Ops, x: str, w: str, attrs, out_shape) -> str:
    """The 2-D convolution of ``x`` [N, C, H, W] by the runtime weight ``w`` [M, C, kh, kw]
    (one group): for each tap ``(i, j)`` the strided slice of the padded input it reads,
    channels last, times ``w[:, :, i, j]`` transposed (a product of two activations), summed
    over the taps."""
    name = o.n.name
    nb, c, _, _ = o.rw.type(x).shape
    m, _, kh, kw = o.rw.type(w).shape
    oh, ow = out_shape[2:]
    (sh, sw), (dh, dw), pads = attrs["strides"], attrs["dilations"], list(attrs["pads"])
    if any(pads):
        shape = list(o.rw.type(x).shape)
        shape[2] += pads[0] + pads[2]
        shape[3] += pads[1] + pads[3]
        x = o.op("Pad", x, o.rw.shape_const(f"{name}_pads", [0, 0, pads[0], pads[1], 0, 0,
                                                              pads[2], pads[3]]),
                 shape=shape, dtype="float32")
    total = None
    for i in range(kh):
        for j in range(kw):
            tap = o.op("Slice", x, o.rw.shape_const(f"{name}_starts", [i * dh, j * dw]),
                       o.rw.shape_const(f"{name}_ends", [i * dh + (oh - 1) * sh + 1,
                                                         j * dw + (ow - 1) * sw + 1]),
                       o.rw.shape_const(f"{name}_axes", [2, 3]),
                       o.rw.shape_const(f"{name}_steps", [sh, sw]),
                       shape=(nb, c, oh, ow), dtype="float32")
            tap = o.op("Transpose", tap, shape=(nb, oh, ow, c), dtype="float32",
                       perm=(0, 2, 3, 1))
            wt = o.op("Slice", w, o.rw.shape_const(f"{name}_starts", [i, j]),
                      o.rw.shape_const(f"{name}_ends", [i + 1, j + 1]),
                      o.rw.shape_const(f"{name}_axes", [2, 3]), shape=(m, c, 1, 1),
                      dtype="float32")
            wt = o.op("Reshape", wt, o.rw.shape_const(f"{name}_dims", [m, c]), shape=(m, c),
                      dtype="float32")
            wt = o.op("Transpose", wt, shape=(c, m), dtype="float32", perm=(1, 0))
            y = o.op("MatMul", tap, wt, shape=(nb, oh, ow, m), dtype="float32")
            total = y if total is None else o.op("Add", total, y, shape=(nb, oh, ow, m),
                                                 dtype="float32")
    return o.op("Transpose", total, shape=tuple(out_shape), dtype="float32", perm=(0, 3, 1, 2))


@composite("QLinearConv", "ConvInteger")
def _qlinear_conv(o: Ops) -> bool:
    """``QLinearConv`` and ``ConvInteger`` (module doc): a float32 ``Conv`` of the centred
    integers, the weight (a constant) centred here."""
    n = o.n
    q = n.op_type == "QLinearConv"
    w = n.inputs[3] if q else n.inputs[1]
    if o.xt.rank != 4 and not o.rw.is_const(w):  # a constant weight: a Conv of any rank
        return False
    x_zp, w_zp = (n.inputs[2], _opt(n, 5)) if q else (_opt(n, 2), _opt(n, 3))
    attrs = conv_attrs({k: v for k, v in n.attrs.items() if k in _CONV_ATTRS},
                       [o.xt, o.rw.type(w)], n.name)
    xc, wc = _centred(o, o.x, x_zp), _centred(o, w, w_zp, per_channel=True)
    bias = _f32(o, n.inputs[8]) if q and _opt(n, 8) else ""
    out_shape = o.graph.types[n.outputs[0]].shape
    if o.rw.is_const(w):
        c = o.op("Conv", xc, wc, *([bias] if bias else []), shape=out_shape, dtype="float32",
                 **attrs)
    elif int(attrs.get("group", 1)) == 1 and o.rw.type(w).numel // o.rw.type(w).shape[0] \
            <= RUNTIME_WEIGHT_TAPS:
        c = _conv_by_taps(o, xc, wc, attrs, out_shape)
        if bias:
            c = o.op("Add", c, o.op("Reshape", bias, o.rw.shape_const(
                f"{n.name}_dims", (1, -1, 1, 1)), shape=(1, out_shape[1], 1, 1),
                dtype="float32"), shape=out_shape, dtype="float32")
    else:
        return False
    if q:
        _rescale(o, c, (n.inputs[1], n.inputs[4], n.inputs[6]), _opt(n, 7), out_shape, 1)
    else:
        o.final("Cast", c, to=onnx_elem_type("int32"), saturate=1)
    return True


@composite("DynamicQuantizeLinear")
def _dynamic_quantize(o: Ops) -> bool:
    """``DynamicQuantizeLinear(x)``: ``s = (max(0, max x) - min(0, min x)) / 255`` (1 / 255
    where the two are equal), ``zp = Round(Clip(-min(0, min x) / s, 0, 255))``,
    ``y = Cast(Clip(Round(x / s) + zp, 0, 255))`` to uint8; ``s`` and ``zp`` its other
    outputs."""
    n = o.n
    if o.xt.dtype != "float32":
        return False
    axes = list(range(o.xt.rank))
    zero, top = o.const(0.0, "float32"), o.const(255.0, "float32")

    def scalar(op_type: str, *inputs: str, **attrs) -> str:
        return o.op(op_type, *inputs, shape=(), dtype="float32", **attrs)

    hi = scalar("Max", o.reduce("ReduceMax", o.x, axes, 0), zero)
    lo = scalar("Min", o.reduce("ReduceMin", o.x, axes, 0), zero)
    span = scalar("Where", o.op("Equal", hi, lo, shape=(), dtype="bool"),
                  o.const(1.0, "float32"), scalar("Sub", hi, lo))
    s = scalar("Div", span, top)
    zp = scalar("Round", scalar("Clip", scalar("Sub", zero, scalar("Div", lo, s)), zero, top))
    y = o.op("Clip", o.op("Add", o.op("Round", o.op("Div", o.x, s)), zp), zero, top)
    u8 = onnx_elem_type("uint8")
    o.rw.emit(Node(n.name, "Cast", (y,), (n.outputs[0],), {"to": u8, "saturate": 1}))
    if len(n.outputs) > 1 and n.outputs[1]:
        o.rw.alias(n.outputs[1], s)
    if len(n.outputs) > 2 and n.outputs[2]:
        o.rw.emit(Node(o.rw.fresh(f"{n.name}_zero_point"), "Cast", (zp,), (n.outputs[2],),
                       {"to": u8, "saturate": 1}))
    return True
