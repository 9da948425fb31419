"""RV32IM cases of the official RISC-V unprivileged test suite (riscv-software-src/riscv-tests,
``isa/rv32ui`` and ``isa/rv32um``), ported to our assembler.

The case values below are the suite's (file, test number, expected result, operands), written as
Python data; :func:`expand` is our shim for the suite's macros (``test_macros.h``): it emits the
same instruction sequence (``li`` of the masked operands, the instruction, ``li x7, expected``,
``bne ..., fail``), with ``li x2, label`` for the suite's ``la``. The pipeline-bypass variants run
as their plain form: this machine has no pipeline, so only their values matter. A program runs
every case of one file in order (later store cases read what earlier ones wrote, as in the suite)
and leaves the suite's verdict in ``gp`` (x3): 1 on success, ``2 * testnum + 1`` on the first
failing case.
"""

import pytest

from isa.assembler import assemble
from runtime.config import preset
from runtime.machine import Machine

M = 0xFFFFFFFF

# ---- the suite's cases --------------------------------------------------------------------------
# RR: (testnum, macro, result, val1, val2); macro is RR_OP, SRC1_EQ_DEST, SRC2_EQ_DEST,
# SRC12_EQ_DEST (val1 only), ZEROSRC1/ZEROSRC2 (one value), ZEROSRC12, ZERODEST (val1, val2).

