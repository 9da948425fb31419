"""Expand operators that are exact compositions of other supported operators.

Each expansion is one function registered with :func:`~imcc.passes.composite_registry.composite`
whose docstring gives the ONNX specification's formula it emits, so the code generator needs no
lowering of its own for it. This module holds the activations, normalizations, reductions and
index functions; :mod:`imcc.passes.composite_math` the trigonometric and hyperbolic functions,
OneHot, GatherND and LRN; :mod:`imcc.passes.composite_index` ReduceProd, TopK and the
scatters; :mod:`imcc.passes.composite_quant` the quantized operators;
:mod:`imcc.passes.composite_pool` LpPool and Mod with ``fmod = 1``;
:mod:`imcc.passes.composite_loss` NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss;
:mod:`imcc.passes.composite_sample` GridSample, AffineGrid, DeformConv and Col2Im;
:mod:`imcc.passes.composite_roi` RoiAlign;
:mod:`imcc.passes.composite_ngram` TfIdfVectorizer;
:mod:`imcc.passes.composite_spectral` DFT and STFT; the other modules imported
below the operators of later opsets. A new module of expansions registers by being imported
below; each operator it expands needs its record in imcc/opdefs/table.py
(``removed_by="expand-composites"``).

Reductions are emitted in the form of the graph's opset (``axes`` as an input for ``ReduceSum``
and from opset 18 for the others, an attribute before).
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.ir import Graph, Node, TensorType, onnx_elem_type
from imcc.passes import (  # noqa: F401  (each registers its expansions)
    composite_bits,
    composite_index,
    composite_loss,
    composite_math,
    composite_newer,
    composite_ngram,
    composite_pool,
    composite_quant,
    composite_roi,
    composite_runtime,
    composite_sample,
    composite_spectral,
    expand_attention,
)
from imcc.passes.composite_index import first_hit
from imcc.passes.composite_registry import EXPANSIONS, FLOATS, Ops, composite, reduce_axes
from imcc.passes.rewrite import Rewriter

_ARG_TYPES = frozenset({"float32", "float64", "int64", "int32"})


@composite("PRelu")
def _prelu(o: Ops) -> bool:
    """``PRelu(x, slope) = Where(Less(x, 0), Mul(x, slope), x)``."""
    n, x, slope = o.n, o.n.inputs[0], o.n.inputs[1]
    zero = o.rw.const(f"{n.name}_zero", np.zeros((), np.dtype(o.xt.dtype)))
    neg = o.rw.add("Less", (x, zero), TensorType(o.xt.shape, "bool"), f"{n.name}_negative")
    scaled = o.rw.add("Mul", (x, slope), o.graph.types[n.outputs[0]], f"{n.name}_scaled")
    o.final("Where", neg, scaled, x)
    return True


@composite("Selu", dtypes=FLOATS)
def _selu(o: Ops) -> bool:
    """``Selu(x) = gamma * x`` for ``x > 0``, ``gamma * alpha * (exp(x) - 1)`` elsewhere."""
    a = o.n.attrs
    alpha = float(a.get("alpha", 1.67326319217681884765625))
    gamma = float(a.get("gamma", 1.05070102214813232421875))
    neg = o.op("Mul", o.op("Sub", o.op("Exp", o.x), o.const(1.0)), o.const(alpha * gamma))
    pos = o.op("Mul", o.x, o.const(gamma))
    o.final("Where", o.op("Greater", o.x, o.const(0.0), dtype="bool"), pos, neg)
    return True


@composite("Celu", dtypes=FLOATS)
def _celu(o: Ops) -> bool:
    """``Celu(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    alpha = float(o.n.attrs.get("alpha", 1.0))
    e = o.op("Mul", o.op("Sub", o.op("Exp", o.op("Div", o.x, o.const(alpha))), o.const(1.0)),
             o.const(alpha))
    o.final("Add", o.op("Max", o.x, o.const(0.0)), o.op("Min", e, o.const(0.0)))
    return True


@composite("Mish", dtypes=FLOATS)
def _mish(o: Ops) -> bool:
    """``Mish(x) = x * tanh(softplus(x))``."""
    o.final("Mul", o.x, o.op("Tanh", o.op("Softplus", o.x)))
    return True


@composite("Softsign", dtypes=FLOATS)
def _softsign(o: Ops) -> bool:
    """``Softsign(x) = x / (1 + |x|)``."""
    o.final("Div", o.x, o.op("Add", o.op("Abs", o.x), o.const(1.0)))
    return True


@composite("IsNaN", dtypes=FLOATS)
def _is_nan(o: Ops) -> bool:
    """``IsNaN(x) = Not(Equal(x, x))``."""
    o.final("Not", o.op("Equal", o.x, o.x, dtype="bool"))
    return True


@composite("IsInf", dtypes=FLOATS)
def _is_inf(o: Ops) -> bool:
    """``IsInf(x) = Equal(Abs(x), inf)``; ``Equal(x, inf)`` or ``Equal(x, -inf)`` with only
    ``detect_positive`` or ``detect_negative`` set, never true with neither."""
    pos, neg = int(o.n.attrs.get("detect_positive", 1)), int(o.n.attrs.get("detect_negative", 1))
    if pos and neg:
        o.final("Equal", o.op("Abs", o.x), o.const(np.inf))
    elif pos or neg:
        o.final("Equal", o.x, o.const(np.inf if pos else -np.inf))
    else:
        o.final("Equal", o.x, o.const(np.nan))  # never true
    return True


@composite("ReduceSumSquare", dtypes=FLOATS)
def _reduce_sum_square(o: Ops) -> bool:
    """``ReduceSumSquare(x) = ReduceSum(x * x)``."""
    got = reduce_axes(o)
    if got is not None:
        o.final_reduce("ReduceSum", o.op("Mul", o.x, o.x), *got)
    return got is not None


@composite("ReduceL1", dtypes=FLOATS)
def _reduce_l1(o: Ops) -> bool:
    """``ReduceL1(x) = ReduceSum(|x|)``."""
    got = reduce_axes(o)
    if got is not None:
        o.final_reduce("ReduceSum", o.op("Abs", o.x), *got)
    return got is not None


@composite("ReduceL2", dtypes=FLOATS)
def _reduce_l2(o: Ops) -> bool:
    """``ReduceL2(x) = sqrt(ReduceSum(x * x))``."""
    got = reduce_axes(o)
    if got is not None:
        o.final("Sqrt", o.reduce("ReduceSum", o.op("Mul", o.x, o.x), *got))
    return got is not None


@composite("ReduceLogSumExp", dtypes=FLOATS)
def _reduce_log_sum_exp(o: Ops) -> bool:
    """``ReduceLogSumExp(x) = log(ReduceSum(exp(x - m))) + m``, ``m = ReduceMax(x)`` (which
    keeps ``exp`` from overflowing)."""
    got = reduce_axes(o)
    if got is None:
        return False
    axes, keep = got
    yshape = o.graph.types[o.n.outputs[0]].shape
    m = o.reduce("ReduceMax", o.x, axes, 1)
    s = o.reduce("ReduceSum", o.op("Exp", o.op("Sub", o.x, m)), axes, keep)
    mk = m if keep else o.op("Reshape", m, o.rw.shape_const(f"{o.n.name}_shape", yshape),
                             shape=yshape)
    o.final("Add", o.op("Log", s, shape=yshape), mk)
    return True


@composite("ReduceLogSum")
def _reduce_log_sum(o: Ops) -> bool:
    """``ReduceLogSum(x) = log(ReduceSum(x))``."""
    got = reduce_axes(o)
    if got is None or o.xt.dtype not in FLOATS:
        return False
    o.final("Log", o.reduce("ReduceSum", o.x, *got))
    return True


@composite("LpNormalization", dtypes=FLOATS)
def _lp_normalization(o: Ops) -> bool:
    """``LpNormalization(x) = x / ReduceLp(x)`` along ``axis`` (p = 1 or 2), 0 where the norm
    is 0 (the spec's result there, not 0 / 0)."""
    p, axis = int(o.n.attrs.get("p", 2)), int(o.n.attrs.get("axis", -1))
    if p not in (1, 2):
        return False
    sq = o.op("Mul", o.x, o.x) if p == 2 else o.op("Abs", o.x)
    norm = o.reduce("ReduceSum", sq, [axis], 1)
    nshape = o.rw.type(norm).shape
    if p == 2:
        norm = o.op("Sqrt", norm, shape=nshape)
    zero = o.op("Equal", norm, o.const(0.0), dtype="bool", shape=nshape)
    o.final("Div", o.x, o.op("Where", zero, o.const(1.0), norm, shape=nshape))
    return True


def _normalized(o: Ops, axes, eps: float) -> str:
    """``(x - mean) / sqrt(var + eps)`` with the mean and variance over ``axes`` of ``o.x``."""
    mean = o.reduce("ReduceMean", o.x, axes, 1)
    d = o.op("Sub", o.x, mean)
    var = o.reduce("ReduceMean", o.op("Mul", d, d), axes, 1)
    vshape = o.rw.type(var).shape
    den = o.op("Sqrt", o.op("Add", var, o.const(eps), shape=vshape), shape=vshape)
    return o.op("Div", d, den)


def _per_channel(o: Ops, t: str, hint: str) -> str:
    """The per-channel vector ``t`` as a ``[1, C, 1, ...]`` tensor that broadcasts over x."""
    shape = [1, o.xt.shape[1]] + [1] * (o.xt.rank - 2)
    return o.op("Reshape", t, o.rw.shape_const(f"{o.n.name}_{hint}", shape), shape=shape)


@composite("InstanceNormalization", dtypes=FLOATS)
def _instance_normalization(o: Ops) -> bool:
    """``InstanceNormalization(x, scale, B) = (x - mean) / sqrt(var + epsilon) * scale + B``,
    the mean and variance over the spatial axes per image and channel."""
    if o.xt.rank < 3:
        return False
    norm = _normalized(o, list(range(2, o.xt.rank)), float(o.n.attrs.get("epsilon", 1e-5)))
    scale = _per_channel(o, o.n.inputs[1], "sshape")
    bias = _per_channel(o, o.n.inputs[2], "bshape")
    o.final("Add", o.op("Mul", norm, scale), bias)
    return True


@composite("GroupNormalization", dtypes=FLOATS)
def _group_normalization(o: Ops) -> bool:
    """``GroupNormalization(x, scale, B)``: InstanceNormalization's formula over each group of
    channels (a ``[N, G, -1]`` view), with a scale and bias per channel (opset 21; opset 18's
    per-group scale is deprecated and refused by ONNX's checker)."""
    n = o.n
    if o.xt.rank < 3 or len(n.inputs) < 3:
        return False
    groups, eps = int(n.attrs["num_groups"]), float(n.attrs.get("epsilon", 1e-5))
    nb, c = o.xt.shape[0], o.xt.shape[1]
    scale, bias = n.inputs[1], n.inputs[2]
    if groups < 1 or c % groups or o.rw.type(scale).shape != (c,) \
            or o.rw.type(bias).shape != (c,):
        return False
    gshape = (nb, groups, int(np.prod(o.xt.shape[1:])) // groups)
    xg = o.op("Reshape", o.x, o.rw.shape_const(f"{n.name}_gshape", gshape), shape=gshape)
    norm = _normalized(o.on(xg), [2], eps)
    back = o.op("Reshape", norm, o.rw.shape_const(f"{n.name}_shape", o.xt.shape))
    o.final("Add", o.op("Mul", back, _per_channel(o, scale, "sc")), _per_channel(o, bias, "bc"))
    return True


@composite("ArgMax", "ArgMin", dtypes=_ARG_TYPES)
def _arg_extreme(o: Ops) -> bool:
    """``ArgMax(x)``: the first index along ``axis`` where ``Equal(x, ReduceMax(x))`` (the
    smallest of a ``Where`` over an index ramp; the largest with ``select_last_index``), cast to
    int64; ``ArgMin`` the same with ``ReduceMin``."""
    a = o.n.attrs
    axis = int(a.get("axis", 0)) % o.xt.rank
    keep, last = int(a.get("keepdims", 1)), int(a.get("select_last_index", 0))
    ext = o.reduce("ReduceMax" if o.n.op_type == "ArgMax" else "ReduceMin", o.x, [axis], 1)
    _, chosen = first_hit(o, o.op("Equal", o.x, ext, dtype="bool"), axis, last, keep)
    o.final("Cast", chosen, to=int(onnx.TensorProto.INT64), saturate=1)
    return True


@composite("Hardmax", dtypes=FLOATS)
def _hardmax(o: Ops) -> bool:
    """``Hardmax(x)``: 1 at the first maximum along ``axis``, 0 elsewhere: the ArgMax
    composite, then ``Equal`` with the index ramp."""
    axis = int(o.n.attrs.get("axis", -1)) % o.xt.rank
    ext = o.reduce("ReduceMax", o.x, [axis], 1)
    ramp, chosen = first_hit(o, o.op("Equal", o.x, ext, dtype="bool"), axis, 0, 1)
    one = o.op("Equal", ramp, chosen, dtype="bool")
    o.final("Cast", one, to=int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(o.xt.dtype))),
            saturate=1)
    return True


