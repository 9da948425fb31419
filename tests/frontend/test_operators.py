"""Every operator of OP_TABLE through load -> canonicalize -> partition, at the lowest opset
that has it and at opset 21, against onnx.reference on the original model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imcc.partition import OP_TABLE

from .helpers import canonical_matches_original, check_normal_form

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
X = (2, 3, 4, 4)


def _c(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype), name)


def _rand(name, shape, seed=1):
    return numpy_helper.from_array(
        np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


# op -> (input specs, constant initializers, attributes, output shape, output type)
# an input spec is (name, shape, elem type); "x" is always the first graph input.
UNARY = ["Relu", "Sigmoid", "Tanh", "Erf", "HardSigmoid", "HardSwish", "Softplus", "Elu",
         "Neg", "Abs", "Exp", "LeakyRelu", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos"]
CASES: dict[str, tuple] = {op: ([("x", X, F)], [], {}, X, F) for op in UNARY}
CASES.update({
    "Gelu": ([("x", X, F)], [], {"approximate": "tanh"}, X, F),
    "Sqrt": ([("x", X, F)], [], {}, X, F),  # made positive below
    "Log": ([("x", X, F)], [], {}, X, F),
    "Reciprocal": ([("x", X, F)], [], {}, X, F),
    "Mod": ([("x", X, F), ("y", X, F)], [], {"fmod": 1}, X, F),
    "Sum": ([("x", X, F), ("y", (4,), F), ("z", (3, 1, 1), F)], [], {}, X, F),
    "Mean": ([("x", X, F), ("y", (4,), F)], [], {}, X, F),
    "LessOrEqual": ([("x", X, I64), ("y", X, I64)], [], {}, X, B),
    "GreaterOrEqual": ([("x", X, I64), ("y", (4,), I64)], [], {}, X, B),
    "And": ([("x", X, B), ("y", X, B)], [], {}, X, B),
    "Or": ([("x", X, B), ("y", (4,), B)], [], {}, X, B),
    "Xor": ([("x", X, B), ("y", X, B)], [], {}, X, B),
    "ReduceMin": ([("x", X, F)], [], {"keepdims": 1, "axes": [2, 3]}, (2, 3, 1, 1), F),
    "DepthToSpace": ([("x", (1, 8, 2, 3), F)], [], {"blocksize": 2, "mode": "CRD"},
                     (1, 2, 4, 6), F),
    "SpaceToDepth": ([("x", (1, 2, 4, 6), F)], [], {"blocksize": 2}, (1, 8, 2, 3), F),
    "Clip": ([("x", X, F)], [_c("lo", -0.5), _c("hi", 0.7)], {}, X, F),
    "Softmax": ([("x", X, F)], [], {"axis": 1}, X, F),
    "LogSoftmax": ([("x", X, F)], [], {"axis": -1}, X, F),
    "LayerNormalization": ([("x", X, F)], [_rand("g", (4, 4)), _rand("b", (4, 4), 2)],
                           {"axis": -2}, X, F),
    "RMSNormalization": ([("x", X, F)], [_rand("g", (4,))], {"axis": -1}, X, F),
    "BatchNormalization": ([("x", X, F)], [_rand("s", (3,)), _rand("bb", (3,), 2),
                                           _rand("m", (3,), 3), _c("v", [0.5, 1.0, 2.0])],
                           {}, X, F),
    "Add": ([("x", X, F), ("y", (4, 1), F)], [], {}, X, F),
    "Sub": ([("x", X, F), ("y", X, F)], [], {}, X, F),
    "Mul": ([("x", X, F)], [_rand("k", (3, 1, 4))], {}, X, F),
    "Div": ([("x", X, F)], [_c("k", 3.0)], {}, X, F),
    "Pow": ([("x", X, F)], [_c("k", 2.0)], {}, X, F),
    "Max": ([("x", X, F), ("y", X, F)], [], {}, X, F),
    "Min": ([("x", X, F), ("y", (4,), F)], [], {}, X, F),
    "Where": ([("c", X, B), ("x", X, F), ("y", X, F)], [], {}, X, F),
    "Equal": ([("x", X, I64), ("y", X, I64)], [], {}, X, B),
    "Less": ([("x", X, F), ("y", X, F)], [], {}, X, B),
    "Greater": ([("x", X, F), ("y", X, F)], [], {}, X, B),
    "Not": ([("x", X, B)], [], {}, X, B),
    "Cast": ([("x", X, F)], [], {"to": I64}, X, I64),
    "MaxPool": ([("x", X, F)], [], {"kernel_shape": [2, 2], "strides": [2, 1],
                                    "pads": [1, 0, 0, 1]}, (2, 3, 2, 4), F),
    "AveragePool": ([("x", X, F)], [], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                        "count_include_pad": 0}, X, F),
    "GlobalAveragePool": ([("x", X, F)], [], {}, (2, 3, 1, 1), F),
    "GlobalMaxPool": ([("x", X, F)], [], {}, (2, 3, 1, 1), F),
    "ReduceMean": ([("x", X, F)], [], {"keepdims": 0, "axes": [1, -1]}, (2, 4), F),
    "ReduceSum": ([("x", X, F)], [_c("ax", [2], np.int64)], {}, (2, 3, 1, 4), F),
    "ReduceMax": ([("x", X, F)], [], {"keepdims": 1, "axes": [0]}, (1, 3, 4, 4), F),
    "CumSum": ([("x", X, F)], [_c("ax", -1, np.int64)], {"reverse": 1}, X, F),
    "Concat": ([("x", X, F), ("y", (2, 1, 4, 4), F)], [], {"axis": -3}, (2, 4, 4, 4), F),
    "Split": ([("x", X, F)], [_c("sp", [1, 3], np.int64)], {"axis": -1}, (2, 3, 4, 1), F),
    "Slice": ([("x", X, F)], [_c("st", [-1], np.int64), _c("en", [100], np.int64)], {},
              (1, 3, 4, 4), F),
    "Reshape": ([("x", X, F)], [_c("shp", [0, -1], np.int64)], {}, (2, 48), F),
    "Transpose": ([("x", X, F)], [], {"perm": [0, 2, 3, 1]}, (2, 4, 4, 3), F),
    "Expand": ([("x", (3, 1, 1), F)], [_c("shp", [2, 3, 4, 4], np.int64)], {}, X, F),
    "Gather": ([("x", X, F), ("i", (2, 2), I64)], [], {"axis": 2}, (2, 3, 2, 2, 4), F),
    "GatherElements": ([("x", X, F), ("i", (2, 3, 4, 2), I64)], [], {"axis": 3}, (2, 3, 4, 2),
                       F),
    "Pad": ([("x", X, F)], [_c("p", [0, 0, 1, 2, 0, 1, 0, 0], np.int64)],
            {"mode": "reflect"}, (2, 4, 5, 6), F),
    "Resize": ([("x", X, F)], [_c("roi", [], np.float32), _c("sc", [1, 1, 2, 1.5])],
               {"mode": "nearest"}, (2, 3, 8, 6), F),
    "Tile": ([("x", X, F)], [_c("rep", [1, 2, 1, 1], np.int64)], {}, (2, 6, 4, 4), F),
    "Conv": ([("x", X, F)], [_rand("w", (6, 1, 3, 3))], {"group": 3}, (2, 6, 2, 2), F),
    "Gemm": ([("x", (2, 5), F)], [_rand("w", (3, 5)), _c("bias", 0.5)],
             {"transB": 1, "alpha": 2.0}, (2, 3), F),
    "MatMul": ([("x", X, F)], [_rand("w", (4, 2))], {}, (2, 3, 4, 2), F),
})


def _model(op: str, opset: int) -> onnx.ModelProto:
    specs, inits, attrs, out_shape, out_type = CASES[op]
    attrs = dict(attrs)
    names = [s[0] for s in specs] + [t.name for t in inits]
    if op == "ReduceMean" and opset >= 18:
        inits = inits + [_c("ax", attrs.pop("axes"), np.int64)]
        names.append("ax")
    if op in ("ReduceMax", "ReduceMin") and opset >= 18:
        inits = inits + [_c("ax", attrs.pop("axes"), np.int64)]
        names.append("ax")
    if op == "Resize":
        names = ["x", "roi", "sc"]
    outputs = ["y_out"] if op != "Split" else ["y_out", "y_out2"]
    nodes = []
    if op in ("Sqrt", "Log"):
        nodes.append(helper.make_node("Abs", ["x"], ["x_abs"]))
        names = ["x_abs"]
    nodes.append(helper.make_node(op, names, outputs, name=f"the_{op}", **attrs))
    outs = [helper.make_tensor_value_info("y_out", out_type, list(out_shape))]
    if op == "Split":
        outs.append(helper.make_tensor_value_info("y_out2", F, [2, 3, 4, 3]))
    ins = [helper.make_tensor_value_info(n, t, list(s)) for n, s, t in specs]
    g = helper.make_graph(nodes, f"op_{op}", ins, outs, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 18 else 10
    return m


def _first_opset(op: str) -> int:
    return max(13, min(s.since_version for s in onnx.defs.get_all_schemas_with_history()
                       if s.name == op and s.domain == ""))


def test_every_operator_has_a_case():
    assert set(CASES) == set(OP_TABLE)


def test_prelu_is_expanded():
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y_out"], name="prelu")]
    g = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("x", F, list(X))],
                          [helper.make_tensor_value_info("y_out", F, list(X))],
                          initializer=[_rand("slope", (3, 1, 1))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    c = canonical_matches_original(m)
    check_normal_form(c)
    assert sorted(n.op_type for n in c.nodes) == ["Less", "Mul", "Where"]


@pytest.mark.parametrize("op", sorted(CASES))
@pytest.mark.parametrize("which", ["first", "latest"])
def test_operator(op, which):
    first = _first_opset(op)  # RMSNormalization: 23, after the canonical opset
    opset = first if which == "first" else max(21, first)
    model = _model(op, opset)
    oracle = "onnxruntime" if op == "BatchNormalization" and opset < 14 else "reference"
    c = canonical_matches_original(model, oracle=oracle, vocab=4)
    check_normal_form(c, max(21, opset))
    assert op in {n.op_type for n in c.nodes} or op in ("Reshape",)
