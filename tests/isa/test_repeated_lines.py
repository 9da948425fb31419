"""The assembler encodes a statement once per shape (isa.asm_instr._shape): the same words as
encoding every statement, on compiled programs and on sources whose repeated lines must not
share a word (branches, '.', a symbol of one name in expressions)."""

import textwrap
from pathlib import Path

import pytest

import imcc
from isa import asm_instr
from isa.assembler import assemble
from isa.diagnostics import ErrorList

ROOT = Path(__file__).resolve().parents[2]

SRC = textwrap.dedent("""
    .equ K, 40
    start:
        li x5, K + 1
        li x5, K + 1
        li x6, 5000
        li x6, 5000
        addi x7, x7, -1
        addi x7, x7, -1
    loop:
        bne x7, x0, loop
        bne x7, x0, loop
        jal x0, start
        jal x0, start
        li x8, .
        li x8, .
        li x9, %hi(D)
        li x9, %hi(D)
        lw x10, 4(x5)
        lw x10, 4(x5)
        cfgi xbarr, 3
        cfgi xbarr, 3
        halt
    .data
    D: .word 1
""")


def _words(text, includes=None, memo=True, monkeypatch=None):
    if not memo:
        monkeypatch.setattr(asm_instr, "_shape", lambda st: None)
    try:
        return assemble(text, "t.s", includes=includes).obj.text
    finally:
        if not memo:
            monkeypatch.undo()


def test_repeated_lines_encode_as_each_alone(monkeypatch):
    fast, plain = _words(SRC), _words(SRC, memo=False, monkeypatch=monkeypatch)
    assert fast == plain
    # branches, jumps and '.' differ with their addresses; the other repeats are equal
    assert fast[10] != fast[11] and fast[12] != fast[13] and fast[15] != fast[17]
    assert fast[0:2] == fast[2:4] and fast[8] == fast[9] and fast[24] == fast[25]


@pytest.mark.parametrize("chip", ["rram", "ideal"])
def test_a_compiled_program_encodes_the_same(monkeypatch, chip):
    p = imcc.compile(str(ROOT / "samples" / "models" / "lenet.onnx"), chip=chip)
    includes = dict(p._side_files)
    assert _words(p.asm, includes) == \
        _words(p.asm, includes, memo=False, monkeypatch=monkeypatch) == p._obj.text


def test_each_bad_repeated_line_is_reported():
    with pytest.raises(ErrorList) as e:
        assemble("    addi x1, x1, 5000\n    addi x1, x1, 5000\n    halt\n", "t.s")
    assert [err.span.line for err in e.value.errors] == [1, 2]
