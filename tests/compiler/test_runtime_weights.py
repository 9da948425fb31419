"""Operators whose weights or parameters are runtime tensors (graph inputs), computed on the
machine: their products are products of two activations (the dynamic unit) and their
elementwise parameters digital arithmetic. Against onnx's reference evaluator."""

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
from tests.compiler.helpers import rel_err

F = np.float32
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _model(nodes, inputs, outputs, opset=21):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                           for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                           for n in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _check(m, feeds, tol=1e-5):
    prog = imcc.compile(m, time_limit=0.1, workers=1)
    # nothing is bound: every input stays an input of the program
    assert {t.name for t in prog.inputs} == set(feeds)
    got = prog.run(feeds)
    want = ReferenceEvaluator(m).run(None, feeds)
    for o, w in zip(m.graph.output, want, strict=True):
        assert rel_err(got[o.name], w) <= tol, o.name
    return prog


@pytest.mark.parametrize("op, direction, extra", [
    ("RNN", "bidirectional", {}), ("GRU", "forward", {"linear_before_reset": 0}),
    ("GRU", "reverse", {"linear_before_reset": 1}), ("LSTM", "forward", {"peep": True}),
])
def test_recurrent_weights_given_at_run_time(op, direction, extra):
    rng = np.random.default_rng(0)
    T, B, In, H = 3, 2, 3, 4
    D, G = 2 if direction == "bidirectional" else 1, GATES[op]
    extra = dict(extra)
    peep = extra.pop("peep", False)
    shapes = {"x": (T, B, In), "W": (D, G * H, In), "R": (D, G * H, H), "B": (D, 2 * G * H),
              "h0": (D, B, H)}
    ins = ["x", "W", "R", "B", "", "h0"]
    if op == "LSTM":
        shapes["c0"] = (D, B, H)
        ins.append("c0")
    if peep:
        shapes["P"] = (D, 3 * H)
        ins.append("P")
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, ins, outs, hidden_size=H, direction=direction, **extra)
    m = _model([node], list(shapes.items()), outs, opset=14)
    feeds = {k: (rng.standard_normal(s) * 0.5).astype(F) for k, s in shapes.items()}
    _check(m, feeds)


