"""Partition into IMC / DYNAMIC / DIGITAL, the operator table, and the one-error report of every
unsupported node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from imcc.frontend import load_model_proto
from imcc.models import build
from imcc.partition import FRONTEND_OPS, OP_TABLE, OpClass, partition
from imcc.passes import canonicalize
from isa.diagnostics import UnsupportedOpError

# The operators the issue asks the digital unit to support, copied from its text.
REQUIRED_DIGITAL = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "HardSigmoid", "HardSwish", "Softplus", "Elu", "Clip", "Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Exp", "Log", "Neg", "Abs", "Max", "Min", "Where", "Equal", "Less", "Greater", "Not", "Cast", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax", "Concat", "Split", "Slice", "Reshape", "Transpose", "Expand", "Gather", "Pad", "Resize", "Tile"]


def test_op_table_covers_required_operators():
    for op in REQUIRED_DIGITAL:
        assert OP_TABLE[op].cls is OpClass.DIGITAL, op
    for op in ("Conv", "Gemm", "MatMul"):
        assert OP_TABLE[op].cls is OpClass.IMC
    assert FRONTEND_OPS["ConvTranspose"].cls is OpClass.IMC
    assert not set(OP_TABLE) & set(FRONTEND_OPS)


def _canon(name, **kw):
    m = build(name, **kw)
    return canonicalize(load_model_proto(m))


def test_attention_products_are_dynamic():
    g = _canon("bert-base", seq=8, layers=1, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16)
    p = partition(g)
    dyn = p.nodes_of(OpClass.DYNAMIC)
    assert sorted(dyn) == ["/encoder.layer.0.attention/MatMul",
                           "/encoder.layer.0.attention/MatMul_1"]
    for name in dyn:
        a, b = g.node(name).inputs
        assert not g.is_const(a) and not g.is_const(b)
    imc = p.nodes_of(OpClass.IMC)
    assert len(imc) == 7  # Q, K, V, output, two FFN projections, pooler
    for name in imc:
        assert g.is_const(g.node(name).inputs[1])
    assert p.unit(dyn[0]) == "sram"
    assert partition(g, dynamic="digital").unit(dyn[0]) == "digital"
    assert p.categories[dyn[0]] == "matmul" and p.categories[imc[0]] == "linear"
    assert all(p.classes[n.name] is OpClass.DIGITAL for n in g.nodes
               if n.op_type in ("LayerNormalization", "Softmax", "Gather"))


def test_cnn_partition_and_unfolded_batchnorm():
    m = build("resnet_basic_block")
    g = canonicalize(load_model_proto(m), fold_bn=False)
    p = partition(g)
    for n in g.nodes:
        want = OpClass.IMC if n.op_type == "Conv" else OpClass.DIGITAL
        assert p.classes[n.name] is want
    assert {p.categories[n.name] for n in g.nodes if n.op_type == "BatchNormalization"} == \
        {"batchnorm"}


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _fvi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def test_every_unsupported_node_in_one_error():
    nodes = [helper.make_node("Bernoulli", ["x"], ["s"], name="coin"),
             helper.make_node("RandomUniformLike", ["s"], ["r"], name="noise"),
             helper.make_node("Add", ["r", "x"], ["c"], name="widen"),
             helper.make_node("Einsum", ["c", "c", "c"], ["dg"], name="einsum",
                              equation="ij,ij,ij->ij"),
             helper.make_node("Add", ["c", "dg"], ["cd2"], name="add"),
             helper.make_node("MatMul", ["cd2", "x2"], ["e"], name="mm"),
             # a runtime weight too large to multiply tap by tap (tests/compiler/
             # test_runtime_weights.py: smaller ones compile)
             helper.make_node("Conv", ["im", "wd"], ["cd"], name="dynamic_weight"),
             helper.make_node("Relu", ["e"], ["y"], name="fine")]
    m = _model(nodes, [_fvi("x", (2, 2)), _fvi("x2", (2, 3)),
                       _fvi("im", (1, 1100, 4, 4)), _fvi("wd", (3, 1100, 1, 1))],
               [_fvi("y", (2, 3)), _fvi("cd", (1, 3, 4, 4))], [])
    g = canonicalize(load_model_proto(m))
    with pytest.raises(UnsupportedOpError) as e:
        partition(g)
    msg = e.value.message
    assert "4 unsupported node(s)" in msg and "\n" not in msg
    for part in ("'coin' (Bernoulli)", "'noise' (RandomUniformLike)",
                 "'einsum' (Einsum: 3 operands (one or two are supported))",
                 "'dynamic_weight' (Conv: the weight"):
        assert part in msg
    assert "fine" not in msg


def test_any_dag_multiple_inputs_and_outputs():
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    nodes = [helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("MatMul", ["r", "w"], ["m"]),
             helper.make_node("Sigmoid", ["b"], ["s"]),
             helper.make_node("Mul", ["m", "s"], ["y1"]),
             helper.make_node("Concat", ["r", "a"], ["y2"], axis=1)]
    m = _model(nodes, [_fvi("a", (2, 3)), _fvi("b", (2, 4))],
               [_fvi("y1", (2, 4)), _fvi("y2", (2, 6))], [w])
    p = partition(canonicalize(load_model_proto(m)))
    assert sorted(c.value for c in p.classes.values()) == ["digital"] * 4 + ["imc"]


def test_constant_rank3_weight_is_dynamic():
    w = numpy_helper.from_array(np.ones((2, 3, 4), np.float32), "w")
    m = _model([helper.make_node("MatMul", ["a", "w"], ["y"], name="mm")],
               [_fvi("a", (2, 5, 3))], [_fvi("y", (2, 5, 4))], [w])
    p = partition(canonicalize(load_model_proto(m)))
    assert p.classes["mm"] is OpClass.DYNAMIC


def test_dynamic_option_is_checked():
    g = _canon("mlp")
    with pytest.raises(ValueError):
        partition(g, dynamic="gpu")
