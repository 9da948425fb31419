"""The dispatch loop runs runs of straight-line instructions as blocks (runtime/dispatch.py):
the step limit, the retired counts, ``instret`` and jumps into the middle of a block are those
of one instruction at a time, counted here from the programs' structure."""

import numpy as np
import pytest

from isa.diagnostics import MachineTrap
from runtime.dispatch import CLOCK_STEPS
from tests.runtime.helpers import machine

# x1 counts down from N; each iteration: 8 straight-line instructions, then the branch
LOOP = """
.output "y", y, [2]
.equ y, 0x400
    li x1, {n}
loop:
    addi x2, x2, 1
    addi x3, x3, 2
    lui x4, 1
    add x5, x2, x3
    cfgi vl, 3
    xori x6, x5, 7
    slli x7, x6, 1
    addi x1, x1, -1
    bne x1, x0, loop
    li x8, 0x400
    sw x2, 0(x8)
    sw x5, 4(x8)
    halt
"""
N = 3 * CLOCK_STEPS // 8  # enough iterations for the loop to run blocks
BODY = 9  # instructions per iteration
HEAD = 2  # li x1, N (above 2047): lui, addi
# the last four: li x8, 0x400 (below 2048: one addi), two sw, halt
TOTAL = HEAD + BODY * N + 4


def test_a_block_loop_retires_exactly_and_computes_what_single_steps_do():
    m = machine(LOOP.format(n=N), max_steps=TOTAL)
    y = m.run({})["y"].view(np.uint32)
    assert y.tolist() == [N, N + 2 * N]
    assert m.cost.instructions == TOTAL
    counts = m.mnemonic_counts()
    assert counts["bne"] == N and counts["lui"] == N + 1 and counts["cfgi"] == N
    assert counts["addi"] == 3 * N + 2 and counts["sw"] == 2


@pytest.mark.parametrize("short", [1, 5, BODY * 100 + 3])
def test_the_step_limit_traps_at_the_exact_instruction(short):
    limit = TOTAL - short
    m = machine(LOOP.format(n=N), max_steps=limit)
    with pytest.raises(MachineTrap, match=f"step limit of {limit} instructions") as e:
        m.run({})
    # the instruction after the limit: where the limit falls in the program's order
    k = limit - HEAD  # instructions retired after the head; the trap names the next one
    pc = 4 * (HEAD + (k % BODY if k < BODY * N else BODY + k - BODY * N))
    assert f"trap at pc {pc:#x} " in str(e.value)


def test_a_jump_into_a_block_and_instret_count_single_instructions():
    src = """
    .output "y", y, [3]
    .equ y, 0x400
        jal x0, middle
        addi x2, x0, 100
        addi x3, x0, 200
    middle:
        addi x4, x0, 7
        addi x5, x4, 1
        csrr x6, instret
        addi x9, x9, 1
        addi x10, x0, 1
        beq x9, x10, middle
        li x8, 0x400
        sw x2, 0(x8)
        sw x5, 4(x8)
        sw x6, 8(x8)
        halt
    """
    m = machine(src)
    y = m.run({})["y"].view(np.uint32).tolist()
    # x2 never set; instret read in the second pass: jal + 3 (first pass) + 3 + 2 (to csrr)
    assert y[0] == 0 and y[1] == 8 and y[2] == 1 + 6 + 2
    counts = m.mnemonic_counts()
    assert counts["addi"] == 2 * 4 + 1 and counts["csrrs"] == 2


def test_a_vector_instruction_rerun_with_other_registers_and_settings_reads_them():
    # one vadd executed for each of 4 rows (its address registers change), then again over
    # rows of 2 elements (its AGU setting changes): each execution reads its own operands
    src = """
    .input "a", a, [4, 4]
    .input "b", b, [4, 4]
    .output "y", y, [2, 4, 4]
    .equ a, 0x1000
    .equ b, 0x1100
    .equ y, 0x1200
        li x9, 0
        vsetli 4
    pass:
        li x5, y
        slli x10, x9, 6
        add x5, x5, x10
        li x6, a
        li x7, b
        li x1, 4
    row:
        vadd x5, x6, x7
        addi x5, x5, 16
        addi x6, x6, 16
        addi x7, x7, 16
        addi x1, x1, -1
        bne x1, x0, row
        addi x9, x9, 1
        vsetli 2
        li x11, 2
        bne x9, x11, pass
        halt
    """
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2))
    y = machine(src).run({"a": a, "b": b})["y"]
    np.testing.assert_array_equal(y[0], a + b)
    half = np.zeros((4, 4), np.float32)
    half[:, :2] = (a + b)[:, :2]
    np.testing.assert_array_equal(y[1], half)


def test_a_vsadd_rerun_with_other_shift_and_add_settings_uses_them():
    # one vsadd over 2 blocks run twice on the same registers: cellb = 0 (c = 1, 1), then
    # cellb = 2 (c = 1, 4); the second writes the output
    src = """
    .input "a", a, [4, 2]
    .output "y", y, [4]
    .equ a, 0x1000
    .equ y, 0x1100
        cfgi wsch, 0
        cfgi cellb, 0
        cfgi n4, 4
        cfgi n5, 2
        cfgi sd4, 1
        cfgi sa4, 2
        cfgi sa5, 1
        li x5, y
        li x6, a
        li x9, 2
    again:
        vsadd x5, x6
        cfgi cellb, 2
        addi x9, x9, -1
        bne x9, x0, again
        halt
    """
    a = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = machine(src).run({"a": a})["y"]
    np.testing.assert_array_equal(y, a[:, 0] + 4 * a[:, 1])


