"""Scalar instructions against Python/numpy oracles written from the RV32IM definitions."""

import numpy as np
import pytest

from isa.diagnostics import MachineTrap
from isa.spec import CSR_BY_NAME
from tests.runtime.helpers import COVERED, covers, f32_bits, run

MASK = 0xFFFFFFFF
EDGES = [0, 1, -1, 2, 7, 31, 32, 33, -33, 2**31 - 1, -(2**31), 0x12345678, -0x789ABCD]


def _s32(v):
    return int(np.array(v & MASK, dtype=np.uint32).view(np.int32))


def _trunc_div(a, b):
    return int(np.trunc(np.float64(a) / np.float64(b)))  # exact for 32-bit operands


def _div(a, b):
    a, b = _s32(a), _s32(b)
    if b == 0:
        return -1
    if a == -(2**31) and b == -1:
        return a
    return _trunc_div(a, b)


def _rem(a, b):
    a, b = _s32(a), _s32(b)
    if b == 0:
        return a
    if a == -(2**31) and b == -1:
        return 0
    return a - b * _trunc_div(a, b)


REG_ORACLES = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "sll": lambda a, b: (a & MASK) << (b & 31),
    "slt": lambda a, b: int(_s32(a) < _s32(b)),
    "sltu": lambda a, b: int((a & MASK) < (b & MASK)),
    "xor": lambda a, b: a ^ b,
    "srl": lambda a, b: (a & MASK) >> (b & 31),
    "sra": lambda a, b: _s32(a) >> (b & 31),
    "or": lambda a, b: a | b,
    "and": lambda a, b: a & b,
    "mul": lambda a, b: int((np.array([a & MASK], np.uint32) * np.uint32(b & MASK))[0]),
    "div": _div,
    "divu": lambda a, b: (a & MASK) // (b & MASK) if b & MASK else MASK,
    "rem": _rem,
    "remu": lambda a, b: (a & MASK) % (b & MASK) if b & MASK else a,
}

IMM_ORACLES = {
    "addi": lambda a, i: a + i,
    "slti": lambda a, i: int(_s32(a) < i),
    "sltiu": lambda a, i: int((a & MASK) < (i & MASK)),
    "xori": lambda a, i: a ^ i,
    "ori": lambda a, i: a | i,
    "andi": lambda a, i: a & i,
}

SHIFT_ORACLES = {
    "slli": lambda a, sh: (a & MASK) << sh,
    "srli": lambda a, sh: (a & MASK) >> sh,
    "srai": lambda a, sh: _s32(a) >> sh,
}

BRANCH_ORACLES = {
    "beq": lambda a, b: a & MASK == b & MASK,
    "bne": lambda a, b: a & MASK != b & MASK,
    "blt": lambda a, b: _s32(a) < _s32(b),
    "bge": lambda a, b: _s32(a) >= _s32(b),
    "bltu": lambda a, b: a & MASK < b & MASK,
    "bgeu": lambda a, b: a & MASK >= b & MASK,
}


def _pairs(seed, n=24, lo=-(2**31), hi=2**31):
    rng = np.random.default_rng(seed)
    pairs = [(a, b) for a in EDGES[:6] for b in EDGES]
    pairs += [(int(rng.integers(lo, hi)), int(rng.integers(lo, hi))) for _ in range(n)]
    pairs += [(a, a) for a in EDGES]
    return pairs


def _results(body_lines, n):
    src = "\n".join([f'.output "r", r, [{n}]', "    li x10, r", *body_lines, "    halt",
                     ".data", f"r: .zero {4 * n}"])
    m, out = run(src)
    return m, [int(v) for v in out["r"].view(np.uint32)]


@covers(*REG_ORACLES)
def test_register_register_arithmetic():
    for mn, oracle in REG_ORACLES.items():
        pairs = _pairs(len(mn))
        body = []
        for k, (a, b) in enumerate(pairs):
            body += [f"    li x1, {a}", f"    li x2, {b}", f"    {mn} x3, x1, x2",
                     f"    sw x3, {4 * k}(x10)"]
        _, got = _results(body, len(pairs))
        want = [oracle(a, b) & MASK for a, b in pairs]
        assert got == want, mn


