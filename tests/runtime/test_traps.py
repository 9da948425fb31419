"""Traps stop the run with the pc, the instruction and the source line (or nearest label)."""

import textwrap

import numpy as np
import pytest

from isa.assembler import assemble
from isa.diagnostics import MachineTrap, render
from isa.encoding import Instr, encode
from isa.spec import CSR_BY_NAME
from runtime.config import preset
from runtime.machine import Machine
from tests.runtime.helpers import chip, machine, run

XBAR = """
    cfgi xbh, 4
    cfgi xbw, 4
    li x5, W
"""
WEIGHTS = "\n.weights\nW: .u8 " + ", ".join(["1"] * 16) + "\n"


def trap(src, config="ideal", inputs=None, **kw):
    with pytest.raises(MachineTrap) as e:
        run(src, inputs, config, **kw)
    return e.value


CASES = {
    "misaligned load": ("    li x1, 2\n    lw x2, 0(x1)\n    halt",
                        "misaligned word address 0x00000002"),
    "address outside memory": ("    li x1, 0x7f000000\n    sw x0, 0(x1)\n    halt",
                               "address 0x7f000000 is outside every memory region"),
    "tile that does not exist": ("    li x1, 0xff000000\n    lw x2, 0(x1)\n    halt",
                                 "outside every memory region"),
    "past the buffer": ("    li x1, 0x80040000\n    lw x2, 0(x1)\n    halt",
                        "outside every memory region"),
    "operand leaves memory": ("    li x1, 0x3fffff0\n    vsetli 8\n    vneg x1, x1\n    halt",
                              "operand 0x3fffff0..0x400000f leaves global memory"),
    "below address zero": ("    vsetli 3\n    li x1, -1\n    csrw sa5, x1\n"
                           "    vneg x2, x0\n    halt", "reaches below address 0"),
    "unknown instruction": ("    nop\n    .word 0xffffffff\n    halt",
                            "unknown instruction word 0xffffffff"),
    "pc past the end": ("    nop", "pc ran past the end of the text section"),
    "misaligned jump": ("    li x1, 6\n    jalr x0, 0(x1)\n    halt", "misaligned"),
    "jump outside text": ("    li x1, 0x1000\n    jr x1\n    halt",
                          "jump target 0x00001000 is outside the text section"),
    "array beyond the chip": ("    cfgi xbarr, 5000\n" + XBAR + "    wprog x5\n    halt" + WEIGHTS,
                              "array xbarr = 5000 does not exist (the chip has 512)"),
    "region outside the array": ("    cfgi xbrow, 254\n" + XBAR + "    wprog x5\n    halt"
                                 + WEIGHTS, "array region rows 254..257, columns 0..3 leaves "
                                 "the 256x256 array"),
    "empty region": ("    cfgi xbh, 0\n    mvm x0, x0\n    halt", "empty array region"),
    "invalid wfmt": ("    cfgi wfmt, 7\n" + XBAR + "    wprog x5\n    halt" + WEIGHTS,
                     "invalid wfmt = 7"),
    "weights run out": ("    cfgi xbh, 5\n    cfgi xbw, 4\n    li x5, W\n    wprog x5\n    halt"
                        + WEIGHTS, "run past the end of weight memory (16 bytes)"),
    "unaligned weights": ("    cfgi wfmt, 1\n" + XBAR + "    addi x5, x5, 1\n    wprog x5\n"
                          "    halt" + WEIGHTS, "not aligned to 2 bytes"),
    "destination stride 0": ("    vsetli 4\n    cfgi sd5, 0\n    vneg x0, x0\n    halt",
                             "destination stride sd5 = 0 in dimension 5 of size 4"),
    "mvm output rows collide": ("    cfgi vl, 2\n    mvm x0, x0\n    halt",
                                "output row stride ys = 0 with vl = 2"),
    "mvm too large for the host": ("    li x1, 1000000\n    csrw vl, x1\n    cfgi xbh, 256\n"
                                   "    mvm x0, x0\n    halt", "exceeds the interpreter's limit"),
    "bad nred": ("    vsetli 4\n    cfgi nred, 7\n    vrsum x0, x0\n    halt",
                 "invalid nred = 7"),
    "bad wsch": ("    vsetli 4\n    cfgi wsch, 2\n    vsadd x0, x0\n    halt",
                 "invalid shift-and-add setting wsch = 2"),
    "sablk not dividing xbw": ("    cfgi xbw, 6\n    cfgi sablk, 4\n    mvm x0, x0\n    halt",
                               "sablk = 4 does not divide the region's xbw = 6"),
    "sablk zero": ("    cfgi sablk, 0\n    mvm x0, x0\n    halt", "sablk = 0 does not divide"),
    "bad wsch of mvm": ("    cfgi xbw, 2\n    cfgi sablk, 2\n    cfgi wsch, 3\n    mvm x0, x0\n"
                        "    halt", "invalid shift-and-add setting wsch = 3"),
    "bad smm bits": ("    vsetli 4\n    cfgi ibits, 1\n    smm x0, x0, x0\n    halt",
                     "invalid ibits = 1 for smm"),
    "bad vquant bits": ("    vsetli 4\n    cfgi ibits, 25\n    vquant x0, x0, x0\n    halt",
                        "invalid input precision ibits = 25"),
    "negative vsetli": ("    vsetli -1\n    halt", "the length must be >= 0"),
    "bad input bits": ("    cfgi ibits, 1\n    cfgi isgn, 1\n    mvm x0, x0\n    halt",
                       "invalid input precision ibits = 1, isgn = 1"),
    "bad iscale": ("    cfgi ibits, 8\n    csrw iscale, x0\n    mvm x0, x0\n    halt",
                   "invalid iscale = 0.0"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_trap_messages(name):
    src, message = CASES[name]
    e = trap(src, chip("ideal", input_bits=8) if "bits" in name or "iscale" in name
             else "ideal")
    assert message in e.message
    assert e.message.startswith("trap at pc 0x")


def test_trap_names_pc_instruction_and_source_line():
    src = "start:\n    li x1, 2\n    lw x2, 0(x1)   # misaligned\n    halt\n"
    e = trap(src)
    assert e.message.startswith("trap at pc 0x4 <start+4> (lw x2, 0(x1)): misaligned")
    text = render(e)
    assert text.splitlines()[0].startswith("t.s:3:5: error: trap at pc 0x4")
    assert text.splitlines()[1:3] == ["        lw x2, 0(x1)   # misaligned",
                                      "        ^~~~~~~~~~~~"]


def test_trap_without_source_names_the_nearest_label():
    obj = assemble("    nop\nloop:\n    nop\n    .word 0xffffffff\n").obj
    with pytest.raises(MachineTrap) as e:
        Machine(preset("ideal"), obj).run({})
    assert e.value.message == ("trap at pc 0x8 <loop+4> (.word 0xffffffff): unknown "
                               "instruction word 0xffffffff")
    assert e.value.span is None


def test_step_limit():
    e = trap("loop:\n    addi x1, x1, 1\n    j loop\n", max_steps=1001)
    assert "step limit of 1001 instructions reached" in e.message
    assert "--max-steps" in e.hint
    m = machine("loop:\n    addi x1, x1, 1\n    j loop\n", max_steps=1001)
    with pytest.raises(MachineTrap):
        m.run({})
    assert m.state.x[1] == 501  # 1001 instructions: 501 addi, 500 jumps


def test_raw_csr_words_are_checked():
    write_instret = encode(Instr("csrrw", (0, CSR_BY_NAME["instret"].number, 1)))
    e = trap(f"    .word {write_instret:#x}\n    halt")
    assert "CSR instret is read-only" in e.message
    unknown = encode(Instr("csrrs", (1, 0x8FF, 0)))
    e = trap(f"    .word {unknown:#x}\n    halt")
    assert "unknown CSR 0x8ff" in e.message


def test_level_beyond_the_cells():
    src = XBAR + "    wprog x5\n    halt\n.weights\nW: .u8 " + ", ".join(["3"] * 15) + ", 4\n"
    e = trap(src, "rram")
    assert "level 4 at region (3, 3) exceeds 2**cell_bits - 1 = 3" in e.message
    run(src.replace(", 4\n", ", 3\n"), None, "rram")  # level 3 is fine


def test_float_weights_need_a_float_chip():
    src = ("    cfgi wfmt, 2\n" + XBAR + "    wprog x5\n    halt\n.weights\nW: .f32 "
           + ", ".join(["0.5"] * 16) + "\n")
    e = trap(src, "ideal-int8")
    assert "float32 weights need a float-cell chip" in e.message
    run(src, None, "ideal")
    e = trap(src.replace("0.5\n", "-0.5\n"), "ideal")
    assert "weight -0.5 at region (3, 3) is not a finite value >= 0" in e.message
    run(src.replace("0.5\n", "-0.5\n"), None, "ideal-signed")  # signed float cells
    e = trap(src.replace("0.5\n", "inf\n"), "ideal-signed")
    assert "weight inf at region (3, 3) is not finite" in e.message


@pytest.mark.parametrize(
    "settings, message",
    [
        ("cfgi ibits, 0", "ibits = 0 asks for an ideal DAC; chip 'rram' quantizes inputs"),
        ("cfgi ibits, 8\n    cfgi dacb, 2\n    cfgi adcb, 8",
         "dacb = 2: chip 'rram' applies 1..1 bits per DAC cycle"),
        ("cfgi ibits, 8\n    cfgi adcb, 0", "adcb = 0: chip 'rram' has 8-bit ADCs"),
        ("cfgi ibits, 8\n    cfgi adcb, 9", "adcb = 9: chip 'rram' has 8-bit ADCs"),
    ],
)
def test_programs_cannot_exceed_the_chip_converters(settings, message):
    src = f"    cfgi xbh, 4\n    cfgi xbw, 4\n    {settings}\n    mvm x0, x0\n    halt"
    e = trap(src, "rram")
    assert message in e.message


def test_mvm_operands_must_be_global_or_in_the_arrays_tile():
    src = textwrap.dedent("""
        cfgi xbarr, {array}
        cfgi xbh, 4
        cfgi xbw, 4
        li x5, 0x81000000
        mvm x0, x5
        halt
    """)
    e = trap(src.format(array=0))
    assert "input in tile 1's buffer" in e.message
    assert "array 0 belongs to tile 0" in e.message
    run(src.format(array=8))  # array 8 is in tile 1: its own buffer is fine


def test_gather_index_out_of_range():
    src = """
    .input "k", k, [3]
        vsetli 3
        cfgi glen, 4
        li x1, k
        vgather x1, x1, x1
        halt
    .data
    k: .zero 12
    """
    run(src, {"k": np.array([0, 3, -4], np.float32)})
    for bad, shown in ((4.0, "4.0"), (-5.0, "-5.0")):
        e = trap(src, "ideal", {"k": np.array([0, bad, 1], np.float32)})
        assert f"vgather index {shown} at (0, 0, 0, 0, 0, 1) is outside 0..3" in e.message
    e = trap(src, "ideal", {"k": np.array([0, np.nan, 1], np.float32)})
    assert "not a finite number" in e.message


def test_arithmetic_never_traps():
    src = """
    .output "y", y, [4]
        vsetli 4
        li x1, a
        li x2, b
        li x3, y
        vdiv x3, x1, x2
        li x4, 5
        div x5, x4, x0
        rem x6, x4, x0
        halt
    .data
    a: .float 1, -1, 0, 1e30
    b: .float 0, 0, 0, 1e-30
    y: .zero 16
    """
    m, out = run(src)
    y = out["y"]
    assert y[0] == np.inf and y[1] == -np.inf and np.isnan(y[2]) and y[3] == np.inf
    assert m.state.x[5] == 0xFFFFFFFF and m.state.x[6] == 5


def test_running_past_the_end_names_the_last_instruction_and_its_line():
    e = trap("start:\n    li x1, 2\n    addi x1, x1, 1   # no halt\n")
    assert e.message == ("trap at pc 0x8: pc ran past the end of the text section, after the "
                         "last instruction at pc 0x4 <start+4> (addi x1, x1, 1)")
    assert render(e).splitlines()[0].startswith("t.s:3:5: error: trap at pc 0x8")
    assert "halt" in e.hint
