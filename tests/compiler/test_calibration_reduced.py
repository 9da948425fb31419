"""Calibration's minmax ranges are reduced inside the model (``ReduceMax(Abs(t))``, right after
the node that makes ``t``): the engine returns one scalar per tensor, never the activations
themselves, and the ranges are those of onnx's reference evaluator on the original model."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imcc.calibrate import _model_without_large_constants, activation_ranges
from imcc.compiler import CompileOptions
from imcc.mapper import canonical_graph, load_graph
from imcc.reference import runner
from tests.compiler.helpers import reference_peaks


def _model(rng):
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((16, 8, 3, 3)).astype(np.float32) * 0.3
    w3 = rng.standard_normal((16 * 6 * 6, 10)).astype(np.float32) * 0.1
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"]),
             helper.make_node("Add", ["c2", "c2"], ["a2"]),
             helper.make_node("Flatten", ["a2"], ["f"]),
             helper.make_node("MatMul", ["f", "w3"], ["y"])]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
         numpy_helper.from_array(w3, "w3")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(3)
    model = _model(rng)
    graph = canonical_graph(load_graph(model, CompileOptions()))
    x = rng.standard_normal((6, 3, 8, 8)).astype(np.float32)
    return model, graph, x


def test_the_calibration_model_returns_scalars_not_activations(case):
    _, graph, _ = case
    wanted = [n.inputs[0] for n in graph.nodes if n.op_type in ("Conv", "MatMul", "Gemm")]
    assert len(wanted) == 3
    onnx_model, _ = _model_without_large_constants(graph, wanted, reduced=True)
    onnx.checker.check_model(onnx_model)
    outs = {o.name: o for o in onnx_model.graph.output}
    assert not set(wanted) & set(outs)  # no activation is kept to the end of the run
    scalars = [o for o in outs.values() if not o.type.tensor_type.shape.dim]
    assert len(scalars) == len(wanted)
    # each reduction runs right after the node that makes its tensor
    order = [n.output[0] for n in onnx_model.graph.node]
    for n in onnx_model.graph.node:
        if n.op_type == "Abs" and n.input[0] in order:
            assert order.index(n.output[0]) == order.index(n.input[0]) + 1
    # the unreduced model has the activations as outputs, as before
    full, _ = _model_without_large_constants(graph, wanted)
    assert set(wanted) - {"x"} <= {o.name for o in full.graph.output}


def test_reduced_ranges_are_the_reference_evaluators(case):
    model, graph, x = case
    wanted = ["x", "r1", "a2", "f"]
    wanted = [t for t in wanted if t in graph.types]
    assert len(wanted) >= 3
    got = activation_ranges(graph, wanted, {"x": x})
    want = reference_peaks(model, x, wanted)
    for t in wanted:
        assert got[t] == pytest.approx(want[t], rel=1e-5), t
    # percentile keeps the activations; its 100th percentile is the same maximum
    pct = activation_ranges(graph, wanted, {"x": x}, method="percentile", percentile=100.0)
    for t in wanted:
        assert pct[t] == pytest.approx(want[t], rel=1e-5), t


def test_a_lean_runner_gives_the_same_outputs(case):
    model, _, x = case
    _, plain = runner(model)
    _, lean = runner(model, lean=True)
    np.testing.assert_array_equal(plain({"x": x[:2]})[0], lean({"x": x[:2]})[0])
