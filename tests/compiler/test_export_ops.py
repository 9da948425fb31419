"""Operators real exports use, added for onnx's backend suite (CastLike, Trilu,
ThresholdedRelu, Shrink, ReduceLogSum, Hardmax, LayerNormalization's statistics outputs,
GatherElements, Clip with runtime bounds), compiled for the ideal chip and run on the reference
machine, against onnx's reference evaluator."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model, reference, run_compiled

F = np.float32
R = np.random.default_rng(11)


def _x(*shape):
    return R.standard_normal(shape).astype(F)


@pytest.mark.parametrize("like", [np.int32, np.bool_, np.float32])
def test_castlike(like, tmp_path):
    m = make_model([helper.make_node("CastLike", ["a", "l"], ["y"])],
                   [("a", F, (3, 4)), ("l", like, (1,))], [("y", like, None)])
    a = np.round(_x(3, 4) * 3)
    a[0, 0] = 0.0
    feeds = {"a": a, "l": np.zeros(1, like)}
    (got,), _ = run_compiled(m, feeds, tmp_path)
    np.testing.assert_array_equal(got, reference(m, feeds)[0])


@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k,runtime_k", [(None, False), (-1, False), (2, False), (-1, True),
                                         (2, True)])
def test_trilu(upper, k, runtime_k, tmp_path):
    ins, inputs, inits, feeds = ["a"], [("a", F, (2, 4, 5))], {}, {"a": _x(2, 4, 5)}
    if k is not None:
        ins.append("k")
        if runtime_k:
            inputs.append(("k", np.int64, ()))
            feeds["k"] = np.array(k, np.int64)
        else:
            inits["k"] = np.array(k, np.int64)
    m = make_model([helper.make_node("Trilu", ins, ["y"], upper=upper)], inputs,
                   [("y", F, None)], inits=inits)
    check(m, feeds, tmp_path, tol=0)


@pytest.mark.parametrize("node", [
    helper.make_node("ThresholdedRelu", ["a"], ["y"], alpha=0.4),
    helper.make_node("Shrink", ["a"], ["y"], lambd=0.6, bias=0.25),
    helper.make_node("Hardmax", ["a"], ["y"], axis=1),
    helper.make_node("Hardmax", ["a"], ["y"], axis=-1),
], ids=["thresholded-relu", "shrink", "hardmax-1", "hardmax-last"])
def test_elementwise_composites(node, tmp_path):
    a = _x(2, 3, 4)
    a[1, :, 2] = 1.5  # ties: Hardmax takes the first
    m = make_model([node], [("a", F, (2, 3, 4))], [("y", F, None)])
    check(m, {"a": a}, tmp_path, tol=0)


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_log_sum(keepdims, tmp_path):
    m = make_model([helper.make_node("ReduceLogSum", ["a", "ax"], ["y"], keepdims=keepdims)],
                   [("a", F, (2, 3, 4))], [("y", F, None)], inits={"ax": np.array([0, 2])})
    check(m, {"a": np.abs(_x(2, 3, 4)) + 0.1}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("axis", [1, -1])
def test_layer_norm_statistics_outputs(axis, tmp_path):
    node = helper.make_node("LayerNormalization", ["a", "s", "b"], ["y", "mean", "inv"],
                            axis=axis, epsilon=1e-3)
    shape = (2, 3, 4)
    norm = shape[axis:]
    m = make_model([node], [("a", F, shape)], [("y", F, None), ("mean", F, None),
                                                ("inv", F, None)],
                   inits={"s": _x(*norm), "b": _x(*norm)})
    check(m, {"a": _x(*shape)}, tmp_path, tol=1e-5)


def _gather_model(node, data, idx, const):
    """A one-node model of ``node`` (inputs ``d``, ``i``; output ``y``) with the index tensor
    ``i`` a constant initializer or a runtime input, and its feeds."""
    if const:
        return (make_model([node], [("d", F, data.shape)], [("y", F, None)], inits={"i": idx}),
                {"d": data})
    return (make_model([node], [("d", F, data.shape), ("i", np.int64, idx.shape)],
                       [("y", F, None)]),
            {"d": data, "i": idx})


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("const", [False, True])
def test_gather_elements(axis, const, tmp_path):
    data = _x(3, 4, 5)
    ax = axis % 3
    ishape = tuple(2 if a == ax else d for a, d in enumerate(data.shape))
    idx = R.integers(-data.shape[ax], data.shape[ax], size=ishape).astype(np.int64)
    node = helper.make_node("GatherElements", ["d", "i"], ["y"], axis=axis)
    m, feeds = _gather_model(node, data, idx, const)
    (got,), _ = run_compiled(m, feeds, tmp_path)
    # numpy is the oracle: onnx's reference refuses a negative axis (it slices shapes with it)
    want = np.take_along_axis(data, np.where(idx < 0, idx + data.shape[ax], idx), axis=ax)
    np.testing.assert_array_equal(got, want)


def test_clip_runtime_bounds(tmp_path):
    m = make_model([helper.make_node("Clip", ["a", "lo", "hi"], ["y"])],
                   [("a", F, (3, 4)), ("lo", F, ()), ("hi", F, ())], [("y", F, None)])
    check(m, {"a": _x(3, 4), "lo": np.array(-0.5, F), "hi": np.array(0.7, F)}, tmp_path, tol=0)


@pytest.mark.parametrize("op,keepdims,axes", [
    ("ReduceSum", 1, [0, 2]), ("ReduceMean", 0, [1]), ("ReduceMax", 1, [-1]),
    ("ReduceL2", 0, [0, 2]), ("ReduceLogSumExp", 1, [1])])
def test_reduce_with_runtime_axes_the_shapes_fix(op, keepdims, axes, tmp_path):
    a = _x(2, 3, 4)
    shape = np.sum(a, axis=tuple(axes), keepdims=bool(keepdims)).shape
    m = make_model([helper.make_node(op, ["a", "ax"], ["y"], keepdims=keepdims)],
                   [("a", F, a.shape), ("ax", np.int64, (len(axes),))], [("y", F, shape)])
    check(m, {"a": a, "ax": np.array(axes, np.int64)}, tmp_path, tol=1e-5)


def test_reduce_axes_the_shapes_leave_open_are_refused(tmp_path):
    import imcc

    m = make_model([helper.make_node("ReduceSum", ["a", "ax"], ["y"], keepdims=0)],
                   [("a", F, (3, 3)), ("ax", np.int64, (1,))], [("y", F, (3,))])
    with pytest.raises(imcc.Error, match=r"operand 1 \('ax'\) is not a constant"):
        imcc.compile(m)


@pytest.mark.parametrize("op,operand,shape", [
    ("Expand", np.array([2, 3, 4]), (2, 3, 4)), ("Tile", np.array([2, 1, 3]), (2, 3, 12))])
def test_expand_and_tile_with_runtime_operands(op, operand, shape, tmp_path):
    m = make_model([helper.make_node(op, ["a", "s"], ["y"])],
                   [("a", F, (1, 3, 4)), ("s", np.int64, (3,))], [("y", F, shape)])
    check(m, {"a": _x(1, 3, 4), "s": operand}, tmp_path, tol=0)


# values where a naive formula loses float32 precision: near 0, large, the domain's ends
_EDGES = np.array([0.0, 1e-7, -3e-4, 0.2, -0.3, 0.49, 0.51, 0.9, -0.999, 1.0, -1.0, 1.5, -7.0,
                   30.0, 1e10, -3e19], F)


@pytest.mark.parametrize("op,lo,hi", [
    ("Tan", -1.5, 1.5), ("Sinh", -5, 5), ("Cosh", -5, 5), ("Asinh", -40, 40),
    ("Acosh", 1, 40), ("Atanh", -0.99, 0.99), ("Atan", -40, 40), ("Asin", -1, 1),
    ("Acos", -1, 1)])
def test_trigonometric_and_hyperbolic(op, lo, hi, tmp_path):
    x = np.concatenate([R.uniform(lo, hi, 48).astype(F), _EDGES])
    m = make_model([helper.make_node(op, ["a"], ["y"])], [("a", F, x.shape)], [("y", F, None)])
    (got,), _ = run_compiled(m, {"a": x}, tmp_path)
    with np.errstate(all="ignore"):
        want = getattr(np, {"Asinh": "arcsinh", "Acosh": "arccosh", "Atanh": "arctanh",
                            "Atan": "arctan", "Asin": "arcsin", "Acos": "arccos"}.get(
                                op, op.lower()))(x.astype(np.float64))
    inside = np.isfinite(want) & (np.abs(want) < 1e30)
    if op == "Tan":  # tan near pi/2 amplifies the argument's own rounding
        inside &= np.abs(x) < 1.4
    np.testing.assert_allclose(got[inside], want[inside], rtol=2e-6, atol=1e-7)
    assert np.array_equal(np.isnan(got), np.isnan(want.astype(F)))


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("itype", [np.int64, np.float32])
def test_one_hot(axis, itype, tmp_path):
    idx = np.array([[0, 3, -1], [2, -4, 1]], itype)
    m = make_model([helper.make_node("OneHot", ["i", "d", "v"], ["y"], axis=axis)],
                   [("i", itype, idx.shape), ("v", F, (2,))], [("y", F, None)],
                   inits={"d": np.array(4, np.int64)})
    feeds = {"i": idx, "v": np.array([-0.5, 2.0], F)}
    check(m, feeds, tmp_path, tol=0)


@pytest.mark.parametrize("size", [3, 4, 5])
def test_lrn(size, tmp_path):
    m = make_model([helper.make_node("LRN", ["a"], ["y"], size=size, alpha=2e-3, beta=0.8,
                                     bias=1.5)], [("a", F, (2, 6, 3, 3))], [("y", F, None)])
    x = _x(2, 6, 3, 3) * 4
    (got,), _ = run_compiled(m, {"a": x}, tmp_path)
    # numpy, by the spec's formula: onnx's reference sums the windows of the first N channels
    # only (its loop runs over the batch axis)
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, ((0, 0), (lo, hi), (0, 0), (0, 0)))
    total = sum(sq[:, k : k + 6] for k in range(size))
    np.testing.assert_allclose(got, x / (1.5 + 2e-3 / size * total) ** 0.8, rtol=1e-5)


def test_constant_of_shape_with_a_runtime_shape(tmp_path):
    """The graph declares the output's shape (an intermediate one would be unknown)."""
    value = helper.make_tensor("v", 1, [1], [2.5])  # FLOAT
    m = make_model([helper.make_node("ConstantOfShape", ["s"], ["y"], value=value)],
                   [("s", np.int64, (2,))], [("y", F, (2, 3))])
    check(m, {"s": np.array([2, 3], np.int64)}, tmp_path, tol=0)


