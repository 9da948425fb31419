"""The fusions onnxruntime's graph optimizer writes into the models it saves (its transformer
optimizer, ``optimum``'s ``--optimize``, ``SessionOptions.optimized_model_filepath``) as
standard nodes (:mod:`imcc.frontend.contrib`): activations (``Gelu``, ``BiasGelu``,
``FastGelu``, ``QuickGelu``), the layer norms that add a residual first
(``SkipLayerNormalization``, ``SkipSimplifiedLayerNormalization``) and the ones onnxruntime
keeps in the default domain (``SimplifiedLayerNormalization``, and ``LayerNormalization`` in a
model before opset 17, where ONNX has none), ``FusedMatMul``, ``FusedConv`` and ``FusedGemm``
with their activation, and the dynamically quantized products (``MatMulIntegerToFloat``,
``DynamicQuantizeMatMul``) as their integer ``MatMulInteger``. Each becomes the computation its
documentation gives, in the model's float type."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto

from imcc.frontend.contrib_rewrite import Rewrite, rank

_FLOAT, _INTS, _STRING = (onnx.AttributeProto.FLOAT, onnx.AttributeProto.INTS,
                          onnx.AttributeProto.STRING)


def _c(r: Rewrite, tag: str, value: float) -> str:
    """A scalar constant of the float type of the node's first input (its computation's
    type): of that type where the model tells it, else cast to it by ``CastLike`` (from opset
    15; float32 before)."""
    like = r.arg(0)
    t = r.dtype(like)
    if t is None and r.opset >= 15:
        return r.emit("CastLike", [r.const(tag, np.asarray(value, np.float32)), like])
    np_type = np.float16 if t == TensorProto.FLOAT16 else np.float64 if t == TensorProto.DOUBLE \
        else np.float32
    return r.const(tag, np.asarray(value, np_type))


def _gelu(r: Rewrite, x: str, out: str | None, tanh: bool = False) -> str:
    """``0.5 x (1 + erf(x / sqrt 2))``, or with ``tanh`` ``0.5 x (1 + tanh(sqrt(2 / pi) (x +
    0.044715 x**3)))``: ONNX's ``Gelu`` from opset 20, its formula before."""
    if r.opset >= 20:
        return r.emit("Gelu", [x], out, approximate="tanh" if tanh else "none")
    if tanh:
        cube = r.emit("Mul", [r.emit("Mul", [x, x]), x])
        inner = r.emit("Add", [x, r.emit("Mul", [cube, _c(r, "k", 0.044715)])])
        s = r.emit("Tanh", [r.emit("Mul", [inner, _c(r, "sqrt2pi", math.sqrt(2 / math.pi))])])
    else:
        s = r.emit("Erf", [r.emit("Mul", [x, _c(r, "rsqrt2", math.sqrt(0.5))])])
    half = r.emit("Mul", [x, _c(r, "half", 0.5)])
    return r.emit("Mul", [half, r.emit("Add", [s, _c(r, "one", 1.0)])], out)


def _gelu_rule(r: Rewrite) -> None:
    _gelu(r, r.arg(0), r.node.output[0])


def _bias_gelu(r: Rewrite) -> None:
    _gelu(r, r.emit("Add", [r.arg(0), r.arg(1)]), r.node.output[0])


def _fast_gelu(r: Rewrite) -> None:
    x = r.arg(0)
    if r.arg(1, required=False):
        x = r.emit("Add", [x, r.arg(1)])
    _gelu(r, x, r.node.output[0], tanh=True)


def _quick_gelu(r: Rewrite) -> None:
    x = r.arg(0)
    alpha = r.attr("alpha", 1.702, _FLOAT)
    r.emit("Mul", [x, r.emit("Sigmoid", [r.emit("Mul", [x, _c(r, "alpha", alpha)])])],
           r.node.output[0])


def _out(r: Rewrite, k: int) -> str | None:
    """Output ``k``'s name, None where the node leaves it out."""
    return r.node.output[k] if k < len(r.node.output) and r.node.output[k] else None


