"""Expansions of ``expand-composites`` for the operators that sample an image at coordinates
computed at run time: ``GridSample``, and ``AffineGrid``, which makes such coordinates;
``DeformConv``, a convolution whose taps sit at such coordinates; and ``Col2Im``, which sums
sliding blocks back into an image at positions known when compiling.

The machine has no interpolating load; a sample is read with ``GatherElements`` from the image
flattened to ``[N, C, pixels]``, at flat indices computed from the grid's coordinates with the
digital unit's ``Floor``, ``Round``, comparisons and ``Where``, one gather per interpolation
tap (``1``, ``2**r`` or ``4**r`` for nearest, linear and cubic on ``r`` spatial axes). The
arithmetic follows the ONNX specification's reference (``onnx.reference``'s ``GridSample``):
coordinates denormalized in float32, out-of-range coordinates clamped (``border``) or
reflected (``reflection``) before the taps are taken, and the taps of every padding mode looked
up as there (zeros outside the image, the nearest edge pixel, or the reflected one); the
interpolation sums along the last spatial axis first, as the reference does.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from imcc.passes.composite_index import _bin, _const, _pad_end, _reduce, _reshape, _slice, _where
from imcc.passes.composite_registry import FLOAT32, Ops, composite

_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
          "nearest": "nearest"}
_PADDINGS = ("zeros", "border", "reflection")
_CUBIC_ALPHA = -0.75  # Keys' cubic convolution, as PyTorch and the ONNX reference
_INT64 = int(onnx.TensorProto.INT64)


def _f(o: Ops, v) -> str:
    return _const(o, "k", v, np.float32)


def _op2(o: Ops, op_type: str, a: str, b) -> str:
    """``op_type(a, b)``, ``b`` a tensor name or a float32 constant."""
    return _bin(o, op_type, a, b if isinstance(b, str) else _f(o, b))


def _unary(o: Ops, op_type: str, a: str) -> str:
    return o.op(op_type, a, shape=o.rw.type(a).shape, dtype=o.rw.type(a).dtype)


def _bool(o: Ops, op_type: str, a: str, b) -> str:
    return _bin(o, op_type, a, b if isinstance(b, str) else _f(o, b), dtype="bool")


def _reflect(o: Ops, v: str, lo: float, hi: float) -> str:
    """``v`` reflected by the nearer border until it lies in ``[lo, hi]`` (the reference's
    ``_gs_reflect``: ``n = trunc(dx / (hi - lo))``, ``r = dx - n * (hi - lo)``, and ``lo + r``
    or ``hi - r`` by the parity of ``n``)."""
    span = hi - lo

    def folds(dx: str) -> tuple[str, str]:  # dx >= 0 where it is used
        n = _unary(o, "Floor", _op2(o, "Div", dx, span))
        r = _op2(o, "Sub", dx, _op2(o, "Mul", n, span))
        half = _op2(o, "Mul", _unary(o, "Floor", _op2(o, "Div", n, 2.0)), 2.0)
        return _bool(o, "Equal", _op2(o, "Sub", n, half), 0.0), r

    even, r = folds(_op2(o, "Sub", _f(o, lo), v))
    up, down = _op2(o, "Add", r, lo), _op2(o, "Sub", _f(o, hi), r)
    below = _where(o, even, up, down)
    even, r = folds(_op2(o, "Sub", v, hi))
    up, down = _op2(o, "Add", r, lo), _op2(o, "Sub", _f(o, hi), r)
    above = _where(o, even, down, up)
    return _where(o, _bool(o, "Less", v, lo), below,
                  _where(o, _bool(o, "Greater", v, hi), above, v))


def _clamped(o: Ops, v: str, lo: float, hi: float) -> str:
    """``v`` outside ``[lo, hi]`` moved to the nearer border (NaN stays)."""
    return _where(o, _bool(o, "Less", v, lo), _f(o, lo),
                  _where(o, _bool(o, "Greater", v, hi), _f(o, hi), v))


def _coordinate(o: Ops, g: str, d: int, mode: str, pad: str, align: int) -> str:
    """One spatial axis's grid component ``g`` (normalized to ``[-1, 1]``) as a position in an
    axis of ``d`` pixels, rounded for ``nearest``, then clamped or reflected where it lies past
    the border (``[0, d - 1]`` with ``align_corners``, ``[-0.5, d - 0.5]`` without)."""
    if align:
        x = _op2(o, "Mul", _op2(o, "Div", _op2(o, "Add", g, 1.0), 2.0), float(d - 1))
    else:
        x = _op2(o, "Div", _op2(o, "Sub", _op2(o, "Mul", _op2(o, "Add", g, 1.0), float(d)), 1.0),
                 2.0)
    if mode == "nearest":
        x = _unary(o, "Round", x)
    lo, hi = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
    if pad == "border":
        x = _where(o, _bool(o, "Less", x, lo), _f(o, 0.0),
                   _where(o, _bool(o, "Greater", x, hi), _f(o, d - 1.0), x))
    elif pad == "reflection":
        x = _reflect(o, x, lo, hi)
    return x


def _cubic_coefficients(o: Ops, t: str) -> list[str]:
    """Keys' four coefficients for the fraction ``t`` in ``[0, 1)`` (the reference's
    ``_gs_get_cubic_coeffs``, ``A = -0.75``)."""
    a = _CUBIC_ALPHA

    def outer(s: str) -> str:  # ((A*s - 5A)*s + 8A)*s - 4A
        inner = _op2(o, "Mul", _op2(o, "Sub", _op2(o, "Mul", s, a), 5 * a), s)
        return _op2(o, "Sub", _op2(o, "Mul", _op2(o, "Add", inner, 8 * a), s), 4 * a)

    def middle(s: str) -> str:  # ((A+2)*s - (A+3))*s*s + 1
        c = _op2(o, "Mul", _op2(o, "Mul", _op2(o, "Sub", _op2(o, "Mul", s, a + 2), a + 3), s), s)
        return _op2(o, "Add", c, 1.0)

    one_minus = _op2(o, "Sub", _f(o, 1.0), t)
    return [outer(_op2(o, "Add", t, 1.0)), middle(t), middle(one_minus),
            outer(_op2(o, "Sub", _f(o, 2.0), t))]


def _taps(o: Ops, x: str, d: int, mode: str, pad: str, align: int
          ) -> list[tuple[str, str | None, str | None]]:
    """The taps along one axis: ``(index, weight, valid)`` with ``index`` an int64 position
    inside the axis, ``weight`` None for ``nearest`` and ``valid`` None where every tap reads
    a pixel (a tap outside the image reads 0 with ``zeros`` padding)."""
    if mode == "nearest":
        positions, weights = [x], [None]
    else:
        base = _unary(o, "Floor", x)
        t = _op2(o, "Sub", x, base)
        if mode == "linear":
            positions, weights = [base, _op2(o, "Add", base, 1.0)], [_op2(o, "Sub", _f(o, 1.0), t), t]
        else:
            positions = [_op2(o, "Add", base, float(k)) for k in (-1, 0, 1, 2)]
            weights = _cubic_coefficients(o, t)
    lo, hi = (0.0, d - 1.0) if align else (-0.5, d - 0.5)
    out = []
    for p, w in zip(positions, weights, strict=True):
        valid = None
        if pad == "zeros":
            valid = o.op("And", _bool(o, "GreaterOrEqual", p, 0.0), _bool(o, "Less", p, float(d)),
                         shape=o.rw.type(p).shape, dtype="bool")
            p = _clamped(o, p, 0.0, d - 1.0)  # any pixel: its value is not used
        elif pad == "border":
            p = _clamped(o, p, 0.0, d - 1.0)
        else:
            p = _reflect(o, p, lo, hi)
        index = o.op("Cast", p, shape=o.rw.type(p).shape, dtype="int64", to=_INT64)  # truncates
        out.append((index, w, valid))
    return out


def _sample(o: Ops, flat: str, axes: list, dims, full: list[int]) -> str:
    """``flat`` (the image, its pixels flattened on the last axis) read at the taps of each
    spatial axis (``axes[i]`` from :func:`_taps`, of an axis of ``dims[i]`` pixels) and
    interpolated, the last axis innermost, as the reference does: ``full`` is the shape of one
    gather (the taps' tensors broadcast to it)."""
    strides = [math.prod(dims[i + 1:]) for i in range(len(dims))]
    target = o.rw.shape_const(f"{o.n.name}_gathered", full)

    def value(taps) -> str:
        index = None
        for (ix, _, _), s in zip(taps, strides, strict=True):
            term = ix if s == 1 else _bin(o, "Mul", ix, _const(o, "stride", s, np.int64))
            index = term if index is None else _bin(o, "Add", index, term)
        index = o.op("Expand", index, target, shape=full, dtype="int64")
        v = o.op("GatherElements", flat, index, shape=full, axis=len(full) - 1)
        for _, _, valid in taps:
            if valid is not None:
                v = _where(o, valid, v, _f(o, 0.0))
        return v

    def interpolate(level: int, chosen: tuple) -> str:
        """The sum over the taps of axes ``level..`` (the last innermost), the taps of the
        axes before fixed to ``chosen``."""
        total = None
        for tap in axes[level]:
            taps = chosen + (tap,)
            v = value(taps) if level == len(axes) - 1 else interpolate(level + 1, taps)
            if tap[1] is not None:
                v = _bin(o, "Mul", v, tap[1])
            total = v if total is None else _bin(o, "Add", total, v)
        return total

    return interpolate(0, ())


@composite("GridSample", dtypes=FLOAT32)
def _grid_sample(o: Ops) -> bool:
    """``GridSample(X, grid)``: ``Y[n, c, o...] = sum over taps of w * X[n, c, tap]``, the taps
    and weights of ``mode`` (nearest, (bi)linear, (bi)cubic) at the position the grid gives
    for ``o`` (``grid[n, o..., k]`` is the normalized coordinate of spatial axis ``r - 1 - k``),
    denormalized under ``align_corners`` and padded by ``padding_mode`` (module doc)."""
    n = o.n
    mode = _MODES.get(str(n.attrs.get("mode", "linear")))
    pad = str(n.attrs.get("padding_mode", "zeros"))
    align = int(n.attrs.get("align_corners", 0))
    xs, grid = tuple(o.xt.shape), n.inputs[1]
    gs = tuple(o.rw.type(grid).shape)
    r = len(xs) - 2
    dims = xs[2:]
    if (mode is None or pad not in _PADDINGS or r < 1 or len(gs) != r + 2 or gs[-1] != r
            or gs[0] != xs[0] or o.rw.type(grid).dtype != "float32" or 0 in xs or 0 in gs
            or (pad == "reflection" and align and 1 in dims)):  # the reference divides by 0
        return False
    batch, channels, points = xs[0], xs[1], math.prod(gs[1:-1])
    flat = _reshape(o, o.x, [batch, channels, math.prod(dims)])
    axes = []
    for i, d in enumerate(dims):  # grid component r - 1 - i is spatial axis i
        k = r - 1 - i
        g = _reshape(o, _slice(o, grid, r + 1, k, k + 1), [batch, 1, points])
        axes.append(_taps(o, _coordinate(o, g, d, mode, pad, align), d, mode, pad, align))
    out = _sample(o, flat, axes, dims, [batch, channels, points])
    o.final("Reshape", out, o.rw.shape_const(f"{n.name}_out", [batch, channels, *gs[1:-1]]))
    return True


def _base_grid(dims: tuple[int, ...], align: int) -> np.ndarray:
    """The normalized pixel positions ``[prod(dims), r + 1]``, columns ``(x, y, ..., 1)`` (the
    last spatial axis first), each axis's positions computed as the reference's ``np.arange``
    computes them (``start + i * step`` in float64) and rounded to float32."""
    axes = []
    for d in dims:
        with np.errstate(divide="ignore"):
            step = np.float64(2.0) / (d - 1) if align else np.float64(2.0) / d
        start = -1.0 if align else -1.0 + step / 2
        axes.append(start + np.arange(d) * step if d > 1 or not align else np.full(1, -1.0))
    mesh = np.meshgrid(*axes, indexing="ij")
    cols = [m.reshape(-1) for m in reversed(mesh)] + [np.ones(math.prod(dims))]
    return np.stack(cols, axis=1).astype(np.float32)


@composite("AffineGrid", dtypes=FLOAT32)
def _affine_grid(o: Ops) -> bool:
    """``AffineGrid(theta, size)``: ``grid[n, p..., :] = theta[n] @ (x_p, y_p, ..., 1)``, the
    normalized position of pixel ``p`` of an image of ``size`` (a constant ``(N, C, D...)``)
    under ``align_corners`` (pixel centres in ``[-1, 1]``, or the corner pixels on ``-1`` and
    ``1``): one ``MatMul`` of the constant positions with ``theta`` transposed."""
    n = o.n
    size = o.rw.value(n.inputs[1])
    ts = tuple(o.xt.shape)
    if size is None or len(ts) != 3:
        return False
    size = [int(v) for v in np.asarray(size).reshape(-1)]
    dims, r = tuple(size[2:]), len(size) - 2
    if r < 1 or size[0] != ts[0] or ts[1:] != (r, r + 1) or min(size) < 1:
        return False
    base = _const(o, "positions", _base_grid(dims, int(n.attrs.get("align_corners", 0))),
                  np.float32)
    points = math.prod(dims)
    tt = o.op("Transpose", o.x, shape=[ts[0], r + 1, r], perm=(0, 2, 1))
    grid = o.op("MatMul", base, tt, shape=[ts[0], points, r])
    o.final("Reshape", grid, o.rw.shape_const(f"{n.name}_out", [ts[0], *dims, r]))
    return True


def _col2im_index(image, block, dil, pads, strides, blocks) -> np.ndarray:
    """``[K, P]``: for kernel offset ``k`` and image pixel ``p``, ``k * (L + 1) + l`` with ``l``
    the sliding block whose offset ``k`` lands on ``p``, or ``k * (L + 1) + L`` (a zero column)
    where none does (``L`` blocks, ``blocks`` per axis)."""
    r = len(image)
    total = math.prod(blocks)
    pos = np.indices(image).reshape(r, -1)  # [r, P]
    rows = []
    for k, offs in enumerate(np.ndindex(*block)):
        flat = np.zeros(pos.shape[1], np.int64)
        valid = np.ones(pos.shape[1], bool)
        for i in range(r):
            t = pos[i] + pads[i] - offs[i] * dil[i]
            valid &= (t % strides[i] == 0) & (t >= 0) & (t // strides[i] < blocks[i])
            flat = flat * blocks[i] + t // strides[i]
        rows.append(k * (total + 1) + np.where(valid, flat, total))
    return np.stack(rows)


@composite("Col2Im", dtypes=FLOAT32)
def _col2im(o: Ops) -> bool:
    """``Col2Im(input, image_shape, block_shape)``: ``Y[n, c, p] = sum over kernel offsets k
    of input[n, c * K + k, l]``, ``l`` the sliding block (``strides``, ``dilations``, ``pads``)
    whose offset ``k`` lands on image pixel ``p`` (none: nothing added); image and block shapes
    constant. One ``Gather`` of constant indices from the blocks with a zero column appended,
    then ``ReduceSum`` over the offsets."""
    n = o.n
    image, block = (o.rw.value(t) for t in n.inputs[1:3])
    xs = tuple(o.xt.shape)
    if image is None or block is None or len(xs) != 3:
        return False
    image, block = ([int(v) for v in np.asarray(a).reshape(-1)] for a in (image, block))
    r = len(image)
    dil = list(n.attrs.get("dilations") or [1] * r)
    strides = list(n.attrs.get("strides") or [1] * r)
    pads = list(n.attrs.get("pads") or [0] * (2 * r))
    k = math.prod(block)
    if (len(block) != r or len(dil) != r or len(strides) != r or len(pads) != 2 * r
            or min(image + block + dil + strides) < 1 or min(pads) < 0 or xs[1] % k):
        return False
    blocks = [(image[i] + pads[i] + pads[i + r] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(r)]
    if min(blocks) < 1 or math.prod(blocks) != xs[2]:
        return False
    batch, channels, length = xs[0], xs[1] // k, xs[2]
    cols = _pad_end(o, _reshape(o, o.x, [batch, channels, k, length]), [0, 0, 0, 1], 0.0)
    flat = _reshape(o, cols, [batch, channels, k * (length + 1)])
    index = _const(o, "blocks", _col2im_index(image, block, dil, pads, strides, blocks),
                   np.int64)
    pixels = math.prod(image)
    picked = o.op("Gather", flat, index, shape=[batch, channels, k, pixels], axis=2)
    summed = _reduce(o, "ReduceSum", picked, 2, 0)
    o.final("Reshape", summed, o.rw.shape_const(f"{n.name}_out", [batch, channels, *image]))
    return True


@composite("DeformConv", dtypes=FLOAT32)
def _deform_conv(o: Ops) -> bool:
    """``DeformConv(X, W, offset, B, mask)`` (2-D): ``Y[n, oc, p] = B[oc] + sum over input
    channels ic of the group and kernel taps k of W[oc, ic, k] * mask[n, g, k, p] * X[n, ic]``
    sampled bilinearly (zeros outside the image) at the tap's position ``(s * p - pad + k *
    dilation) + offset[n, g, k, :, p]`` (``g`` the input channel's offset group). The samples
    are gathered as :func:`_sample` does for GridSample, then each group's ``MatMul`` by its
    constant weights runs on the crossbars as a convolution's does."""
    n = o.n
    inputs = list(n.inputs) + [""] * (5 - len(n.inputs))
    w = o.rw.value(inputs[1])
    bias = o.rw.value(inputs[3]) if inputs[3] else np.zeros(0, np.float32)
    xs, ofs = tuple(o.xt.shape), tuple(o.rw.type(inputs[2]).shape)
    if w is None or bias is None or len(xs) != 4 or len(ofs) != 4 or w.ndim != 4:
        return False
    a = n.attrs
    kh, kw = [int(v) for v in (a.get("kernel_shape") or w.shape[2:])]
    sh, sw = [int(v) for v in a.get("strides") or (1, 1)]
    dh, dw = [int(v) for v in a.get("dilations") or (1, 1)]
    pads = [int(v) for v in a.get("pads") or (0, 0, 0, 0)]
    group, og = int(a.get("group", 1)), int(a.get("offset_group", 1))
    batch, c, ih, iw = xs
    oc, oh, ow, taps = w.shape[0], ofs[2], ofs[3], kh * kw
    if min(group, og, sh, sw, dh, dw, kh, kw) < 1 or min(pads) < 0:
        return False
    if ((kh, kw) != tuple(w.shape[2:]) or c != w.shape[1] * group or oc % group or c % og
            or ofs[:2] != (batch, og * taps * 2) or min(ih, iw) < 1 or len(bias) not in (0, oc)
            or oh != (ih + pads[0] + pads[2] - (kh - 1) * dh - 1) // sh + 1
            or ow != (iw + pads[1] + pads[3] - (kw - 1) * dw - 1) // sw + 1):
        return False
    points = taps * oh * ow
    off = _reshape(o, inputs[2], [batch, og, taps, 2, oh * ow])
    axes = []
    for axis, (d, base) in enumerate(((ih, _tap_origins(kh, kw, oh, ow, sh, dh, pads[0], 0)),
                                      (iw, _tap_origins(kh, kw, oh, ow, sw, dw, pads[1], 1)))):
        shift = _reshape(o, _slice(o, off, 3, axis, axis + 1), [batch, og, 1, points])
        pos = _bin(o, "Add", shift, _const(o, "origins", base.reshape(1, 1, 1, points),
                                           np.float32))
        axes.append(_taps(o, pos, d, "linear", "zeros", 1))
    flat = _reshape(o, o.x, [batch, og, c // og, ih * iw])
    cols = _sample(o, flat, axes, (ih, iw), [batch, og, c // og, points])
    if inputs[4]:
        cols = _bin(o, "Mul", cols, _reshape(o, inputs[4], [batch, og, 1, points]))
    o.final(*_grouped_product(o, cols, w, bias, group, (batch, c, taps, oh, ow)))
    return True


def _tap_origins(kh, kw, oh, ow, stride, dilation, pad, axis) -> np.ndarray:
    """``[kh * kw, oh * ow]``: each kernel tap's position along ``axis`` (0: rows, 1: columns)
    for each output pixel, before its offset: ``stride * out - pad + tap * dilation``."""
    tap = np.indices((kh, kw))[axis].reshape(-1, 1)
    out = np.indices((oh, ow))[axis].reshape(1, -1)
    return (stride * out - pad + tap * dilation).astype(np.float32)


def _grouped_product(o: Ops, cols: str, w: np.ndarray, bias: np.ndarray, group: int,
                     dims) -> tuple:
    """The last node's arguments for ``Y = W * cols + B``: ``cols`` ``[N, ., ., taps * P]``
    (input channels in order) laid out ``[N, P, C / group * taps]`` per group, each group's
    ``MatMul`` by its weights ``[C / group * taps, OC / group]`` (constant: IMC), the groups
    concatenated, the bias added and the result as ``[N, OC, oh, ow]``."""
    batch, c, taps, oh, ow = dims
    oc, cg, points = w.shape[0], c // group, oh * ow
    cols = _reshape(o, cols, [batch, c * taps, points])
    cols = o.op("Transpose", cols, shape=[batch, points, c * taps], perm=(0, 2, 1))
    outs = []
    for g in range(group):
        part = cols if group == 1 else _slice(o, cols, 2, g * cg * taps, (g + 1) * cg * taps)
        wg = w[g * (oc // group):(g + 1) * (oc // group)].reshape(oc // group, cg * taps).T
        outs.append(o.op("MatMul", part, _const(o, "weight", np.ascontiguousarray(wg),
                                                 np.float32), shape=[batch, points, oc // group]))
    y = outs[0] if group == 1 else o.op("Concat", *outs, shape=[batch, points, oc], axis=2)
    if len(bias):
        y = _bin(o, "Add", y, _const(o, "bias", np.asarray(bias, np.float32), np.float32))
    y = o.op("Transpose", y, shape=[batch, oc, points], perm=(0, 2, 1))
    return "Reshape", y, o.rw.shape_const(f"{o.n.name}_out", [batch, oc, oh, ow])