@pytest.mark.parametrize("ishape", [(2, 2), (3, 1), (2, 2, 3)])
@pytest.mark.parametrize("const", [False, True])
def test_gather_nd(ishape, const, tmp_path):
    data = _x(3, 4, 5)
    k = ishape[-1]
    idx = np.stack([R.integers(-data.shape[j], data.shape[j], size=ishape[:-1])
                    for j in range(k)], axis=-1).astype(np.int64)
    node = helper.make_node("GatherND", ["d", "i"], ["y"])
    m, feeds = _gather_model(node, data, idx, const)
    check(m, feeds, tmp_path, tol=0)


@pytest.mark.parametrize("batch_dims,ishape", [(1, (3, 2, 1)), (1, (3, 2)), (2, (3, 4, 1)),
                                               (1, (3, 2, 5, 2))])
@pytest.mark.parametrize("const", [False, True])
def test_gather_nd_with_batch_dims(batch_dims, ishape, const, tmp_path):
    """Each batch's index tuples address its own slice of the data (negative ones from the
    end), against onnx's reference evaluator."""
    data = _x(3, 4, 5)
    k = ishape[-1]
    idx = np.stack([R.integers(-data.shape[batch_dims + j], data.shape[batch_dims + j],
                               size=ishape[:-1]) for j in range(k)], axis=-1).astype(np.int64)
    node = helper.make_node("GatherND", ["d", "i"], ["y"], batch_dims=batch_dims)
    m, feeds = _gather_model(node, data, idx, const)
    check(m, feeds, tmp_path, tol=0)


