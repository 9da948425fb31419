"""The fusions onnxruntime's graph optimizer saves into models (imcc/frontend/contrib_fused.py),
each compiled for the ideal chip and run on the reference machine against onnxruntime, which
runs the fused operator itself; then models onnxruntime optimized and saved."""

import numpy as np
import onnx
import pytest
from onnx import helper

import imcc
from tests.compiler.test_contrib_quant import MS, _both, _model

ort = pytest.importorskip("onnxruntime")

F, I8, U8 = np.float32, np.int8, np.uint8
R = np.random.default_rng(11)


def _close(got, want, tol=2e-5):
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("opset", [17, 20])
def test_gelu_family(opset):
    """Gelu and BiasGelu (erf), FastGelu with and without its bias (tanh), QuickGelu's
    ``x * sigmoid(alpha x)``: ONNX's Gelu from opset 20, its formula before."""
    x = (R.standard_normal((3, 8)) * 3).astype(F)
    b = R.standard_normal(8).astype(F)
    nodes = [helper.make_node("Gelu", ["x"], ["g"], domain=MS),
             helper.make_node("BiasGelu", ["x", "b"], ["bg"], domain=MS),
             helper.make_node("FastGelu", ["x"], ["fg"], domain=MS),
             helper.make_node("FastGelu", ["x", "b"], ["fgb"], domain=MS),
             helper.make_node("QuickGelu", ["x"], ["qg"], domain=MS, alpha=1.5)]
    m = _model(nodes, [("x", F, x.shape)], [(o, F, None) for o in ("g", "bg", "fg", "fgb", "qg")],
               {"b": b}, opset=opset)
    got, want = _both(m, {"x": x})
    _close(got, want)
    np.testing.assert_allclose(got[4], x / (1 + np.exp(-1.5 * x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", [13, 17])
@pytest.mark.parametrize("with_bias", [False, True])
def test_skip_layer_norm_with_every_output(opset, with_bias):
    """Output 0 the layer norm of ``input + skip (+ bias)``, 1 and 2 its mean and inverse
    standard deviation, 3 the sum: onnxruntime's, from LayerNormalization (opset 17) or its
    formula (before)."""
    x, skip = (R.standard_normal((2, 3, 16)).astype(F) for _ in range(2))
    consts = {"gamma": R.uniform(0.5, 1.5, 16).astype(F), "beta": R.standard_normal(16).astype(F),
              "bias": R.standard_normal(16).astype(F)}
    ins = ["x", "skip", "gamma", "beta"] + (["bias"] if with_bias else [])
    node = helper.make_node("SkipLayerNormalization", ins, ["y", "mean", "inv", "sum"],
                            domain=MS, epsilon=1e-5)
    m = _model([node], [("x", F, x.shape), ("skip", F, skip.shape)],
               [("y", F, None), ("mean", F, None), ("inv", F, None), ("sum", F, None)], consts,
               opset=opset)
    got, want = _both(m, {"x": x, "skip": skip})
    _close(got, want)
    s = x + skip + (consts["bias"] if with_bias else 0)
    y = (s - s.mean(-1, keepdims=True)) / np.sqrt(s.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got[0], y * consts["gamma"] + consts["beta"], rtol=1e-4, atol=1e-4)


def test_the_rms_norms_and_a_layer_norm_before_opset_17():
    """SkipSimplifiedLayerNormalization (with bias and the sum), onnxruntime's
    SimplifiedLayerNormalization and LayerNormalization of the default domain in an opset-13
    model, where ONNX defines neither."""
    x, skip = (R.standard_normal((2, 5, 8)).astype(F) for _ in range(2))
    consts = {"g": R.uniform(0.5, 1.5, 8).astype(F), "b": R.standard_normal(8).astype(F)}
    nodes = [helper.make_node("SkipSimplifiedLayerNormalization", ["x", "skip", "g", "b"],
                              ["ssl", "", "", "sum"], domain=MS, epsilon=1e-6),
             helper.make_node("SimplifiedLayerNormalization", ["x", "g"], ["sl", "slinv"],
                              epsilon=1e-6),
             helper.make_node("LayerNormalization", ["x", "g", "b"], ["ln"], epsilon=1e-5)]
    m = _model(nodes, [("x", F, x.shape), ("skip", F, skip.shape)],
               [("ssl", F, None), ("sum", F, None), ("sl", F, None), ("slinv", F, None),
                ("ln", F, None)], consts, opset=13)
    got, want = _both(m, {"x": x, "skip": skip})
    _close(got, want)
    rms = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * consts["g"]
    np.testing.assert_allclose(got[2], rms, rtol=1e-5, atol=1e-5)


def test_fused_matmul_transposes_with_and_without_a_known_rank():
    """``alpha * A' @ B'``: a constant weight (its rank known: a Transpose, then the arrays) and
    an operand whose rank the model does not state (an Einsum over ``...``)."""
    a = R.standard_normal((2, 4, 6)).astype(F)
    w = R.standard_normal((5, 6)).astype(F)
    nodes = [helper.make_node("FusedMatMul", ["a", "w"], ["y1"], domain=MS, transB=1,
                              alpha=0.5),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("FusedMatMul", ["r", "a"], ["y2"], domain=MS, transA=1),
             helper.make_node("FusedMatMul", ["a", "r"], ["y3"], domain=MS, transB=1,
                              alpha=2.0)]
    m = _model(nodes, [("a", F, a.shape)], [("y1", F, None), ("y2", F, None), ("y3", F, None)],
               {"w": w})
    got, want = _both(m, {"a": a})
    _close(got, want)
    assert imcc.compile(m, "ideal", time_limit=0.1, workers=1).report["partition"]["imc"] == 1


@pytest.mark.parametrize("act,params", [("Relu", []), ("LeakyRelu", [0.2]),
                                        ("Clip", [-0.5, 0.8]), ("HardSigmoid", [0.3, 0.4]),
                                        ("Sigmoid", []), ("Tanh", [])])
def test_fused_conv_and_gemm_with_their_activation(act, params):
    x = R.standard_normal((1, 3, 6, 6)).astype(F)
    consts = {"w": R.standard_normal((4, 3, 3, 3)).astype(F), "b": R.standard_normal(4).astype(F),
              "gw": R.standard_normal((5, 16)).astype(F), "gc": R.standard_normal(5).astype(F)}
    gemm_params = {}
    if params:
        gemm_params["activation_alpha"] = params[0]
    if len(params) > 1:
        gemm_params["activation_beta"] = params[1]
    conv = {"activation": act, **({"activation_params": params} if params else {})}
    nodes = [helper.make_node("FusedConv", ["x", "w", "b"], ["c"], domain=MS, pads=[1] * 4,
                              **conv),
             helper.make_node("FusedConv", ["x", "w", "", "c"], ["cz"], domain=MS,
                              pads=[1] * 4, **conv),
             helper.make_node("Reshape", ["c", "shape"], ["flat"])]
    outs = [("c", F, None), ("cz", F, None)]
    if act != "Clip":
        nodes.append(helper.make_node("FusedGemm", ["flat", "gw", "gc"], ["g"], domain=MS,
                                      transB=1, alpha=0.5, activation=act, **gemm_params))
        outs.append(("g", F, None))
    consts["shape"] = np.array([9, 16], np.int64)
    m = _model(nodes, [("x", F, x.shape)], outs, consts)
    got, want = _both(m, {"x": x})
    _close(got, want, 1e-4)


def test_dynamically_quantized_products():
    """MatMulIntegerToFloat and DynamicQuantizeMatMul: the exact integer product, scaled, plus
    the bias."""
    a = R.integers(0, 256, (4, 12)).astype(U8)
    x = R.standard_normal((4, 12)).astype(F)
    consts = {"b": R.integers(-127, 128, (12, 6)).astype(I8), "as": F(0.02), "bs": np.full(
        6, 0.01, F), "az": U8(100), "bz": np.zeros(6, I8), "bias": R.standard_normal(6).astype(F)}
    nodes = [helper.make_node("MatMulIntegerToFloat", ["a", "b", "as", "bs", "az", "bz", "bias"],
                              ["y1"], domain=MS),
             helper.make_node("DynamicQuantizeMatMul", ["x", "b", "bs", "bz", "bias"], ["y2"],
                              domain=MS)]
    m = _model(nodes, [("a", U8, a.shape), ("x", F, x.shape)], [("y1", F, None), ("y2", F, None)],
               consts)
    got, want = _both(m, {"a": a, "x": x})
    _close(got, want, 1e-5)
    exact = (a.astype(np.int64) - 100) @ consts["b"].astype(np.int64) * 0.02 * 0.01
    np.testing.assert_allclose(got[0], exact + consts["bias"], rtol=1e-6, atol=1e-6)


def test_models_onnxruntime_optimized_and_saved(tmp_path):
    """A small transformer block and a CNN saved by onnxruntime's extended optimizations (its
    FusedMatMul, FusedGemm, Gelu, SkipLayerNormalization, FusedConv...): imcc's outputs are
    onnxruntime's."""
    def w(*shape):
        return onnx.numpy_helper.from_array((R.standard_normal(shape) * 0.3).astype(F))

    d = 16
    inits = {"wq": w(d, d), "wk": w(d, d), "w1": w(d, 32), "b1": w(32), "w2": w(32, d),
             "g": w(d), "be": w(d), "cw": w(4, 3, 3, 3), "cb": w(4)}
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]),
             helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s0"]),
             helper.make_node("Mul", ["s0", "scale"], ["s"]),
             helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "q"], ["att"]),
             helper.make_node("Add", ["att", "x"], ["res"]),
             helper.make_node("LayerNormalization", ["res", "g", "be"], ["ln"], axis=-1),
             helper.make_node("MatMul", ["ln", "w1"], ["h0"]),
             helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Div", ["h1", "sqrt2"], ["h2"]),
             helper.make_node("Erf", ["h2"], ["h3"]),
             helper.make_node("Add", ["h3", "one"], ["h4"]),
             helper.make_node("Mul", ["h1", "h4"], ["h5"]),
             helper.make_node("Mul", ["h5", "half"], ["h6"]),
             helper.make_node("MatMul", ["h6", "w2"], ["y"]),
             helper.make_node("Conv", ["img", "cw", "cb"], ["c"], pads=[1] * 4),
             helper.make_node("Relu", ["c"], ["cy"])]
    for k, v in {"scale": 0.25, "sqrt2": float(np.sqrt(2)), "one": 1.0, "half": 0.5}.items():
        inits[k] = onnx.numpy_helper.from_array(np.array(v, F))
    for k, t in inits.items():
        t.name = k
    g = helper.make_graph(nodes, "block", [
        helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 5, d]),
        helper.make_tensor_value_info("img", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 5, d]),
         helper.make_tensor_value_info("cy", onnx.TensorProto.FLOAT, [1, 4, 8, 8])],
        list(inits.values()))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "m.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(tmp_path / "m.onnx"), so, providers=["CPUExecutionProvider"])
    opt = onnx.load(tmp_path / "opt.onnx")
    fused = {n.op_type for n in opt.graph.node if n.domain == MS}
    assert {"FusedMatMul", "Gelu", "FusedConv"} <= fused, fused
    feeds = {"x": R.standard_normal((2, 5, d)).astype(F),
             "img": R.standard_normal((1, 3, 8, 8)).astype(F)}
    got, want = _both(opt, feeds)
    _close(got, want, 1e-4)


