"""The operator records (imcc/opdefs) against what implements them: every operator the code
generator must lower has a lowering and every lowering lowers such an operator; every operator a
pass rewrites is rewritten there; the tables read elsewhere are views of the records; and
docs/frontend.md's operator table is the one the records generate."""

from __future__ import annotations

import inspect
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from imcc.calibrate import nonnegative
from imcc.codegen import memory, program  # program registers every lowering
from imcc.codegen.context import LOWERINGS
from imcc.frontend import load_model_proto
from imcc.opdefs import CATEGORIES, OPS, Layout, Sign, gen_docs
from imcc.partition import FRONTEND_OPS, OP_TABLE
from imcc.passes import PASSES, canonicalize
from imcc.passes.expand_composites import EXPANSIONS
from tests.frontend import test_operators as _operators

LOWERED = {op for op, d in OPS.items() if d.lowered}
assert program  # imported for its registrations


def test_every_lowered_operator_has_a_lowering_and_every_lowering_an_operator():
    # tests/frontend/test_operators.py takes each lowered operator through canonicalization
    # to the partition: each of these lowerings is reached by some graph.
    assert set(LOWERINGS) - LOWERED == set(), "lowerings no canonical graph can reach"
    assert LOWERED - set(LOWERINGS) == set(), "operators the partition accepts, with no lowering"


def test_every_rewritten_operator_names_a_pass_that_rewrites_it():
    for op, d in OPS.items():
        if d.lowered:
            continue
        assert d.removed_by in PASSES, op
        if d.removed_by == "expand-composites":
            assert op in EXPANSIONS, op
        else:  # the pass's module names the operator (its code or its documented rule)
            source = inspect.getsource(inspect.getmodule(PASSES[d.removed_by].run))
            assert re.search(rf"\b{op}\b", source), (op, d.removed_by)
    for op in EXPANSIONS:
        assert op in OPS, f"expansion of {op}, an operator without a record"


def test_every_expansion_states_its_formula():
    for op, fn in EXPANSIONS.items():
        assert len((fn.__doc__ or "").strip()) > 10, f"the expansion of {op} has no docstring"


def test_records_are_onnx_operators_with_known_categories():
    for op, d in OPS.items():
        onnx.defs.get_schema(op, onnx.defs.onnx_opset_version(), "")
        assert d.category in CATEGORIES, op
        assert all(0 < k < 8 for k in d.const_operands), op


def test_partition_and_memory_tables_are_views_of_the_records():
    assert set(OP_TABLE) == LOWERED and set(FRONTEND_OPS) == set(OPS) - LOWERED
    for op, info in {**OP_TABLE, **FRONTEND_OPS}.items():
        assert (info.cls, info.category) == (OPS[op].cls, OPS[op].category)
    assert memory.LAYOUT_FREE < memory.STRIDED_OPS <= LOWERED
    assert {op for op in memory.STRIDED_OPS if OPS[op].layout is Layout.STRIDED} == {"Concat"}


def test_docs_operator_table_is_generated_from_the_records():
    doc = gen_docs.DOC.read_text()
    assert gen_docs.render(doc) == doc, "docs/frontend.md is stale: python -m imcc.opdefs.gen_docs"
    rows = [ln for ln in doc.splitlines() if ln.startswith("| ") and ln.count("|") == 8]
    assert [r.split("|")[1].strip() for r in rows[1:]] == list(OPS)



SIGNED = sorted(op for op, d in OPS.items() if d.lowered and d.sign is not Sign.UNKNOWN)


def _after_relu(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every float input and initializer made non-negative: each float graph
    input read through a Relu, each float initializer replaced by its absolute value."""
    g = model.graph
    floats = [i.name for i in g.input if i.type.tensor_type.elem_type == TensorProto.FLOAT]
    for node in g.node:
        node.input[:] = [f"{t}_pos" if t in floats else t for t in node.input]
    relus = [helper.make_node("Relu", [t], [f"{t}_pos"]) for t in floats]
    nodes = relus + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32:
            init.CopyFrom(numpy_helper.from_array(np.abs(a), init.name))
    return model


@pytest.mark.parametrize("op", SIGNED)
def test_sign_records_are_sound(op):
    """Where a record says an output cannot be negative (NONNEG: whatever its inputs; FIRST,
    ALL: from non-negative inputs), calibrate.nonnegative proves it and onnx's reference
    evaluator never gives a negative value (signed inputs where the claim needs none)."""
    model = _operators._model(op, 21)
    if OPS[op].sign is not Sign.NONNEG:
        model = _after_relu(model)
    graph = canonicalize(load_model_proto(model))
    out = graph.outputs[0]
    assert nonnegative(graph, out), op
    rng = np.random.default_rng(3)
    feeds = {}
    for i in model.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        kind = i.type.tensor_type.elem_type
        if kind == TensorProto.FLOAT:
            feeds[i.name] = (rng.standard_normal(shape) * 3).astype(np.float32)
        elif kind == TensorProto.INT64:
            feeds[i.name] = rng.integers(0, 2, shape).astype(np.int64)
        else:
            feeds[i.name] = rng.integers(0, 2, shape).astype(np.bool_)
    got = np.asarray(ReferenceEvaluator(model).run(None, feeds)[0], np.float64)
    assert np.nanmin(got) >= 0, op


def _relu_then(node, inits, out_shape):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), node], "g", [x], [y],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()]),
        opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


@pytest.mark.parametrize("case", ["pad with -1", "cubic resize"])
def test_forms_that_turn_nonnegative_inputs_negative_are_not_proven_nonnegative(case):
    if case == "pad with -1":
        node = helper.make_node("Pad", ["r", "p", "v"], ["y"], mode="constant")
        inits = {"p": np.array([0, 0, 0, 1, 0, 0, 0, 1], np.int64),
                 "v": np.array(-1.0, np.float32)}
        m = _relu_then(node, inits, [1, 1, 1, 8])
    else:
        node = helper.make_node("Resize", ["r", "", "s"], ["y"], mode="cubic")
        m = _relu_then(node, {"s": np.array([1, 1, 1, 2], np.float32)}, [1, 1, 1, 12])
    x = np.array([0, 0, 5, 0, 0, 0], np.float32).reshape(1, 1, 1, 6)
    assert ReferenceEvaluator(m).run(None, {"x": x})[0].min() < 0
    graph = canonicalize(load_model_proto(m))
    assert not nonnegative(graph, graph.outputs[0])
    assert not nonnegative(graph, graph.inputs[0])  # a graph input can be anything
    assert nonnegative(graph, graph.nodes[0].outputs[0])  # the Relu