def test_integer_division_by_zero_gives_zero(tmp_path):
    """ONNX leaves it undefined; imcc gives 0, where the float quotient is NaN or infinite."""
    m = make_model([helper.make_node("Div", ["a", "b"], ["y"])],
                   [("a", np.int32, (4,)), ("b", np.int32, (4,))], [("y", np.int32, None)])
    (got,), _ = run_compiled(m, {"a": np.array([7, -7, 0, 5]), "b": np.array([2, 0, 0, -2])},
                             tmp_path)
    np.testing.assert_array_equal(got, [3, 0, 0, -2])


def test_optional_get_element_of_a_tensor_is_the_tensor(tmp_path):
    m = make_model([helper.make_node("OptionalGetElement", ["a"], ["b"]),
                    helper.make_node("Relu", ["b"], ["y"])],
                   [("a", F, (2, 3))], [("y", F, (2, 3))], opset=18)
    check(m, {"a": _x(2, 3)}, tmp_path, tol=0)


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [2, 3], [-1]])
def test_mean_variance_normalization(axes, tmp_path):
    """Default axes included (onnx's strict inference of the function body needs them given:
    the loader gives them), against onnx's reference evaluator."""
    attrs = {} if axes is None else {"axes": axes}
    vi = [helper.make_tensor_value_info(n, 1, (2, 3, 4, 5)) for n in ("a", "y")]
    m = helper.make_model(helper.make_graph(
        [helper.make_node("MeanVarianceNormalization", ["a"], ["y"], **attrs)], "g", vi[:1],
        vi[1:]), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    check(m, {"a": _x(2, 3, 4, 5) * 3 + 1}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("shape,momentum", [((4, 3, 5, 2), 0.9), ((6, 2), 0.7), ((3, 4, 7), 0.1)])
def test_batch_normalization_in_training_mode(shape, momentum, tmp_path):
    """The batch's own statistics normalize it, and the running ones come out updated (the
    outputs a training-mode export reads), against onnx's reference evaluator."""
    c = shape[1]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"],
                            training_mode=1, momentum=momentum, epsilon=1e-3)
    inits = {"s": _x(c), "b": _x(c), "m": _x(c), "v": np.abs(_x(c)) + 0.5}
    m = make_model([node], [("x", F, shape)],
                   [("y", F, shape), ("rm", F, (c,)), ("rv", F, (c,))], inits=inits, opset=15)
    check(m, {"x": _x(*shape) * 2 + 1}, tmp_path, tol=1e-5)


def test_pytorch_export_in_training_mode_normalizes_by_the_batch(tmp_path):
    """PyTorch's TorchScript exporter with ``training=TRAINING`` writes BatchNormalization with
    ``training_mode = 1``: the compiled model matches PyTorch's forward in train mode."""
    torch = pytest.importorskip("torch")
    import io

    import imcc

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                torch.nn.ReLU()).train()
    x = torch.randn(5, 3, 8, 8)
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, dynamo=False, training=torch.onnx.TrainingMode.TRAINING,
                      opset_version=17, do_constant_folding=False)
    with torch.no_grad():
        want = model(x).numpy()
    got = next(iter(imcc.compile(f.getvalue(), "ideal").run(x.numpy()).values()))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
