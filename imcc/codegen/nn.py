"""Normalizations, softmax, reductions and pooling on the digital vector unit."""

from __future__ import annotations

import itertools
import math

import numpy as np

from imcc.codegen.asm import f32_bits
from imcc.codegen.context import Ctx, lowers
from imcc.codegen.views import View, emit
from imcc.ir import describe
from isa.diagnostics import UnsupportedOpError
from isa.spec import AGU_RANK


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
    """(kernel, strides, dilations, pads before, pads after, padded extents), one entry per
    spatial axis. The padded extent is the explicit padding's, or more where ``ceil_mode``'s
    last windows reach past it (that extension is ignored padding too)."""
    nd = x.rank - 2
    k = tuple(int(v) for v in node.attrs["kernel_shape"])
    s = tuple(int(v) for v in node.attrs.get("strides") or (1,) * nd)
    d = tuple(int(v) for v in node.attrs.get("dilations") or (1,) * nd)
    pads = tuple(int(v) for v in node.attrs.get("pads") or (0,) * (2 * nd))
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", b"NOTSET", b"VALID"):
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: auto_pad must be resolved to pads")
    if nd < 1 or len(k) != nd:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: kernel_shape {list(k)} for a "
                                 f"rank-{x.rank} input (N, C and {len(k)} spatial axes expected)")
    before, after = pads[:nd], pads[nd:]
    for a, (n, o, kk, st, dd, b) in enumerate(zip(x.shape[2:], y.shape[2:], k, s, d, before)):
        taps = np.arange(o)[:, None] * st + np.arange(kk)[None, :] * dd
        empty = np.flatnonzero(~((taps >= b) & (taps < b + n)).any(axis=1))
        if empty.size:
            raise UnsupportedOpError(
                f"{describe(ctx.graph, node)}: its window {int(empty[0])} along spatial axis "
                f"{a} covers only padding (pads as large as the kernel, or a ceil_mode window "
                "past the input, which onnx's shape inference counts and its reference drops)",
                hint="use pads smaller than the kernel, or ceil_mode = 0")
    ext = tuple(max(n + b + a, (o - 1) * st + (kk - 1) * dd + 1) for n, o, kk, st, dd, b, a in
                zip(x.shape[2:], y.shape[2:], k, s, d, before, after))
    return k, s, d, before, after, ext


def _interior(v: View, begins, sizes) -> View:
    """The unpadded part of a padded (N, C, spatial...) view."""
    for i, (b, n) in enumerate(zip(begins, sizes)):
        v = v.slice(2 + i, b, b + n)
    return v


@lowers("MaxPool", "AveragePool")
def lower_pool(ctx: Ctx, node) -> None:
    """Max or sum over each window of the padded input (any number of spatial axes), then for
    AveragePool the division by each window's count, and for MaxPool's Indices output the
    position of each window's maximum."""
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    k, s, d, before, after, ext = _pool_geometry(ctx, node, x, y)
    nc, sp, osp = x.shape[:2], x.shape[2:], y.shape[2:]
    is_max = node.op_type == "MaxPool"
    src = x
    if ext != sp:
        xp = ctx.tmp_like(x, nc + ext)
        ctx.fill(xp, float("-inf") if is_max else 0.0)
        ctx.copy(_interior(xp, before, sp), x)
        src = xp
    _window_reduce(ctx, "vrmax" if is_max else "vrsum", src, y, k, s, d, ext)
    if is_max:
        if len(node.outputs) > 1 and node.outputs[1]:
            _max_indices(ctx, node, src, x, y, (k, s, d, before))
        return
    # Divide by the number of elements each window counts (ONNX: padding counts only with
    # count_include_pad; the ceil_mode extension never counts). The counted positions are a
    # box, so a window's count is the product of its counts along each axis.
    counts = np.ones(osp)
    include_pad = bool(node.attrs.get("count_include_pad", 0))
    for i, (n, o, kk, st, dd, b, e) in enumerate(zip(sp, osp, k, s, d, before, after)):
        starts = np.arange(o)[:, None] * st + np.arange(kk)[None, :] * dd
        lo, hi = (0, n + b + e) if include_pad else (b, b + n)
        along = ((starts >= lo) & (starts < hi)).sum(axis=1)
        counts = counts * along.reshape((o,) + (1,) * (len(osp) - 1 - i))
    ctx.binary("vmul", y, y, ctx.array(1.0 / np.maximum(counts, 1), f"{node.name} counts"))