def _random_bits(rng, shape) -> np.ndarray:
    """float32 values of random bit patterns: NaNs, infinities, subnormals, signed zeros."""
    n = int(np.prod(shape))
    return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32) \
        .reshape(shape)


@pytest.mark.parametrize("shape, axes", [((1, 1, 1, 1, 1, 256), (5,)),
                                         ((2, 3, 1, 4, 5, 7), (4, 5)),
                                         ((2, 2, 2, 2, 2, 2), (0, 1, 2, 3, 4, 5))])
def test_the_kernels_reductions_and_shift_add_are_numpys_bit_for_bit(shape, axes):
    from runtime.ops import kernels

    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        for a in (_random_bits(rng, shape), rng.standard_normal(shape).astype(np.float32)):
            nred = len(axes)
            want = np.asarray(a.mean(axes, dtype=np.float64))
            got = np.asarray(kernels.reduce_window("mean", a, nred))
            assert got.shape == want.shape
            np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
            for kind in ("mean", "sum", "max"):  # the bound form, as the machine stores it
                dst = np.empty(want.shape, np.float32)
                kernels.reduce_window_call(kind, dst, a, nred)()
                ref = np.asarray(getattr(a, kind)(axes, **({} if kind == "max" else
                                                          {"dtype": np.float64})))
                np.testing.assert_array_equal(dst.view(np.uint32),
                                              ref.astype(np.float32).view(np.uint32))
            # vsadd of one block (+-1) and of a differential pair: the float64 sum rounded once
            for coef in ([1.0], [-1.0], [1.0, -1.0]):
                c = np.array(coef)
                blocks = a.reshape(-1, len(c))
                dst = np.empty(blocks.shape[0], np.float32)
                kernels.weighted_sum(dst, blocks, c)
                exact = sum(blocks[:, b].astype(np.float64) * c[b] for b in range(len(c)))
                np.testing.assert_array_equal(dst.view(np.uint32),
                                              exact.astype(np.float32).view(np.uint32))


def test_a_reduction_rerun_with_another_nred_reduces_over_it():
    # one vrmean run twice on the same registers: over the rows' 4 elements (nred = 1), then
    # over the whole 2 x 4 (nred = 2); the second writes the output's first word
    src = """
    .input "a", a, [2, 4]
    .output "y", y, [2]
    .equ a, 0x1000
    .equ y, 0x1100
        cfgi n4, 2
        cfgi n5, 4
        cfgi sa4, 4
        cfgi sa5, 1
        cfgi sd4, 1
        cfgi nred, 1
        li x5, y
        li x6, a
        li x9, 2
    again:
        vrmean x5, x6
        cfgi nred, 2
        addi x9, x9, -1
        bne x9, x0, again
        halt
    """
    a = np.arange(8, dtype=np.float32).reshape(2, 4) ** 2
    y = machine(src).run({"a": a})["y"]
    # the second run's one mean over everything, then the first's second row mean
    assert y.tolist() == [np.float32(a.mean(dtype=np.float64)), np.float32(a[1].mean())]


def test_a_block_of_constant_settings_leaves_what_its_instructions_leave():
    # a block of lui / addi (from x0 or a register it set) / cfgi, constant, then a vadd
    # reading the addresses and the AGU setting it made; then a block that sets other values
    # (another row, two elements) and adds to a register set before it (not constant). The
    # traced loop runs one instruction a step.
    src = """
    .input "a", a, [2, 4]
    .input "b", b, [2, 4]
    .output "y", y, [2, 4]
    .output "r", r, [3]
    .equ a, 0x1000
    .equ b, 0x1100
    .equ y, 0x1200
    .equ r, 0x1300
        li x5, y
        li x6, a
        li x7, b
        addi x12, x0, 7
        cfgi n5, 4
        cfgi sd5, 1
        cfgi sa5, 1
        cfgi sb5, 1
        vadd x5, x6, x7
        li x5, y + 16
        li x6, a + 16
        li x7, b + 16
        addi x12, x12, 5
        addi x13, x0, 0x123
        cfgi n5, 2
        vadd x5, x6, x7
        li x8, r
        sw x12, 0(x8)
        sw x13, 4(x8)
        csrr x14, n5
        sw x14, 8(x8)
        halt
    """
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((2, 4)).astype(np.float32) for _ in range(2))
    fast, traced = machine(src), machine(src)
    lines = []
    out = fast.run({"a": a, "b": b})
    ref = traced.run({"a": a, "b": b}, trace=lines.append, trace_limit=10_000)
    assert lines and fast.cost.instructions == traced.cost.instructions == len(lines)
    assert fast.mnemonic_counts() == traced.mnemonic_counts()
    for k in out:
        np.testing.assert_array_equal(out[k], ref[k])
    y = np.zeros((2, 4), np.float32)
    y[0], y[1, :2] = a[0] + b[0], a[1, :2] + b[1, :2]
    np.testing.assert_array_equal(out["y"], y)
    assert out["r"].view(np.uint32).tolist() == [12, 0x123, 2]
    kinds = {getattr(b, "__qualname__", "").split(".")[0] for b in fast._program.blocks}
    assert {"_writes_block", "_block"} <= kinds  # both kinds of block ran
