"""Resident inputs: a rerun may leave an input as the previous run left it (the state a
decoder's KV cache keeps in memory between steps, docs/llm.md)."""

import numpy as np
import pytest

from runtime.machine import InputError
from tests.runtime.helpers import machine

# s <- s + x (the program writes its next state onto its own input s); y = the new s
ACC = """
.input "x", x, [4]
.input "s", s, [4]
.output "y", y, [4]
    nop
infer:
    vsetli 4
    li x5, y
    li x6, s
    li x7, x
    vadd x5, x6, x7
    vcopy x6, x5
    halt
.rerun infer
.data
x: .zero 16
s: .zero 16
y: .zero 16
"""


def test_a_resident_input_keeps_what_the_last_run_wrote():
    m = machine(ACC)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((5, 4)).astype(np.float32)
    s0 = rng.standard_normal(4).astype(np.float32)
    total = s0.copy()
    y = m.run({"x": xs[0], "s": s0})["y"]
    total = total + xs[0]
    np.testing.assert_array_equal(y, total)
    for x in xs[1:]:
        y = m.run({"x": x}, resident=("s",))["y"]
        total = total + x
        np.testing.assert_array_equal(y, total)
    # given again, the input is written as usual: the state starts over
    np.testing.assert_array_equal(m.run({"x": xs[0], "s": s0})["y"], s0 + xs[0])


def test_a_first_run_cannot_leave_an_input_resident():
    m = machine(ACC)
    with pytest.raises(InputError, match="cannot be resident on this run"):
        m.run({"x": np.zeros(4)}, resident=("s",))


def test_resident_names_must_be_inputs_and_not_given():
    m = machine(ACC)
    m.run({"x": np.zeros(4), "s": np.zeros(4)})
    with pytest.raises(InputError, match="resident input 'z' is not an input"):
        m.run({"x": np.zeros(4)}, resident=("z",))
    with pytest.raises(InputError, match="both given and resident"):
        m.run({"x": np.zeros(4), "s": np.zeros(4)}, resident=("s",))
    with pytest.raises(InputError, match="input 'x'"):
        m.run({}, resident=("s",))


# s <- s - x: another program over the same (empty) weights
SUB = ACC.replace("vadd x5, x6, x7", "vsub x5, x6, x7")


def test_switch_runs_another_program_on_the_same_memory_and_counts_on():
    from isa.assembler import assemble

    m = machine(ACC)
    s0 = np.array([1, 2, 3, 4], np.float32)
    x = np.array([10, 20, 30, 40], np.float32)
    m.run({"x": x, "s": s0})
    m.run({"x": x}, resident=("s",))
    cost = m.cost
    m.switch(assemble(SUB, "sub.s").obj)
    y = m.run({"x": np.ones(4, np.float32)}, resident=("s",))["y"]
    np.testing.assert_array_equal(y, s0 + 2 * x - 1)
    after = m.cost
    assert after.instructions > cost.instructions and after.runs == cost.runs + 1


def test_switch_needs_a_run_and_the_same_weights():
    from isa.assembler import assemble

    m = machine(ACC)
    with pytest.raises(InputError, match="has not run yet"):
        m.switch(assemble(SUB, "sub.s").obj)
    m.run({"x": np.zeros(4), "s": np.zeros(4)})
    other = SUB + ".weights\nW: .u8 1, 2\n"
    with pytest.raises(InputError, match="weights section differs"):
        m.switch(assemble(other, "w.s").obj)
    with pytest.raises(InputError, match="no .rerun label"):
        m.switch(assemble(SUB.replace(".rerun infer", ""), "n.s").obj)
