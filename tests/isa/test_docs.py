"""docs/isa.md, and the directive table of docs/assembly.md, are generated from the tables and
must be current."""

from pathlib import Path

from isa.directives import DIRECTIVES
from isa.gen_docs import HEADER, assembly_md, render
from isa.spec import CSRS, INSTRUCTIONS, WEIGHT_FORMATS_TEXT

DOC = Path(__file__).resolve().parents[2] / "docs" / "isa.md"
ASM_DOC = DOC.parent / "assembly.md"


def test_isa_md_is_current():
    assert DOC.read_text() == render(), "docs/isa.md is stale: run `python -m isa.gen_docs`"


def test_isa_md_mentions_every_instruction_and_csr():
    text = render()
    assert text.startswith(HEADER)
    for s in INSTRUCTIONS:
        assert f"`{s.syntax}`" in text
    for c in CSRS:
        assert f"`{c.name}`" in text


def test_assembly_md_directive_table_is_current():
    text = ASM_DOC.read_text()
    assert text == assembly_md(text), "docs/assembly.md is stale: run `python -m isa.gen_docs`"


def test_every_directive_has_its_own_section_in_assembly_md():
    headings = [ln for ln in ASM_DOC.read_text().splitlines() if ln.startswith("### ")]
    for name in DIRECTIVES:
        assert any(f"`{name} " in h or f"`{name}`" in h for h in headings), name


def test_assembly_md_names_the_wfmt_codes_of_the_table():
    assert f"formats of `wprog` ({WEIGHT_FORMATS_TEXT})" in ASM_DOC.read_text()


def test_machine_md_names_the_wfmt_codes_of_the_table():
    doc = (ASM_DOC.parent / "machine.md").read_text()
    assert f"of format `wfmt` ({WEIGHT_FORMATS_TEXT})" in doc
