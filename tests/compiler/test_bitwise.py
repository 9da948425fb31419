"""BitwiseAnd/Or/Xor/Not of integer tensors, computed bit by bit from float arithmetic
(imcc/passes/composite_bits.py), against onnx's reference evaluator: every integer type,
negative values (two's complement), broadcasting, and values near the machine's exact limit
(2**24)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend

TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _values(dtype, shape, rng, limit=2**24):
    info = np.iinfo(dtype)
    lo, hi = max(int(info.min), -limit), min(int(info.max), limit)
    v = rng.integers(lo, hi, size=shape, endpoint=True)
    flat = v.reshape(-1)
    edges = [lo, hi, 0, -1 if lo < 0 else 1, hi - 1]
    flat[:len(edges)] = edges[:flat.size]
    return v.astype(dtype)


def _model(op, dtype, shapes):
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    names = "ab"[:len(shapes)]
    node = helper.make_node(op, list(names), ["y"])
    out = np.broadcast_shapes(*shapes)
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info(n, elem, s) for n, s in zip(names, shapes)],
                          [helper.make_tensor_value_info("y", elem, list(out))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("dtype", TYPES)
@pytest.mark.parametrize("op", ("BitwiseAnd", "BitwiseOr", "BitwiseXor"))
def test_binary(op, dtype):
    rng = np.random.default_rng(TYPES.index(dtype))
    shapes = ([3, 1, 4], [2, 4])
    model = _model(op, dtype, shapes)
    feeds = {"a": _values(dtype, shapes[0], rng), "b": _values(dtype, shapes[1], rng)}
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    in_range = np.all(np.abs(want.astype(np.int64)) <= 2**24)
    rep = imcc.backend.prepare(model, time_limit=0.1, workers=1)
    if not in_range:  # e.g. uint -1-like results of OR: the machine refuses, never rounds
        with pytest.raises(imcc.Error):
            rep.run(feeds)
        return
    (got,) = rep.run(feeds)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ("int8", "int16", "int32", "uint8", "uint16"))
def test_not(dtype):
    rng = np.random.default_rng(7)
    model = _model("BitwiseNot", dtype, ([2, 5],))
    # within 2**24 - 1: NOT of -2**24 would be 2**24 - 1, of 2**24 -2**24 - 1, which float32 lacks
    feeds = {"a": _values(dtype, (2, 5), rng, 2**24 - 1)}
    (want,) = ReferenceEvaluator(model).run(None, feeds)
    (got,) = imcc.backend.prepare(model, time_limit=0.1, workers=1).run(feeds)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
