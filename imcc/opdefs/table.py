"""One record per ONNX operator imcc accepts (data).

Adding an operator is one :class:`~imcc.opdefs.record.OpDef` here, plus its lowering
(``@lowers`` in :mod:`imcc.codegen`) or the pass that rewrites it (``@composite`` in
:mod:`imcc.passes.expand_composites` for exact compositions). Everything else is derived from
these records: the partition's operator table and constant operands (:mod:`imcc.partition`),
the layouts the code generator may place operands in (:mod:`imcc.codegen.memory`), attribute
completion at import (:mod:`imcc.frontend.attributes`), and docs/frontend.md's operator table
(``python -m imcc.opdefs.gen_docs``). tests/frontend/test_opdefs.py checks that every lowered
operator has a lowering, every lowering an operator it lowers, and every rewritten operator its
rewrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from imcc.opdefs import attrs as A
from imcc.opdefs import forms as F
from imcc.opdefs.record import CATEGORIES, Layout, OpClass, OpDef, Sign

_IMC, _D = OpClass.IMC, OpClass.DIGITAL
_E = Layout.ELEMENTWISE
_NONNEG, _FIRST, _ALL = Sign.NONNEG, Sign.FIRST, Sign.ALL
_X = "expand-composites"
_SPATIAL_ANY = "any spatial rank (1-D, 2-D, 3-D, ...)"


def _act(name: str, **kw) -> OpDef:
    return OpDef(name, _D, "activation", **kw)


def _op(name: str, **kw) -> OpDef:
    return OpDef(name, _D, "other", **kw)


def _math(name: str, notes: str = "") -> OpDef:
    return _op(name, removed_by=_X, notes=notes or "float32")


_RECORDS = (
    # -- lowered: the code generator has one lowering for each ---------------------------------
    OpDef("Conv", _IMC, "conv", layout=Layout.ANY, attrs=A.conv, check=F.conv,
          notes=f"{_SPATIAL_ANY}, constant weight"),
    OpDef("Gemm", _IMC, "linear", notes="IMC with a constant [K, N] right operand, DYNAMIC "
          "(category matmul) otherwise"),
    OpDef("MatMul", _IMC, "linear", notes="IMC with a constant [K, N] right operand, DYNAMIC "
          "(category matmul) otherwise"),
    OpDef("BatchNormalization", _D, "batchnorm", layout=_E, check=F.batchnorm,
          notes="inference mode folded into the Conv before it where there is one; training "
                "mode (the batch's statistics, the running ones updated) by expand-composites"),
    _act("Relu", layout=_E, sign=_NONNEG), _act("LeakyRelu", layout=_E),
    _act("Sigmoid", layout=_E, sign=_NONNEG), _act("Tanh", layout=_E), _act("Gelu"),
    _act("Erf", layout=_E), _act("HardSigmoid", layout=_E, sign=_NONNEG),
    _act("HardSwish", layout=_E), _act("Softplus", sign=_NONNEG), _act("Elu"),
    _act("Clip", layout=_E, notes="bounds constant or runtime; by constant bounds one vclip "
         "where that gives the bits of vmax then vmin"),
    _act("Softmax", attrs=A.axis, sign=_NONNEG), _act("LogSoftmax", attrs=A.axis),
    OpDef("MaxPool", _D, "pooling", layout=_E, attrs=A.pool, check=F.pool, sign=_ALL,
          notes=f"{_SPATIAL_ANY}; the Indices output below 2**24 input elements"),
    OpDef("AveragePool", _D, "pooling", layout=_E, attrs=A.pool, check=F.pool, sign=_ALL,
          notes=_SPATIAL_ANY),
    OpDef("GlobalAveragePool", _D, "pooling", layout=Layout.READS_ANY, check=F.pool,
          sign=_ALL, notes=_SPATIAL_ANY),
    OpDef("GlobalMaxPool", _D, "pooling", layout=Layout.READS_ANY, check=F.pool, sign=_ALL,
          notes=_SPATIAL_ANY),
    OpDef("LayerNormalization", _D, "normalization", attrs=A.axis,
          notes="with Mean or InvStdDev read: expanded (expand-composites)"),
    _op("Add", layout=_E, sign=_ALL), _op("Sub", layout=_E), _op("Mul", layout=_E, sign=_ALL),
    _op("Div", layout=_E), _op("Sqrt", layout=_E, sign=_NONNEG), _op("Reciprocal", layout=_E),
    _op("Exp", layout=_E, sign=_NONNEG), _op("Log", layout=_E), _op("Neg", layout=_E),
    _op("Abs", layout=_E, sign=_NONNEG),
    _op("Pow"), _op("Mod", notes="fmod = 1 expanded to Sign(a) * Mod(Abs(a), "
                    "Abs(b)) (expand-composites)"),
    *(_op(name) for name in ("Floor", "Ceil", "Round", "Sign", "Sin", "Cos")),
    _op("Max", layout=_E, sign=_ALL), _op("Min", layout=_E, sign=_ALL),
    _op("Sum", layout=_E), _op("Mean", layout=_E),
    *(_op(name) for name in (
        "Where", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And",
        "Or", "Xor", "Cast")),
    *(_op(name, const_operands=(1,), attrs=A.reduce_axes, sign=_ALL) for name in (
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin")),
    _op("CumSum", const_operands=(1,)),
    _op("Concat", layout=Layout.STRIDED, attrs=A.axis, sign=_ALL),
    _op("Split", const_operands=(1,), attrs=A.axis, sign=_FIRST),
    _op("Slice", const_operands=(1, 2, 3, 4), sign=_FIRST),
    _op("Reshape", const_operands=(1,), sign=_FIRST),
    _op("Transpose", attrs=A.transpose, sign=_ALL),
    _op("Expand", const_operands=(1,), sign=_FIRST),
    _op("Gather", attrs=A.axis, sign=_FIRST), _op("GatherElements", attrs=A.axis),
    _op("Pad", const_operands=(1, 2, 3), sign=_ALL),  # the data and the constant value
    _op("Resize", const_operands=(1, 2, 3), check=F.resize, sign=_FIRST,
        notes="modes nearest, linear, cubic"),
    _op("Tile", const_operands=(1,), sign=_FIRST),
    _op("DepthToSpace", sign=_ALL), _op("SpaceToDepth", sign=_ALL),
    # -- rewritten by canonicalization into the operators above ---------------------------------
    OpDef("ConvTranspose", _IMC, "conv", removed_by="lower-convtranspose",
          attrs=A.conv_transpose, check=F.conv_transpose, notes="constant weight"),
    OpDef("Einsum", _IMC, "linear", removed_by="lower-einsum", check=F.einsum,
          notes="one or two operands (ellipses and diagonals included), no broadcasting"),
    *(OpDef(name, _IMC, "linear", removed_by="unroll-rnn") for name in ("RNN", "GRU", "LSTM")),
    _act("PRelu", removed_by=_X),
    *(_act(name, removed_by=_X, notes="float32") for name in (
        "Selu", "Celu", "Softsign", "Shrink")),
    _act("Mish", removed_by=_X, notes="float32 (opset 18)"),
    _act("ThresholdedRelu", removed_by=_X),
    _act("Hardmax", removed_by=_X, attrs=A.axis, notes="float32"),
    OpDef("InstanceNormalization", _D, "normalization", removed_by=_X, notes="float32"),
    OpDef("GroupNormalization", _D, "normalization", removed_by=_X,
          check=F.group_normalization,
          notes="float32; one scale and bias per channel (opset 21's form)"),
    OpDef("LpNormalization", _D, "normalization", removed_by=_X, check=F.lp_normalization,
          notes="p = 1 or 2"),
    OpDef("LRN", _D, "normalization", removed_by=_X, notes="float32"),
    OpDef("MeanVarianceNormalization", _D, "normalization", removed_by=_X,
          notes="float32; (x - mean) / (sqrt(mean of squares - mean^2) + 1e-9) over axes"),
    _op("CenterCropPad", removed_by=_X, check=F.center_crop_pad,
        notes="a constant shape (or one bound with `--const`): a Slice and a zero Pad"),
    _op("ReverseSequence", removed_by=_X, check=F.reverse_sequence,
        notes="constant sequence_lens (or bound with `--const`): a GatherElements along the "
              "time axis"),
    _op("Compress", removed_by=_X, check=F.compress,
        notes="a constant condition (or one bound with `--const`): a Gather of its nonzero "
              "positions"),
    _op("AffineGrid", removed_by=_X, const_operands=(1,), check=F.affine_grid,
        notes="float32, a constant size (or one bound with `--const`): a MatMul of the constant "
              "pixel positions with theta"),
    _op("Col2Im", removed_by=_X, const_operands=(1, 2), check=F.col2im,
        notes="float32, constant image and block shapes (or bound with `--const`), any spatial "
              "rank: a Gather of constant indices, then ReduceSum"),
    _op("DFT", removed_by=_X, const_operands=(1, 2), check=F.dft,
        notes="float32, constant dft_length and axis (or bound with `--const`): a MatMul by the "
              "constant matrix of the transform (IMC)"),
    _op("STFT", removed_by=_X, const_operands=(1, 3), check=F.stft,
        notes="float32, constant frame_step and frame_length (or bound with `--const`): a Gather "
              "of the frames, then a MatMul by the DFT's matrix with a constant window folded in"),
    _op("DeformConv", removed_by=_X, const_operands=(1, 3), check=F.deform_conv,
        notes="float32, 2-D, constant weight and bias: the taps sampled bilinearly at their "
              "offsets (GatherElements), then a MatMul by the weights per group (IMC)"),
    _op("Det", removed_by=_X,
        notes=f"float32, matrices up to {F.DET_MAX} x {F.DET_MAX}: Gaussian elimination with "
              "partial pivoting"),
    _op("MaxUnpool", removed_by=_X, const_operands=(2,), check=F.max_unpool,
        notes="float32, a constant output_shape: every index compared with every output "
              f"position (at most {F.DENSE_SCATTER_LIMIT:,} comparisons)"),
    _op("RoiAlign", removed_by=_X, check=F.roi_align,
        notes="float32, sampling_ratio >= 1: each bin's points interpolated by GatherElements "
              "and pooled"),
    _op("TfIdfVectorizer", removed_by=_X, check=F.tfidf_vectorizer,
        notes="integer tokens: n-gram matches by Equal and And per skip distance, counted, then "
              "a MatMul by a constant 0/1 matrix (with the TFIDF weights) to the output columns"),
    _op("GridSample", removed_by=_X,
        notes="float32, any spatial rank, every mode and padding mode: one GatherElements per "
              "interpolation tap (1, 2 or 4 per spatial axis)"),
    _op("NegativeLogLikelihoodLoss", removed_by=_X,
        notes="float32; GatherElements of each target's class, weights by Gather, "
              "ignore_index by Where"),
    _op("SoftmaxCrossEntropyLoss", removed_by=_X,
        notes="float32; NegativeLogLikelihoodLoss of LogSoftmax over axis 1"),
    OpDef("LpPool", _D, "pooling", removed_by=_X, attrs=A.pool, check=F.lp_pool,
          notes=f"float32; {_SPATIAL_ANY}; an AveragePool of Abs(x)^p times the kernel's size"),
    _op("Identity", removed_by="eliminate-identity"),
    _op("OptionalGetElement", removed_by="eliminate-identity",
        notes="of a tensor (opset 18): the tensor itself; optionals are not numeric tensors"),
    _op("Dropout", removed_by="eliminate-identity", check=F.dropout,
        notes="inference mode, or training mode at ratio 0"),
    _op("Constant", removed_by="fold-constants"),
    _op("ConstantOfShape", removed_by="fold-constants", check=F.constant_of_shape,
        notes="a constant shape, or one the output's shape fixes (operands-from-shapes)"),
    _op("Shape", removed_by="fold-constants"), _op("Size", removed_by="fold-constants"),
    _op("EyeLike", removed_by="fold-constants",
        notes="the identity of the input's (static) shape, shifted by k"),
    _op("Range", removed_by="fold-constants", check=F.range_, notes="constant operands"),
    *(_op(name, removed_by="fold-constants", check=F.constant_operands,
          notes="constant operands (a graph input bound as a constant: `--const`)")
      for name in ("HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix")),
    _op("Flatten", removed_by="normalize-reshape", attrs=A.flatten),
    _op("Squeeze", removed_by="normalize-reshape"),
    _op("Unsqueeze", removed_by="normalize-reshape"),
    _math("IsNaN"), _math("IsInf"),
    *(_op(name, removed_by=_X, attrs=A.reduce_axes, check=F.reduce_composite,
          notes="float32; constant axes") for name in (
        "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceLogSum")),
    _op("ArgMax", removed_by=_X, attrs=A.axis), _op("ArgMin", removed_by=_X, attrs=A.axis),
    _op("CastLike", removed_by=_X), _op("Trilu", removed_by=_X),
    _op("OneHot", removed_by=_X),
    *(_math(name) for name in (
        "Tan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Atan", "Asin", "Acos")),
    _op("GatherND", removed_by=_X, notes="any batch_dims"),
    _op("ReduceProd", removed_by=_X, attrs=A.reduce_axes, check=F.reduce_prod,
        notes="float32; constant axes"),
    _op("TopK", removed_by=_X, attrs=A.axis,
        notes="float32 or integer; K rounds of extraction (float32, K <= 64 and n / 2), "
        "else n * n comparisons along the axis"),
    _op("ScatterElements", removed_by=_X, attrs=A.axis, check=F.float_input,
        notes="float32 data; every reduction; dense: updates * positions comparisons"),
    _op("ScatterND", removed_by=_X, check=F.float_input,
        notes="float32 data; every reduction; dense: updates * rows comparisons"),
    OpDef("RMSNormalization", _D, "normalization", notes="float32 (opset 23)"),
    _op("RotaryEmbedding", removed_by=_X, notes="float32 (opset 23)"),
    OpDef("Attention", OpClass.DYNAMIC, "matmul", removed_by=_X,
          notes="float32 (opset 23): its products of two activations are DYNAMIC"),
    OpDef("LinearAttention", OpClass.DYNAMIC, "matmul", removed_by=_X,
          notes="float32 (opset 27): unrolled over the sequence, one state update per step"),
    _act("Swish", removed_by=_X, notes="float32 (opset 24)"),
    _act("SwiGLU", removed_by=_X, notes="float32 (opset 28); both inputs of one shape"),
    _op("CumProd", removed_by=_X, check=F.cumprod,
        notes="one Mul per element along the axis (every axis for a runtime one; opset 26)"),
    _op("BitShift", removed_by=_X,
        notes="integers (within -2**24 .. 2**24); LEFT keeps the low bits"),
    _op("BitCast", removed_by=_X, check=F.bitcast,
        notes="between integer types of one width (opset 26)"),
    *(_op(name, removed_by=_X, notes="integers (within -2**24 .. 2**24), bit by bit")
      for name in ("BitwiseAnd", "BitwiseOr", "BitwiseXor")),
    _op("BitwiseNot", removed_by=_X, notes="integers (within -2**24 .. 2**24)"),
    _op("TensorScatter", removed_by=_X, check=F.float_input,
        notes="float32 cache; write positions constant or runtime (opset 24)"),
    _op("CausalConvWithState", removed_by=_X, check=F.float_input,
        notes="float32; one Mul per tap, weights constant or runtime (opset 27)"),
    _op("QuantizeLinear", removed_by=_X, check=F.quant,
        notes="float32 input; per tensor, per axis or blocked; to integers (round half to "
        "even, saturated), float 8 and float4e2m1"),
    _op("DynamicQuantizeLinear", removed_by=_X, check=F.float_input,
        notes="float32 input; to uint8, as QuantizeLinear with the scale its range gives"),
    _op("DequantizeLinear", removed_by=_X, check=F.quant,
        notes="per tensor, per axis or blocked; folded into a constant weight"),
    OpDef("QLinearMatMul", _IMC, "linear", removed_by=_X, check=F.quant,
          notes="integer MatMul of the centred operands in float32, rescaled and requantized"),
    OpDef("MatMulInteger", _IMC, "linear", removed_by=_X, check=F.quant,
          notes="integer MatMul of the centred operands in float32; a scalar zero point of A"),
    OpDef("QLinearConv", _IMC, "conv", removed_by=_X, check=F.quant,
          notes="as QLinearMatMul, any spatial rank; a runtime weight tap by tap (2-D)"),
    OpDef("ConvInteger", _IMC, "conv", removed_by=_X, check=F.quant,
          notes="as MatMulInteger, any spatial rank; a runtime weight tap by tap (2-D)"),
)


def _index(records) -> Mapping[str, OpDef]:
    out: dict[str, OpDef] = {}
    for d in records:
        if d.name in out:
            raise ValueError(f"two records of {d.name}")
        if d.category not in CATEGORIES:
            raise ValueError(f"{d.name}: unknown category {d.category!r}")
        out[d.name] = d
    return MappingProxyType(out)


#: Op type -> its record, in the order of the table above.
OPS: Mapping[str, OpDef] = _index(_RECORDS)