ADD = (  # isa/rv32ui/add.S
    (2, "RR_OP", 0x00000000, 0x00000000, 0x00000000),
    (3, "RR_OP", 0x00000002, 0x00000001, 0x00000001),
    (4, "RR_OP", 0x0000000A, 0x00000003, 0x00000007),
    (5, "RR_OP", 0xFFFF8000, 0x00000000, 0xFFFF8000),
    (6, "RR_OP", 0x80000000, 0x80000000, 0x00000000),
    (7, "RR_OP", 0x7FFF8000, 0x80000000, 0xFFFF8000),
    (8, "RR_OP", 0x00007FFF, 0x00000000, 0x00007FFF),
    (9, "RR_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0x00000000),
    (10, "RR_OP", 0x80007FFE, 0x7FFFFFFF, 0x00007FFF),
    (11, "RR_OP", 0x80007FFF, 0x80000000, 0x00007FFF),
    (12, "RR_OP", 0x7FFF7FFF, 0x7FFFFFFF, 0xFFFF8000),
    (13, "RR_OP", 0xFFFFFFFF, 0x00000000, 0xFFFFFFFF),
    (14, "RR_OP", 0x00000000, 0xFFFFFFFF, 0x00000001),
    (15, "RR_OP", 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF),
    (16, "RR_OP", 0x80000000, 0x00000001, 0x7FFFFFFF),
    (17, "SRC1_EQ_DEST", 24, 13, 11),
    (18, "SRC2_EQ_DEST", 25, 14, 11),
    (19, "SRC12_EQ_DEST", 26, 13),
    *((n, "RR_OP", r, a, 11) for n, r, a in ((20, 24, 13), (21, 25, 14), (22, 26, 15))),
    (35, "ZEROSRC1", 15, 15),
    (36, "ZEROSRC2", 32, 32),
    (37, "ZEROSRC12", 0),
    (38, "ZERODEST", 16, 30),
)

MULH = (  # isa/rv32um/mulh.S
    (2, "RR_OP", 0x00000000, 0x00000000, 0x00000000),
    (3, "RR_OP", 0x00000000, 0x00000001, 0x00000001),
    (4, "RR_OP", 0x00000000, 0x00000003, 0x00000007),
    (5, "RR_OP", 0x00000000, 0x00000000, 0xFFFF8000),
    (6, "RR_OP", 0x00000000, 0x80000000, 0x00000000),
    (7, "RR_OP", 0x00004000, 0x80000000, 0xFFFF8000),
    (30, "RR_OP", 0xFFFF0081, 0xAAAAAAAB, 0x0002FE7D),
    (31, "RR_OP", 0xFFFF0081, 0x0002FE7D, 0xAAAAAAAB),
    (32, "RR_OP", 0x00010000, 0xFF000000, 0xFF000000),
    (33, "RR_OP", 0x00000000, 0xFFFFFFFF, 0xFFFFFFFF),
    (34, "RR_OP", 0xFFFFFFFF, 0xFFFFFFFF, 0x00000001),
    (35, "RR_OP", 0xFFFFFFFF, 0x00000001, 0xFFFFFFFF),
    (8, "SRC1_EQ_DEST", 36608, 13 << 20, 11 << 20),
    (9, "SRC2_EQ_DEST", 39424, 14 << 20, 11 << 20),
    (10, "SRC12_EQ_DEST", 43264, 13 << 20),
    (11, "RR_OP", 36608, 13 << 20, 11 << 20),  # DEST_BYPASS 11..13
    (12, "RR_OP", 39424, 14 << 20, 11 << 20),
    (13, "RR_OP", 42240, 15 << 20, 11 << 20),
    (26, "ZEROSRC1", 0, 31 << 26),
    (27, "ZEROSRC2", 0, 32 << 26),
    (28, "ZEROSRC12", 0),
    (29, "ZERODEST", 33 << 20, 34 << 20),
)

# The source/destination, bypass and zero-register cases of mulhsu.S and mulhu.S are those of
# mulh.S (same values), so they share them.
_MUL_SHARED = tuple(c for c in MULH if c[0] < 7 or 8 <= c[0] <= 29)
MULHSU = (  # isa/rv32ui/mulhsu.S (the rv32um cases in an earlier layout of the suite)
    *_MUL_SHARED,
    (7, "RR_OP", 0x80004000, 0x80000000, 0xFFFF8000),
)
MULHU = (  # isa/rv32ui/mulhu.S
    *_MUL_SHARED,
    (7, "RR_OP", 0x7FFFC000, 0x80000000, 0xFFFF8000),
    (30, "RR_OP", 0x0001FEFE, 0xAAAAAAAB, 0x0002FE7D),
    (31, "RR_OP", 0x0001FEFE, 0x0002FE7D, 0xAAAAAAAB),
)
# div.S and rem.S write their extreme operand as -1<<63, which MASK_XLEN makes 0 on RV32.
DIV = (  # isa/rv32ui/div.S
    (2, "RR_OP", 3, 20, 6), (3, "RR_OP", -3, -20, 6), (4, "RR_OP", -3, 20, -6),
    (5, "RR_OP", 3, -20, -6), (6, "RR_OP", -1 << 63, -1 << 63, 1),
    (7, "RR_OP", -1 << 63, -1 << 63, -1), (8, "RR_OP", -1, -1 << 63, 0),
    (9, "RR_OP", -1, 1, 0), (10, "RR_OP", -1, 0, 0),
)
REM = (  # isa/rv32ui/rem.S
    (2, "RR_OP", 2, 20, 6), (3, "RR_OP", -2, -20, 6), (4, "RR_OP", 2, 20, -6),
    (5, "RR_OP", -2, -20, -6), (6, "RR_OP", 0, -1 << 63, 1), (7, "RR_OP", 0, -1 << 63, -1),
    (8, "RR_OP", -1 << 63, -1 << 63, 0), (9, "RR_OP", 1, 1, 0), (10, "RR_OP", 0, 0, 0),
)
AUIPC = (  # isa/rv32ui/auipc.S: lla (auipc + addi) of 1f +- 10000, minus the address of 1f
    *((n, d, (f".Lp{n}: auipc x14, %hi(.Lt{n} + {d} - .Lp{n})\n"
               f" addi x14, x14, %lo(.Lt{n} + {d} - .Lp{n})\n jal x11, .Lt{n}\n"
               f".Lt{n}: sub x14, x14, x11")) for n, d in ((2, 10000), (3, -10000))),
)

# Loads: (testnum, result, offset, base label); TEST_LD_OP / LD_DEST_BYPASS / LD_SRC1_BYPASS.
LB = (  # isa/rv32ui/lb.S
    (2, 0xFFFFFFFF, 0, "tdat"), (3, 0x00000000, 1, "tdat"),
    (4, 0xFFFFFFF0, 2, "tdat"), (5, 0x0000000F, 3, "tdat"),
    (6, 0xFFFFFFFF, -3, "tdat4"), (7, 0x00000000, -2, "tdat4"),
    (8, 0xFFFFFFF0, -1, "tdat4"), (9, 0x0000000F, 0, "tdat4"),
    (12, 0xFFFFFFF0, 1, "tdat2"), (13, 0x0000000F, 1, "tdat3"), (14, 0x00000000, 1, "tdat1"),
)
LB_CUSTOM = (  # lb.S tests 10 (negative base) and 11 (unaligned base): (testnum, result, code)
    (10, 0xFFFFFFFF, "li x1, tdat\n addi x1, x1, -32\n lb x14, 32(x1)"),
    (11, 0x00000000, "li x1, tdat\n addi x1, x1, -6\n lb x14, 7(x1)"),
)
# .data holds words: the suite's bytes 0xff 0x00 0xf0 0x0f (tdat1..tdat4), little-endian.
LB_DATA = "tdat:\ntdat1: .word 0x0ff000ff\n" + "".join(
    f".equ tdat{k}, tdat + {k - 1}\n" for k in (2, 3, 4))

LHU = (  # isa/rv32ui/lhu.S
    (2, 0x000000FF, 0, "tdat"), (3, 0x0000FF00, 2, "tdat"),
    (4, 0x00000FF0, 4, "tdat"), (5, 0x0000F00F, 6, "tdat"),
    (6, 0x000000FF, -6, "tdat4"), (7, 0x0000FF00, -4, "tdat4"),
    (8, 0x00000FF0, -2, "tdat4"), (9, 0x0000F00F, 0, "tdat4"),
    (12, 0x00000FF0, 2, "tdat2"), (13, 0x0000F00F, 2, "tdat3"), (14, 0x0000FF00, 2, "tdat1"),
)
LHU_CUSTOM = (  # lhu.S tests 10 and 11
    (10, 0x000000FF, "li x1, tdat\n addi x1, x1, -32\n lhu x14, 32(x1)"),
    (11, 0x0000FF00, "li x1, tdat\n addi x1, x1, -5\n lhu x14, 7(x1)"),
)
# The suite's halfwords 0x00ff 0xff00 0x0ff0 0xf00f (tdat1..tdat4).
LHU_DATA = "tdat:\ntdat1: .word 0xff0000ff, 0xf00f0ff0\n" + "".join(
    f".equ tdat{k}, tdat + {2 * (k - 1)}\n" for k in (2, 3, 4))

# Stores: (testnum, load, result, offset, base); TEST_ST_OP / ST_SRC12_BYPASS / ST_SRC21_BYPASS.
SH = (  # isa/rv32ui/sh.S
    (2, "lh", 0x000000AA, 0, "tdat"), (3, "lh", 0xFFFFAA00, 2, "tdat"),
    (4, "lw", 0xBEEF0AA0, 4, "tdat"), (5, "lh", 0xFFFFA00A, 6, "tdat"),
    (6, "lh", 0x000000AA, -6, "tdat8"), (7, "lh", 0xFFFFAA00, -4, "tdat8"),
    (8, "lh", 0x00000AA0, -2, "tdat8"), (9, "lh", 0xFFFFA00A, 0, "tdat8"),
    (12, "lh", 0xFFFFCCDD, 0, "tdat"), (13, "lh", 0xFFFFBCCD, 2, "tdat"),
    (14, "lh", 0xFFFFBBCC, 4, "tdat"), (15, "lh", 0xFFFFABBC, 6, "tdat"),
    (16, "lh", 0xFFFFAABB, 8, "tdat"), (17, "lh", 0xFFFFDAAB, 10, "tdat"),
    (18, "lh", 0x2233, 0, "tdat"), (19, "lh", 0x1223, 2, "tdat"), (20, "lh", 0x1122, 4, "tdat"),
    (21, "lh", 0x0112, 6, "tdat"), (22, "lh", 0x0011, 8, "tdat"), (23, "lh", 0x3001, 10, "tdat"),
)
SH_CUSTOM = (  # sh.S tests 10, 11 and 24 (the upper half of the word is kept)
    (10, 0x5678, ("li x1, tdat9\n li x2, 0x12345678\n addi x4, x1, -32\n sh x2, 32(x4)\n"
                  " lh x14, 0(x1)")),
    (11, 0x3098, ("li x1, tdat9\n li x2, 0x00003098\n addi x1, x1, -5\n sh x2, 7(x1)\n"
                  " li x4, tdat10\n lh x14, 0(x4)")),
    (24, 0x12343098, "li x1, tdat11\n li x2, 0x00003098\n sh x2, 0(x1)\n lw x14, 0(x1)"),
)
# The suite's halfwords 0xbeef (tdat1..tdat10), then the word 0x12345678 (tdat11).
SH_DATA = "tdat:\ntdat1: .word " + ", ".join(["0xbeefbeef"] * 5) + "\ntdat11: .word 0x12345678\n" \
    + "".join(f".equ tdat{k}, tdat + {2 * (k - 1)}\n" for k in range(2, 11))


SB = (  # isa/rv32ui/sb.S (little-endian variant of test 4)
    (2, "lb", 0xFFFFFFAA, 0, "tdat"), (3, "lb", 0x00000000, 1, "tdat"),
    (4, "lh", 0xFFFFEFA0, 2, "tdat"), (5, "lb", 0x0000000A, 3, "tdat"),
    (6, "lb", 0xFFFFFFAA, -3, "tdat8"), (7, "lb", 0x00000000, -2, "tdat8"),
    (8, "lb", 0xFFFFFFA0, -1, "tdat8"), (9, "lb", 0x0000000A, 0, "tdat8"),
    (12, "lb", 0xFFFFFFDD, 0, "tdat"), (13, "lb", 0xFFFFFFCD, 1, "tdat"),
    (14, "lb", 0xFFFFFFCC, 2, "tdat"), (15, "lb", 0xFFFFFFBC, 3, "tdat"),
    (16, "lb", 0xFFFFFFBB, 4, "tdat"), (17, "lb", 0xFFFFFFAB, 5, "tdat"),
    (18, "lb", 0x33, 0, "tdat"), (19, "lb", 0x23, 1, "tdat"), (20, "lb", 0x22, 2, "tdat"),
    (21, "lb", 0x12, 3, "tdat"), (22, "lb", 0x11, 4, "tdat"), (23, "lb", 0x01, 5, "tdat"),
)
SB_CUSTOM = (  # sb.S tests 10 and 11
    (10, 0x78, ("li x1, tdat9\n li x2, 0x12345678\n addi x4, x1, -32\n sb x2, 32(x4)\n"
                " lb x14, 0(x1)")),
    (11, 0xFFFFFF98, ("li x1, tdat9\n li x2, 0x00003098\n addi x1, x1, -6\n sb x2, 7(x1)\n"
                      " li x4, tdat10\n lb x14, 0(x4)")),
)
# The suite's bytes 0xef (tdat1..tdat10), in words.
SB_DATA = "tdat:\ntdat1: .word 0xefefefef, 0xefefefef, 0xefefefef\n" + "".join(
    f".equ tdat{k}, tdat + {k - 1}\n" for k in range(2, 11))


# ---- the macro shim ------------------------------------------------------------------------------


def _check(n: int, reg: str, result: int, code: str) -> str:
    """TEST_CASE: run ``code``, compare ``reg`` with the masked expected value."""
    return f"test_{n}:\n li x3, {n}\n {code}\n li x7, {result & M}\n bne {reg}, x7, fail\n"


def rr(inst: str, case) -> str:
    n, macro, result, *v = case
    a, b = (list(v) + [0, 0])[:2]
    code = {
        "RR_OP": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x14, x11, x12", "x14"),
        "SRC1_EQ_DEST": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x11, x11, x12", "x11"),
        "SRC2_EQ_DEST": (f"li x11, {a & M}\n li x12, {b & M}\n {inst} x12, x11, x12", "x12"),
        "SRC12_EQ_DEST": (f"li x11, {a & M}\n {inst} x11, x11, x11", "x11"),
        "ZEROSRC1": (f"li x1, {a & M}\n {inst} x2, x0, x1", "x2"),
        "ZEROSRC2": (f"li x1, {a & M}\n {inst} x2, x1, x0", "x2"),
        "ZEROSRC12": (f"{inst} x1, x0, x0", "x1"),
        "ZERODEST": (f"li x1, {a & M}\n li x2, {b & M}\n {inst} x0, x1, x2", "x0"),
    }[macro]
    return _check(n, code[1], 0 if macro == "ZERODEST" else result, code[0])


def ld(inst: str, case) -> str:
    n, result, offset, base = case
    return _check(n, "x14", result, f"li x2, {base}\n {inst} x14, {offset}(x2)")


def st(inst: str, case) -> str:
    n, load, result, offset, base = case
    return _check(n, "x14", result, f"li x2, {base}\n li x1, {result & M}\n"
                                    f" {inst} x1, {offset}(x2)\n {load} x14, {offset}(x2)")


def custom(case) -> str:
    n, result, code = case
    return _check(n, "x14", result, code)


def program(body: str, data: str = "") -> str:
    return (f"{body}\n li x3, 1\n halt\nfail:\n slli x3, x3, 1\n ori x3, x3, 1\n halt\n"
            f".data\n{data}")


def verdict(src: str) -> int:
    m = Machine(preset("ideal"), assemble(src).obj)
    m.run({})
    return m.state.x[3]


SUITES = {
    "rv32ui/add": program("".join(rr("add", c) for c in ADD)),
    "rv32um/mulh": program("".join(rr("mulh", c) for c in MULH)),
    "rv32um/mulhsu": program("".join(rr("mulhsu", c) for c in MULHSU)),
    "rv32um/mulhu": program("".join(rr("mulhu", c) for c in MULHU)),
    "rv32um/div": program("".join(rr("div", c) for c in DIV)),
    "rv32um/rem": program("".join(rr("rem", c) for c in REM)),
    "rv32ui/auipc": program("".join(map(custom, AUIPC))),
    "rv32ui/lhu": program("".join(ld("lhu", c) for c in LHU) + "".join(map(custom, LHU_CUSTOM)),
                          LHU_DATA),
    "rv32ui/sb": program("".join(st("sb", c) for c in SB) + "".join(map(custom, SB_CUSTOM)),
                         SB_DATA),
    "rv32ui/lb": program("".join(ld("lb", c) for c in LB) + "".join(map(custom, LB_CUSTOM)),
                         LB_DATA),
    "rv32ui/sh": program("".join(st("sh", c) for c in SH) + "".join(map(custom, SH_CUSTOM)),
                         SH_DATA),
}


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_file_passes(name):
    assert verdict(SUITES[name]) == 1


def test_a_wrong_expected_value_fails_its_case():
    # The shim can fail: test 3 of add.S with a wrong expected value stops there.
    bad = (ADD[0], (3, "RR_OP", 0x00000003, 0x00000001, 0x00000001), *ADD[2:])
    assert verdict(program("".join(rr("add", c) for c in bad))) == 2 * 3 + 1
