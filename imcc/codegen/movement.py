"""Data movement: reshape, transpose, concat, split, slice, expand, tile, gather, pad, resize.

Regular movements are strided views copied by one ``vcopy``. Irregular ones (a Gather with
constant scattered indices, reflect/edge Pad, nearest Resize) use an *index table*: the node is
evaluated by onnx's reference implementation on a tensor holding each element's own index, which
gives, exactly as ONNX defines it, the source element of every output element; one ``vgather``
then moves the data. Linear and cubic Resize interpolate each axis on its own: one product per
resized axis with a constant interpolation matrix, itself obtained from onnx's reference
Resize of an identity matrix.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from imcc.codegen.context import Ctx, lowers
from imcc.codegen.dynamic import emit_matmul_dynamic
from imcc.codegen.views import View, emit, node_view
from imcc.frontend.evaluate import evaluate
from imcc.ir import Node, describe
from isa.diagnostics import OnnxImportError, UnsupportedOpError


def _axis(a: int, rank: int) -> int:
    return a + rank if a < 0 else a


def _ints(ctx: Ctx, node, i: int, what: str) -> list[int] | None:
    if len(node.inputs) <= i or not node.inputs[i]:
        return None
    c = ctx.const(node.inputs[i])
    if c is None:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its {what} must be constant")
    return [int(v) for v in np.asarray(c).ravel()]


@lowers("Reshape")
def lower_reshape(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    if (x.base == y.base and x.offset == y.offset) or _same_storage(ctx, *node.inputs[:1],
                                                                     node.outputs[0]):
        return  # the output shares the input's buffer
    ctx.copy(y, x.reshape(y.shape))


def _same_storage(ctx: Ctx, a: str, b: str) -> bool:
    """Whether tensors ``a`` and ``b`` are one row-major buffer under two symbols (a Reshape's
    output aliases its input's storage, and so may a Transpose's:
    :func:`~imcc.codegen.memory.plan_buffers`)."""
    ba, bb = ctx.buffers.get(a), ctx.buffers.get(b)
    return (ba is not None and bb is not None and ba.addr == bb.addr and ba.tile == bb.tile
            and ba.inside is None and bb.inside is None
            and not ba.channels_last and not bb.channels_last)


@lowers("Transpose")
def lower_transpose(ctx: Ctx, node) -> None:
    if _same_storage(ctx, node.inputs[0], node.outputs[0]):
        return  # only size-1 dims move: the output shares the input's buffer
    # (an output read in place is that view itself: ctx.copy emits nothing)
    ctx.copy(ctx.view(node.outputs[0]), node_view(ctx.graph, node, ctx.view(node.inputs[0])))


@lowers("Concat")
def lower_concat(ctx: Ctx, node) -> None:
    y = ctx.view(node.outputs[0])
    ax = _axis(int(node.attrs["axis"]), y.rank)
    off = 0
    for t in node.inputs:
        if not t:
            continue
        x = ctx.view(t)
        d = x.shape[ax]
        ctx.copy(y.slice(ax, off, off + d), x)
        off += d


@lowers("Split")
def lower_split(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    ax = _axis(int(node.attrs.get("axis", 0)), x.rank)
    off = 0
    for t in node.outputs:
        if not t:
            continue
        y = ctx.view(t)
        d = y.shape[ax]
        part = x.slice(ax, off, off + d)
        bx, by = ctx.buffers.get(node.inputs[0]), ctx.buffers.get(t)
        if not (bx is not None and by is not None and bx.inside is None and by.inside is None
                and by.tile == bx.tile and by.addr == bx.addr + 4 * part.offset
                and part.is_contiguous()):  # else: a run of the input's buffer (plan_buffers)
            ctx.copy(y, part)
        off += d


@lowers("Slice")
def lower_slice(ctx: Ctx, node) -> None:
    for i, what in enumerate(("starts", "ends", "axes", "steps"), 1):
        _ints(ctx, node, i, what)  # an operand that is not constant is one error
    v = node_view(ctx.graph, node, ctx.view(node.inputs[0]))
    if v is not None:  # None: an empty output
        ctx.copy(ctx.view(node.outputs[0]), v)


@lowers("Expand")
def lower_expand(ctx: Ctx, node) -> None:
    ctx.copy(ctx.view(node.outputs[0]), node_view(ctx.graph, node, ctx.view(node.inputs[0])))


@lowers("Tile")
def lower_tile(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    reps = _ints(ctx, node, 1, "repeats")
    # y viewed as (r0, d0, r1, d1, ...) and x broadcast along the r dims
    yv, xs_shape, xs_str = y, [], []
    for a in reversed(range(x.rank)):
        yv = yv.split_axis(a, (reps[a], x.shape[a]))
    for a in range(x.rank):
        xs_shape += [reps[a], x.shape[a]]
        xs_str += [0, x.strides[a]]
    ctx.copy(yv, View(x.base, x.offset, tuple(xs_shape), tuple(xs_str)))


def _gather(ctx: Ctx, out: View, table: View, idx: View, gstride: int, glen: int) -> None:
    """out[i] = table[i + gstride * idx[i]] (the AGU strides of ``table`` carry i)."""
    ctx.w.csrs(gstride=gstride, glen=glen)
    emit(ctx.w, "vgather", out.shape, {"d": out, "a": table, "b": idx})


def _index_table(node, shape: tuple[int, ...], consts: dict) -> np.ndarray:
    """Evaluate ``node`` with onnx's reference on an input holding each element's flat index:
    the output holds, for every output element, the index of its source element."""
    flat = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    inputs = [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, list(shape))]
    feeds = {"x": flat}
    names = ["x"]
    inits = []
    for i, t in enumerate(node.inputs[1:], 1):
        if not t:
            names.append("")
            continue
        names.append(f"c{i}")
        inits.append(onnx.numpy_helper.from_array(np.asarray(consts[t]), f"c{i}"))
    attrs = {k: v for k, v in node.attrs.items()}
    n = helper.make_node(node.op_type, names, ["y"], **attrs)
    g = helper.make_graph([n], "index", inputs,
                          [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, None)],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    from onnx.reference import ReferenceEvaluator  # 11 MB, for the models that need it

    return np.asarray(ReferenceEvaluator(m).run(None, feeds)[0])


def _gather_by_table(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    consts = {t: ctx.const(t) for t in node.inputs[1:] if t}
    if any(v is None for v in consts.values()):
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its parameters must be "
                                 "constant")
    table = _index_table(node, x.shape, consts)
    if table.shape != y.shape:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: unexpected output shape "
                                 f"{table.shape}")
    idx = ctx.array(table.astype(np.float32), f"{node.name} index table")
    flat = View(x.base, x.offset, y.shape, (0,) * y.rank)
    _gather(ctx, y, flat, idx, 1, x.size)


@lowers("Gather")
def lower_gather(ctx: Ctx, node) -> None:
    data = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    ax = _axis(int(node.attrs.get("axis", 0)), data.rank)
    ind_c = ctx.const(node.inputs[1])
    if ind_c is not None:
        ind = np.asarray(ind_c).astype(np.int64).ravel()
        n = data.shape[ax]
        bad = ind[(ind < -n) | (ind >= n)]
        if bad.size:
            raise OnnxImportError(f"{describe(ctx.graph, node)}: index {int(bad[0])} is out of "
                                  f"range for axis {ax} of size {n}; fix the model's indices")
        ind = np.where(ind < 0, ind + n, ind)
        if ind.size == 1 or (ind.size > 1 and len(set(np.diff(ind))) == 1 and ind[1] != ind[0]):
            step = int(ind[1] - ind[0]) if ind.size > 1 else 1
            v = data.slice(ax, int(ind[0]), int(ind[0]) + step * ind.size, step)
            ctx.copy(y, _regroup(v, ax, y.shape))
            return
    # dynamic (or irregular) indices: vgather
    idx = ctx.view(node.inputs[1])
    pre, post = data.shape[:ax], data.shape[ax + 1 :]
    ni = idx.rank
    table = View(data.base, data.offset, y.shape,
                 data.strides[:ax] + (0,) * ni + data.strides[ax + 1 :])
    index = View(idx.base, idx.offset, y.shape, (0,) * len(pre) + idx.strides + (0,) * len(post))
    _gather(ctx, y, table, index, data.strides[ax], data.shape[ax])


@lowers("GatherElements")
def lower_gather_elements(ctx: Ctx, node) -> None:
    """``y[..., i, ...] = data[..., idx[..., i, ...], ...]`` along ``axis``: one ``vgather``
    whose table walks ``data`` with the indices' shape and a zero stride along the axis (the
    index supplies it; negative indices count from the end, as ``vgather`` takes them)."""
    data = ctx.view(node.inputs[0])
    idx = ctx.view(node.inputs[1])
    y = ctx.view(node.outputs[0])
    ax = _axis(int(node.attrs.get("axis", 0)), data.rank)
    strides = tuple(0 if a == ax else s for a, s in enumerate(data.strides))
    table = View(data.base, data.offset, y.shape, strides)
    _gather(ctx, y, table, idx, data.strides[ax], data.shape[ax])


def _regroup(v: View, ax: int, shape: tuple[int, ...]) -> View:
    """Reshape the gathered axis of a strided view to the indices' shape (rank may change)."""
    pre, post = v.shape[:ax], v.shape[ax + 1 :]
    mid = shape[len(pre) : len(shape) - len(post)]
    if mid == (v.shape[ax],):
        return v
    if len(mid) == 0:
        return v.index(ax, 0)
    return v.split_axis(ax, mid)


