"""Empty (size-0) tensors: an empty input is the constant of its shape, reductions over an
empty set give the identity value and reductions with empty ``axes`` reduce everything (or
nothing, with ``noop_with_empty_axes``); compared with onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend
from imcc.ir import Graph, Node, TensorType
from imcc.passes.empty_tensors import empty_tensors

REDUCTIONS = ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceLogSum",
              "ReduceLogSumExp", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceMean")


def _model(op, x_shape, axes_shape, out_shape, elem=TensorProto.FLOAT, opset=18, **attrs):
    node = helper.make_node(op, ["data", "axes"], ["reduced"], **attrs)
    g = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("data", elem, x_shape),
        helper.make_tensor_value_info("axes", TensorProto.INT64, axes_shape)],
        [helper.make_tensor_value_info("reduced", elem, out_shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, feeds):
    want = ReferenceEvaluator(model).run(None, feeds)
    got = imcc.backend.prepare(model, time_limit=0.1, workers=1).run(feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-5)


@pytest.mark.parametrize("op", REDUCTIONS)
def test_reduction_over_an_empty_set_is_the_identity(op):
    """Axis 1 has size 0: every output element reduces nothing (sum 0, product 1, max -inf,
    mean NaN...), whatever the runtime ``axes`` input holds (the shapes fix it)."""
    model = _model(op, [2, 0, 4], [1], [2, 1, 4], keepdims=1)
    _check(model, {"data": np.zeros((2, 0, 4), np.float32), "axes": np.array([1], np.int64)})


@pytest.mark.parametrize("op", ("ReduceMax", "ReduceMin"))
def test_boolean_reduction_over_an_empty_set(op):
    model = _model(op, [2, 0, 4], [1], [2, 1, 4], TensorProto.BOOL, opset=20,
                   keepdims=1)
    _check(model, {"data": np.zeros((2, 0, 4), bool), "axes": np.array([1], np.int64)})


@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize("noop", (0, 1))
def test_empty_axes_input_reduces_all_or_nothing(op, noop):
    """An empty ``axes`` input (shape [0]) holds no value, so it is a constant: all axes are
    reduced, or none with ``noop_with_empty_axes = 1`` (where ReduceL2 still gives
    ``sqrt(x * x)``, ReduceLogSum ``log(x)``...: the formula without the reduction)."""
    model = _model(op, [3, 2, 2], [0], [3, 2, 2] if noop else [1, 1, 1], keepdims=1,
                   noop_with_empty_axes=noop)
    x = np.random.default_rng(0).uniform(-2, 2, (3, 2, 2)).astype(np.float32)
    _check(model, {"data": x, "axes": np.zeros(0, np.int64)})


def test_an_empty_input_is_not_an_input_of_the_program():
    model = _model("ReduceSum", [3, 2], [0], [], keepdims=0)
    prog = imcc.compile(model, "ideal", time_limit=0.1, workers=1)
    assert [t.name for t in prog.inputs] == ["data"]


def test_an_empty_input_with_a_symbolic_dimension_is_refused():
    model = _model("ReduceSum", ["n", 0, 4], [1], ["n", 1, 4], keepdims=1)
    with pytest.raises(imcc.Error, match=r"input 'data' has shape \[n, 0, 4\].*symbolic"):
        imcc.compile(model, "ideal")


def _graph(nodes, types, consts, outputs):
    return Graph(name="g", nodes=tuple(nodes), inputs=("x",), outputs=tuple(outputs),
                 types={k: TensorType(s, d) for k, (s, d) in types.items()},
                 constants=consts, opset=21)


def test_concat_drops_an_empty_operand():
    g = _graph([Node("c", "Concat", ("x", "e"), ("y",), {"axis": 0})],
               {"x": ((2, 3), "float32"), "e": ((0, 3), "float32"), "y": ((2, 3), "float32")},
               {"e": np.zeros((0, 3), np.float32)}, ["y"])
    out = empty_tensors(g)
    assert [n.inputs for n in out.nodes] == [("x",)]


def test_a_runtime_product_over_an_empty_inner_dimension_is_refused():
    """[2, 0] @ [0, 3] is zeros, but the pass does not compute products of runtime operands:
    it refuses instead of letting the code generator read an empty buffer."""
    g = _graph([Node("m", "MatMul", ("x", "e"), ("y",), {})],
               {"x": ((2, 0), "float32"), "e": ((0, 3), "float32"), "y": ((2, 3), "float32")},
               {}, ["y"])
    g = g.replace(inputs=("x", "e"))
    with pytest.raises(imcc.Error, match=r"operand 'x' is empty \(shape \[2, 0\]\)"):
        empty_tensors(g)


@pytest.mark.parametrize("node, shape, inits", [
    (helper.make_node("Slice", ["x", "s", "e"], ["y"]), [4, 3],
     {"s": np.array([5], np.int64), "e": np.array([9], np.int64)}),  # starts beyond the end
    (helper.make_node("Split", ["x", "s"], ["y", "z"], axis=0), [4, 3],
     {"s": np.array([4, 0], np.int64)}),  # a part of size 0
    (helper.make_node("Shape", ["x"], ["y"], start=1, end=0), [4, 3], {}),
])
def test_empty_outputs(node, shape, inits):
    """Outputs of size 0: declared with a 0 dimension, returned empty, of the model's type."""
    outs = [helper.make_tensor_value_info(o, TensorProto.INT64 if node.op_type == "Shape"
                                          else TensorProto.FLOAT, None) for o in node.output]
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      shape)], outs,
                          initializer=[helper.make_tensor(k, TensorProto.INT64, v.shape, v)
                                       for k, v in inits.items()])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    _check(model, {"x": np.arange(12, dtype=np.float32).reshape(shape)})