def _norm(r: Rewrite, x: str, scale: str, bias: str, eps: float, axis: int, rms: bool,
          mean_out: int | None, inv_out: int | None) -> None:
    """Output 0 = ``(x - mean) / sqrt(var + eps) * scale + bias`` over the axes from ``axis`` to
    the last (without the mean and bias for ``rms``: ``x / sqrt(mean(x**2) + eps) * scale``);
    the mean and ``1 / sqrt(var + eps)`` (shaped as ``x`` with those axes 1) into outputs
    ``mean_out`` and ``inv_out``."""
    if not rms and r.opset >= 17:
        outs = [r.node.output[0], (mean_out is not None and _out(r, mean_out)) or "",
                (inv_out is not None and _out(r, inv_out)) or ""]
        while not outs[-1]:
            outs.pop()
        r.nodes.append(onnx.helper.make_node("LayerNormalization", [x, scale, *([bias] * bool(
            bias))], outs, axis=axis, epsilon=eps))
        return
    axes = [-1] if axis == -1 else list(range(axis % (n := rank(r, x, 1)), n))

    def mean(v: str, out: str | None = None) -> str:
        if r.opset >= 18:
            return r.emit("ReduceMean", [v, r.const("axes", np.asarray(axes, np.int64))], out,
                          keepdims=1)
        return r.emit("ReduceMean", [v], out, axes=axes, keepdims=1)

    d = x
    if not rms:
        d = r.emit("Sub", [x, mean(x, mean_out is not None and _out(r, mean_out) or None)])
    var = mean(r.emit("Mul", [d, d]))
    if r.dtype(r.arg(0)) == TensorProto.FLOAT16 and eps > 0:  # 1e-12 is a float16 0
        eps = max(eps, float(np.finfo(np.float16).smallest_subnormal))
    inv = r.emit("Reciprocal", [r.emit("Sqrt", [r.emit("Add", [var, _c(r, "eps", eps)])])],
                 inv_out is not None and _out(r, inv_out) or None)
    y = r.emit("Mul", [r.emit("Mul", [d, inv]), scale], None if bias else r.node.output[0])
    if bias:
        r.emit("Add", [y, bias], r.node.output[0])


def _skip_norm(rms: bool):
    """``input + skip (+ bias)`` (output 3), then its layer norm (output 0; with ``rms``, the
    root mean square one, which has no beta input)."""
    def rule(r: Rewrite) -> None:
        s = r.emit("Add", [r.arg(0), r.arg(1)])
        bias = r.arg(3 if rms else 4, required=False)
        s = r.emit("Add", [s, bias], _out(r, 3)) if bias else s
        if not bias and _out(r, 3):
            s = r.emit("Identity", [s], _out(r, 3))
        if rms and _out(r, 1):
            raise r.fail("output 1 (mean) of SkipSimplifiedLayerNormalization is not "
                         "supported; leave it out")
        beta = "" if rms else r.arg(3, required=False)
        _norm(r, s, r.arg(2), beta, r.attr("epsilon", 1e-12, _FLOAT), -1, rms,
              None if rms else 1, 2)
    return rule


def _simplified_norm(r: Rewrite) -> None:
    _norm(r, r.arg(0), r.arg(1), "", r.attr("epsilon", 1e-5, _FLOAT), r.attr("axis", -1), True,
          None, 1)


def _layer_norm(r: Rewrite) -> None:
    """ONNX's LayerNormalization in a model before opset 17 (onnxruntime runs it there)."""
    _norm(r, r.arg(0), r.arg(1), r.arg(2, required=False), r.attr("epsilon", 1e-5, _FLOAT),
          r.attr("axis", -1), False, 1, 2)


def _fused_matmul(r: Rewrite) -> None:
    """``alpha * A' @ B'`` with the last two axes of A, B swapped by ``transA``, ``transB``: a
    ``Transpose`` where the model states the operand's rank (a constant weight then stays an
    array product), else an ``Einsum`` over ``...``."""
    if r.attr("transBatchA", 0) or r.attr("transBatchB", 0):
        raise r.fail("transBatchA and transBatchB are not supported")
    ops = [r.arg(0), r.arg(1)]
    terms = ["ij", "jk"]
    for k, trans in enumerate((r.attr("transA", 0), r.attr("transB", 0))):
        if not trans:
            continue
        n = rank(r, ops[k], 2, required=False)
        if n is None:
            terms[k] = terms[k][::-1]
        else:
            ops[k] = r.emit("Transpose", [ops[k]], perm=[*range(n - 2), n - 1, n - 2])
    alpha = r.attr("alpha", 1.0, _FLOAT)
    out = r.node.output[0] if alpha == 1.0 else None
    if terms == ["ij", "jk"]:
        y = r.emit("MatMul", ops, out)
    else:
        y = r.emit("Einsum", ops, out, equation=f"...{terms[0]},...{terms[1]}->...ik")
    if alpha != 1.0:
        r.emit("Mul", [y, _c(r, "alpha", alpha)], r.node.output[0])


