"""Quantized operators (imcc/passes/composite_quant.py) with constant weights, the form QDQ and
QOperator exports have, compiled for the ideal chip and run on the reference machine, against
onnx's reference evaluator; each case's product of a constant weight runs on the arrays, a
runtime convolution weight's on the digital unit. (The ONNX backend suite covers every operand
as a runtime input: tests/backend.)"""

import numpy as np
import pytest

import imcc
from tests.compiler.helpers import helper, make_model, reference

F, I8, U8, I32 = np.float32, np.int8, np.uint8, np.int32
R = np.random.default_rng(5)


def _compiled(model, feeds):
    prog = imcc.compile(model, "ideal", time_limit=0.1, workers=1)
    out = prog.run(feeds)
    return [out[o.name] for o in model.graph.output], prog.report["partition"]


@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_conv_weight_folds_into_the_arrays(per_channel):
    """x -> QuantizeLinear -> DequantizeLinear -> Conv, the weight a DequantizeLinear of int8
    constants: the weight's dequantization is folded at compile time, the Conv runs on the
    arrays, the activation's quantization on the digital unit, equal to the reference."""
    w = R.integers(-127, 128, (4, 3, 3, 3)).astype(I8)
    ws = (R.uniform(0.01, 0.05, 4) if per_channel else np.array(0.02)).astype(F)
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "ws"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1])]
    inits = {"xs": np.array(0.05, F), "xz": np.array(3, U8), "w": w, "ws": ws}
    m = make_model(nodes, [("x", F, (1, 3, 6, 6))], [("y", F, None)], inits=inits, opset=21)
    feeds = {"x": R.uniform(-0.1, 1.0, (1, 3, 6, 6)).astype(F)}
    (got,), part = _compiled(m, feeds)
    assert part["imc"] == 1
    np.testing.assert_allclose(got, reference(m, feeds)[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [I8, U8])
def test_qlinear_matmul_with_a_constant_weight(dtype):
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    a = R.integers(lo, hi + 1, (3, 16)).astype(dtype)
    b = R.integers(lo, hi + 1, (16, 5)).astype(dtype)
    zp = np.array([0 if dtype == I8 else 128], dtype)
    inits = {"as": np.array([0.02], F), "az": zp, "b": b, "bs": np.array([0.01], F),
             "bz": zp, "ys": np.array([0.4], F), "yz": zp}
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"],
                            ["y"])
    m = make_model([node], [("a", dtype, a.shape)], [("y", dtype, None)], inits=inits,
                   opset=21)
    (got,), part = _compiled(m, {"a": a})
    assert part["imc"] == 1 and got.dtype == dtype
    np.testing.assert_array_equal(got, reference(m, {"a": a})[0])


def test_qlinear_conv_per_channel_with_bias():
    x = R.integers(0, 256, (1, 2, 7, 7)).astype(U8)
    w = R.integers(-127, 128, (3, 2, 3, 3)).astype(I8)
    inits = {"xs": np.array(0.03, F), "xz": np.array(120, U8), "w": w,
             "ws": np.array([0.01, 0.02, 0.005], F), "wz": np.zeros(3, I8),
             "ys": np.array(0.5, F), "yz": np.array(7, U8),
             "b": R.integers(-500, 500, 3).astype(I32)}
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], pads=[1, 1, 1, 1], strides=[2, 2])
    m = make_model([node], [("x", U8, x.shape)], [("y", U8, None)], inits=inits, opset=10)
    (got,), part = _compiled(m, {"x": x})
    assert part["imc"] == 1
    np.testing.assert_array_equal(got, reference(m, {"x": x})[0])


def test_matmul_integer_with_a_constant_weight():
    a = R.integers(0, 256, (4, 8)).astype(U8)
    b = R.integers(0, 256, (8, 6)).astype(U8)
    node = helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])
    inits = {"b": b, "az": np.array(12, U8), "bz": np.array(200, U8)}
    m = make_model([node], [("a", U8, a.shape)], [("y", I32, None)], inits=inits, opset=10)
    (got,), part = _compiled(m, {"a": a})
    assert part["imc"] == 1 and got.dtype == I32
    np.testing.assert_array_equal(got, reference(m, {"a": a})[0])


