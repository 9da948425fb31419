"""Every lowering, one op at a time: compile for the ideal chip, run on the reference machine,
compare with onnx's reference evaluator (relative error <= 1e-5 of the output's scale)."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model

F = np.float32
R = np.random.default_rng(0)


def x(*shape, lo=-2.0, hi=2.0):
    return R.uniform(lo, hi, shape).astype(F)


def unary(op, shape=(2, 3, 4), lo=-2.0, hi=2.0, opset=18, **attrs):
    m = make_model([helper.make_node(op, ["a"], ["y"], **attrs)], [("a", F, shape)],
                   [("y", F, None)], opset=opset)
    return m, {"a": x(*shape, lo=lo, hi=hi)}


UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Neg", "Abs", "Floor", "Ceil", "Round",
         "Sign", "Sin", "Cos", "Softplus", "HardSwish"]


@pytest.mark.parametrize("op", UNARY)
def test_unary(op, tmp_path):
    check(*unary(op), tmp_path)


@pytest.mark.parametrize("op", ["Log", "Sqrt", "Reciprocal"])
def test_unary_positive(op, tmp_path):
    check(*unary(op, lo=0.1, hi=3.0), tmp_path)


@pytest.mark.parametrize("op,attrs", [("LeakyRelu", {"alpha": 0.1}), ("LeakyRelu", {"alpha": 3.0}),
                                      ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
                                      ("Elu", {"alpha": 0.7}), ("Softmax", {"axis": 1}),
                                      ("Softmax", {"axis": -1}), ("LogSoftmax", {"axis": 0})])
def test_unary_attrs(op, attrs, tmp_path):
    check(*unary(op, **attrs), tmp_path)


@pytest.mark.parametrize("approx", ["none", "tanh"])
def test_gelu(approx, tmp_path):
    check(*unary("Gelu", opset=20, approximate=approx), tmp_path)


BIN_SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3))]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
@pytest.mark.parametrize("sa,sb", BIN_SHAPES)
def test_binary_broadcast(op, sa, sb, tmp_path):
    m = make_model([helper.make_node(op, ["a", "b"], ["y"])], [("a", F, sa), ("b", F, sb)],
                   [("y", F, None)])
    b = x(*sb)
    if op == "Div":
        b = np.where(np.abs(b) < 0.2, 0.5, b).astype(F)
    check(m, {"a": x(*sa), "b": b}, tmp_path)


def test_binary_with_constant_and_pow(tmp_path):
    m = make_model([helper.make_node("Pow", ["a", "e"], ["p"]),
                    helper.make_node("Mul", ["p", "c"], ["y"])],
                   [("a", F, (3, 5))], [("y", F, None)],
                   inits={"e": np.array(2.0, F), "c": x(5)})
    check(m, {"a": x(3, 5)}, tmp_path)


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_compare_and_where(op, tmp_path):
    m = make_model([helper.make_node(op, ["a", "b"], ["c"]),
                    helper.make_node("Where", ["c", "a", "b"], ["y"])],
                   [("a", F, (4, 6)), ("b", F, (6,))], [("y", F, None)])
    a = np.round(x(4, 6)).astype(F)
    b = np.round(x(6)).astype(F)
    check(m, {"a": a, "b": b}, tmp_path)


def test_variadic_and_clip(tmp_path):
    m = make_model([helper.make_node("Sum", ["a", "b", "c"], ["s"]),
                    helper.make_node("Mean", ["a", "b", "c"], ["m"]),
                    helper.make_node("Max", ["s", "m"], ["t"]),
                    helper.make_node("Clip", ["t", "lo", "hi"], ["y"])],
                   [("a", F, (3, 4)), ("b", F, (4,)), ("c", F, (3, 1))], [("y", F, None)],
                   inits={"lo": np.array(-1.0, F), "hi": np.array(1.5, F)})
    check(m, {"a": x(3, 4), "b": x(4), "c": x(3, 1)}, tmp_path)


@pytest.mark.parametrize("axis", [-1, -2])
def test_layer_norm(axis, tmp_path):
    shp = (2, 5, 8)
    norm = shp[axis:]
    m = make_model([helper.make_node("LayerNormalization", ["a", "g", "b"], ["y"], axis=axis,
                                     epsilon=1e-5)],
                   [("a", F, shp)], [("y", F, None)], inits={"g": x(*norm), "b": x(*norm)})
    check(m, {"a": x(*shp)}, tmp_path)


def test_batch_norm_unfolded(tmp_path):
    # BN after a digital op (no Conv to fold into) stays a digital op
    c = 3
    m = make_model([helper.make_node("Relu", ["a"], ["r"]),
                    helper.make_node("BatchNormalization", ["r", "s", "b", "mu", "v"], ["y"])],
                   [("a", F, (2, c, 4, 4))], [("y", F, None)],
                   inits={"s": x(c), "b": x(c), "mu": x(c), "v": x(c, lo=0.5, hi=2)})
    check(m, {"a": x(2, c, 4, 4)}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("axes,keep", [([1], 1), ([0, 2], 0), ([-1], 1)])
def test_reduce(op, axes, keep, tmp_path):
    m = make_model([helper.make_node(op, ["a", "ax"], ["y"], keepdims=keep)],
                   [("a", F, (3, 4, 5))], [("y", F, None)], inits={"ax": np.array(axes)})
    check(m, {"a": x(3, 4, 5)}, tmp_path)


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2], "strides": [2, 2]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [1, 2], "dilations": [2, 1]},
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool(op, attrs, tmp_path):
    if op == "AveragePool" and "dilations" in attrs:
        pytest.skip("AveragePool dilations need opset 19")
    m = make_model([helper.make_node(op, ["a"], ["y"], **attrs)], [("a", F, (2, 3, 7, 8))],
                   [("y", F, None)])
    check(m, {"a": x(2, 3, 7, 8)}, tmp_path)


def test_avg_pool_count_include_pad(tmp_path):
    m = make_model([helper.make_node("AveragePool", ["a"], ["y"], kernel_shape=[3, 3],
                                     pads=[1, 1, 1, 1], count_include_pad=1)],
                   [("a", F, (1, 2, 5, 5))], [("y", F, None)])
    check(m, {"a": x(1, 2, 5, 5)}, tmp_path)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(op, tmp_path):
    check(*unary(op, shape=(2, 3, 5, 4)), tmp_path)


def test_movement(tmp_path):
    nodes = [
        helper.make_node("Transpose", ["a"], ["t"], perm=[2, 0, 1]),
        helper.make_node("Split", ["t", "sp"], ["s1", "s2"], axis=2),
        helper.make_node("Concat", ["s2", "s1", "s2"], ["c"], axis=2),
        helper.make_node("Slice", ["c", "st", "en", "ax", "stp"], ["sl"]),
        helper.make_node("Reshape", ["sl", "shp"], ["r"]),
        helper.make_node("Unsqueeze", ["r", "uax"], ["u"]),
        helper.make_node("Expand", ["u", "eshp"], ["e"]),
        helper.make_node("Tile", ["e", "rep"], ["y"]),
    ]
    m = make_model(nodes, [("a", F, (2, 3, 4))], [("y", F, None)], inits={
        "sp": np.array([1, 2]), "st": np.array([4, 0]), "en": np.array([-100, 10]),
        "ax": np.array([2, 0]), "stp": np.array([-2, 1]), "shp": np.array([8, 3]),
        "uax": np.array([0]), "eshp": np.array([3, 8, 3]), "rep": np.array([1, 2, 2])})
    check(m, {"a": x(2, 3, 4)}, tmp_path)


def test_flatten_squeeze(tmp_path):
    m = make_model([helper.make_node("Flatten", ["a"], ["f"], axis=2),
                    helper.make_node("Unsqueeze", ["f", "ax"], ["u"]),
                    helper.make_node("Squeeze", ["u", "ax"], ["y"])],
                   [("a", F, (2, 3, 4, 5))], [("y", F, None)], inits={"ax": np.array([1])})
    check(m, {"a": x(2, 3, 4, 5)}, tmp_path)


@pytest.mark.parametrize("idx,axis", [(np.array([2]), 0), (np.array([3, 1, 1, 0]), 1),
                                      (np.array(1), 2), (np.array([[0, 2], [1, 1]]), 1)])
def test_gather_constant_indices(idx, axis, tmp_path):
    m = make_model([helper.make_node("Gather", ["a", "i"], ["y"], axis=axis)],
                   [("a", F, (3, 4, 5))], [("y", F, None)], inits={"i": idx})
    check(m, {"a": x(3, 4, 5)}, tmp_path)


def test_gather_embedding_with_dynamic_ids(tmp_path):
    table = x(11, 6)
    m = make_model([helper.make_node("Gather", ["emb", "ids"], ["y"], axis=0)],
                   [("ids", np.int64, (2, 5))], [("y", F, None)], inits={"emb": table})
    ids = R.integers(-11, 11, (2, 5))
    check(m, {"ids": ids}, tmp_path)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode, tmp_path):
    pads = np.array([0, 1, 2, 0, 2, 1]) if mode != "constant" else np.array([0, 0, 2, 1, 2, 1])
    ins = ["a", "p", "v"] if mode == "constant" else ["a", "p"]
    inits = {"p": pads, "v": np.array(1.5, F)} if mode == "constant" else {"p": pads}
    m = make_model([helper.make_node("Pad", ins, ["y"], mode=mode)], [("a", F, (2, 4, 5))],
                   [("y", F, None)], inits=inits)
    check(m, {"a": x(2, 4, 5)}, tmp_path)


def test_resize_nearest(tmp_path):
    m = make_model([helper.make_node("Resize", ["a", "", "sc"], ["y"], mode="nearest")],
                   [("a", F, (1, 2, 3, 4))], [("y", F, None)],
                   inits={"sc": np.array([1, 1, 2, 1.5], F)})
    check(m, {"a": x(1, 2, 3, 4)}, tmp_path)


@pytest.mark.parametrize("excl,rev", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(excl, rev, tmp_path):
    m = make_model([helper.make_node("CumSum", ["a", "ax"], ["y"], exclusive=excl, reverse=rev)],
                   [("a", F, (3, 6))], [("y", F, None)], inits={"ax": np.array(1)})
    check(m, {"a": x(3, 6)}, tmp_path)


def test_cast_truncates_toward_zero(tmp_path):
    m = make_model([helper.make_node("Cast", ["a"], ["i"], to=7),
                    helper.make_node("Cast", ["i"], ["y"], to=1)],
                   [("a", F, (4, 5))], [("y", F, None)])
    check(m, {"a": x(4, 5, lo=-5, hi=5)}, tmp_path)


@pytest.mark.parametrize("dynamic", ["digital", "sram"])
def test_dynamic_matmul_batched(dynamic, tmp_path):
    m = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   [("a", F, (2, 3, 4, 5)), ("b", F, (3, 5, 6))], [("y", F, None)])
    # On the ideal chip both units are exact.
    check(m, {"a": x(2, 3, 4, 5), "b": x(3, 5, 6)}, tmp_path, dynamic=dynamic)


def test_sram_matmul_quantizes_operands_to_its_bits(tmp_path):
    # 6-bit SRAM-IMC: an independent model of per-tensor symmetric quantization of both operands
    a, b = x(3, 4, 5), x(5, 6)
    m = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                   [("a", F, (3, 4, 5)), ("b", F, (5, 6))], [("y", F, None)])

    def q(v, bits=6):
        s = np.abs(v).max() / (2 ** (bits - 1) - 1)
        return np.clip(np.rint(v / s), -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) * s

    want = q(a).astype(np.float64) @ q(b).astype(np.float64)
    from tests.compiler.helpers import rel_err, run_compiled

    got, _ = run_compiled(m, {"a": a, "b": b}, tmp_path, dynamic="sram", sram_bits=6)
    assert rel_err(got[0], want) < 1e-5
    assert rel_err(got[0], a.astype(np.float64) @ b) > 1e-3  # it really quantized
