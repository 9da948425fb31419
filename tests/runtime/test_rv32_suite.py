"""The rv32ui and rv32um files of the official RISC-V unprivileged test suite
(riscv-software-src/riscv-tests), every case of each, ported to our assembler and run on the
reference machine. The case values are the suite's (tests/runtime/rv32_cases.py); the functions
below are our shim for the suite's macros (``test_macros.h``): each emits the same instruction
sequence (``li`` of the masked operands, the instruction, ``li x7, expected``, ``bne ..., fail``),
with ``li`` for the suite's ``la``. A program runs every case of one file in test-number order
(later store cases read what earlier ones wrote, as in the suite) and leaves the suite's verdict
in ``gp`` (x3): 1 on success, ``2 * testnum + 1`` on the first failing case.

Left out of the two directories (docs/isa.md, "The scalar subset", says why): the A extension's
files (``amo*_w``, ``lrsc``), ``fence_i`` (Zifencei: the text section cannot be written),
``ma_data`` (misaligned data access, which traps on this machine), the RV64-only files of the
earlier layout (``*w``, ``ld``, ``lwu``, ``sd``) and ``ld_st``/``st_ld`` (later additions that
combine the load and store files ported here).
"""

from pathlib import Path

import pytest

from isa.assembler import assemble
from runtime.config import preset
from runtime.machine import Machine
from tests.runtime.rv32_cases import CUSTOM, DATA, FILES, SKIP

M = 0xFFFFFFFF


def _check(n: int, reg: str, result: int, code: str) -> str:
    """TEST_CASE: run ``code``, compare ``reg`` with the masked expected value."""
    return f"test_{n}:\n li x3, {n}\n {code}\n li x7, {result & M}\n bne {reg}, x7, fail\n"


def rr(inst: str, case) -> str:
    """TEST_RR_OP and its source/destination and zero-register forms."""
    n, macro, *v = case
    if macro == "ZERODEST":
        a, b = v
        return _check(n, "x0", 0, f"li x1, {a & M}\n li x2, {b & M}\n {inst} x0, x1, x2")
    result, *ops = v
    a, b = (ops + [0, 0])[:2]
    code, reg = {
        "RR_OP": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x14, x11, x12", "x14"),
        "SRC1_EQ_DEST": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x11, x11, x12", "x11"),
        "SRC2_EQ_DEST": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x12, x11, x12", "x12"),
        "SRC12_EQ_DEST": (f"li x11, {a & M}\n {inst} x11, x11, x11", "x11"),
        "ZEROSRC1": (f"li x1, {a & M}\n {inst} x2, x0, x1", "x2"),
        "ZEROSRC2": (f"li x1, {a & M}\n {inst} x2, x1, x0", "x2"),
        "ZEROSRC12": (f"{inst} x1, x0, x0", "x1"),
    }[macro]
    return _check(n, reg, result, code)


def _sext12(i: int) -> int:
    """SEXT_IMM: the suite's 12-bit immediate pattern, sign-extended."""
    return i - 0x1000 if i & 0x800 else i


def imm(inst: str, case) -> str:
    """TEST_IMM_OP and its source/destination and zero-register forms."""
    n, macro, *v = case
    if macro == "ZEROSRC1":
        return _check(n, "x1", v[0], f"{inst} x1, x0, {_sext12(v[1])}")
    if macro == "ZERODEST":
        return _check(n, "x0", 0, f"li x1, {v[0] & M}\n {inst} x0, x1, {_sext12(v[1])}")
    result, a, i = v
    reg = "x14" if macro == "IMM_OP" else "x11"
    src = "x13" if macro == "IMM_OP" else "x11"
    return _check(n, reg, result, f"li {src}, {a & M}\n {inst} {reg}, {src}, {_sext12(i)}")


def br(inst: str, case) -> str:
    """TEST_BR2_OP_TAKEN / _NOTTAKEN (forward and backward), and the bypass form (not
    taken)."""
    n, macro, a, b = case
    head = f"test_{n}:\n li x3, {n}\n li x1, {a & M}\n li x2, {b & M}\n"
    if macro == "TAKEN":
        return head + (f" {inst} x1, x2, .L{n}b\n bne x0, x3, fail\n"
                       f".L{n}a: bne x0, x3, .L{n}c\n.L{n}b: {inst} x1, x2, .L{n}a\n"
                       f" bne x0, x3, fail\n.L{n}c:\n")
    if macro == "NOTTAKEN":
        return head + (f" {inst} x1, x2, .L{n}a\n bne x0, x3, .L{n}b\n"
                       f".L{n}a: bne x0, x3, fail\n.L{n}b: {inst} x1, x2, .L{n}a\n")
    return head + f" {inst} x1, x2, fail\n"