def test_quantize_with_a_float16_precision_is_refused():
    node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"], precision=10)
    m = make_model([node], [("x", F, (4,))], [("y", U8, None)],
                   inits={"s": np.array(0.1, F)}, opset=25)
    with pytest.raises(imcc.Error, match="attribute precision=10 of QuantizeLinear"):
        imcc.compile(m, "ideal", time_limit=0.1, workers=1)


@pytest.mark.parametrize("dtype", [I32, np.int16, U8])
def test_dequantize_per_axis_with_a_zero_point(dtype):
    """(x - zp) * scale per channel, for every integer type (int32: a bias's)."""
    x = R.integers(-1000 if dtype != U8 else 0, 256, (2, 3, 4)).astype(dtype)
    node = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=1)
    inits = {"s": np.array([0.5, 0.25, 2.0], F), "z": np.array([3, 0, 7], dtype)}
    m = make_model([node], [("x", dtype, x.shape)], [("y", F, None)], inits=inits, opset=21)
    (got,), _ = _compiled(m, {"x": x})
    np.testing.assert_array_equal(got, reference(m, {"x": x})[0])


@pytest.mark.parametrize("pads,strides", [((0, 0, 0, 0), (1, 1)), ((1, 0, 2, 1), (2, 1))])
def test_conv_integer_with_a_runtime_weight(pads, strides):
    """A runtime weight: one product of two activations per tap (no arrays)."""
    x = R.integers(0, 256, (1, 3, 6, 5)).astype(U8)
    w = R.integers(0, 256, (2, 3, 3, 2)).astype(U8)
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=list(pads),
                            strides=list(strides))
    inits = {"xz": np.array(100, U8), "wz": np.array([3, 200], U8)}
    m = make_model([node], [("x", U8, x.shape), ("w", U8, w.shape)], [("y", I32, None)],
                   inits=inits, opset=10)
    (got,), part = _compiled(m, {"x": x, "w": w})
    assert part.get("imc", 0) == 0
    np.testing.assert_array_equal(got, reference(m, {"x": x, "w": w})[0])


@pytest.mark.parametrize("opset", [13, 17])
def test_a_quantizing_chip_calibrates_a_quantized_model_before_opset_19(opset):
    """The passes write attributes later opsets added (a quantizer's ``Cast(saturate=1)``, opset
    19; ``Reshape(allowzero=0)``, opset 14): the calibration model of an older model leaves out
    those at their default meaning, where onnxruntime refused it and its fallback evaluator
    crashed. onnxruntime is the oracle (onnx's reference has no DequantizeLinear before 19)."""
    ort = pytest.importorskip("onnxruntime")
    w = R.integers(-60, 60, (4, 2, 3, 3)).astype(I8)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("QLinearConv", ["q", "s", "z", "w", "ws", "wz", "ys", "yz"], ["c"],
                              pads=[1, 1, 1, 1]),
             helper.make_node("DequantizeLinear", ["c", "ys", "yz"], ["y"])]
    inits = {"s": np.array(0.05, F), "z": np.array(128, U8), "w": w,
             "ws": np.full(4, 0.01, F), "wz": np.zeros(4, I8), "ys": np.array(0.04, F),
             "yz": np.array(100, U8)}
    m = make_model(nodes, [("x", F, (1, 2, 6, 6))], [("y", F, None)], inits=inits, opset=opset)
    x = R.standard_normal((2, 2, 6, 6)).astype(F)
    prog = imcc.compile(m, "ideal-int8", time_limit=0.1, workers=1, calib={"x": x})
    got = prog.run({"x": x[:1]})["y"]
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x[:1]})[0]
    assert prog.report["partition"]["imc"] == 1
    assert np.abs(got - want).max() <= 0.04 + 1e-6