def _window_reduce(ctx: Ctx, op: str, src: View, y: View, k, s, d, ext) -> None:
    """``y`` = ``op`` over each window of the padded ``src``. With one or two spatial axes
    every window is one view ([N, C, out..., kernel...]) reduced at once; with more (a view past
    the AGU's six dimensions) one axis at a time, each pass a window along one axis (the
    maximum and the sum over a box are those along each of its axes in turn)."""
    nc, osp = y.shape[:2], y.shape[2:]
    if 2 + 2 * len(k) <= AGU_RANK:
        st = src.strides[2:]
        win = View(src.base, src.offset, nc + osp + k, src.strides[:2]
                   + tuple(a * b for a, b in zip(s, st)) + tuple(a * b for a, b in zip(d, st)))
        ctx.reduce(op, y, win, len(k))
        return
    for a in range(len(k)):
        shape = nc + osp[: a + 1] + ext[a + 1 :]
        dst = y if a == len(k) - 1 else ctx.tmp(shape)
        strides = list(src.strides)
        sa = strides[2 + a]
        strides[2 + a] = s[a] * sa
        ctx.reduce(op, dst, View(src.base, src.offset, shape + (k[a],),
                                 tuple(strides) + (d[a] * sa,)), 1)
        src = dst


def _max_indices(ctx: Ctx, node, src: View, x: View, y: View, geometry) -> None:
    """MaxPool's Indices: each window's first input element (in the window's row-major order)
    equal to its maximum, as its flat index into the input (N, C, then the spatial axes
    row-major, or with ``storage_order = 1`` column-major, as onnx's reference). The taps are
    visited last to first, each one's index selected where its value (in the padded ``src``)
    equals the maximum and it lies in the input."""
    k, s, d, before = geometry
    nc, sp, osp = x.shape[:2], x.shape[2:], y.shape[2:]
    if x.size >= 1 << 24:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its Indices output over "
                                 f"{x.size} input elements (the machine's float32 words hold "
                                 "indices exactly below 2**24)")
    axes = range(len(sp))
    order = axes if int(node.attrs.get("storage_order", 0)) else reversed(axes)
    step, acc = [0] * len(sp), 1
    for a in order:
        step[a], acc = acc, acc * sp[a]
    base = ctx.array((np.arange(nc[0] * nc[1]) * math.prod(sp)).reshape(nc + (1,) * len(sp)),
                     f"{node.name} index base")
    ind = ctx.view(node.outputs[1])
    mask, value = ctx.tmp(y.shape), ctx.tmp(y.shape)
    first = True
    for tap in reversed(list(itertools.product(*(range(v) for v in k)))):
        pos = [np.arange(o) * st + t * dd - b for o, st, t, dd, b in zip(osp, s, tap, d, before)]
        inside = [(p >= 0) & (p < n) for p, n in zip(pos, sp)]
        if not all(v.any() for v in inside):
            continue  # this tap is padding for every window
        flat = sum(g * st for g, st in zip(np.ix_(*pos), step))
        valid = np.ones(osp, bool)
        for i, v in enumerate(inside):
            valid = valid & v.reshape((-1,) + (1,) * (len(sp) - 1 - i))
        tapv = View(src.base, src.offset + sum(t * dd * st for t, dd, st in
                                               zip(tap, d, src.strides[2:])),
                    y.shape, src.strides[:2] + tuple(a * b for a, b in zip(s, src.strides[2:])))
        ctx.binary("vcmpeq", mask, tapv, y)
        if not valid.all():
            ctx.binary("vmul", mask, mask, ctx.array(valid, f"{node.name} tap inside"))
        ctx.binary("vadd", value, base, ctx.array(flat, f"{node.name} tap index"))
        ctx.ternary("vsel", ind, mask, value, ctx.scalar(-1.0) if first else ind)
        first = False


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