def _activation(r: Rewrite, y: str, params: list[float]) -> None:
    """Output 0 = the node's ``activation`` of ``y`` with ``params`` (alpha, beta...), ``y``
    itself where the node has none."""
    act = r.attr("activation", None, _STRING)
    act = act.decode("utf-8", "replace") if isinstance(act, bytes) else act
    out = r.node.output[0]
    need = {"Relu": 0, "Tanh": 0, "Sigmoid": 0, "LeakyRelu": 1, "HardSigmoid": 2, "Clip": 2}
    if act is None:
        r.emit("Identity", [y], out)
        return
    if act not in need:
        raise r.fail(f"activation {act!r} is not one of {', '.join(need)}")
    if len(params) < need[act]:
        raise r.fail(f"activation {act} needs {need[act]} parameter(s)")
    if act == "LeakyRelu":
        r.emit(act, [y], out, alpha=params[0])
    elif act == "HardSigmoid":
        r.emit(act, [y], out, alpha=params[0], beta=params[1])
    elif act == "Clip":
        r.emit(act, [y, _c(r, "lo", params[0]), _c(r, "hi", params[1])], out)
    else:
        r.emit(act, [y], out)


def _fused_conv(r: Rewrite) -> None:
    """``Conv`` (its attributes), plus ``Z`` where given, then the activation."""
    ins = [r.arg(0), r.arg(1)] + ([r.arg(2)] if r.arg(2, required=False) else [])
    y = r.emit_like("Conv", ins, ("activation", "activation_params"))
    if r.arg(3, required=False):
        y = r.emit("Add", [y, r.arg(3)])
    _activation(r, y, list(r.attr("activation_params", [], onnx.AttributeProto.FLOATS)))


def _fused_gemm(r: Rewrite) -> None:
    """``Gemm`` (alpha, beta, transA, transB), then the activation with ``activation_alpha``,
    ``activation_beta``."""
    ins = [r.arg(0), r.arg(1)] + ([r.arg(2)] if r.arg(2, required=False) else [])
    y = r.emit("Gemm", ins, alpha=r.attr("alpha", 1.0, _FLOAT), beta=r.attr("beta", 1.0, _FLOAT),
               transA=r.attr("transA", 0), transB=r.attr("transB", 0))
    params = [r.attr(f"activation_{k}", None, _FLOAT) for k in ("alpha", "beta")]
    if r.attr("activation", None, _STRING) in (b"Clip", "Clip"):
        raise r.fail("activation Clip of FusedGemm is not supported")
    _activation(r, y, [p for p in params if p is not None])


def _integer_product(r: Rewrite, a: str, b: str, a_scale: str, b_scale: str, a_zp: str,
                     b_zp: str, bias: str) -> None:
    """Output 0 = ``(a - a_zp) @ (b - b_zp)`` (exact int32) ``* a_scale * b_scale + bias``."""
    ins = [a, b] + ([a_zp, b_zp] if b_zp else [a_zp] if a_zp else [])
    prod = r.emit("Cast", [r.emit("MatMulInteger", ins)], to=TensorProto.FLOAT)
    y = r.emit("Mul", [prod, r.emit("Mul", [a_scale, b_scale])],
               None if bias else r.node.output[0])
    if bias:
        r.emit("Add", [y, bias], r.node.output[0])


def _matmul_integer_to_float(r: Rewrite) -> None:
    _integer_product(r, r.arg(0), r.arg(1), r.arg(2), r.arg(3), r.arg(4, required=False),
                     r.arg(5, required=False), r.arg(6, required=False))


def _dynamic_quantize_matmul(r: Rewrite) -> None:
    """``A`` quantized to uint8 by ``DynamicQuantizeLinear``, then as MatMulIntegerToFloat."""
    q, s, z = (r.fresh("a_q"), r.fresh("a_scale"), r.fresh("a_zero_point"))
    r.nodes.append(onnx.helper.make_node("DynamicQuantizeLinear", [r.arg(0)], [q, s, z]))
    _integer_product(r, q, r.arg(1), s, r.arg(2), z, r.arg(3, required=False),
                     r.arg(4, required=False))


def _constant(r: Rewrite, k: int, what: str, required: bool = True) -> np.ndarray | None:
    """Input ``k``'s array where it is an initializer (None where an optional input is left
    out); an error where it is not one."""
    name = r.arg(k, required=required)
    if not name:
        return None
    v = r.value(name)
    if v is None:
        raise r.fail(f"its {what} {name!r} must be an initializer (the weights are unpacked "
                     "when the model is read)")
    return v