def ld(inst: str, case) -> str:
    """TEST_LD_OP (and the load bypass forms)."""
    n, result, offset, base = case
    return _check(n, "x14", result, f"li x2, {base}\n {inst} x14, {offset}(x2)")


def st(inst: str, case) -> str:
    """TEST_ST_OP (and the store bypass forms)."""
    n, load, result, offset, base = case
    return _check(n, "x14", result, f"li x2, {base}\n li x1, {result & M}\n"
                                    f" {inst} x1, {offset}(x2)\n {load} x14, {offset}(x2)")


def custom(case) -> str:
    """TEST_CASE with the suite's code (in our syntax)."""
    n, result, code, *reg = case
    return _check(n, reg[0] if reg else "x14", result, code)


def skip(n: int, jump: str) -> str:
    """The instructions after a taken branch or jump do not run."""
    return custom((n, 3, f"li x14, 1\n {jump} .Ls{n}\n" + " addi x14, x14, 1\n" * 4
                   + f".Ls{n}: addi x14, x14, 1\n addi x14, x14, 1"))


SHIM = {"rr": rr, "imm": imm, "br": br, "ld": ld, "st": st}


def program(body: str, data: str = "") -> str:
    return (f"{body}\n li x3, 1\n halt\nfail:\n slli x3, x3, 1\n ori x3, x3, 1\n halt\n"
            f".data\n{data}")


def suite_file(name: str) -> str:
    """The program of one file: every case, in test-number order."""
    family, inst, cases = FILES[name]
    parts = [(c[0], SHIM[family](inst, c)) for c in cases]
    parts += [(c[0], custom(c)) for c in CUSTOM.get(name, ())]
    if name in SKIP:
        parts.append((SKIP[name][0], skip(*SKIP[name])))
    return program("".join(text for _, text in sorted(parts, key=lambda p: p[0])),
                   DATA.get(name, ""))


def verdict(src: str) -> int:
    m = Machine(preset("ideal"), assemble(src).obj)
    m.run({})
    return m.state.x[3]


@pytest.mark.parametrize("name", sorted(FILES))
def test_suite_file_passes(name):
    assert verdict(suite_file(name)) == 1


def test_every_case_of_a_file_runs_once():
    # Test numbers are unique in each file and start at 2, as in the suite.
    for name, (_, _, cases) in FILES.items():
        nums = [c[0] for c in cases] + [c[0] for c in CUSTOM.get(name, ())]
        nums += [SKIP[name][0]] if name in SKIP else []
        assert len(nums) == len(set(nums)) and (not nums or min(nums) == 2), name


ISSUE_LIST = """add addi sub and andi or ori xor xori sll slli srl srli sra srai slt slti sltu
    sltiu lui auipc lb lbu lh lhu lw sb sh sw beq bne blt bge bltu bgeu jal jalr mul mulh mulhsu
    mulhu div divu rem remu simple"""


def test_the_ported_files_are_the_issue_list():
    assert {n.split("/")[1] for n in FILES} == set(ISSUE_LIST.split())


def test_docs_count_the_ported_files():
    text = (Path(__file__).resolve().parents[2] / "docs" / "isa.md").read_text()
    assert f"test suite's {len(FILES)} files for these instructions" in text


@pytest.mark.parametrize("src", [
    program(rr("add", (3, "RR_OP", 0x00000003, 0x00000001, 0x00000001))),
    program(rr("add", (3, "ZEROSRC1", 2, 1))),
    program(imm("addi", (3, "IMM_OP", 0x00000003, 0x00000001, 0x001))),
    program(br("bltu", (3, "TAKEN", 0x00000001, 0x00000000))),
    program(br("bltu", (3, "NOTTAKEN", 0x00000000, 0x00000001))),
    program(br("bltu", (3, "BYPASS", 0x00000000, 0x00000001))),
    program(ld("lb", (3, 0x000000FF, 0, "tdat")), DATA["rv32ui/lb"]),
    program(st("sb", (3, "lbu", 0xFFFFFFAA, 0, "tdat")), DATA["rv32ui/sb"]),
    program(custom((3, 1, "li x14, 2"))),
    program(skip(3, "bne x0, x0,")),
], ids=["rr", "zerosrc", "imm", "taken", "nottaken", "bypass", "load", "store", "custom",
        "skip"])
def test_the_shim_reports_a_failing_case(src):
    # Each macro can fail: a wrong expected value, or a branch that goes the other way, stops
    # at its case with the suite's verdict 2 * testnum + 1.
    assert verdict(src) == 2 * 3 + 1