@composite("LayerNormalization", dtypes=frozenset({"float32"}))
def _layer_norm_stats(o: Ops) -> bool:
    """``LayerNormalization`` whose ``Mean`` or ``InvStdDev`` output is read: the statistics
    over the normalized axes (``keepdims``), ``Y = (x - mean) * inv_std * scale + B``. With
    only ``Y`` read the node stays whole (the vector unit has ``vnorm``)."""
    n = o.n
    outs = list(n.outputs) + [""] * (3 - len(n.outputs))
    if not any(outs[1:]):
        return False
    axis = int(n.attrs.get("axis", -1)) % o.xt.rank
    eps = float(n.attrs.get("epsilon", 1e-5))
    axes = list(range(axis, o.xt.rank))
    mean = o.reduce("ReduceMean", o.x, axes, 1)
    sshape = o.rw.type(mean).shape
    d = o.op("Sub", o.x, mean)
    var = o.reduce("ReduceMean", o.op("Mul", d, d), axes, 1)
    inv = o.op("Reciprocal", o.op("Sqrt", o.op("Add", var, o.const(eps), shape=sshape),
                                  shape=sshape), shape=sshape)
    y = o.op("Mul", o.op("Mul", d, inv), n.inputs[1])
    if len(n.inputs) > 2 and n.inputs[2]:
        y = o.op("Add", y, n.inputs[2])
    for src, dst in ((y, outs[0]), (mean, outs[1]), (inv, outs[2])):
        if dst:
            o.rw.alias(dst, src)
    return True


