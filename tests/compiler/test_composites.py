"""Operators the frontend expands into others (imcc/passes/expand_composites.py), compiled for
the ideal chip and run on the reference machine, against onnx's reference evaluator (and numpy
where the evaluator is wrong), at an opset where reductions take ``axes`` as an attribute (17)
and one where they take it as an input (18)."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model, reference, run_compiled

F = np.float32
R = np.random.default_rng(7)
SHAPE = (2, 3, 4, 5)


def _model(node, opset, out=F, inits=()):
    return make_model([node], [("a", F, SHAPE)], [("y", out, None)], inits=inits, opset=opset)


def _x(special=False):
    a = R.standard_normal(SHAPE).astype(F)
    if special:
        a[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
        a[1, 2] = np.round(a[1, 2])  # ties for ArgMax/ArgMin
    return a


OPSETS = [17, 18]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op,attrs", [("Selu", {}), ("Selu", {"alpha": 1.5, "gamma": 0.5}),
                                      ("Celu", {"alpha": 0.7}), ("Softsign", {})])
def test_activations(op, attrs, opset, tmp_path):
    check(_model(helper.make_node(op, ["a"], ["y"], **attrs), opset), {"a": _x()}, tmp_path)


def test_mish(tmp_path):  # Mish exists from opset 18
    check(_model(helper.make_node("Mish", ["a"], ["y"]), 18), {"a": _x()}, tmp_path)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op,attrs", [("IsNaN", {}), ("IsInf", {}),
                                      ("IsInf", {"detect_negative": 0}),
                                      ("IsInf", {"detect_positive": 0})])
def test_nan_and_inf_tests(op, attrs, opset, tmp_path):
    m = _model(helper.make_node(op, ["a"], ["y"], **attrs), opset, out=np.bool_)
    a = _x(special=True)
    (got,), _ = run_compiled(m, {"a": a}, tmp_path)
    pos, neg = bool(attrs.get("detect_positive", 1)), bool(attrs.get("detect_negative", 1))
    want = np.isnan(a) if op == "IsNaN" else (np.isposinf(a) & pos) | (np.isneginf(a) & neg)
    assert got.dtype == np.bool_  # the .output declares bool: the machine converts 1.0 / 0.0
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp"])
@pytest.mark.parametrize("axes,keepdims", [((1, -1), 0), ((2,), 1), (None, 1)])
def test_reductions(op, axes, keepdims, opset, tmp_path):
    inits, ins, attrs = {}, ["a"], {"keepdims": keepdims}
    if axes is not None and opset >= 18:
        inits["ax"] = np.array(axes, np.int64)
        ins.append("ax")
    elif axes is not None:
        attrs["axes"] = list(axes)
    m = _model(helper.make_node(op, ins, ["y"], **attrs), opset, inits=inits)
    check(m, {"a": _x() * 3}, tmp_path)  # * 3: LogSumExp must not overflow or lose the max


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("p,axis", [(2, 1), (2, -1), (1, -1), (1, 0)])
def test_lp_normalization(p, axis, opset, tmp_path):
    m = _model(helper.make_node("LpNormalization", ["a"], ["y"], p=p, axis=axis), opset)
    a = _x()
    (got,), _ = run_compiled(m, {"a": a}, tmp_path)
    # numpy oracle: onnx's reference evaluator forgets the absolute value for p = 1.
    norm = (np.abs(a.astype(np.float64)) ** p).sum(axis=axis, keepdims=True) ** (1.0 / p)
    np.testing.assert_allclose(got, a / norm, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [1, 2])
def test_lp_normalization_of_a_zero_vector_is_zero(p, tmp_path):
    """The spec (and onnx's reference) give 0 where the norm is 0, not 0 / 0 = NaN."""
    m = _model(helper.make_node("LpNormalization", ["a"], ["y"], p=p, axis=1), 18)
    a = _x()
    a[0, :, 1, :] = 0
    a[1, :, 2, 3] = 0
    (got,), _ = run_compiled(m, {"a": a}, tmp_path)
    norm = (np.abs(a.astype(np.float64)) ** p).sum(axis=1, keepdims=True) ** (1.0 / p)
    want = np.where(norm == 0, 0.0, a / np.where(norm == 0, 1.0, norm))
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if p == 2:
        np.testing.assert_allclose(got, reference(m, {"a": a})[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", OPSETS)
def test_instance_normalization(opset, tmp_path):
    inits = {"s": R.standard_normal(3).astype(F), "b": R.standard_normal(3).astype(F)}
    m = _model(helper.make_node("InstanceNormalization", ["a", "s", "b"], ["y"], epsilon=1e-3),
               opset, inits=inits)
    check(m, {"a": _x() * 2 + 1}, tmp_path)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("attrs", [{"axis": 1}, {"axis": -1, "keepdims": 0},
                                   {"axis": 3, "select_last_index": 1}, {"axis": 0}])
def test_arg_extremes_with_ties(op, attrs, opset, tmp_path):
    m = _model(helper.make_node(op, ["a"], ["y"], **attrs), opset, out=np.int64)
    a = np.round(_x() * 2).astype(F)  # many ties: first or last index matters
    (got,), _ = run_compiled(m, {"a": a}, tmp_path)
    f = np.argmax if op == "ArgMax" else np.argmin
    ax = attrs["axis"] % 4
    if attrs.get("select_last_index"):
        want = a.shape[ax] - 1 - f(np.flip(a, ax), axis=ax)
    else:
        want = f(a, axis=ax)
    if attrs.get("keepdims", 1):
        want = np.expand_dims(want, ax)
    assert got.dtype == np.int64  # exact whole float32 values in memory, int64 as declared
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,groups", [((2, 6, 4, 5), 3), ((2, 6, 7), 2), ((1, 4, 3, 3), 4),
                                          ((2, 6, 4, 5), 1)])
def test_group_normalization(shape, groups, tmp_path):  # opset 21: scale and bias per channel
    n, opset = shape[1], 21
    inits = {"s": R.standard_normal(n).astype(F), "b": R.standard_normal(n).astype(F)}
    m = make_model([helper.make_node("GroupNormalization", ["a", "s", "b"], ["y"],
                                     num_groups=groups, epsilon=1e-3)],
                   [("a", F, shape)], [("y", F, shape)], inits=inits, opset=opset)
    check(m, {"a": (R.standard_normal(shape) * 2 + 1).astype(F)}, tmp_path)