def _pack(v, bits):
    """The rows of ``v`` as ``bits``-bit values packed from the lowest bit of each row's first
    byte on (numpy's own bit packing: the oracle of the unpacking)."""
    stream = ((v[..., None] >> np.arange(bits)) & 1).astype(U8).reshape(len(v), -1)
    return np.packbits(stream, axis=-1, bitorder="little")


def _nbits_model(bits, zp_kind, k=40, n=6, block=16, extra=None):
    """MatMulNBits of a random ``bits``-bit weight packed as onnxruntime packs it (values from
    the lowest bit of each blob on), with packed uint8, float or no zero points, and a bias."""
    blocks = -(-k // block)
    q = R.integers(0, 2 ** bits, (n, blocks * block))
    consts = {"b": _pack(q, bits).reshape(n, blocks, block * bits // 8),
              "s": R.uniform(0.01, 0.1, (n, blocks)).astype(F),
              "bias": R.standard_normal(n).astype(F)}
    zp = ""
    if zp_kind == "uint8":
        consts["z"], zp = _pack(R.integers(0, 2 ** bits, (n, blocks)), bits), "z"
    elif zp_kind == "float":
        consts["z"], zp = R.uniform(0, 2 ** bits, (n, blocks)).astype(F), "z"
    node = helper.make_node("MatMulNBits", ["a", "b", "s", zp, *(extra or ["", "bias"])],
                            ["y"], domain=MS, K=k, N=n, bits=bits, block_size=block)
    return _model([node], [("a", F, (3, k))], [("y", F, None)], consts), consts, q


@pytest.mark.parametrize("bits,zp_kind", [(2, "none"), (2, "uint8"), (2, "float"), (4, "none"),
                                          (4, "uint8"), (4, "float"), (8, "none"),
                                          (8, "uint8")])
def test_matmul_nbits_unpacks_as_onnxruntime(bits, zp_kind):
    """``A @ W + bias``, ``W[k, n] = (q - zero_point) * scale`` of block ``k // block_size``
    (K = 40 is not a whole number of blocks of 16): onnxruntime's outputs (it runs 2, 4 and 8
    bits), and the formula in numpy."""
    m, consts, q = _nbits_model(bits, zp_kind)
    a = R.standard_normal((3, 40)).astype(F)
    (got,), (want,) = _both(m, {"a": a})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    which = np.arange(40) // 16
    zp = {"none": np.full((6, 3), 2.0 ** (bits - 1)), "float": consts.get("z")}.get(zp_kind)
    if zp is None:  # packed: unpack the two or four values of each byte by hand
        per = 8 // bits
        zp = np.stack([(consts["z"][:, i // per] >> (bits * (i % per))) & (2 ** bits - 1)
                       for i in range(3)], axis=1)
    w = (q[:, :40] - zp[:, which]) * consts["s"][:, which]
    np.testing.assert_allclose(got, a @ w.T + consts["bias"], rtol=1e-4, atol=1e-4)
    assert imcc.compile(m, "ideal", time_limit=0.1, workers=1).report["partition"]["imc"] == 1


def test_matmul_nbits_refusals():
    m, _, _ = _nbits_model(4, "none", extra=["gidx"])
    m.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(40, np.int32), "gidx"))
    with pytest.raises(imcc.Error, match=r"MatMulNBits.*g_idx .* is not supported"):
        imcc.compile(m, "ideal")
    m, _, _ = _nbits_model(4, "none")
    next(a for a in m.graph.node[0].attribute if a.name == "K").i = 64
    with pytest.raises(imcc.Error, match=r"MatMulNBits.*need \[6, 4, 8\]"):
        imcc.compile(m, "ideal")


def test_a_decoder_quantized_to_4_bits_by_onnxruntime(tmp_path):
    """onnxruntime's MatMulNBitsQuantizer (4 bits, blocks of 32) on a two-layer MLP: imcc's
    outputs are onnxruntime's."""
    nbits = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    inits = {"w1": R.standard_normal((64, 96)).astype(F), "w2": R.standard_normal((96, 32))
             .astype(F)}
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    m = _model(nodes, [("x", F, (2, 5, 64))], [("y", F, None)], inits)
    q = nbits.MatMulNBitsQuantizer(m, block_size=32, is_symmetric=False)
    q.process()
    qm = q.model.model
    assert sum(n.op_type == "MatMulNBits" for n in qm.graph.node) == 2
    x = R.standard_normal((2, 5, 64)).astype(F)
    (got,), (want,) = _both(qm, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bits", range(2, 9))
def test_unpacking_every_width(bits):
    """Values of 2 to 8 bits packed from the lowest bit of each row on (a bit stream where a
    value crosses bytes), against numpy's own bit packing."""
    from imcc.frontend.contrib_fused import _unpack

    v = R.integers(0, 2 ** bits, (3, 64))
    packed = _pack(v, bits)
    np.testing.assert_array_equal(_unpack(packed, bits, 64), v)
    np.testing.assert_array_equal(_unpack(packed, bits, 61), v[:, :61])


def test_matmul_nbits_with_its_weights_in_a_data_file(tmp_path):
    """The packed weights, scales and zero points in an external-data file (onnxruntime and
    transformers.js save large int4 decoders so): read from the file when the weight is
    unpacked."""
    m, consts, _ = _nbits_model(4, "uint8", k=512, n=64, block=32)
    onnx.save(m, tmp_path / "q4.onnx", save_as_external_data=True,
              all_tensors_to_one_file=True, location="q4.onnx_data", size_threshold=0)
    a = R.standard_normal((3, 512)).astype(F)
    got = imcc.compile(str(tmp_path / "q4.onnx"), "ideal", time_limit=0.1,
                       workers=1).run({"a": a})["y"]
    want = ort.InferenceSession(str(tmp_path / "q4.onnx"),
                                providers=["CPUExecutionProvider"]).run(None, {"a": a})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["uint4", "int4", "uint8-2", "uint8-4", "uint8-8"])
@pytest.mark.parametrize("with_zp", [True, False])
def test_gather_block_quantized(kind, with_zp):
    """An embedding table quantized in blocks of 16 along its rows' 48 values (int4 or uint4, or
    2-, 4- or 8-bit values packed in uint8), zero points given or left out: onnxruntime's
    gathered rows, and ``(q - zero_point) * scale`` in numpy."""
    v, d, block = 20, 48, 16
    blocks = d // block
    attrs = {"block_size": block, "gather_axis": 0, "quantize_axis": 1}
    if kind in ("uint4", "int4"):
        lo, hi = (0, 16) if kind == "uint4" else (-8, 8)
        ty = onnx.TensorProto.UINT4 if kind == "uint4" else onnx.TensorProto.INT4
        q, z = R.integers(lo, hi, (v, d)), R.integers(lo, hi, (v, blocks))
        data = helper.make_tensor("data", ty, [v, d], q.ravel().tolist())
        zt = helper.make_tensor("zp", ty, [v, blocks], z.ravel().tolist())
        default = 0
    else:
        bits = attrs["bits"] = int(kind.split("-")[1])
        q, z = R.integers(0, 2 ** bits, (v, d)), R.integers(0, 2 ** bits, (v, blocks))
        data, zt = onnx.numpy_helper.from_array(_pack(q, bits), "data"), \
            onnx.numpy_helper.from_array(_pack(z, bits), "zp")
        default = 2 ** (bits - 1)
    scales = R.uniform(0.01, 0.1, (v, blocks)).astype(F)
    node = helper.make_node("GatherBlockQuantized",
                            ["data", "idx", "scales"] + (["zp"] if with_zp else []), ["y"],
                            domain=MS, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "idx", onnx.TensorProto.INT64, [2, 3])], [helper.make_tensor_value_info(
            "y", onnx.TensorProto.FLOAT, [2, 3, d])],
        [data, onnx.numpy_helper.from_array(scales, "scales")] + ([zt] if with_zp else []))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21),
                                            helper.make_opsetid(MS, 1)])
    m.ir_version = 10
    idx = R.integers(0, v, (2, 3))
    (got,), (want,) = _both(m, {"idx": idx})
    np.testing.assert_array_equal(got, want)
    zp = z if with_zp else np.full((v, blocks), default)
    which = np.arange(d) // block
    table = (q - zp[:, which]) * scales[:, which]
    np.testing.assert_allclose(got, table[idx], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("opset", [13, 17])
def test_a_float16_model(opset):
    """A float16 model: the rewrites' constants take the type of the node's input, where the
    model tells it (through the MatMul before it) or through ``CastLike`` (after an Einsum,
    whose type the rewrite does not follow; from opset 15); the layer norm's epsilon of 1e-12
    stays above float16's zero, so a row of equal values is not divided by 0."""
    x = R.standard_normal((2, 4, 16)).astype(np.float16)
    skip = R.standard_normal((2, 4, 16)).astype(np.float16)
    x[0, 0], skip[0, 0] = 1.0, 0.0  # a row of equal values: variance 0
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("SkipLayerNormalization", ["mm", "skip", "g", "g"], ["ln"],
                              domain=MS),
             helper.make_node("BiasGelu", ["ln", "g"], ["y"], domain=MS)]
    outs = [("y", np.float16, None)]
    if opset >= 15:
        nodes += [helper.make_node("Einsum", ["x", "w"], ["e"], equation="bsk,kn->bsn"),
                  helper.make_node("FastGelu", ["e"], ["y2"], domain=MS)]
        outs.append(("y2", np.float16, None))
    m = _model(nodes, [("x", np.float16, x.shape), ("skip", np.float16, skip.shape)], outs,
               {"w": np.eye(16, dtype=np.float16), "g": np.ones(16, np.float16)}, opset=opset)
    got, want = _both(m, {"x": x, "skip": skip})
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float16 and np.isfinite(g).all()
        np.testing.assert_allclose(g.astype(F), w.astype(F), rtol=4e-3, atol=4e-3)
