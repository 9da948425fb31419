"""LpPool and Mod with fmod = 1 (imcc/passes/composite_pool.py) against independent oracles:
LpPool by its definition window by window and onnx's reference evaluator, fmod by numpy's
``fmod`` bit for bit (float and integer types, mixed signs, remainders of large quotients)."""

import itertools

import numpy as np
import pytest
from onnx import helper

import imcc
import imcc.backend
from tests.compiler.helpers import make_model, reference, rel_err
from tests.compiler.test_pool_nd import _case

F = np.float32


def _run(model, feeds):
    return imcc.backend.prepare(model).run(feeds)


def _lp_brute(x: np.ndarray, attrs: dict, p: int, out_shape) -> np.ndarray:
    """``(sum over each window's input elements of |x|^p) ^ (1/p)`` in float64."""
    nd = x.ndim - 2
    k, s, d, pads = attrs["kernel_shape"], attrs["strides"], attrs["dilations"], attrs["pads"]
    y = np.zeros(tuple(out_shape))
    for o in np.ndindex(*out_shape[2:]):
        acc = 0.0
        for t in itertools.product(*(range(v) for v in k)):
            pos = [o[i] * s[i] + t[i] * d[i] - pads[i] for i in range(nd)]
            if all(0 <= q < x.shape[2 + i] for i, q in enumerate(pos)):
                v = x[(slice(None), slice(None)) + tuple(pos)].astype(np.float64)
                acc = acc + np.abs(v) ** p
        y[(slice(None), slice(None)) + o] = acc ** (1.0 / p)
    return y


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_random_lppool_matches_definition(nd, p, seed):
    attrs, x = _case(1000 + 10 * nd + seed, nd, "LpPool")
    m = make_model([helper.make_node("LpPool", ["a"], ["y"], p=p, **attrs)],
                   [("a", F, x.shape)], [("y", F, None)], opset=18)
    out = [v.dim_value for v in m.graph.output[0].type.tensor_type.shape.dim]
    (got,) = _run(m, {"a": x})
    want = _lp_brute(x, attrs, p, out)
    assert got.shape == want.shape and rel_err(got, want) <= 2e-6


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]},
    {"kernel_shape": [2, 3], "auto_pad": "SAME_UPPER", "strides": [2, 1]},
    {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [2, 2], "dilations": [2, 1], "strides": [2, 2], "pads": [0, 1, 1, 0]},
    {"kernel_shape": [5]},
])
@pytest.mark.parametrize("p", [2, 4])
def test_lppool_matches_reference_evaluator(attrs, p):
    shape = (2, 3, 7) if len(attrs["kernel_shape"]) == 1 else (2, 3, 6, 7)
    x = np.random.default_rng(p).uniform(-2, 2, shape).astype(F)
    m = make_model([helper.make_node("LpPool", ["a"], ["y"], p=p, **attrs)],
                   [("a", F, shape)], [("y", F, None)], opset=18)
    (want,) = reference(m, {"a": x})
    (got,) = _run(m, {"a": x})
    assert got.shape == want.shape and rel_err(got, want) <= 2e-6


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [3, 2], "strides": [2, 2]},
    {"kernel_shape": [2, 2], "dilations": [2, 1], "strides": [2, 2]}])
def test_lppool_ceil_mode_matches_onnxruntime(attrs):
    """onnx's reference evaluator differs from the definition (and from onnxruntime) in
    ceil_mode; onnxruntime is the oracle here."""
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(2).uniform(-2, 2, (2, 3, 6, 7)).astype(F)
    m = make_model([helper.make_node("LpPool", ["a"], ["y"], p=3, ceil_mode=1, **attrs)],
                   [("a", F, x.shape)], [("y", F, None)], opset=18)
    (want,) = ort.InferenceSession(m.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, {"a": x})
    (got,) = _run(m, {"a": x})
    assert got.shape == want.shape and rel_err(got, want) <= 2e-6


def test_lppool_p_below_1_is_refused_by_name():
    m = make_model([helper.make_node("LpPool", ["a"], ["y"], p=0, kernel_shape=[2, 2])],
                   [("a", F, (1, 1, 4, 4))], [("y", F, None)], opset=18)
    with pytest.raises(imcc.Error, match=r"LpPool node writing 'y' \(p = 0 \(p >= 1 is"):
        imcc.backend.prepare(m)


def _fmod_model(dtype, sa, sb):
    return make_model([helper.make_node("Mod", ["a", "b"], ["y"], fmod=1)],
                      [("a", dtype, sa), ("b", dtype, sb)], [("y", dtype, None)], opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_fmod_float_is_numpys_fmod_bit_for_bit(dtype):
    """Exact in the machine's float32 (float16 operands are float32 values; float64 ones are
    rounded to float32 at the boundary, docs/frontend.md, so their oracle is numpy's fmod of the
    rounded operands)."""
    r = np.random.default_rng(3)
    a = (r.uniform(-50, 50, (4, 6)) * r.choice([1, 1e-3, 1e3], (4, 6))).astype(dtype)
    b = r.uniform(-7, 7, (6,)).astype(dtype)
    b[0] = 0.37  # quotients of 1e5: a - b * trunc(a / b) would lose the remainder's bits
    a[0, 0], a[1, 1], a[2, 2] = 0.0, -3 * b[2], dtype(3e4 if dtype is np.float16 else 1e7)
    (got,) = _run(_fmod_model(dtype, a.shape, b.shape), {"a": a, "b": b})
    want = np.fmod(a, b) if dtype is not np.float64 else \
        np.fmod(a.astype(F), b.astype(F)).astype(dtype)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want)).all()  # fmod(-3b, b) is -0.0


def test_fmod_by_zero_is_nan_as_numpy():
    a = np.array([1.5, -2.0, 0.0], F)
    b = np.zeros(3, F)
    (got,) = _run(_fmod_model(F, a.shape, b.shape), {"a": a, "b": b})
    assert np.isnan(got).all()


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16])
def test_fmod_integer_matches_numpy_and_reference(dtype):
    r = np.random.default_rng(4)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -100000), min(info.max, 100000)
    a = r.integers(lo, hi, (3, 5), endpoint=True).astype(dtype)
    b = r.integers(max(lo, -90), min(hi, 90), (3, 1), endpoint=True).astype(dtype)
    b[b == 0] = 7
    m = _fmod_model(dtype, a.shape, b.shape)
    (got,) = _run(m, {"a": a, "b": b})
    want = np.fmod(a, b)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, reference(m, {"a": a, "b": b})[0])