@composite("ThresholdedRelu")
def _thresholded_relu(o: Ops) -> bool:
    """``ThresholdedRelu(x) = Where(Greater(x, alpha), x, 0)``."""
    above = o.op("Greater", o.x, o.const(float(o.n.attrs.get("alpha", 1.0))), dtype="bool")
    o.final("Where", above, o.x, o.const(0))
    return True


@composite("Shrink", dtypes=FLOATS)
def _shrink(o: Ops) -> bool:
    """``Shrink(x)``: ``x - bias`` above ``lambd``, ``x + bias`` below ``-lambd``, 0 between."""
    lambd, bias = float(o.n.attrs.get("lambd", 0.5)), float(o.n.attrs.get("bias", 0.0))
    below = o.op("Less", o.x, o.const(-lambd), dtype="bool")
    above = o.op("Greater", o.x, o.const(lambd), dtype="bool")
    inner = o.op("Where", above, o.op("Sub", o.x, o.const(bias)), o.const(0))
    o.final("Where", below, o.op("Add", o.x, o.const(bias)), inner)
    return True


@composite("CastLike")
def _cast_like(o: Ops) -> bool:
    """``CastLike(x, like) = Cast(x, to=like's type)``: imcc knows every tensor's type (the
    float 8 and 4-bit ones too: numpy names them through ml_dtypes)."""
    to = onnx_elem_type(o.rw.type(o.n.inputs[1]).dtype)
    o.final("Cast", o.x, to=int(to), saturate=int(o.n.attrs.get("saturate", 1)))
    return True