@lowers("Pad")
def lower_pad(ctx: Ctx, node) -> None:
    mode = node.attrs.get("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        _gather_by_table(ctx, node)
        return
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    pads = _ints(ctx, node, 1, "pads")
    axes = _ints(ctx, node, 3, "axes") or list(range(x.rank))
    value = 0.0
    if len(node.inputs) > 2 and node.inputs[2]:
        c = ctx.const(node.inputs[2])
        if c is None:
            raise UnsupportedOpError(f"{describe(ctx.graph, node)}: its pad value must be constant")
        value = float(np.asarray(c).ravel()[0]) if np.asarray(c).size else 0.0
    k = len(axes)
    src, dst = x, y
    for i, a in enumerate(axes):
        a = _axis(a, x.rank)
        b, e = pads[i], pads[i + k]
        n = x.shape[a]
        s0, s1 = max(0, -b), n - max(0, -e)
        src = src.slice(a, s0, s1)
        dst = dst.slice(a, max(0, b), max(0, b) + (s1 - s0))
    if dst.size != y.size:
        ctx.fill(y, value)
    if src.size:
        ctx.copy(dst, src)


@lowers("Resize", "DepthToSpace", "SpaceToDepth")
def lower_by_table(ctx: Ctx, node) -> None:
    if node.op_type == "Resize":
        mode = node.attrs.get("mode", "nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode in ("linear", "cubic"):
            _resize_separable(ctx, node)
            return
        if mode != "nearest":
            raise UnsupportedOpError(f"{describe(ctx.graph, node)}: mode {mode!r} is not supported",
                                     hint="use mode nearest, linear or cubic")
    _gather_by_table(ctx, node)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def resize_matrices(node, consts: dict, in_shape: tuple[int, ...],
                    out_shape: tuple[int, ...]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For a linear or cubic Resize: per resized axis ``k``, ``(A_k, c_k)`` with ``A_k``
    [out, in] and ``c_k`` [out] such that interpolating the axes one after the other,
    ``x -> A_k x + c_k`` along axis ``k``, is the Resize (both modes interpolate each axis on its
    own, antialias included; ``c_k`` is the ``extrapolation_value`` of positions outside a
    ``tf_crop_and_resize`` region, else 0). Each is read from onnx's reference Resize, along that
    axis alone with the node's attributes, roi and scale (or size), of the identity matrix and of
    a row of zeros."""
    rank = len(in_shape)
    attrs = {k: v for k, v in node.attrs.items() if k not in ("axes",)}
    if _text(attrs.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
        raise UnsupportedOpError(f"node {node.name!r}: Resize with keep_aspect_ratio_policy "
                                 "other than 'stretch' is not supported")
    given = node.attrs.get("axes")
    axes = [a % rank for a in given] if given else list(range(rank))

    def operand(i):
        t = node.inputs[i] if len(node.inputs) > i else ""
        v = consts.get(t) if t else None
        return None if v is None or np.size(v) == 0 else np.asarray(v, np.float64).ravel()

    roi, scales = operand(1), operand(2)  # sizes, when given, are the output's shape
    crop = _text(attrs.get("coordinate_transformation_mode", "half_pixel")) == \
        "tf_crop_and_resize"
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j, ax in enumerate(axes):
        n_in, n_out = in_shape[ax], out_shape[ax]
        scale = float(scales[j]) if scales is not None else n_out / n_in
        whole = roi is None or (roi[j] == 0.0 and roi[len(axes) + j] == 1.0)
        if n_in == n_out and scale == 1.0 and (not crop or whole):
            continue
        # Rows: the identity (one row per input position), then zeros (the constant part).
        feeds = {"x": np.vstack([np.eye(n_in), np.zeros((1, n_in))])}
        if roi is not None:
            feeds["roi"] = np.array([0.0, roi[j], 1.0, roi[len(axes) + j]], np.float32)
        if scales is not None:
            feeds["scales"] = np.array([1.0, scale], np.float32)
        else:
            feeds["sizes"] = np.array([n_in + 1, n_out], np.int64)
        names = [k if k in feeds else "" for k in ("x", "roi", "scales", "sizes")]
        while not names[-1]:
            names.pop()
        one = Node(f"{node.name}_axis{ax}", "Resize", tuple(names), ("y",), attrs)
        y = evaluate([one], feeds, ["y"], 19, f"node {node.name!r}: ")["y"]
        if y.shape != (n_in + 1, n_out):
            raise UnsupportedOpError(f"node {node.name!r}: unexpected Resize output {y.shape} "
                                     f"along axis {ax}")
        out[ax] = ((y[:n_in] - y[n_in]).T, y[n_in])
    return out


def _resize_separable(ctx: Ctx, node) -> None:
    """Linear or cubic Resize: one ``vmm`` per resized axis with that axis's interpolation
    matrix (a constant), through views that put the axis in the product's K position."""
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    consts = {t: ctx.const(t) for t in node.inputs[1:] if t}
    mats = resize_matrices(node, consts, x.shape, y.shape)
    if not mats:
        ctx.copy(y, x)
        return
    cur = x
    shape = list(x.shape)
    for i, (ax, (a, c)) in enumerate(sorted(mats.items())):
        shape[ax] = a.shape[0]
        last = i == len(mats) - 1
        dst = y if last else ctx.tmp(tuple(shape))
        pre, post = tuple(shape[:ax]), int(np.prod(shape[ax + 1:], dtype=np.int64))
        ctx.w.comment(f"interpolate axis {ax}: {a.shape[1]} -> {a.shape[0]}")
        av = ctx.array(a.astype(np.float32), f"{node.name} axis-{ax} interpolation")
        src = cur.reshape(pre + (a.shape[1], post))
        out = dst.reshape(pre + (a.shape[0], post))
        emit_matmul_dynamic(ctx, "vmm", out, av, src)
        if np.any(c):
            ctx.w.comment("extrapolation value outside the crop region")
            cv = ctx.array(c.astype(np.float32).reshape((a.shape[0], 1)), f"{node.name} offsets")
            ctx.binary("vadd", out, out, cv)
        cur = dst
