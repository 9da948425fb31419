"""The expansion of ``expand-composites`` for ``RoiAlign``: each region of interest's bins
sampled on a fixed grid (``sampling_ratio`` points per bin and axis) by bilinear interpolation
and pooled, as the ONNX specification's reference computes it (the rule for samples past the
image, the edge pixel repeated, ``avg`` or the reference's ``max`` of the four weighted
corners), with the digital unit's comparisons, ``Floor``, ``Where`` and ``GatherElements``.
"""

from __future__ import annotations

import numpy as np

from imcc.passes.composite_index import _bin, _const, _reshape, _slice, _where
from imcc.passes.composite_registry import FLOAT32, Ops, composite
from imcc.passes.composite_sample import _bool, _f, _op2, _unary


def _axis(o: Ops, start: str, size: str, bins: int, grid: int, d: int):
    """One axis's sample coordinates of every ROI (``[R, bins * grid]``): ``start + b * size +
    (i + 0.5) * size / grid``; their low and high pixels (int64), weights of the high pixel,
    and whether each lies within ``[-1, d]`` (the others read 0)."""
    bin_size = _op2(o, "Div", size, float(bins))
    b = _const(o, "bin", np.repeat(np.arange(bins), grid).astype(np.float32), np.float32)
    i = _const(o, "sub", np.tile((np.arange(grid) + 0.5), bins).astype(np.float32), np.float32)
    pos = _bin(o, "Add", _bin(o, "Add", start, _bin(o, "Mul", b, bin_size)),
               _op2(o, "Div", _bin(o, "Mul", i, bin_size), float(grid)))
    inside = o.op("And", _bool(o, "GreaterOrEqual", pos, -1.0), _bool(o, "LessOrEqual", pos,
                                                                        float(d)),
                  shape=o.rw.type(pos).shape, dtype="bool")
    pos = _op2(o, "Max", pos, 0.0)
    low = _unary(o, "Floor", pos)
    edge = _bool(o, "GreaterOrEqual", low, d - 1.0)
    last = _f(o, d - 1.0)
    high = _where(o, edge, last, _op2(o, "Add", low, 1.0))
    frac = _bin(o, "Sub", _where(o, edge, last, pos), _where(o, edge, last, low))
    cast = [o.op("Cast", t, shape=o.rw.type(t).shape, dtype="int64", to=7)
            for t in (_where(o, edge, last, low), high)]
    return cast[0], cast[1], frac, inside


@composite("RoiAlign", dtypes=FLOAT32)
def _roi_align(o: Ops) -> bool:
    """``RoiAlign(X, rois, batch_indices)``: for ROI ``r`` (``x1, y1, x2, y2`` times
    ``spatial_scale``, less 0.5 with ``half_pixel``; at least 1 x 1 without) and output bin
    ``(ph, pw)``, the ``avg`` (or ``max``) over ``sampling_ratio**2`` points of the bin of
    ``X[batch_indices[r]]`` interpolated bilinearly there: ``sum of w_k * X[corner_k]`` (``max``:
    the largest ``w_k * X[corner_k]``); points past ``[-1, H] x [-1, W]`` read 0. A
    ``sampling_ratio`` of 0 (points per bin from each ROI's size) is not expanded."""
    n = o.n
    a = n.attrs
    ratio, oh, ow = (int(a.get(k, d)) for k, d in (("sampling_ratio", 0), ("output_height", 1),
                                                      ("output_width", 1)))
    mode, scale = str(a.get("mode", "avg")), float(a.get("spatial_scale", 1.0))
    legacy = "half_pixel" if o.graph.opset >= 16 else "output_half_pixel"  # opset 16's change
    half = str(a.get("coordinate_transformation_mode", legacy)) == "half_pixel"
    xs, rs = tuple(o.xt.shape), tuple(o.rw.type(n.inputs[1]).shape)
    if ratio < 1 or mode not in ("avg", "max") or len(xs) != 4 or len(rs) != 2 or rs[1] != 4 \
            or min(oh, ow, *xs) < 1:
        return False
    rois, (batch, c, h, w) = rs[0], xs
    corner = [_reshape(o, _slice(o, n.inputs[1], 1, k, k + 1), [rois, 1]) for k in range(4)]
    corner = [_op2(o, "Sub", _op2(o, "Mul", t, scale), 0.5 if half else 0.0) for t in corner]
    extent = [_bin(o, "Sub", corner[2], corner[0]), _bin(o, "Sub", corner[3], corner[1])]
    if not half:  # malformed ROIs forced to 1 x 1
        extent = [_op2(o, "Max", t, 1.0) for t in extent]
    y0, y1, ly, iny = _axis(o, corner[1], extent[1], oh, ratio, h)
    x0, x1, lx, inx = _axis(o, corner[0], extent[0], ow, ratio, w)
    sy, sx = oh * ratio, ow * ratio
    col = lambda t: _reshape(o, t, [rois, 1, sy, 1])  # noqa: E731
    row = lambda t: _reshape(o, t, [rois, 1, 1, sx])  # noqa: E731
    inside = o.op("And", col(iny), row(inx), shape=[rois, 1, sy, sx], dtype="bool")
    hy, hx = _op2(o, "Sub", _f(o, 1.0), ly), _op2(o, "Sub", _f(o, 1.0), lx)
    images = o.op("Gather", _reshape(o, o.x, [batch, c, h * w]), n.inputs[2],
                  shape=[rois, c, h * w], axis=0)
    full = o.rw.shape_const(f"{n.name}_samples", [rois, c, sy * sx])
    terms = []
    for yi, wy in ((y0, hy), (y1, ly)):
        for xi, wx in ((x0, hx), (x1, lx)):
            index = _bin(o, "Add", _bin(o, "Mul", col(yi), _const(o, "w", w, np.int64)), row(xi))
            index = _where(o, inside, index, _const(o, "zero_index", 0, np.int64))
            index = o.op("Expand", _reshape(o, index, [rois, 1, sy * sx]), full,
                         shape=[rois, c, sy * sx], dtype="int64")
            v = o.op("GatherElements", images, index, shape=[rois, c, sy * sx], axis=2)
            weight = _where(o, inside, _bin(o, "Mul", col(wy), row(wx)), _f(o, 0.0))
            terms.append(_bin(o, "Mul", _reshape(o, v, [rois, c, sy, sx]), weight))
    combine = "Add" if mode == "avg" else "Max"
    total = terms[0]
    for t in terms[1:]:
        total = _bin(o, combine, total, t)
    total = _reshape(o, total, [rois, c, oh, ratio, ow, ratio])
    if mode == "max":
        o.on(total).final_reduce("ReduceMax", total, [3, 5], 0)
        return True
    pooled = o.on(total).reduce("ReduceSum", total, [3, 5], 0)
    o.final("Div", pooled, _f(o, float(ratio * ratio)))
    return True
