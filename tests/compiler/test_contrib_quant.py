"""onnxruntime's quantized contrib operators (domain com.microsoft, imcc/frontend/contrib.py):
each compiled for the ideal chip and run on the reference machine, against onnxruntime, which
runs the operator itself, and against the operator's documented formula in numpy; then a whole
network quantized by onnxruntime's own quantizer in its QOperator format."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc

ort = pytest.importorskip("onnxruntime")

F, I8, U8, I32 = np.float32, np.int8, np.uint8, np.int32
MS = "com.microsoft"


def _model(nodes, inputs, outputs, inits, opset=17):
    def vi(name, dt, shape):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dt)),
                                             shape)

    g = helper.make_graph(nodes, "g", [vi(*i) for i in inputs], [vi(*o) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset),
                                            helper.make_opsetid(MS, 1)])
    m.ir_version = 8
    return m


def _both(m, feeds):
    """(imcc's outputs, onnxruntime's) for ``feeds``."""
    got = imcc.compile(m, "ideal", time_limit=0.1, workers=1).run(feeds)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    return [np.asarray(got[o.name]) for o in m.graph.output], want


def _close_steps(got, want):
    """Integers that differ by at most one step, and seldom."""
    d = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert got.dtype == want.dtype and d.max() <= 1 and (d > 0).mean() <= 0.02, (d.max(), d.mean())


def _q(v, scale, zp, dtype):
    """QuantizeLinear in float32: round half to even, saturate."""
    info = np.iinfo(dtype)
    v = np.rint(np.float32(v) / np.float32(scale)) + zp
    return np.clip(v, info.min, info.max).astype(dtype)


def _dq(x, scale, zp):
    return (x.astype(F) - F(zp)) * F(scale)


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@pytest.mark.parametrize("dtype", [U8, I8])
def test_binary_ops_follow_their_formula(op, dtype):
    r = np.random.default_rng(1)
    info = np.iinfo(dtype)
    a = r.integers(info.min, info.max + 1, (2, 3, 4, 5)).astype(dtype)
    b = r.integers(info.min, info.max + 1, (3, 1, 5)).astype(dtype)  # broadcast
    zps = [dtype(v) for v in r.integers(info.min // 2, info.max // 2 + 1, 3)]
    inits = {"as": F(0.03), "az": zps[0], "bs": F(0.02), "bz": zps[1], "cs": F(0.05),
             "cz": zps[2]}
    node = helper.make_node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["c"],
                            domain=MS)
    m = _model([node], [("a", dtype, a.shape), ("b", dtype, b.shape)], [("c", dtype, None)],
               inits)
    (got,), (want,) = _both(m, {"a": a, "b": b})
    f = np.add if op == "QLinearAdd" else np.multiply
    formula = _q(f(_dq(a, 0.03, zps[0]), _dq(b, 0.02, zps[1])), 0.05, zps[2], dtype)
    np.testing.assert_array_equal(got, formula)
    _close_steps(got, want)


def test_the_unary_ops_pools_and_concat_against_onnxruntime():
    """QLinearSigmoid, QLinearLeakyRelu, QLinearAveragePool, QLinearGlobalAveragePool (both
    layouts) and QLinearConcat of uint8 tensors with zero points left out and given."""
    r = np.random.default_rng(2)
    x = r.integers(0, 256, (1, 4, 6, 6)).astype(U8)
    s = {f"s{i}": F(v) for i, v in enumerate(r.uniform(0.01, 0.08, 7))}
    z = {f"z{i}": U8(v) for i, v in enumerate(r.integers(0, 200, 7))}
    nodes = [
        helper.make_node("QLinearSigmoid", ["x", "s0", "z0", "s1", "z1"], ["sig"], domain=MS),
        helper.make_node("QLinearLeakyRelu", ["x", "s0", "", "s2", "z2"], ["lr"], domain=MS,
                         alpha=0.2),
        helper.make_node("QLinearAveragePool", ["x", "s0", "z0", "s3", "z3"], ["ap"], domain=MS,
                         kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("QLinearGlobalAveragePool", ["x", "s0", "z0", "s4", "z4"], ["gap"],
                         domain=MS),
        helper.make_node("QLinearGlobalAveragePool", ["x", "s0", "z0", "s4", "z4"], ["gapl"],
                         domain=MS, channels_last=1),
        helper.make_node("QLinearConcat", ["s5", "z5", "sig", "s1", "z1", "lr", "s2", "z2"],
                         ["cat"], domain=MS, axis=1),
    ]
    outs = [("sig", U8, None), ("lr", U8, None), ("ap", U8, None), ("gap", U8, None),
            ("gapl", U8, None), ("cat", U8, None)]
    m = _model(nodes, [("x", U8, x.shape)], outs, {**s, **z})
    got, want = _both(m, {"x": x})
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        _close_steps(g, w)
    lr = _q(np.where(_dq(x, s["s0"], 0) < 0, 0.2, 1) * _dq(x, s["s0"], 0), s["s2"], z["z2"], U8)
    np.testing.assert_array_equal(got[1], lr)


@pytest.mark.parametrize(("opset_attr", "opset"), [(12, 17), (13, 17), (13, 12), (12, 12)])
def test_softmax_and_where(opset_attr, opset):
    """QLinearSoftmax's ``opset`` attribute picks the Softmax it follows, whatever the model's
    own opset."""
    r = np.random.default_rng(3)
    x = r.integers(-128, 128, (2, 3, 8)).astype(I8)
    cond = r.random((3, 8)) < 0.5
    inits = {"xs": F(0.05), "xz": I8(-3), "ys": F(1 / 256), "yz": I8(-128), "ws": F(0.06),
             "wz": I8(1)}
    nodes = [helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["sm"],
                              domain=MS, axis=1, opset=opset_attr),
             helper.make_node("QLinearWhere", ["c", "x", "xs", "xz", "sm", "ys", "yz", "ws",
                                               "wz"], ["w"], domain=MS)]
    m = _model(nodes, [("x", I8, x.shape), ("c", np.bool_, cond.shape)],
               [("sm", I8, None), ("w", I8, None)], inits, opset=opset)
    got, want = _both(m, {"x": x, "c": cond})
    for g, w in zip(got, want, strict=True):
        _close_steps(g, w)
    # Softmax along axis 1 from opset 13, over the flattened axes 1 and 2 before.
    v = _dq(x, 0.05, -3).reshape(2, -1) if opset_attr < 13 else _dq(x, 0.05, -3)
    e = np.exp(v - v.max(axis=1, keepdims=True))
    sm = _q((e / e.sum(axis=1, keepdims=True)).reshape(x.shape), 1 / 256, -128, I8)
    assert np.abs(got[0].astype(int) - sm).max() <= 1
    where = _q(np.where(cond, _dq(x, 0.05, -3), _dq(got[0], 1 / 256, -128)), 0.06, 1, I8)
    np.testing.assert_array_equal(got[1], where)


@pytest.mark.parametrize("opset", [17, 18])
def test_reduce_mean_follows_its_formula(opset):
    """QLinearReduceMean (onnxruntime documents it but runs it on no CPU kernel): the mean of
    the dequantized values, quantized; its axes an attribute before opset 18, an input after."""
    x = np.random.default_rng(7).integers(0, 256, (2, 3, 4)).astype(U8)
    node = helper.make_node("QLinearReduceMean", ["x", "xs", "xz", "ms", "mz"], ["m"],
                            domain=MS, axes=[0, 2], keepdims=1)
    m = _model([node], [("x", U8, x.shape)], [("m", U8, None)],
               {"xs": F(0.05), "xz": U8(7), "ms": F(0.04), "mz": U8(2)}, opset=opset)
    got = imcc.compile(m, "ideal", time_limit=0.1, workers=1).run({"x": x})["m"]
    want = _q(_dq(x, 0.05, 7).mean(axis=(0, 2), keepdims=True), 0.04, 2, U8)
    assert got.shape == (1, 3, 1) and np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("with_y", [False, True])
def test_qgemm_per_column_weights_bias_and_alpha(with_y):
    """``alpha * a_scale * b_scale * ((A - a_zp) @ (B - b_zp).T + C)``, quantized with a
    y_scale, float without; its weight runs on the arrays."""
    r = np.random.default_rng(4)
    a = r.integers(0, 256, (5, 12)).astype(U8)
    b = r.integers(-127, 128, (7, 12)).astype(I8)
    c = r.integers(-3000, 3000, 7).astype(I32)
    bs = r.uniform(0.002, 0.01, 7).astype(F)
    inits = {"as": F(0.02), "az": U8(120), "b": b, "bs": bs, "bz": np.zeros(7, I8), "c": c,
             "ys": F(0.05), "yz": U8(100)}
    ins = ["a", "as", "az", "b", "bs", "bz", "c"] + (["ys", "yz"] if with_y else [])
    node = helper.make_node("QGemm", ins, ["y"], domain=MS, transB=1, alpha=0.5)
    m = _model([node], [("a", U8, a.shape)], [("y", U8 if with_y else F, None)], inits)
    got, want = _both(m, {"a": a})
    exact = 0.5 * ((a.astype(np.int64) - 120) @ b.T.astype(np.int64) + c) * 0.02 * bs
    prog = imcc.compile(m, "ideal", time_limit=0.1, workers=1)
    assert prog.report["partition"]["imc"] == 1
    if with_y:
        _close_steps(got[0], want[0])
        assert np.abs(got[0].astype(int) - _q(exact, 0.05, 100, U8)).max() <= 1
    else:
        np.testing.assert_allclose(got[0], exact, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_an_opset_12_model_and_the_contrib_quantize_pair():
    """Before opset 13 the rewrite writes opset-10 nodes the loader's converter then takes; the
    com.microsoft QuantizeLinear and DequantizeLinear are the standard ones."""
    r = np.random.default_rng(6)
    x = r.standard_normal((2, 9)).astype(F)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], domain=MS),
             helper.make_node("QLinearAdd", ["q", "s", "z", "q", "s", "z", "s2", "z2"], ["a"],
                              domain=MS),
             helper.make_node("DequantizeLinear", ["a", "s2", "z2"], ["y"], domain=MS)]
    m = _model(nodes, [("x", F, x.shape)], [("y", F, None)],
               {"s": F(0.02), "z": U8(128), "s2": F(0.03), "z2": U8(120)}, opset=12)
    (got,), (want,) = _both(m, {"x": x})
    q = _q(x, 0.02, 128, U8)
    np.testing.assert_array_equal(got, _dq(_q(2 * _dq(q, 0.02, 128), 0.03, 120, U8), 0.03, 120))
    assert np.abs(got - want).max() <= 0.03 + 1e-6


def test_a_network_quantized_by_onnxruntime_in_its_qoperator_format(tmp_path):
    """Conv, Add, Sigmoid, Mul, LeakyRelu, pools, Concat, Gemm and Softmax through
    onnxruntime's quantize_static (QOperator, per-channel weights): imcc's outputs are
    onnxruntime's to within one step of the output's quantizer."""
    quant = pytest.importorskip("onnxruntime.quantization")
    r = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array((r.standard_normal(shape) * 0.3).astype(F), name)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["a1"]),
             helper.make_node("Sigmoid", ["a1"], ["s1"]),
             helper.make_node("Mul", ["a1", "s1"], ["m1"]),
             helper.make_node("LeakyRelu", ["m1"], ["l1"], alpha=0.1),
             helper.make_node("AveragePool", ["l1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxPool", ["l1"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Concat", ["p1", "p2"], ["cat"], axis=1),
             helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "wg", "bg"], ["y0"], transB=1),
             helper.make_node("Softmax", ["y0"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                          [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 8, 3, 3), w("b2", 8),
                           w("wg", 10, 16), w("bg", 10)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "f.onnx")
    samples = [{"x": r.standard_normal((1, 3, 8, 8)).astype(F)} for _ in range(8)]

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    quant.quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(),
                          quant_format=quant.QuantFormat.QOperator, per_channel=True,
                          activation_type=quant.QuantType.QUInt8,
                          weight_type=quant.QuantType.QInt8)
    q = onnx.load(tmp_path / "q.onnx")
    contrib = {n.op_type for n in q.graph.node if n.domain == MS}
    assert {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "QGemm", "QLinearSoftmax"} <= contrib
    step = next(numpy_helper.to_array(t) for t in q.graph.initializer if t.name == "y_scale")
    prog = imcc.compile(str(tmp_path / "q.onnx"), "ideal", time_limit=0.1, workers=1)
    sess = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    for s in range(4):
        x = r.standard_normal((1, 3, 8, 8)).astype(F)
        got, want = prog.run({"x": x})["y"], sess.run(None, {"x": x})[0]
        assert np.abs(got - want).max() <= step + 1e-7


def test_refusals_name_the_node_and_the_fix():
    bad = helper.make_node("QLinearConcat", ["s", "z", "a", "s"], ["y"], domain=MS, axis=0)
    m = _model([bad], [("a", U8, (2,))], [("y", U8, None)], {"s": F(0.1), "z": U8(0)})
    with pytest.raises(imcc.Error, match=r"QLinearConcat.*2 inputs after Y_scale"):
        imcc.compile(m, "ideal")
    fused = helper.make_node("NhwcMaxPool", ["x"], ["y"], domain=MS, kernel_shape=[1, 1])
    m = _model([fused], [("x", U8, (1, 3, 3, 1))], [("y", U8, None)], {})
    with pytest.raises(imcc.Error, match=r"NhwcMaxPool.*it reads .*QGemm"):
        imcc.compile(m, "ideal")
    # a zero point left out where the tensor's type cannot be told
    nodes = [helper.make_node("Max", ["a", "a"], ["t"]),
             helper.make_node("QLinearSigmoid", ["t", "s", "", "s", ""], ["y"], domain=MS)]
    m = _model(nodes, [("a", U8, (2,))], [("y", U8, None)], {"s": F(0.1)})
    with pytest.raises(imcc.Error, match=r"QLinearSigmoid.*give the zero point"):
        imcc.compile(m, "ideal")


@pytest.mark.parametrize("chip", ["ideal-int8", "rram"])
def test_quantizing_chips_calibrate_an_opset_17_quantized_network(chip):
    """The calibration model of a quantized network before opset 19: the Casts the quantizers
    become carry no ``saturate`` (an opset-19 attribute; onnxruntime refused the model and the
    fallback evaluator raised a TypeError). On ``ideal-int8`` the outputs are onnxruntime's to
    within one step of the widest quantizer they pass (0.04) and the output's rounding."""
    from tests.fuzz.mutators import qoperator_model

    m = qoperator_model()
    x = np.random.default_rng(1).standard_normal((3, 1, 2, 6, 6)).astype(F)
    prog = imcc.compile(m, chip, time_limit=0.1, workers=1, calib={"x": x[:2, 0]})
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for v in x:
        got, want = prog.run({"x": v})["y"], sess.run(None, {"x": v})[0]
        assert got.shape == want.shape and np.isfinite(got).all()
        if chip == "ideal-int8":
            assert np.abs(got - want).max() <= 0.04 + 1 / 256


