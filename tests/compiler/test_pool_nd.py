"""MaxPool and AveragePool over any number of spatial axes (1-D to 4-D), with strides,
dilations, pads, ceil_mode and count_include_pad drawn at random: against a brute-force oracle
(the definition, window by window; itself checked against onnxruntime), onnx's reference
evaluator where it computes the case, and onnxruntime."""

import itertools

import numpy as np
import onnx
import pytest

from tests.compiler.helpers import check, helper, make_model, reference, rel_err, run_compiled

F = np.float32


def _covers_input(n, b, e, k, s, d, ceil) -> bool:
    """Whether every window along an axis takes at least one input element (else onnx's shape
    inference and its reference disagree on the output's length, and imcc refuses)."""
    span = (k - 1) * d + 1
    out = (-(-(n + b + e - span) // s) if ceil else (n + b + e - span) // s) + 1
    taps = np.arange(out)[:, None] * s + np.arange(k)[None, :] * d
    return out >= 1 and bool(((taps >= b) & (taps < b + n)).any(axis=1).all())


def _case(seed: int, nd: int, op: str):
    """A random pooling node over ``nd`` spatial axes and its input."""
    r = np.random.default_rng(seed)
    while True:
        k = [int(v) for v in r.integers(1, 4, nd)]
        s = [int(v) for v in r.integers(1, 4, nd)]
        d = [int(v) for v in r.integers(1, 3, nd)]
        span = [(a - 1) * b + 1 for a, b in zip(k, d)]
        pads = [int(r.integers(0, v // 2 + 1)) for v in span + span]
        shape = [int(r.integers(1, v + 5)) for v in span]
        ceil = int(r.integers(0, 2))
        if all(_covers_input(shape[i], pads[i], pads[nd + i], k[i], s[i], d[i], ceil)
               for i in range(nd)):
            break
    attrs = {"kernel_shape": k, "strides": s, "dilations": d, "pads": pads, "ceil_mode": ceil}
    if op == "AveragePool":
        attrs["count_include_pad"] = int(r.integers(0, 2))
    x = r.uniform(-2, 2, [2, 3] + shape).astype(F)
    return attrs, x


def _brute(op: str, x: np.ndarray, attrs: dict, out_shape) -> np.ndarray:
    """The pooling by definition, window by window (float64): padding and the ceil_mode
    extension take no part in a maximum; an average divides by the window's input elements, or
    with count_include_pad by those within the explicit padding."""
    nd = x.ndim - 2
    k, s, d, pads = attrs["kernel_shape"], attrs["strides"], attrs["dilations"], attrs["pads"]
    y = np.zeros(tuple(out_shape))
    for o in np.ndindex(*out_shape[2:]):
        vals, counted = [], 0
        for t in itertools.product(*(range(v) for v in k)):
            pos = [o[i] * s[i] + t[i] * d[i] - pads[i] for i in range(nd)]
            inside = all(0 <= p < x.shape[2 + i] for i, p in enumerate(pos))
            in_pads = all(-pads[i] <= p < x.shape[2 + i] + pads[nd + i]
                          for i, p in enumerate(pos))
            if inside:
                vals.append(x[(slice(None), slice(None)) + tuple(pos)].astype(np.float64))
            counted += inside or (in_pads and attrs.get("count_include_pad", 0))
        idx = (slice(None), slice(None)) + o
        y[idx] = np.max(vals, axis=0) if op == "MaxPool" else np.sum(vals, axis=0) / counted
    return y


def _model(op: str, attrs: dict, x: np.ndarray) -> onnx.ModelProto:
    return make_model([helper.make_node(op, ["a"], ["y"], **attrs)], [("a", F, x.shape)],
                      [("y", F, None)], opset=19)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("nd", [1, 2, 3, 4])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_random_pool_matches_brute_force(op, nd, seed, tmp_path):
    attrs, x = _case(100 * nd + seed, nd, op)
    m = _model(op, attrs, x)
    out = m.graph.output[0].type.tensor_type.shape.dim
    want = _brute(op, x, attrs, [v.dim_value for v in out])
    (got,), _ = run_compiled(m, {"a": x}, tmp_path)
    assert got.shape == want.shape and rel_err(got, want) <= 1e-5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_brute_force_oracle_agrees_with_onnxruntime(op, nd, seed):
    """The oracle above, checked on the same cases (onnx's reference evaluator stops at three
    spatial axes, and its AveragePool differs from both where ceil_mode's extension meets
    count_include_pad with dilations)."""
    ort = pytest.importorskip("onnxruntime")
    attrs, x = _case(100 * nd + seed, nd, op)
    m = _model(op, attrs, x)
    (got,) = ort.InferenceSession(m.SerializeToString(),
                                  providers=["CPUExecutionProvider"]).run(None, {"a": x})
    assert rel_err(_brute(op, x, attrs, got.shape), got) <= 1e-6


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("nd", [1, 3])
def test_pool_matches_reference_evaluator(op, nd, tmp_path):
    """1-D and 3-D pooling with strides, dilations and pads against onnx's reference."""
    attrs = {"kernel_shape": [3, 2, 2][:nd], "strides": [2, 1, 2][:nd],
             "dilations": [1, 2, 1][:nd], "pads": [1, 0, 1][:nd] + [1, 1, 0][:nd]}
    x = np.random.default_rng(nd).uniform(-2, 2, (2, 3) + (7, 6, 5)[:nd]).astype(F)
    check(_model(op, attrs, x), {"a": x}, tmp_path)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_3d_window_as_large_as_the_padded_input(op, tmp_path):
    """One window over the whole padded input, with a size-1 axis (brute force: onnx's
    reference evaluator loses the pads of this form)."""
    x = np.random.default_rng(5).uniform(-2, 2, (1, 2, 1, 4, 5)).astype(F)
    attrs = {"kernel_shape": [1, 6, 7], "strides": [1, 1, 1], "dilations": [1, 1, 1],
             "pads": [0, 1, 1, 0, 1, 1]}
    (got,), _ = run_compiled(_model(op, attrs, x), {"a": x}, tmp_path)
    want = _brute(op, x, attrs, (1, 2, 1, 1, 1))
    assert got.shape == want.shape and rel_err(got, want) <= 1e-6


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_3d_auto_pad(op, mode, tmp_path):
    """Against onnxruntime (onnx's reference evaluator gives SAME_LOWER's 3-D output the wrong
    shape)."""
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(6).uniform(-2, 2, (1, 2, 5, 4, 5)).astype(F)
    m = make_model([helper.make_node(op, ["a"], ["y"], kernel_shape=[2, 3, 2], strides=[1, 2, 2],
                                     auto_pad=mode)], [("a", F, x.shape)], [("y", F, None)],
                   opset=19)
    (want,) = ort.InferenceSession(m.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, {"a": x})
    (got,), _ = run_compiled(m, {"a": x}, tmp_path)
    assert got.shape == want.shape and rel_err(got, want) <= 1e-6


@pytest.mark.parametrize("attrs", [
    {"kernel_shape": [2, 2, 2], "strides": [3, 1, 1], "dilations": [2, 1, 1],
     "pads": [1, 0, 0, 1, 0, 0], "ceil_mode": 1},
    {"kernel_shape": [1, 1, 1], "pads": [1, 0, 0, 0, 0, 0]}])
def test_window_of_padding_only_is_refused(attrs, tmp_path):
    """A window that takes no input element (onnx's shape inference counts a ceil_mode window
    past the input, its reference evaluator drops it) is refused in one line."""
    from isa.diagnostics import UnsupportedOpError

    x = np.zeros((1, 1, 2, 3, 3), F)
    with pytest.raises(UnsupportedOpError, match="covers only padding"):
        run_compiled(_model("MaxPool", attrs, x), {"a": x}, tmp_path)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 3, 4, 2)])
@pytest.mark.parametrize("op", ["GlobalMaxPool", "GlobalAveragePool"])
def test_global_pool_any_spatial_rank(op, shape, tmp_path):
    """Against numpy (onnx's reference evaluator keeps an extra axis of a 3-D GlobalMaxPool)."""
    x = np.random.default_rng(7).uniform(-2, 2, shape).astype(F)
    m = make_model([helper.make_node(op, ["a"], ["y"])], [("a", F, shape)], [("y", F, None)])
    axes = tuple(range(2, len(shape)))
    want = x.max(axis=axes, keepdims=True) if op == "GlobalMaxPool" else \
        x.astype(np.float64).mean(axis=axes, keepdims=True)
    (got,), _ = run_compiled(m, {"a": x}, tmp_path)
    assert got.shape == want.shape and rel_err(got, want) <= 1e-6


def _brute_indices(x: np.ndarray, attrs: dict, out_shape, storage_order: int) -> np.ndarray:
    """Each window's first input element (row-major over the window) holding its maximum, as
    a flat index: N and C, then the spatial axes row-major (column-major with
    ``storage_order = 1``)."""
    nd = x.ndim - 2
    k, s, d, pads = attrs["kernel_shape"], attrs["strides"], attrs["dilations"], attrs["pads"]
    sp = x.shape[2:]
    out = np.zeros(tuple(out_shape), np.int64)
    for n, c in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out_shape[2:]):
            best, where = None, None
            for t in itertools.product(*(range(v) for v in k)):
                pos = [o[i] * s[i] + t[i] * d[i] - pads[i] for i in range(nd)]
                if all(0 <= q < sp[i] for i, q in enumerate(pos)):
                    v = x[(n, c) + tuple(pos)]
                    if best is None or v > best:
                        best, where = v, pos
            dims = list(zip(where, sp))
            flat = 0
            for q, size in (dims[::-1] if storage_order else dims):
                flat = flat * size + q
            out[(n, c) + o] = (n * x.shape[1] + c) * int(np.prod(sp)) + flat
    return out


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_maxpool_indices(nd, seed, storage_order, tmp_path):
    """Random windows over inputs with many ties (values in 0..3): the first maximum's index,
    against the brute force and, where it computes the case, onnx's reference."""
    attrs, x = _case(700 + 10 * nd + seed, nd, "MaxPool")
    x = np.floor(x + 2).astype(F)
    m = make_model([helper.make_node("MaxPool", ["a"], ["y", "i"], storage_order=storage_order,
                                     **attrs)], [("a", F, x.shape)],
                   [("y", F, None), ("i", np.int64, None)], opset=19)
    out = [v.dim_value for v in m.graph.output[0].type.tensor_type.shape.dim]
    (y, i), _ = run_compiled(m, {"a": x}, tmp_path)
    want = _brute_indices(x, attrs, out, storage_order)
    np.testing.assert_array_equal(i, want)
    np.testing.assert_array_equal(y, _brute("MaxPool", x, attrs, out))
    if nd == 2:
        np.testing.assert_array_equal(reference(m, {"a": x})[1], want)
