"""CenterCropPad with a constant shape (imcc/passes/expand_composites.py: a Slice and a zero Pad)
against onnx's reference evaluator: crops and pads of even and odd differences, on some axes or
all, negative axes; a runtime shape is a NeedsConstants refusal naming it."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import imcc
from imcc.frontend.bind_constants import NeedsConstants

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(shape, target, axes=None, const=True):
    attrs = {} if axes is None else {"axes": axes}
    node = helper.make_node("CenterCropPad", ["x", "s"], ["y"], **attrs)
    inputs = [helper.make_tensor_value_info("x", F, shape)]
    inits = [numpy_helper.from_array(np.array(target, np.int64), "s")] if const else []
    if not const:
        inputs.append(helper.make_tensor_value_info("s", I64, [len(target)]))
    out = helper.make_tensor_value_info("y", F, None if const else [f"d{i}" for i in
                                                                     range(len(shape))])
    g = helper.make_graph([node], "ccp", inputs, [out], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("shape,target,axes", [
    ((5, 6), (3, 9), None), ((4, 7, 3), (6, 4), (0, 1)), ((2, 5, 5), (2, 2), (-1, -2)),
    ((3, 4), (3, 4), None), ((6, 3, 2), (1,), (0,)), ((2, 3), (5, 8), None)])
def test_center_crop_pad(shape, target, axes):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1
    model = _model(shape, target, axes)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = imcc.compile(model).run({"x": x})["y"]
    np.testing.assert_array_equal(got, want)


def test_center_crop_pad_runtime_shape_names_it():
    model = _model((4, 5), (3, 7), const=False)
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(model)
    assert e.value.names == ("s",)
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    s = np.array([3, 7], np.int64)
    got = imcc.compile(model, constants={"s": s}).run({"x": x})["y"]
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, {"x": x, "s": s})[0])