@pytest.mark.parametrize("dtype", [np.int16, np.uint16])
def test_16_bit_quantize_pair(dtype):
    """The contrib QuantizeLinear and DequantizeLinear take 16-bit types (onnxruntime's
    quantizer writes them for 16-bit activations): round half to even, saturate, as onnxruntime."""
    x = (np.random.default_rng(8).standard_normal((3, 50)) * 400).astype(F)
    x[0, :4] = [0.5, 1.5, -2.5, 1e9]  # ties, and one beyond the range
    zp = dtype(7)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], domain=MS),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], domain=MS)]
    m = _model(nodes, [("x", F, x.shape)], [("q", dtype, None), ("y", F, None)],
               {"s": F(0.5), "z": zp})
    (q, y), (want_q, want_y) = _both(m, {"x": x})
    np.testing.assert_array_equal(q, want_q)
    np.testing.assert_array_equal(q, _q(x, 0.5, zp, dtype))
    np.testing.assert_array_equal(y, want_y)


@pytest.mark.parametrize("contrib", [False, True])
def test_16_bit_activations_quantized_by_onnxruntime(contrib, tmp_path):
    """onnxruntime's QDQ format with uint16 activations (its ``UseQDQContribOps`` writes the
    com.microsoft quantizers, and int32 biases dequantized per channel): onnxruntime's outputs
    without graph optimizations (which would fuse the pairs into its own kernels), to within
    one step of the 16-bit output quantizer."""
    quant = pytest.importorskip("onnxruntime.quantization")

    r = np.random.default_rng(3)
    w = numpy_helper.from_array((r.standard_normal((8, 3, 3, 3)) * 0.3).astype(F), "w")
    b = numpy_helper.from_array(r.standard_normal(8).astype(F), "b")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], [w, b])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.save(m, tmp_path / "f.onnx")
    samples = iter([{"x": r.standard_normal((1, 3, 8, 8)).astype(F)} for _ in range(4)])

    class Reader(quant.CalibrationDataReader):
        def get_next(self):
            return next(samples, None)

    quant.quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Reader(),
                          quant_format=quant.QuantFormat.QDQ, per_channel=True,
                          activation_type=quant.QuantType.QUInt16,
                          weight_type=quant.QuantType.QInt8,
                          extra_options={"UseQDQContribOps": contrib})
    q = onnx.load(tmp_path / "q.onnx")
    assert any(n.domain == MS for n in q.graph.node) == contrib
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(tmp_path / "q.onnx"), so,
                               providers=["CPUExecutionProvider"])
    prog = imcc.compile(str(tmp_path / "q.onnx"), "ideal", time_limit=0.1, workers=1)
    last = next(n for n in q.graph.node if "y" in n.output)
    step = next(numpy_helper.to_array(t) for t in q.graph.initializer if t.name == last.input[1])
    for _ in range(3):  # a float32 sum in another order may cross a rounding boundary
        x = r.standard_normal((1, 3, 8, 8)).astype(F)
        d = np.abs(prog.run({"x": x})["y"] - sess.run(None, {"x": x})[0])
        assert d.max() <= step * 1.01 and (d > 0).mean() < 0.02, (d.max(), step)


def test_the_float_oracle_without_onnxruntime(tmp_path, monkeypatch):
    """Without onnxruntime (the core install), ``imcc run --compare`` runs the model in onnx's
    reference evaluator: a QOperator model's contrib operators rewritten, and its quantizers,
    before opset 19 where that evaluator has none, at opset 21. Its outputs are onnxruntime's
    to within one step of the output's quantizer."""
    import sys

    from imcc.reference import evaluate
    from tests.fuzz.mutators import qoperator_model

    m = qoperator_model()
    m.opset_import[0].version = 13
    onnx.save(m, tmp_path / "q.onnx")
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6)).astype(F)
    want = ort.InferenceSession(str(tmp_path / "q.onnx"),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime fails
    got, engine = evaluate(tmp_path / "q.onnx", {"x": x})
    assert engine == "onnx reference evaluator"
    assert np.abs(got["y"] - want).max() <= 0.04 + 1 / 256
