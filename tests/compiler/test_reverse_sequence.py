"""ReverseSequence with constant lengths (imcc/passes/expand_composites.py: a GatherElements of
each element's source step) against onnx's reference evaluator, both axis orders, extra feature
axes; runtime lengths are a NeedsConstants refusal naming them."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import imcc
from imcc.frontend.bind_constants import NeedsConstants

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(shape, lens, time_axis, batch_axis, const=True):
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], time_axis=time_axis,
                            batch_axis=batch_axis)
    inputs = [helper.make_tensor_value_info("x", F, shape)]
    inits = [numpy_helper.from_array(np.array(lens, np.int64), "lens")] if const else []
    if not const:
        inputs.append(helper.make_tensor_value_info("lens", I64, [len(lens)]))
    g = helper.make_graph([node], "rev", inputs, [helper.make_tensor_value_info("y", F, shape)],
                          inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("shape,lens,time_axis,batch_axis", [
    ((5, 3), (5, 2, 1), 0, 1), ((3, 5), (4, 5, 1), 1, 0), ((4, 2, 3), (3, 4), 0, 1),
    ((2, 6, 2), (6, 3), 1, 0)])
def test_reverse_sequence(shape, lens, time_axis, batch_axis):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    model = _model(shape, lens, time_axis, batch_axis)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_array_equal(imcc.compile(model).run({"x": x})["y"], want)


def test_reverse_sequence_runtime_lengths_name_them():
    model = _model((4, 2), (3, 1), 0, 1, const=False)
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(model)
    assert e.value.names == ("lens",)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    lens = np.array([3, 1], np.int64)
    got = imcc.compile(model, constants={"lens": lens}).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, {"x": x,
                                                                           "lens": lens})[0])
