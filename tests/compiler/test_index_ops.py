"""ReduceProd, TopK, ScatterElements and ScatterND (imcc/passes/composite_index.py) with runtime
tensor operands, compiled for the ideal chip and run on the reference machine, against onnx's
reference evaluator."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model, reference, run_compiled

F, I64 = np.float32, np.int64
R = np.random.default_rng(11)


@pytest.mark.parametrize("axes,keepdims", [((1,), 1), ((0, 2), 0), ((-1,), 0), (None, 1),
                                           ((1, 2), 1)])
def test_reduce_prod(axes, keepdims, tmp_path):
    x = R.uniform(0.5, 1.5, (3, 5, 4)).astype(F) * R.choice([-1, 1], (3, 5, 4)).astype(F)
    x[2, 1, 0] = 0.0
    ins, inits = ["x"], {}
    if axes is not None:
        ins.append("ax")
        inits["ax"] = np.array(axes, I64)
    node = helper.make_node("ReduceProd", ins, ["y"], keepdims=keepdims)
    m = make_model([node], [("x", F, x.shape)], [("y", F, None)], inits=inits, opset=18)
    check(m, {"x": x}, tmp_path)


def _topk_model(shape, k, axis, largest, dtype):
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=axis, largest=largest)
    out = list(shape)
    out[axis] = k
    return make_model([node], [("x", dtype, shape), ("k", I64, (1,))],
                      [("v", dtype, out), ("i", I64, out)])


@pytest.mark.parametrize("dtype", [F, I64])
@pytest.mark.parametrize("shape,k,axis,largest", [
    ((3, 7), 3, 1, 1), ((3, 7), 7, -1, 0), ((4, 5, 2), 2, 1, 1), ((6,), 1, 0, 0),
    ((2, 40), 5, 1, 1), ((9, 3), 4, 0, 0)])  # float32 with K <= n / 2: rounds of extraction
def test_top_k_with_a_runtime_k(shape, k, axis, largest, dtype, tmp_path):
    x = R.integers(-3, 4, shape).astype(dtype)  # many ties: the lower index comes first
    if dtype == F:
        x.flat[::5] = -np.inf if largest else np.inf  # taken elements read as these too
    m = _topk_model(shape, k, axis, largest, dtype)
    feeds = {"x": x, "k": np.array([k], I64)}
    want = reference(m, feeds)
    got, _ = run_compiled(m, feeds, tmp_path)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


REDUCTIONS = ["none", "add", "mul", "max", "min"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements(reduction, axis, tmp_path):
    data = R.standard_normal((4, 5)).astype(F)
    shape = (3, 2) if axis == 0 else (2, 3)  # smaller than data in the other axis too
    n = data.shape[axis]
    if reduction == "none":  # distinct indices along the axis: ONNX leaves duplicates open
        idx = np.stack([R.permutation(n)[:shape[axis]] for _ in range(shape[1 - axis % 2])],
                       axis=1 - axis % 2)
    else:
        idx = R.integers(-n, n, shape)
    node = helper.make_node("ScatterElements", ["d", "i", "u"], ["y"], axis=axis,
                            reduction=reduction)
    m = make_model([node], [("d", F, data.shape), ("i", I64, shape), ("u", F, shape)],
                   [("y", F, data.shape)], opset=18)
    feeds = {"d": data, "i": idx.astype(I64), "u": R.standard_normal(shape).astype(F)}
    check(m, feeds, tmp_path)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dshape,ishape", [((4, 3, 2), (2, 1)), ((4, 3, 2), (3, 2)),
                                           ((5, 3), (2, 2, 2))])
def test_scatter_nd(reduction, dshape, ishape, tmp_path):
    q = ishape[-1]
    lead = np.array(dshape[:q])
    rows = R.permutation(int(np.prod(lead)))
    if reduction != "none":
        rows = R.integers(0, int(np.prod(lead)), rows.shape)  # duplicates add up
    flat = rows[: int(np.prod(ishape[:-1]))].reshape(ishape[:-1])
    idx = np.stack(np.unravel_index(flat, tuple(lead)), axis=-1) - lead * R.integers(0, 2, ishape)
    ushape = ishape[:-1] + dshape[q:]
    node = helper.make_node("ScatterND", ["d", "i", "u"], ["y"], reduction=reduction)
    m = make_model([node], [("d", F, dshape), ("i", I64, ishape), ("u", F, ushape)],
                   [("y", F, dshape)], opset=18)
    feeds = {"d": R.standard_normal(dshape).astype(F), "i": idx.astype(I64),
             "u": R.standard_normal(ushape).astype(F)}
    check(m, feeds, tmp_path)


def test_top_k_extraction_past_the_finite_values(tmp_path):
    """Rounds of extraction (one ReduceMax each) where the elements left are all -inf: the
    taken ones, read as -inf too, are not taken twice."""
    from imcc.frontend import load_model_proto
    from imcc.passes import canonicalize

    x = np.full((2, 8), -np.inf, F)
    x[0, [0, 4]], x[1, 7] = [1.0, 2.0], 3.0
    m = _topk_model(x.shape, 4, 1, 1, F)
    kinds = [n.op_type for n in canonicalize(load_model_proto(m)).nodes]
    assert kinds.count("ReduceMax") == 4
    feeds = {"x": x, "k": np.array([4], I64)}
    want = reference(m, feeds)
    got, _ = run_compiled(m, feeds, tmp_path)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("kernel,strides,pads,out_shape", [
    ([2, 2], [2, 2], [0, 0, 0, 0], None),
    ([3, 3], [2, 2], [0, 0, 0, 0], None),  # windows that overlap
    ([2, 2], [2, 2], [0, 0, 0, 0], [2, 2, 7, 10]),  # larger than the unpooled shape
])
def test_max_pool_then_max_unpool(kernel, strides, pads, out_shape, tmp_path):
    """MaxPool's Indices fed to MaxUnpool (a segmentation decoder's pattern), against onnx's
    reference evaluator."""
    shape = (2, 2, 7, 9) if kernel[0] == 3 else (2, 2, 6, 8)
    x = R.standard_normal(shape).astype(F)
    nodes = [helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=kernel,
                              strides=strides, pads=pads),
             helper.make_node("MaxUnpool", ["p", "i"] + (["s"] if out_shape else []), ["y"],
                              kernel_shape=kernel, strides=strides, pads=pads)]
    inits = {"s": np.array(out_shape, np.int64)} if out_shape else {}
    m = make_model(nodes, [("x", F, shape)], [("y", F, out_shape)], inits=inits)
    check(m, {"x": x}, tmp_path)


def test_max_unpool_beyond_the_dense_scatter_is_refused_with_the_count(tmp_path):
    import imcc

    nodes = [helper.make_node("MaxUnpool", ["p", "i"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2])]
    m = make_model(nodes, [("p", F, (1, 16, 64, 64)), ("i", I64, (1, 16, 64, 64))],
                   [("y", F, None)])
    with pytest.raises(imcc.Error, match="comparisons of its indices"):
        imcc.compile(m.SerializeToString(), "ideal")
