"""Compress with a constant condition (imcc/passes/expand_composites.py: a Gather of the
condition's nonzero positions) against numpy's own ``np.compress``; a runtime condition is a
NeedsConstants refusal naming it (the output's length depends on it)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc
from imcc.frontend.bind_constants import NeedsConstants

F = TensorProto.FLOAT


def _model(shape, axis, cond=None):
    attrs = {} if axis is None else {"axis": axis}
    node = helper.make_node("Compress", ["x", "c"], ["y"], **attrs)
    inputs = [helper.make_tensor_value_info("x", F, shape)]
    inits = []
    if cond is None:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.BOOL, [shape[0]]))
    else:
        inits.append(numpy_helper.from_array(np.asarray(cond, bool), "c"))
    g = helper.make_graph([node], "compress", inputs,
                          [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("shape,axis,cond", [
    ((4, 3), 0, [1, 0, 1, 1]), ((4, 3), 1, [0, 1, 1]), ((2, 3, 4), -1, [1, 0, 0, 1]),
    ((3, 4), None, [1, 0, 1, 0, 0, 1, 1]),  # without axis: of the flattened input, shorter
    ((5, 2), 0, [0, 1, 1])])  # a condition shorter than the axis selects from its start
def test_compress_constant_condition(shape, axis, cond):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) - 3
    got = imcc.compile(_model(shape, axis, cond)).run({"x": x})["y"]
    np.testing.assert_array_equal(got, np.compress(np.asarray(cond, bool), x, axis=axis))


def test_compress_runtime_condition_names_it():
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(_model((4, 3), 0))
    assert e.value.names == ("c",)
    cond = np.array([0, 1, 0, 1], bool)
    x = np.ones((4, 3), np.float32)
    got = imcc.compile(_model((4, 3), 0), constants={"c": cond}).run({"x": x})["y"]
    np.testing.assert_array_equal(got, np.compress(cond, x, axis=0))