def _unpack(blob: np.ndarray, bits: int, count: int) -> np.ndarray:
    """The first ``count`` ``bits``-bit values of each row of ``blob`` (uint8 rows), packed
    from the lowest bit of the first byte on, as uint8."""
    if 8 % bits == 0:  # whole values in each byte: one shift per value a byte holds
        shifts = np.arange(0, 8, bits, dtype=np.uint8)
        vals = (blob[..., None] >> shifts) & np.uint8((1 << bits) - 1)
        return vals.reshape(*blob.shape[:-1], -1)[..., :count]
    stream = np.unpackbits(blob, axis=-1, bitorder="little")
    vals = stream[..., : count * bits].reshape(*blob.shape[:-1], count, bits)
    return np.packbits(vals, axis=-1, bitorder="little")[..., 0]


def _dequantize_blocks(q: np.ndarray, zp: np.ndarray, scales: np.ndarray, axis: int,
                       block: int) -> np.ndarray:
    """``(q - zp) * scale`` in float32, ``zp`` and ``scales`` one per block of ``block``
    values of ``q`` along ``axis``."""
    which = np.arange(q.shape[axis]) // block
    return (q.astype(np.float32) - np.take(zp, which, axis).astype(np.float32)) \
        * np.take(scales.astype(np.float32), which, axis)


