"""Every run starts from the program's ``.data`` and zeros elsewhere (docs/runtime.md,
"Reruns"), however the machine avoids rewriting words no run has written: a run that writes
into ``.data`` by a vector or a scalar store, a run that does not, and a switch to a program
with a shorter ``.data`` each give what a fresh machine gives."""

import numpy as np
import pytest

from isa.assembler import assemble
from runtime.config import preset
from runtime.machine import Machine
from tests.runtime.helpers import machine

# c (in .data) and y (zero, past .data) printed; with w = 1 the run then overwrites c with x
# by a vector copy, with w = 2 its first word by a scalar store
PROG = """
.input "x", x, [4]
.input "w", w, [1]
.output "c", out_c, [4]
.output "y", out_y, [4]
.equ x, 0x1000
.equ w, 0x1010
.equ out_c, 0x1020
.equ out_y, 0x1030
.equ y, 0x1040
    vsetli 4
    li x5, out_c
    li x6, c
    vcopy x5, x6
    li x5, out_y
    li x6, y
    vcopy x5, x6
    li x6, y
    li x7, x
    vadd x6, x6, x7
    li x8, w
    lw x8, 0(x8)
    li x9, 0x3f800000
    beq x8, x9, vector
    li x9, 0x40000000
    beq x8, x9, scalar
    halt
vector:
    li x6, c
    vcopy x6, x7
    halt
scalar:
    li x6, c
    sw x9, 0(x6)
    halt
.data
c: .float 1, 2, 3, 4
"""


@pytest.mark.parametrize("order", [(0, 1, 0, 2, 0, 0), (1, 1, 2, 2, 0), (2, 0, 1, 0)])
def test_reruns_start_from_data_whatever_the_last_run_wrote(order):
    m = machine(PROG)
    x = np.array([5, 6, 7, 8], np.float32)
    for w in order:
        fresh = machine(PROG).run({"x": x, "w": np.float32([w])})
        out = m.run({"x": x, "w": np.float32([w])})
        np.testing.assert_array_equal(out["c"], [1, 2, 3, 4])
        np.testing.assert_array_equal(out["y"], [0, 0, 0, 0])
        for k in out:
            np.testing.assert_array_equal(out[k], fresh[k])


SHORT = """
.output "c", out_c, [8]
.equ out_c, 0x1020
    nop
infer:
    vsetli 8
    li x5, out_c
    li x6, c
    vcopy x5, x6
    halt
.rerun infer
.data
c: .float {values}
"""


def test_a_switch_to_a_shorter_data_section_leaves_zeros_past_it():
    long = assemble(SHORT.format(values="1, 2, 3, 4, 5, 6, 7, 8"), "a.s").obj
    short = assemble(SHORT.format(values="9, 10"), "b.s").obj
    m = Machine(preset("ideal"), long)
    assert m.run({})["c"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    m.switch(short)
    for _ in range(2):
        assert m.run({})["c"].tolist() == [9, 10, 0, 0, 0, 0, 0, 0]


# s <- s + c (c in .data); the run also overwrites c's copy d in .data, so every load writes
# .data again; s lies outside .data and is left resident
OUTSIDE = """
.input "s", s, [4]
.output "y", y, [4]
.equ s, 0x2000
.equ y, 0x2010
    nop
infer:
    vsetli 4
    li x5, s
    li x6, c
    vadd x5, x5, x6
    li x7, y
    vcopy x7, x5
    li x8, d
    vcopy x8, x5
    halt
.rerun infer
.data
c: .float 1, 2, 3, 4
d: .zero 16
"""


def test_a_resident_input_outside_data_keeps_its_words_when_data_is_written_again():
    m = machine(OUTSIDE)
    s0 = np.array([10, 20, 30, 40], np.float32)
    c = np.array([1, 2, 3, 4], np.float32)
    assert m.run({"s": s0})["y"].tolist() == (s0 + c).tolist()
    for k in range(2, 5):
        assert m.run({}, resident=("s",))["y"].tolist() == (s0 + k * c).tolist()
