"""The operator records (imcc/opdefs) against what implements them: every operator the code
generator must lower has a lowering and every lowering lowers such an operator; every operator a
pass rewrites is rewritten there; the tables read elsewhere are views of the records; and
docs/frontend.md's operator table is the one the records generate."""

from __future__ import annotations

import inspect
import re

import onnx

from imcc.codegen import memory, program  # program registers every lowering
from imcc.codegen.context import LOWERINGS
from imcc.opdefs import CATEGORIES, OPS, Layout, gen_docs
from imcc.partition import FRONTEND_OPS, OP_TABLE
from imcc.passes import PASSES
from imcc.passes.expand_composites import EXPANSIONS

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

