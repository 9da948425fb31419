"""AsmWriter.op checks each instruction against the ISA table at the generator's call."""

import pytest

from imcc.codegen.asm import AsmWriter
from isa.assembler import assemble
from isa.encoding import Instr, encode


def test_a_well_formed_instruction_and_pseudo_are_written():
    w = AsmWriter()
    w.op("add", "x1", "x2", "x3")
    w.op("lw", "x5", "8(x6)")
    w.op("li", "x7", 100)
    w.op("halt")
    assert assemble(w.text()).obj.text == (
        encode(Instr("add", (1, 2, 3))), encode(Instr("lw", (5, 8, 6))),
        encode(Instr("addi", (7, 0, 100))), encode(Instr("halt", ())))


@pytest.mark.parametrize("mnemonic, operands, message", [
    ("vaddd", ("x1", "x2", "x3"), "'vaddd' is not an instruction"),
    ("ecal", (), "'ecal' is not an instruction"),
    ("add", ("x1", "x2"), r"add takes 3 operand\(s\) \(add rd, rs1, rs2\), got 2"),
    ("mvm", ("x1", "x2", "x3"), r"mvm takes 2 operand\(s\)"),
    ("li", ("x1",), r"li takes 2 operand\(s\) \(li rd, value\), got 1"),
    ("halt", ("x0",), r"halt takes 0 operand\(s\)"),
])
def test_a_generator_bug_fails_at_the_call(mnemonic, operands, message):
    w = AsmWriter()
    with pytest.raises(ValueError, match=message):
        w.op(mnemonic, *operands)
    assert w.lines == [] and w.counts == {}  # nothing was written