@composite("Trilu")
def _trilu(o: Ops) -> bool:
    """``Trilu(x, k) = Where(mask, x, 0)``, the mask of the kept triangle (``j - i >= k``
    upper, ``j - i <= k`` lower) over the last two axes: a constant for a constant ``k``, else
    the comparison of a constant ``j - i`` with ``k``."""
    n = o.n
    rows, cols = o.xt.shape[-2], o.xt.shape[-1]
    diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    upper = int(n.attrs.get("upper", 1))
    kname = n.inputs[1] if len(n.inputs) > 1 else ""
    v = o.rw.value(kname) if kname else np.zeros((), np.int64)
    if v is not None:
        k = int(np.asarray(v).reshape(-1)[0])
        keep = o.rw.const(f"{n.name}_mask", diff >= k if upper else diff <= k)
    else:
        kf = o.op("Cast", kname, shape=(), dtype="float32", to=int(onnx.TensorProto.FLOAT),
                  saturate=1)
        d = o.rw.const(f"{n.name}_diff", diff.astype(np.float32))
        keep = o.op("GreaterOrEqual" if upper else "LessOrEqual", d, kf, shape=(rows, cols),
                    dtype="bool")
    o.final("Where", keep, o.x, o.const(0))
    return True


@composite("Compress")
def _compress(o: Ops) -> bool:
    """``Compress(x, condition, axis) = Gather(x, nonzero(condition), axis)`` for a constant
    ``condition`` (entries past the axis's length select nothing); without ``axis``, of the
    flattened ``x``."""
    n = o.n
    cond = o.rw.value(n.inputs[1])
    if cond is None:
        return False
    axis = n.attrs.get("axis")
    x, length = o.x, o.xt.numel
    if axis is not None:
        axis = int(axis) % o.xt.rank
        length = o.xt.shape[axis]
    else:
        axis = 0
        x = o.op("Reshape", x, o.rw.shape_const(f"{n.name}_flat", (length,)), shape=(length,))
    picked = np.flatnonzero(np.asarray(cond).reshape(-1)[:length].astype(bool))
    o.final("Gather", x, o.rw.const(f"{n.name}_idx", picked.astype(np.int64)), axis=axis)
    return True


