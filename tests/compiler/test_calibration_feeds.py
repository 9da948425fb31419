"""Calibration feeds the weights from the graph's own arrays: a transposed view (Gemm's transB
weight in the normal form) is fed as the array it views, transposed back inside the model, not
copied; the ranges are those of onnx's reference evaluator on the original model."""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from imcc.calibrate import _model_without_large_constants, activation_ranges
from imcc.compiler import CompileOptions
from imcc.ir import Graph, Node, TensorType
from imcc.mapper import canonical_graph, load_graph


def _gemm_model(rng):
    w = rng.standard_normal((96, 80)).astype(np.float32)  # [N, K], transB = 1
    w2 = rng.standard_normal((3, 96, 40)).astype(np.float32)  # a batched MatMul weight
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [2, 80])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2, 40])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_transposed_weights_are_fed_without_a_copy_and_give_the_reference_ranges():
    rng = np.random.default_rng(0)
    model = _gemm_model(rng)
    graph = canonical_graph(load_graph(model, CompileOptions()))
    views = [k for k, v in graph.constants.items()
             if np.asarray(v).size > 4096 and not np.asarray(v).flags.c_contiguous]
    assert views  # the normal form keeps transB's weight as a transposed view
    wanted = [t for n in graph.nodes for t in n.outputs]
    onnx_model, feeds = _model_without_large_constants(graph, wanted)
    onnx.checker.check_model(onnx_model)
    for k in views:
        assert k not in feeds
        fed = [v for v in feeds.values() if np.shares_memory(v, np.asarray(graph.constants[k]))]
        assert fed and fed[0].flags.c_contiguous
    # the Gemm reads the stored array with transB flipped: no Transpose copies it in each run
    assert not [n for n in onnx_model.graph.node if n.op_type == "Transpose"]
    gemm = next(n for n in onnx_model.graph.node if n.op_type == "Gemm")
    assert gemm.input[1] in feeds and feeds[gemm.input[1]].shape == (96, 80)
    trans_b = {a.name: a.i for a in gemm.attribute}.get("transB", 0)
    assert trans_b == 1
    x = rng.standard_normal((10, 80)).astype(np.float32)
    got = activation_ranges(graph, ["y"], {"x": x})
    ref = ReferenceEvaluator(model)
    want = max(float(np.abs(ref.run(None, {"x": x[i:i + 2]})[0]).max()) for i in range(0, 10, 2))
    assert np.isclose(got["y"], want, rtol=1e-5)


def test_a_transposed_weight_other_ops_read_is_transposed_inside_the_model():
    rng = np.random.default_rng(1)
    stored = rng.standard_normal((90, 70)).astype(np.float32)
    types = {"x": TensorType((4, 70), "float32"), "w": TensorType((70, 90), "float32"),
             "h": TensorType((4, 90), "float32"), "y": TensorType((4, 90), "float32")}
    graph = Graph(name="g", nodes=(Node("mm", "MatMul", ("x", "w"), ("h",)),
                                   Node("r", "Relu", ("h",), ("y",))),
                  inputs=("x",), outputs=("y",), types=types, constants={"w": stored.T},
                  opset=21)
    onnx_model, feeds = _model_without_large_constants(graph, ["h"])
    onnx.checker.check_model(onnx_model)
    assert [n.op_type for n in onnx_model.graph.node].count("Transpose") == 1
    assert all(v.flags.c_contiguous for v in feeds.values())
    x = rng.standard_normal((8, 4, 70)).astype(np.float32)
    got = activation_ranges(graph, ["h"], {"x": x.reshape(32, 70)})
    want = max(float(np.abs(x[i] @ stored.T).max()) for i in range(8))
    assert np.isclose(got["h"], want, rtol=1e-5)
