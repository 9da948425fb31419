"""Normalizations, softmax, reductions and pooling on the digital vector unit."""

from __future__ import annotations

import numpy as np

from imcc.codegen.asm import f32_bits
from imcc.codegen.context import Ctx, lowers
from imcc.codegen.views import View, emit
from imcc.ir import describe
from isa.diagnostics import UnsupportedOpError


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _innermost(v: View, axes: list[int]) -> View:
    """``v`` with ``axes`` moved to the end (the AGU reduces the innermost dims)."""
    keep = [i for i in range(v.rank) if i not in axes]
    return v.permute(tuple(keep + axes))


@lowers("Softmax", "LogSoftmax")
def lower_softmax(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    ax = _axis(int(node.attrs.get("axis", -1)), x.rank)
    xv, yv = _innermost(x, [ax]), _innermost(y, [ax])
    _row_op(ctx, "vsoftmax", yv, xv, 1)
    if node.op_type == "LogSoftmax":
        ctx.unary("vlog", y, y)


def _row_op(ctx: Ctx, mnemonic: str, out: View, x: View, nred: int) -> None:
    """Ops whose destination has the source's shape but which act on the innermost dims."""
    emit(ctx.w, mnemonic, x.shape, {"d": out, "a": x}, nred=nred, row=True)


@lowers("LayerNormalization")
def lower_layer_norm(ctx: Ctx, node) -> None:
    if len([o for o in node.outputs if o]) > 1:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its Mean and InvStdDev "
                                 "outputs are not supported (only Y is)")
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    ax = _axis(int(node.attrs.get("axis", -1)), x.rank)
    inner = int(np.prod(x.shape[ax:]))
    outer = x.shape[:ax]
    ctx.w.csr("eps", f32_bits(float(node.attrs.get("epsilon", 1e-5))))
    _row_op(ctx, "vnorm", y.reshape(outer + (inner,)), x.reshape(outer + (inner,)), 1)
    scale = ctx.view(node.inputs[1])
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    if bias:
        ctx.ternary("vfma", y, y, scale, ctx.view(bias))
    else:
        ctx.binary("vmul", y, y, scale)


@lowers("BatchNormalization")
def lower_batch_norm(ctx: Ctx, node) -> None:
    consts = [ctx.const(t) for t in node.inputs[1:5]]
    if any(c is None for c in consts):
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: scale, bias, mean and variance "
                                 "must be constants (inference mode)")
    scale, bias, mean, var = (np.asarray(c, dtype=np.float64) for c in consts)
    eps = float(node.attrs.get("epsilon", 1e-5))
    a = scale / np.sqrt(var + eps)
    b = bias - mean * a
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    shape = (len(a),) + (1,) * (x.rank - 2)
    ctx.ternary("vfma", y, x, ctx.array(a.reshape(shape), f"{node.name} scale"),
                ctx.array(b.reshape(shape), f"{node.name} shift"))


def _reduce_axes(ctx: Ctx, node, rank: int) -> list[int]:
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        c = ctx.const(node.inputs[1])
        if c is None:
            raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its reduction axes must be "
                                     "constant")
        axes = [int(a) for a in np.asarray(c).ravel()]
    if axes is None or len(axes) == 0:
        if node.attrs.get("noop_with_empty_axes", 0):
            return []
        return list(range(rank))
    return sorted(_axis(int(a), rank) for a in axes)


@lowers("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")
def lower_reduce(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    axes = _reduce_axes(ctx, node, x.rank)
    if not axes:
        ctx.copy(y, x)
        return
    keep_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    op = {"ReduceMean": "vrmean", "ReduceSum": "vrsum", "ReduceMax": "vrmax",
          "ReduceMin": "vrmin"}[node.op_type]
    ctx.reduce(op, y.reshape(keep_shape), _innermost(x, axes), len(axes))


@lowers("GlobalAveragePool", "GlobalMaxPool")
def lower_global_pool(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    n, c = x.shape[:2]
    hw = int(np.prod(x.shape[2:]))
    op = "vrmean" if node.op_type == "GlobalAveragePool" else "vrmax"
    ctx.reduce(op, y.reshape((n, c)), x.reshape((n, c, hw)), 1)


def _pool_geometry(ctx: Ctx, node, x: View, y: View):
    k = list(node.attrs["kernel_shape"])
    nd = len(k)
    s = list(node.attrs.get("strides") or [1] * nd)
    d = list(node.attrs.get("dilations") or [1] * nd)
    pads = list(node.attrs.get("pads") or [0] * (2 * nd))
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", b"NOTSET", b"VALID"):
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: auto_pad must be resolved to pads")
    if nd != 2:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: only 2-D pooling is supported")
    return k, s, d, pads


@lowers("MaxPool", "AveragePool")
def lower_pool(ctx: Ctx, node) -> None:
    if len([o for o in node.outputs if o]) > 1:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its Indices output is not "
                                 "supported")
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = _pool_geometry(ctx, node, x, y)
    n, c, h, w = x.shape
    oh, ow = y.shape[2:]
    # ceil_mode may need windows past the explicit padding: extend with more (ignored) padding
    hp = max(h + pt + pb, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(w + pl + pr, (ow - 1) * sw + (kw - 1) * dw + 1)
    is_max = node.op_type == "MaxPool"
    src = x
    if (hp, wp) != (h, w):
        xp = ctx.tmp_like(x, (n, c, hp, wp))
        ctx.fill(xp, float("-inf") if is_max else 0.0)
        ctx.copy(xp.slice(2, pt, pt + h).slice(3, pl, pl + w), x)
        src = xp
    sN, sC, sH, sW = src.strides
    win = View(src.base, src.offset, (n, c, oh, ow, kh, kw),
               (sN, sC, sh * sH, sw * sW, dh * sH, dw * sW))
    if is_max:
        ctx.reduce("vrmax", y, win, 2)
        return
    ctx.reduce("vrsum", y, win, 2)
    # Divide by the number of elements each window counts (ONNX: padding counts only with
    # count_include_pad; the ceil_mode extension never counts).
    mask = np.zeros((hp, wp))
    if node.attrs.get("count_include_pad", 0):
        mask[: h + pt + pb, : w + pl + pr] = 1
    else:
        mask[pt : pt + h, pl : pl + w] = 1
    counts = np.zeros((oh, ow))
    for i in range(kh):
        for j in range(kw):
            counts += mask[i * dh : i * dh + (oh - 1) * sh + 1 : sh,
                           j * dw : j * dw + (ow - 1) * sw + 1 : sw]
    ctx.binary("vmul", y, y, ctx.array(1.0 / np.maximum(counts, 1), f"{node.name} counts"))


@lowers("CumSum")
def lower_cumsum(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    ax_c = ctx.const(node.inputs[1])
    if ax_c is None:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its axis must be constant")
    ax = _axis(int(np.asarray(ax_c).ravel()[0]), x.rank)
    xv, yv = _innermost(x, [ax]), _innermost(y, [ax])
    if node.attrs.get("reverse", 0):
        last = xv.rank - 1
        xv = xv.slice(last, xv.shape[last] - 1, -1, -1)
        yv = yv.slice(last, yv.shape[last] - 1, -1, -1)
    _row_op(ctx, "vcumsum", yv, xv, 1)
    if node.attrs.get("exclusive", 0):
        ctx.binary("vsub", yv, yv, xv)
