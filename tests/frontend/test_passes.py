"""Each canonicalization pass on small hand-written graphs: the canonical graph computes what
the original computes (onnx.reference.ReferenceEvaluator, tolerance in helpers.py), the verifier
passes after every pass, and the documented normal form holds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from imcc.frontend import load_model_proto
from imcc.passes import canonicalize

from .helpers import canonical_matches_original, check_normal_form

RNG = np.random.default_rng(0)


def _init(name, shape, dtype=np.float32):
    return numpy_helper.from_array((RNG.standard_normal(shape)).astype(dtype), name)


def _const(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype), name)


def _fvi(name, shape, et=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, et, list(shape))


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 18 else 10
    return m


def _check(model, oracle="reference"):
    c = canonical_matches_original(model, oracle=oracle)
    check_normal_form(c)
    return c


def _ops(g):
    return [n.op_type for n in g.nodes]


# -- Gemm ---------------------------------------------------------------------------------------

C_SHAPES = [None, (5,), (1, 5), (), (3, 5), (3, 1)]


@pytest.mark.parametrize("ta,tb,alpha,beta,cshape",
                         list(itertools.product([0, 1], [0, 1], [1.0, 0.5], [1.0, 2.0],
                                                C_SHAPES)))
def test_gemm_constant_b(ta, tb, alpha, beta, cshape):
    a_shape = (4, 3) if ta else (3, 4)
    b_shape = (5, 4) if tb else (4, 5)
    inits = [_init("B", b_shape)]
    ins = ["A", "B"]
    if cshape is not None:
        inits.append(_init("C", cshape))
        ins.append("C")
    node = helper.make_node("Gemm", ins, ["Y"], transA=ta, transB=tb, alpha=alpha, beta=beta)
    c = _check(_model([node], [_fvi("A", a_shape)], [_fvi("Y", (3, 5))], inits))
    gemm = [n for n in c.nodes if n.op_type == "Gemm"]
    assert len(gemm) == 1 and c.constants[gemm[0].inputs[1]].shape == (4, 5)


@pytest.mark.parametrize("tb,alpha,with_c", [(0, 1.0, False), (1, 2.0, True), (1, 1.0, True)])
def test_gemm_dynamic_b_becomes_matmul(tb, alpha, with_c):
    ins = [_fvi("A", (3, 4)), _fvi("B", (5, 4) if tb else (4, 5))]
    names = ["A", "B"]
    if with_c:
        ins.append(_fvi("C", (3, 5)))
        names.append("C")
    node = helper.make_node("Gemm", names, ["Y"], transB=tb, alpha=alpha, beta=0.5)
    c = _check(_model([node], ins, [_fvi("Y", (3, 5))]))
    assert "Gemm" not in _ops(c) and "MatMul" in _ops(c)


def test_gemm_dynamic_c_becomes_add():
    node = helper.make_node("Gemm", ["A", "B", "C"], ["Y"], transB=1, beta=3.0)
    c = _check(_model([node], [_fvi("A", (2, 4)), _fvi("C", (5,))], [_fvi("Y", (2, 5))],
                      [_init("B", (5, 4))]))
    assert _ops(c) == ["Gemm", "Mul", "Add"] or sorted(_ops(c)) == ["Add", "Gemm", "Mul"]


# -- MatMul -------------------------------------------------------------------------------------

@pytest.mark.parametrize("a_shape,b_shape,y_shape", [
    ((3, 4), (4,), (3,)),
    ((4,), (4, 5), (5,)),
    ((2, 3, 4), (4, 5), (2, 3, 5)),
    ((3, 4), (1, 4, 5), (1, 3, 5)),
    ((2, 3, 4), (1, 1, 4, 5), (1, 2, 3, 5)),
    ((2, 3, 4), (2, 4, 5), (2, 3, 5)),
])
def test_matmul_constant_b(a_shape, b_shape, y_shape):
    node = helper.make_node("MatMul", ["A", "B"], ["Y"])
    _check(_model([node], [_fvi("A", a_shape)], [_fvi("Y", y_shape)], [_init("B", b_shape)]))


def test_matmul_two_activations_is_left_alone():
    node = helper.make_node("MatMul", ["A", "B"], ["Y"])
    c = _check(_model([node], [_fvi("A", (2, 3, 4)), _fvi("B", (2, 4, 5))],
                      [_fvi("Y", (2, 3, 5))]))
    assert _ops(c) == ["MatMul"]


# -- ConvTranspose ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.data())
def test_convtranspose_lowering(data):
    k = data.draw(st.integers(1, 4), "k")
    s = data.draw(st.integers(1, 3), "s")
    d = data.draw(st.integers(1, 2), "d")
    group = data.draw(st.sampled_from([1, 2]), "group")
    pads = [data.draw(st.integers(0, d * (k - 1) + 1), f"p{i}") for i in range(4)]
    op = [data.draw(st.integers(0, s - 1), f"op{i}") for i in range(2)]
    bias = data.draw(st.booleans(), "bias")
    h, w = data.draw(st.integers(1, 5), "h"), data.draw(st.integers(1, 5), "w")
    cin, cout = 2 * group, 3 * group
    out_h = (h - 1) * s + op[0] + d * (k - 1) + 1 - pads[0] - pads[2]
    out_w = (w - 1) * s + op[1] + d * (k - 1) + 1 - pads[1] - pads[3]
    if out_h < 1 or out_w < 1:
        return
    inits = [_init("W", (cin, cout // group, k, k))] + ([_init("b", (cout,))] if bias else [])
    node = helper.make_node("ConvTranspose", ["x", "W"] + (["b"] if bias else []), ["y"],
                            strides=[s, s], dilations=[d, d], pads=pads, group=group,
                            output_padding=op)
    # onnx.reference's ConvTranspose cannot do group > 1: onnxruntime is the oracle there
    c = _check(_model([node], [_fvi("x", (1, cin, h, w))], [_fvi("y", (1, cout, out_h, out_w))],
                      inits), oracle="onnxruntime" if group > 1 else "reference")
    assert "ConvTranspose" not in _ops(c)


@pytest.mark.parametrize("attrs,out", [
    (dict(strides=[2, 2], output_shape=[9, 10]), (9, 10)),
    (dict(strides=[2, 2], auto_pad="SAME_UPPER"), (8, 8)),
    (dict(strides=[3, 2], auto_pad="SAME_LOWER"), (12, 8)),
    (dict(strides=[2, 2], auto_pad="VALID"), (9, 9)),
])
def test_convtranspose_output_shape_and_auto_pad(attrs, out):
    node = helper.make_node("ConvTranspose", ["x", "W"], ["y"], kernel_shape=[3, 3], **attrs)
    _check(_model([node], [_fvi("x", (1, 2, 4, 4))], [_fvi("y", (1, 3) + out)],
                  [_init("W", (2, 3, 3, 3))]))


def test_convtranspose_1d():
    node = helper.make_node("ConvTranspose", ["x", "W"], ["y"], strides=[2], pads=[1, 0])
    _check(_model([node], [_fvi("x", (2, 3, 5))], [_fvi("y", (2, 4, 10))],
                  [_init("W", (3, 4, 3))]))


# -- Conv and pooling ---------------------------------------------------------------------------

def test_conv_1d_becomes_2d():
    node = helper.make_node("Conv", ["x", "W", "b"], ["y"], strides=[2], pads=[1, 2],
                            dilations=[2])
    c = _check(_model([node], [_fvi("x", (2, 3, 11))], [_fvi("y", (2, 4, 5))],
                      [_init("W", (4, 3, 3)), _init("b", (4,))]))
    assert c.types[c.nodes[1].inputs[0]].rank == 4


def test_pool_1d_becomes_2d():
    nodes = [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3], strides=[2],
                              pads=[1, 1]),
             helper.make_node("AveragePool", ["m"], ["y"], kernel_shape=[2], strides=[1])]
    _check(_model(nodes, [_fvi("x", (1, 2, 9))], [_fvi("y", (1, 2, 4))]))


def test_conv_dynamic_bias_becomes_add():
    node = helper.make_node("Conv", ["x", "W", "b"], ["y"], kernel_shape=[3, 3],
                            auto_pad="VALID")
    c = _check(_model([node], [_fvi("x", (1, 2, 5, 5)), _fvi("b", (4,))],
                      [_fvi("y", (1, 4, 3, 3))], [_init("W", (4, 2, 3, 3))]))
    assert "Add" in _ops(c)


def test_grouped_and_depthwise_conv():
    nodes = [helper.make_node("Conv", ["x", "W1"], ["h"], group=2, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["h", "W2"], ["y"], group=6, strides=[2, 2])]
    _check(_model(nodes, [_fvi("x", (1, 4, 7, 7))], [_fvi("y", (1, 6, 3, 3))],
                  [_init("W1", (6, 2, 3, 3)), _init("W2", (6, 1, 3, 3))]))


# -- BatchNormalization -------------------------------------------------------------------------

def _bn_inits(c, p="bn"):
    rng = np.random.default_rng(1)
    return [numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), f"{p}_s"),
            numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), f"{p}_b"),
            numpy_helper.from_array(rng.standard_normal(c).astype(np.float32), f"{p}_m"),
            numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), f"{p}_v")]


def _bn(x, y, p="bn"):
    return helper.make_node("BatchNormalization", [x, f"{p}_s", f"{p}_b", f"{p}_m", f"{p}_v"],
                            [y], epsilon=1e-3)


@pytest.mark.parametrize("bias", [False, True])
def test_batchnorm_folds_into_conv(bias):
    nodes = [helper.make_node("Conv", ["x", "W"] + (["cb"] if bias else []), ["c"]), _bn("c", "y")]
    inits = [_init("W", (3, 2, 3, 3))] + ([_init("cb", (3,))] if bias else []) + _bn_inits(3)
    c = _check(_model(nodes, [_fvi("x", (2, 2, 6, 6))], [_fvi("y", (2, 3, 4, 4))], inits))
    assert _ops(c) == ["Conv"]


def test_batchnorm_folds_into_gemm():
    nodes = [helper.make_node("Gemm", ["x", "W", "wb"], ["g"], transB=1), _bn("g", "y")]
    inits = [_init("W", (4, 3)), _init("wb", (4,))] + _bn_inits(4)
    c = _check(_model(nodes, [_fvi("x", (5, 3))], [_fvi("y", (5, 4))], inits))
    assert _ops(c) == ["Gemm"]


@pytest.mark.parametrize("conv", [True, False])
def test_batchnorm_fold_in_chunks_rounds_like_one_product(conv):
    # The folded weight is scaled a few rows at a time; each element must still be the float64
    # product rounded once to float32, whatever the chunk size.
    from imcc.passes.fold_batchnorm import FoldOptions, _scaled

    rng = np.random.default_rng(3)
    w = rng.standard_normal((7, 3, 2, 2) if conv else (11, 7)).astype(np.float32)
    s = rng.uniform(0.1, 3.0, 7)
    shape = (-1, 1, 1, 1) if conv else (1, -1)
    want = (w.astype(np.float64) * s.reshape(shape)).astype(np.float32)
    for chunk in (1, 5, 12, 1 << 18):
        got = _scaled(w, s, conv, FoldOptions(chunk_elements=chunk))
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_batchnorm_not_folded_when_illegal():
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"]), _bn("c", "y"),
             helper.make_node("Relu", ["c"], ["r"]),            # second reader of c
             helper.make_node("Relu", ["x"], ["xr"]), _bn("xr", "z", "bn2")]  # no Conv before
    inits = [_init("W", (2, 2, 1, 1))] + _bn_inits(2) + _bn_inits(2, "bn2")
    outs = [_fvi("y", (1, 2, 3, 3)), _fvi("r", (1, 2, 3, 3)), _fvi("z", (1, 2, 3, 3))]
    c = _check(_model(nodes, [_fvi("x", (1, 2, 3, 3))], outs, inits))
    assert _ops(c).count("BatchNormalization") == 2
    kept = canonicalize(load_model_proto(_model(nodes[:2], [_fvi("x", (1, 2, 3, 3))],
                                                [_fvi("y", (1, 2, 3, 3))], inits)),
                        fold_bn=False)
    assert _ops(kept) == ["Conv", "BatchNormalization"]


# -- reshapes, identities, constants ------------------------------------------------------------

def test_reshape_family_becomes_explicit_reshape():
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=2),
             helper.make_node("Unsqueeze", ["f", "ax"], ["u"]),
             helper.make_node("Squeeze", ["u", "ax"], ["s"]),
             helper.make_node("Reshape", ["s", "shp"], ["r"]),
             helper.make_node("Reshape", ["r", "same"], ["y"])]
    inits = [_const("ax", [0], np.int64), _const("shp", [0, -1, 2], np.int64),
             _const("same", [6, 2, 2], np.int64)]
    c = _check(_model(nodes, [_fvi("x", (6, 2, 1, 2))], [_fvi("y", (6, 2, 2))], inits))
    assert _ops(c) == ["Reshape"] and c.nodes[0].inputs[0] == "x"
    assert c.constants[c.nodes[0].inputs[1]].tolist() == [6, 2, 2]


def test_noop_reshape_removed():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "shp"], ["s"]),
             helper.make_node("Neg", ["s"], ["y"])]
    c = _check(_model(nodes, [_fvi("x", (2, 3))], [_fvi("y", (2, 3))],
                      [_const("shp", [-1, 3], np.int64)]))
    assert _ops(c) == ["Relu", "Neg"]


def test_identity_dropout_cast_removed_outputs_keep_names():
    nodes = [helper.make_node("Identity", ["x"], ["i"]),
             helper.make_node("Dropout", ["i", "ratio"], ["d", "mask"]),
             helper.make_node("Cast", ["d"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("Identity", ["y"], ["y2"]),
             helper.make_node("Identity", ["x"], ["x_copy"]),
             helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT)]
    outs = [_fvi("y2", (2, 3)), _fvi("x_copy", (2, 3)), _fvi("maskf", (2, 3))]
    c = _check(_model(nodes, [_fvi("x", (2, 3))], outs, [_const("ratio", 0.3, np.float32)]))
    assert c.outputs == ("y2", "x_copy", "maskf")
    assert not {"Identity", "Dropout"} & set(_ops(c))


def test_constant_subgraphs_fold():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ConstantOfShape", ["s"], ["ones"],
                              value=helper.make_tensor("v", TensorProto.INT64, [1], [1])),
             helper.make_node("CumSum", ["ones", "one"], ["cs"]),
             helper.make_node("Gather", ["s", "one"], ["n"], axis=0),
             helper.make_node("Range", ["zero", "n", "one"], ["rg"]),
             helper.make_node("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["cs"], ["csf"], to=TensorProto.FLOAT),
             helper.make_node("Constant", [], ["k"], value_float=2.0),
             helper.make_node("Mul", ["x", "k"], ["xk"]),
             helper.make_node("Add", ["xk", "rgf"], ["a"]),
             helper.make_node("Add", ["a", "csf"], ["y"])]
    inits = [_const("one", 1, np.int64), _const("zero", 0, np.int64)]
    c = _check(_model(nodes, [_fvi("x", (3, 4))], [_fvi("y", (3, 4)), _fvi("rgf", (4,))], inits))
    assert _ops(c) == ["Mul", "Add", "Add"] and "rgf" in c.constants


# -- opset upgrade and explicit operands --------------------------------------------------------

def test_reduce_and_split_upgrade_from_opset_13():
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1], keepdims=1),
             helper.make_node("ReduceMax", ["x"], ["mx"], keepdims=0),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
             helper.make_node("Split", ["x"], ["a", "b"], axis=1),
             helper.make_node("Sub", ["a", "b"], ["d"])]
    outs = [_fvi("m", (2, 4, 1)), _fvi("mx", ()), _fvi("s", ()), _fvi("d", (2, 2, 6))]
    c = _check(_model(nodes, [_fvi("x", (2, 4, 6))], outs, opset=13))
    for n in c.nodes:
        if n.op_type.startswith("Reduce") or n.op_type == "Split":
            assert len(n.inputs) == 2 and c.is_const(n.inputs[1])


def test_reduce_noop_and_split_num_outputs_opset_18():
    nodes = [helper.make_node("ReduceSum", ["x", ""], ["s"], noop_with_empty_axes=1),
             helper.make_node("Split", ["s"], ["a", "b", "c"], axis=2, num_outputs=3),
             helper.make_node("Concat", ["c", "a", "b"], ["y"], axis=-1)]
    c = _check(_model(nodes, [_fvi("x", (2, 3, 7))], [_fvi("y", (2, 3, 7))], opset=18))
    assert "ReduceSum" not in _ops(c)


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([-3], [100], None, None),
    ([1, -1], [-1, 0], [2, 0], [2, -1]),
    ([5], [-100], [1], [-2]),
    ([0, 0], [2, 3], None, [1, 2]),
])
def test_slice_operands_explicit(starts, ends, axes, steps):
    inits = [_const("st", starts, np.int64), _const("en", ends, np.int64)]
    ins = ["x", "st", "en"]
    if axes is not None or steps is not None:
        inits.append(_const("ax", axes if axes is not None else list(range(len(starts))),
                            np.int64))
        ins.append("ax")
    if steps is not None:
        inits.append(_const("sp", steps, np.int64))
        ins.append("sp")
    x = np.zeros((4, 6, 5))
    sl = [slice(None)] * 3
    ax = axes if axes is not None else list(range(len(starts)))
    sp = steps if steps is not None else [1] * len(starts)
    for s, e, a, p in zip(starts, ends, ax, sp):
        sl[a] = slice(s, e if not (p < 0 and e < -x.shape[a]) else None, p)
    out = x[tuple(sl)].shape
    node = helper.make_node("Slice", ins, ["y"])
    c = _check(_model([node], [_fvi("x", (4, 6, 5))], [_fvi("y", out)], inits))
    sl_node = c.nodes[0]
    assert len(sl_node.inputs) == 5 and all(c.is_const(i) for i in sl_node.inputs[1:])


def test_pad_with_axes_input():
    node = helper.make_node("Pad", ["x", "p", "v", "ax"], ["y"], mode="constant")
    inits = [_const("p", [1, 2, 0, 3], np.int64), _const("v", 1.5, np.float32),
             _const("ax", [-1, 1], np.int64)]
    c = _check(_model([node], [_fvi("x", (2, 3, 4))], [_fvi("y", (2, 8, 5))], inits, opset=18))
    assert c.nodes[0].inputs[3:] in ((), ("",))


# -- Einsum -------------------------------------------------------------------------------------

@pytest.mark.parametrize("eq,shapes,const_b", [
    ("ij,jk->ik", [(3, 4), (4, 5)], True),
    ("ij,jk", [(3, 4), (4, 5)], False),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], False),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)], False),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)], True),
    ("abc,dc->dba", [(2, 3, 4), (5, 4)], True),
    ("ij,j->i", [(3, 4), (4,)], True),
    ("ijk,k->", [(2, 3, 4), (4,)], False),
    ("ij->ji", [(3, 4)], False),
    ("ijk->ki", [(2, 3, 4)], False),
])
def test_einsum_lowering(eq, shapes, const_b):
    lhs = eq.split("->")[0].split(",")
    out_letters = eq.split("->")[1] if "->" in eq else "".join(
        sorted(c for c in set(eq) - {","} if eq.count(c) == 1))
    size = {c: d for t, s in zip(lhs, shapes) for c, d in zip(t, s)}
    y_shape = tuple(size[c] for c in out_letters)
    ins = [_fvi("a", shapes[0])]
    inits = []
    names = ["a"]
    if len(shapes) == 2:
        names.append("b")
        if const_b:
            inits.append(_init("b", shapes[1]))
        else:
            ins.append(_fvi("b", shapes[1]))
    node = helper.make_node("Einsum", names, ["y"], equation=eq)
    c = _check(_model([node], ins, [_fvi("y", y_shape)], inits))
    assert "Einsum" not in _ops(c)
    if const_b and len(shapes) == 2 and all(
            ch in out_letters or ch in lhs[1] for ch in lhs[0]):
        from imcc.partition import OpClass, partition
        p = partition(c)
        assert OpClass.IMC in set(p.classes.values())
