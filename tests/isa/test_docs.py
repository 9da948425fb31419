"""docs/isa.md is generated from the table and must be current."""

from pathlib import Path

from isa.gen_docs import HEADER, render
from isa.spec import CSRS, INSTRUCTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "isa.md"


def test_isa_md_is_current():
    assert DOC.read_text() == render(), "docs/isa.md is stale: run `python -m isa.gen_docs`"


def test_isa_md_mentions_every_instruction_and_csr():
    text = render()
    assert text.startswith(HEADER)
    for s in INSTRUCTIONS:
        assert f"`{s.syntax}`" in text
    for c in CSRS:
        assert f"`{c.name}`" in text
