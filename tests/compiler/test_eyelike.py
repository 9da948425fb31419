"""EyeLike, folded from its input's static shape (imcc/passes/fold_constants.py), against onnx's
reference evaluator: shifted diagonals past either edge, non-square shapes, the dtype attribute."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc


@pytest.mark.parametrize("shape,k,dtype", [((4, 4), 0, None), ((3, 5), 2, None),
                                           ((5, 3), -2, TensorProto.INT32), ((2, 3), 4, None),
                                           ((3, 3), -1, TensorProto.DOUBLE)])
def test_eyelike(shape, k, dtype):
    attrs = {"k": k} if dtype is None else {"k": k, "dtype": dtype}
    eye = helper.make_node("EyeLike", ["x"], ["e"], **attrs)
    out = TensorProto.FLOAT if dtype is None else dtype
    g = helper.make_graph([eye, helper.make_node("Cast", ["x"], ["xc"], to=out),
                           helper.make_node("Add", ["e", "xc"], ["y"])], "eye",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [helper.make_tensor_value_info("y", out, shape)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = imcc.compile(model).run({"x": x})["y"]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