@pytest.mark.parametrize("attrs, group", [
    ({}, 1),
    ({"pads": [1, 0, 2, 1], "strides": [2, 1]}, 1),
    ({"dilations": [2, 1], "auto_pad": "SAME_UPPER"}, 1),
    ({"pads": [1, 1, 1, 1]}, 2),
])
def test_conv_weight_given_at_run_time(attrs, group):
    rng = np.random.default_rng(1)
    shapes = {"x": (2, 4, 6, 5), "w": (6, 4 // group, 3, 2), "b": (6,)}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=group, **attrs)
    m = _model([node], list(shapes.items()), ["y"])
    feeds = {k: rng.standard_normal(s).astype(F) for k, s in shapes.items()}
    prog = _check(m, feeds)
    assert "imc" not in prog.report["partition"]  # no crossbar: the products are dynamic


@pytest.mark.parametrize("const", [(), ("scale", "bias"), ("mean", "var")])
def test_batchnorm_parameters_given_at_run_time(const):
    rng = np.random.default_rng(2)
    c = 3
    values = {"scale": rng.standard_normal(c), "bias": rng.standard_normal(c),
              "mean": rng.standard_normal(c), "var": rng.random(c) + 0.5}
    feeds = {"x": rng.standard_normal((2, c, 4, 4)).astype(F)}
    feeds.update({k: v.astype(F) for k, v in values.items() if k not in const})
    inits = [helper.make_tensor(k, TensorProto.FLOAT, [c], values[k].astype(F)) for k in const]
    node = helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"],
                            epsilon=0.01)
    m = _model([node], [(k, feeds[k].shape) for k in feeds], ["y"])
    m.graph.initializer.extend(inits)
    _check(m, feeds)


@pytest.mark.parametrize("op, shapes", [
    ("Clip", {"x": (3, 4), "lo": (), "hi": ()}),
    ("Pow", {"x": (3, 4), "e": (4,)}),
    ("Where", {"c": (3, 4), "x": (3, 4), "y": (1, 4)}),
])
def test_elementwise_operands_given_at_run_time(op, shapes):
    rng = np.random.default_rng(3)
    feeds = {k: rng.standard_normal(s).astype(F) for k, s in shapes.items()}
    if op == "Pow":
        feeds["x"] = np.abs(feeds["x"]) + 0.5
    if op == "Clip":
        feeds["lo"], feeds["hi"] = np.array(-0.3, F), np.array(0.6, F)
    ins = list(shapes)
    inputs = [(k, s) for k, s in shapes.items()]
    if op == "Where":  # a boolean condition
        c = helper.make_tensor_value_info("c", TensorProto.BOOL, shapes["c"])
        feeds["c"] = feeds["c"] > 0
        inputs = inputs[1:]
    m = _model([helper.make_node(op, ins, ["out"])], inputs, ["out"])
    if op == "Where":
        m.graph.input.insert(0, c)
    _check(m, feeds)


@pytest.mark.parametrize("attrs, group, w_shape", [
    ({}, 1, (4, 3, 3, 3)),
    ({"strides": [2, 1], "pads": [1, 0, 0, 1], "output_padding": [1, 0]}, 1, (4, 3, 3, 2)),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2], "dilations": [1, 2]}, 1, (4, 3, 3, 3)),
    ({"strides": [2, 2]}, 2, (4, 2, 2, 3)),
])
def test_convtranspose_weight_given_at_run_time(attrs, group, w_shape):
    """onnxruntime is the oracle where installed (onnx's reference evaluator fails on
    group > 1)."""
    rng = np.random.default_rng(4)
    shapes = {"x": (2, 4, 5, 4), "w": w_shape, "b": (w_shape[1] * group,)}
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], group=group, **attrs)
    m = _model([node], list(shapes.items()), ["y"])
    feeds = {k: rng.standard_normal(s).astype(F) for k, s in shapes.items()}
    if group > 1:
        ort = pytest.importorskip("onnxruntime")
        prog = imcc.compile(m, time_limit=0.1, workers=1)
        want = ort.InferenceSession(m.SerializeToString()).run(None, feeds)[0]
        assert rel_err(prog.run(feeds)["y"], want) <= 1e-5
    else:
        prog = _check(m, feeds)
    assert "imc" not in prog.report["partition"]


@pytest.mark.parametrize("op, x_shape, w_shape, attrs", [
    ("Conv", (2, 3, 7), (4, 3, 3), {"pads": [1, 2], "strides": [2]}),
    ("Conv", (1, 2, 4, 5, 3), (3, 2, 2, 3, 2), {"pads": [1, 0, 1, 0, 1, 1],
                                                 "dilations": [1, 2, 1]}),
    ("ConvTranspose", (2, 3, 5), (3, 2, 3), {"strides": [2], "output_padding": [1]}),
    ("ConvTranspose", (1, 2, 3, 2, 3), (2, 2, 2, 2, 2), {"strides": [2, 1, 2]}),
])
def test_1d_and_3d_weights_given_at_run_time(op, x_shape, w_shape, attrs):
    rng = np.random.default_rng(5)
    shapes = {"x": x_shape, "w": w_shape}
    m = _model([helper.make_node(op, ["x", "w"], ["y"], **attrs)], list(shapes.items()), ["y"])
    feeds = {k: rng.standard_normal(s).astype(F) for k, s in shapes.items()}
    prog = _check(m, feeds)
    assert "imc" not in prog.report["partition"]


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_and_matmul_weights_given_at_run_time(trans_b):
    rng = np.random.default_rng(6)
    shapes = {"a": (3, 4), "b": (5, 4) if trans_b else (4, 5), "c": (5,), "w": (5, 2)}
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], transB=trans_b, alpha=0.5,
                              beta=2.0),
             helper.make_node("MatMul", ["g", "w"], ["y"])]
    m = _model(nodes, list(shapes.items()), ["y"])
    feeds = {k: rng.standard_normal(s).astype(F) for k, s in shapes.items()}
    prog = _check(m, feeds)
    assert "imc" not in prog.report["partition"]