@covers(*IMM_ORACLES, *SHIFT_ORACLES, "lui")
def test_register_immediate_arithmetic():
    rng = np.random.default_rng(1)
    values = EDGES + [int(v) for v in rng.integers(-(2**31), 2**31, 10)]
    imms = [0, 1, -1, 2047, -2048, 0x555, -0x2AA]
    for mn, oracle in IMM_ORACLES.items():
        cases = [(a, i) for a in values for i in imms]
        body = []
        for k, (a, i) in enumerate(cases):
            body += [f"    li x1, {a}", f"    {mn} x3, x1, {i}", f"    sw x3, {4 * k}(x10)"]
        _, got = _results(body, len(cases))
        assert got == [oracle(a, i) & MASK for a, i in cases], mn
    for mn, oracle in SHIFT_ORACLES.items():
        cases = [(a, sh) for a in values for sh in (0, 1, 5, 16, 31)]
        body = []
        for k, (a, sh) in enumerate(cases):
            body += [f"    li x1, {a}", f"    {mn} x3, x1, {sh}", f"    sw x3, {4 * k}(x10)"]
        _, got = _results(body, len(cases))
        assert got == [oracle(a, sh) & MASK for a, sh in cases], mn
    imm20 = [0, 1, 0x80000 - 1, 0x80000, 0xFFFFF]
    body = []
    for k, v in enumerate(imm20):
        body += [f"    lui x3, {v}", f"    sw x3, {4 * k}(x10)"]
    _, got = _results(body, len(imm20))
    assert got == [(v << 12) & MASK for v in imm20]


@covers("add", "halt")
def test_x0_stays_zero():
    _, got = _results(["    li x1, 5", "    add x0, x1, x1", "    addi x0, x0, 9",
                       "    sw x0, 0(x10)"], 1)
    assert got == [0]


@covers(*BRANCH_ORACLES)
def test_branches():
    for mn, oracle in BRANCH_ORACLES.items():
        pairs = _pairs(len(mn) + 10, n=8)
        body = []
        for k, (a, b) in enumerate(pairs):
            body += [f"    li x1, {a}", f"    li x2, {b}", "    li x3, 1",
                     f"    {mn} x1, x2, taken{k}", "    li x3, 2", f"taken{k}:",
                     f"    sw x3, {4 * k}(x10)"]
        _, got = _results(body, len(pairs))
        assert got == [1 if oracle(a, b) else 2 for a, b in pairs], mn


@covers("bne", "addi")
def test_backward_branch_loop():
    _, got = _results(["    li x1, 10", "    li x2, 0", "loop:", "    addi x2, x2, 3",
                       "    addi x1, x1, -1", "    bne x1, x0, loop", "    sw x2, 0(x10)"], 1)
    assert got == [30]


@covers("jal", "jalr")
def test_calls_and_indirect_jumps():
    src = """
    .output "r", r, [4]
        li x10, r
        jal x1, sub
    back:
        sw x5, 0(x10)
        sw x1, 4(x10)
        li x7, target
        addi x7, x7, 1          # odd target: jalr clears bit 0
        jalr x6, 0(x7)
        halt
    target:
        sw x6, 8(x10)
        li x8, %f32(2.5)
        sw x8, 12(x10)
        halt
    sub:
        li x5, 42
        jalr x0, 0(x1)
    .data
    r: .zero 16
    """
    m, out = run(src)
    r = out["r"].view(np.uint32)
    back = m.obj.symbol("back").value
    jalr_pc = m.obj.symbol("target").value - 8
    assert r.tolist()[:3] == [42, back, jalr_pc + 4]
    assert out["r"][3] == 2.5


@covers("lw", "sw")
def test_loads_and_stores():
    src = """
    .output "r", r, [4]
        li x10, r
        li x11, src
        lw x1, 0(x11)
        lw x2, 4(x11)
        lw x3, -4(x11)
        sw x2, 0(x10)
        sw x1, 4(x10)
        sw x3, 8(x10)
        li x12, 0x80000010      # tile 0's buffer
        sw x1, 0(x12)
        lw x4, 0(x12)
        sw x4, 12(x10)
        halt
    .data
    before: .word 0xdeadbeef
    src: .word 0x01020304, 0xfffffffe
    r: .zero 16
    """
    _, out = run(src)
    assert out["r"].view(np.uint32).tolist() == [0xFFFFFFFE, 0x01020304, 0xDEADBEEF, 0x01020304]