def _matmul_nbits(r: Rewrite) -> None:
    """``A @ W (+ bias)`` where ``W[k, n] = (q - zero_point) * scale`` of block ``k //
    block_size``, ``q`` the ``bits``-bit values packed along K from the lowest bit of each blob
    on; the zero point (``bits``-bit values packed likewise, or floats) is ``2**(bits - 1)`` where
    left out. ``W`` is computed when the model is read, a constant of the scales' float type (a
    weight of the arrays)."""
    if r.attr("weight_prepacked", 0):
        raise r.fail("a prepacked weight (weight_prepacked=1) is onnxruntime's own layout; "
                     "save the model without prepacking")
    if r.arg(4, required=False):  # onnxruntime's kernels read it in more than one way
        raise r.fail("g_idx (a block index per row of the weight) is not supported")
    k_dim, n_dim = r.attr("K"), r.attr("N")
    bits, block = r.attr("bits", 4), r.attr("block_size")
    if k_dim is None or n_dim is None or block is None or not 2 <= bits <= 8 \
            or block < 16 or block & (block - 1) or k_dim < 1 or n_dim < 1:
        raise r.fail("attributes K, N and block_size (a power of 2 from 16) are required, and "
                     "bits from 2 to 8")
    blocks = -(-k_dim // block)
    packed, scales = _constant(r, 1, "packed weight"), _constant(r, 2, "scales")
    if packed.dtype != np.uint8 or scales.dtype.kind != "f":
        raise r.fail(f"the packed weight is {packed.dtype} and the scales {scales.dtype}, where "
                     "they are uint8 and floats")
    if packed.shape != (n_dim, blocks, block * bits // 8) or scales.size != n_dim * blocks:
        raise r.fail(f"the packed weight is {list(packed.shape)} and the scales hold "
                     f"{scales.size} values, where K={k_dim}, N={n_dim} and block_size={block} "
                     f"need [{n_dim}, {blocks}, {block * bits // 8}] and {n_dim * blocks}")
    q = _unpack(packed.reshape(n_dim, -1), bits, blocks * block)[:, :k_dim]
    zp = _constant(r, 3, "zero points", required=False)
    if zp is None:
        zp = np.full((n_dim, blocks), 2 ** (bits - 1), np.float32)
    elif zp.dtype != np.uint8 and zp.dtype.kind != "f" or \
            zp.size != n_dim * (-(-blocks * bits // 8) if zp.dtype == np.uint8 else blocks):
        raise r.fail(f"the zero points ({zp.dtype}, {zp.size} values) are neither N={n_dim} rows "
                     f"of {blocks} packed {bits}-bit values (uint8) nor a float per block")
    elif zp.dtype == np.uint8:
        zp = _unpack(zp.reshape(n_dim, -1), bits, blocks).astype(np.float32)
    w = _dequantize_blocks(q, zp.reshape(n_dim, blocks), scales.reshape(n_dim, blocks), 1, block)
    dtype = scales.dtype if scales.dtype != np.float64 else np.float32
    bias = r.arg(5, required=False)
    y = r.emit("MatMul", [r.arg(0), r.const("weight", np.ascontiguousarray(w.T).astype(dtype))],
               None if bias else r.node.output[0])
    if bias:
        r.emit("Add", [y, bias], r.node.output[0])


def _gather_block_quantized(r: Rewrite) -> None:
    """``Gather`` of a table quantized in blocks along ``quantize_axis``: the table
    ``(data - zero_point) * scale`` computed when the model is read (int4 or uint4 values, or
    ``bits``-bit values packed in uint8 along the last axis; the zero point 0 for int4 and
    uint4, ``2**(bits - 1)`` for uint8, where left out), a constant of the scales' type."""
    data, scales = _constant(r, 0, "data"), _constant(r, 2, "scales")
    kind = next(t.data_type for t in r.model.graph.initializer if t.name == r.arg(0))
    bits, block = r.attr("bits", 4), r.attr("block_size", 128)
    if kind not in (TensorProto.INT4, TensorProto.UINT4, TensorProto.UINT8) \
            or scales.dtype.kind != "f":
        raise r.fail("its data must be int4, uint4 or uint8 and its scales floats (float 8 and "
                     "float 4 data are not supported)")
    if data.ndim < 1 or data.size == 0:
        raise r.fail(f"its data is {list(data.shape)}, where it is a table with values")
    if kind == TensorProto.UINT8 and bits not in (2, 4, 8):
        raise r.fail(f"bits is {bits}, where uint8 data packs 2, 4 or 8")
    if kind == TensorProto.UINT8 and bits < 8:
        data = _unpack(data.reshape(-1, data.shape[-1]), bits, data.shape[-1] * 8 // bits) \
            .reshape(*data.shape[:-1], -1)
    axis = r.attr("quantize_axis", 1)
    if not -data.ndim <= axis < data.ndim or block < 16 or block & (block - 1):
        raise r.fail(f"quantize_axis {axis} is not an axis of the {data.ndim}-d data, or "
                     f"block_size {block} is not a power of 2 from 16")
    axis %= data.ndim
    blocks = list(data.shape)
    blocks[axis] = -(-data.shape[axis] // block)
    zp = _constant(r, 3, "zero points", required=False)
    if zp is None:
        zp = np.full(blocks, 2 ** (bits - 1) if kind == TensorProto.UINT8 else 0)
    elif zp.ndim != data.ndim:
        raise r.fail(f"the zero points are {list(zp.shape)}, where they have the data's "
                     f"{data.ndim} axes")
    elif kind == TensorProto.UINT8 and bits < 8:  # the last byte of a row may be padding
        count = min(blocks[-1], zp.shape[-1] * 8 // bits)
        zp = _unpack(zp.reshape(-1, zp.shape[-1]), bits, count).reshape(*zp.shape[:-1], -1)
    if list(scales.shape) != blocks or list(zp.shape) != blocks:
        raise r.fail(f"the scales are {list(scales.shape)} and the zero points "
                     f"{list(zp.shape)}, where data {list(data.shape)} in blocks of {block} "
                     f"along axis {axis} needs {blocks}")
    table = _dequantize_blocks(data, zp, scales, axis, block)
    r.emit("Gather", [r.const("table", table.astype(scales.dtype)), r.arg(1)], r.node.output[0],
           axis=r.attr("gather_axis", 0))


#: com.microsoft fusion -> its rewrite into standard nodes.
FUSED: dict[str, Callable[[Rewrite], None]] = {
    "Gelu": _gelu_rule, "BiasGelu": _bias_gelu, "FastGelu": _fast_gelu,
    "QuickGelu": _quick_gelu, "SkipLayerNormalization": _skip_norm(False),
    "SkipSimplifiedLayerNormalization": _skip_norm(True), "FusedMatMul": _fused_matmul,
    "FusedConv": _fused_conv, "FusedGemm": _fused_gemm,
    "MatMulIntegerToFloat": _matmul_integer_to_float,
    "DynamicQuantizeMatMul": _dynamic_quantize_matmul, "MatMulNBits": _matmul_nbits,
    "GatherBlockQuantized": _gather_block_quantized,
}
#: onnxruntime's operators of the default domain that ONNX does not define (at the model's
#: opset): name -> (its rewrite, the first opset where ONNX defines it, or None).
DEFAULT_DOMAIN: dict[str, tuple[Callable[[Rewrite], None], int | None]] = {
    "SimplifiedLayerNormalization": (_simplified_norm, None),
    "LayerNormalization": (_layer_norm, 17),
}
#: The outputs each rewrite can give (one where not listed).
OUTPUTS = {"SkipLayerNormalization": 4, "SkipSimplifiedLayerNormalization": 4,
           "SimplifiedLayerNormalization": 2, "LayerNormalization": 3}