@composite("CenterCropPad")
def _center_crop_pad(o: Ops) -> bool:
    """``CenterCropPad(x, shape, axes)``: along each axis, a ``Slice`` of the centred ``shape``
    elements where the axis is longer (from ``(dim - target) // 2``), then a zero ``Pad``
    where it is shorter (``(target - dim) // 2`` before, the rest after); ``shape`` a
    constant."""
    n = o.n
    target = o.rw.value(n.inputs[1])
    if target is None:
        return False
    rank, dims = o.xt.rank, list(o.xt.shape)
    axes = [int(a) % rank for a in (n.attrs.get("axes") or range(rank))]
    starts, ends = [0] * rank, list(dims)
    before, after = [0] * rank, [0] * rank
    for a, want in zip(axes, np.asarray(target).reshape(-1).tolist(), strict=False):
        d = int(want) - dims[a]
        if d < 0:
            starts[a], ends[a] = -d // 2, -d // 2 + int(want)
        else:
            before[a], after[a] = d // 2, d - d // 2
    cut = tuple(e - b for b, e in zip(starts, ends, strict=True))
    slice_in = (o.x, o.rw.shape_const(f"{n.name}_starts", starts),
                o.rw.shape_const(f"{n.name}_ends", ends))
    if not any(before + after):
        o.final("Slice", *slice_in)
        return True
    y = o.op("Slice", *slice_in, shape=cut) if cut != tuple(dims) else o.x
    o.final("Pad", y, o.rw.shape_const(f"{n.name}_pads", before + after), mode="constant")
    return True


@composite("ReverseSequence")
def _reverse_sequence(o: Ops) -> bool:
    """``ReverseSequence(x, sequence_lens)``: each batch entry's first ``sequence_lens[b]``
    steps along the time axis in reverse order, the rest as they are; for constant lengths, a
    ``GatherElements`` along the time axis with the constant index of each element's source."""
    n = o.n
    lens = o.rw.value(n.inputs[1])
    if lens is None:
        return False
    t_ax, b_ax = int(n.attrs.get("time_axis", 0)), int(n.attrs.get("batch_axis", 1))
    shape = o.xt.shape
    steps = np.arange(shape[t_ax])
    src = np.empty((shape[b_ax], shape[t_ax]), np.int64)
    for b, k in enumerate(np.asarray(lens).reshape(-1).tolist()):
        k = min(max(int(k), 0), shape[t_ax])
        src[b] = np.where(steps < k, k - 1 - steps, steps)
    view = [1] * o.xt.rank
    view[b_ax], view[t_ax] = shape[b_ax], shape[t_ax]
    index = np.broadcast_to((src if b_ax < t_ax else src.T).reshape(view), shape)
    o.final("GatherElements", o.x, o.rw.const(f"{n.name}_src", np.ascontiguousarray(index)),
            axis=t_ax)
    return True


def expand_composites(graph: Graph) -> Graph:
    """Rewrite the operators registered in EXPANSIONS (PRelu, Selu, IsNaN, ReduceL2,
    LpNormalization, ArgMax, the trigonometric functions, ...) into supported operators."""
    if not any(n.op_type in EXPANSIONS for n in graph.nodes):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if not (n.op_type in EXPANSIONS and _expand(rw, graph, n)):
            rw.emit(n)
    return rw.finish()


def _expand(rw: Rewriter, graph: Graph, n: Node) -> bool:
    """Emit the expansion of ``n``; False when this form of it is not expanded here."""
    return EXPANSIONS[n.op_type](Ops(rw, graph, n))