@covers("csrrw", "csrrs", "csrrwi", "cfgi")
def test_configuration_registers():
    src = f"""
    .output "r", r, [8]
        li x10, r
        cfgi vl, 100000         # 17-bit immediate
        csrr x1, vl
        sw x1, 0(x10)
        li x2, {f32_bits(0.125)}
        csrrw x3, iscale, x2    # old value (1.0) out, 0.125 in
        sw x3, 4(x10)
        csrr x4, iscale
        sw x4, 8(x10)
        csrrwi x5, adcb, 7
        sw x5, 12(x10)          # reset value 0
        li x6, 0x30
        csrrs x7, adcb, x6      # 7 | 0x30
        csrr x8, adcb
        sw x7, 16(x10)
        sw x8, 20(x10)
        li x9, -3
        csrw sa2, x9            # a signed stride
        csrr x11, sa2
        sw x11, 24(x10)
        csrr x12, instret
        sw x12, 28(x10)
        halt
    .data
    r: .zero 32
    """
    m, out = run(src)
    r = out["r"].view(np.uint32).tolist()
    assert r[0] == 100000
    assert r[1] == f32_bits(1.0) == CSR_BY_NAME["iscale"].reset
    assert r[2] == f32_bits(0.125)
    assert r[3] == 0 and r[4] == 7 and r[5] == 0x37
    assert r[6] == (-3) & MASK
    # instret counts the instructions retired before the read
    before = [pc for pc in range(0, 4 * len(m.obj.text), 4)
              if m.instruction_text(pc).startswith("csrrs x12, instret")][0] // 4
    assert r[7] == before


@covers("lb", "lbu", "lh", "lhu", "sb", "sh", "mulh", "mulhsu", "mulhu", "auipc", "fence")
def test_bytes_halfwords_high_products_and_auipc():
    # Oracle: numpy's little-endian byte view of the same words, and Python's exact products.
    words = np.array([0x8001F27F, 0x00000000], np.uint32)
    src = f"""
    .output "r", r, [12]
        li x10, r
        li x11, w
        lb x1, 3(x11)
        lbu x2, 3(x11)
        lh x3, 2(x11)
        lhu x4, 0(x11)
        li x5, 0xAB
        sb x5, 5(x11)
        li x5, 0x1234
        sh x5, 6(x11)
        lw x6, 4(x11)
        li x7, -7
        li x8, 0x40000001
        mulh x9, x7, x8
        mulhsu x12, x7, x8
        mulhu x13, x7, x8
        fence
    here:
        auipc x14, 3
        li x15, here
        sub x14, x14, x15
        sw x1, 0(x10)
        sw x2, 4(x10)
        sw x3, 8(x10)
        sw x4, 12(x10)
        sw x6, 16(x10)
        sw x9, 20(x10)
        sw x12, 24(x10)
        sw x13, 28(x10)
        sw x14, 32(x10)
        halt
    .data
    w: .word {words[0]}, {words[1]}
    r: .zero 48
    """
    _, out = run(src)
    got = out["r"].view(np.uint32)[:9].tolist()
    b = words.view(np.uint8)
    mem2 = words.copy().view(np.uint8)
    mem2[5] = 0xAB
    mem2[6:8] = np.array([0x1234], "<u2").view(np.uint8)
    a, c = -7, 0x40000001
    want = [
        int(b[3].view(np.int8)) & 0xFFFFFFFF, int(b[3]),
        int(b[2:4].view("<i2")[0]) & 0xFFFFFFFF, int(b[0:2].view("<u2")[0]),
        int(mem2[4:8].view("<u4")[0]),
        ((a * c) >> 32) & 0xFFFFFFFF, ((a * c) >> 32) & 0xFFFFFFFF,
        ((a & 0xFFFFFFFF) * c) >> 32, 3 << 12,
    ]
    assert got == want


@covers("csrrc", "csrrsi", "csrrci")
def test_csr_clear_and_immediate_set_clear():
    src = """
    .output "r", r, [4]
        li x10, r
        cfgi adcsh, 0x3f
        li x1, 0x5
        csrrc x2, adcsh, x1     # old 0x3f out, 0x3a left
        csrrsi x3, adcsh, 0x4   # 0x3a -> 0x3e
        csrrci x4, adcsh, 0x18  # 0x3e -> 0x26
        csrr x5, adcsh
        sw x2, 0(x10)
        sw x3, 4(x10)
        sw x4, 8(x10)
        sw x5, 12(x10)
        halt
    .data
    r: .zero 16
    """
    _, out = run(src)
    assert out["r"].view(np.uint32).tolist() == [0x3F, 0x3A, 0x3A | 0x4, (0x3A | 0x4) & ~0x18]


# ebreak traps, so it never retires and the machine's counts cannot show it ran (as @covers
# checks); its trap message, naming the instruction at pc 0x4, shows it instead.
COVERED.add("ebreak")


def test_ebreak_stops_the_run_with_a_trap():
    with pytest.raises(MachineTrap, match=r"pc 0x4 \(ebreak\): ebreak: a breakpoint"):
        run("    addi x1, x0, 1\n    ebreak\n    halt\n")
