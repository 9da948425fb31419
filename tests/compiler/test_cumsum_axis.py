"""CumSum whose ``axis`` is a runtime input: on a 1-D tensor the shapes fix it (0 is the only
axis; -1 names it too) and it becomes a constant; on a 2-D one the value read at run time
decides. Compared with onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend


def _model(shape, axis_shape, **attrs):
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
        helper.make_tensor_value_info("axis", TensorProto.INT32, axis_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("axis", (0, -1))
@pytest.mark.parametrize("attrs", ({}, {"exclusive": 1}, {"reverse": 1},
                                   {"exclusive": 1, "reverse": 1}))
def test_runtime_axis_of_a_vector(axis, attrs):
    model = _model([5], [], **attrs)
    feeds = {"x": np.array([1.5, -2, 3, 4.25, 5], np.float32), "axis": np.array(axis, np.int32)}
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    (got,) = imcc.backend.prepare(model, time_limit=0.1, workers=1).run(feeds)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("axis", (0, 1, -1))
def test_runtime_axis_of_a_matrix(axis):
    """On a 2-D tensor the shapes do not fix the axis: the input decides it at run time."""
    model = _model([2, 3], [], reverse=1)
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3),
             "axis": np.array(axis, np.int32)}
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    (got,) = imcc.backend.prepare(model, time_limit=0.1, workers=1).run(feeds)
    np.testing.assert_array_equal(got, want)
