"""RV32IM cases of the official RISC-V unprivileged test suite (riscv-software-src/riscv-tests,
``isa/rv32ui`` and ``isa/rv32um``; the M cases also sit under ``isa/rv32ui`` in an earlier layout
of the suite), ported to our assembler: the files add, addi, sra, bltu, lb, lh, lhu, sb, sh and
auipc of rv32ui, and mulh, mulhsu, mulhu, div, divu, rem and remu of the M extension.

The case values below are the suite's (file, test number, expected result, operands), written as
Python data; :func:`rr`, :func:`imm`, :func:`br2`, :func:`ld` and :func:`st` are our shim for
the suite's macros (``test_macros.h``): each emits the
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

SRA = (  # isa/rv32ui/sra.S
    *((n, "RR_OP", r, a, b) for n, r, a, b in (
        (2, 0x80000000, 0x80000000, 0), (3, 0xC0000000, 0x80000000, 1),
        (4, 0xFF000000, 0x80000000, 7), (5, 0xFFFE0000, 0x80000000, 14),
        (6, 0xFFFFFFFF, 0x80000001, 31), (7, 0x7FFFFFFF, 0x7FFFFFFF, 0),
        (8, 0x3FFFFFFF, 0x7FFFFFFF, 1), (9, 0x00FFFFFF, 0x7FFFFFFF, 7),
        (10, 0x0001FFFF, 0x7FFFFFFF, 14), (11, 0x00000000, 0x7FFFFFFF, 31),
        (12, 0x81818181, 0x81818181, 0), (13, 0xC0C0C0C0, 0x81818181, 1),
        (14, 0xFF030303, 0x81818181, 7), (15, 0xFFFE0606, 0x81818181, 14),
        (16, 0xFFFFFFFF, 0x81818181, 31),
        # shifts use only the bottom five bits
        (17, 0x81818181, 0x81818181, 0xFFFFFFC0), (18, 0xC0C0C0C0, 0x81818181, 0xFFFFFFC1),
        (19, 0xFF030303, 0x81818181, 0xFFFFFFC7), (20, 0xFFFE0606, 0x81818181, 0xFFFFFFCE),
        (21, 0xFFFFFFFF, 0x81818181, 0xFFFFFFFF),
        (25, 0xFF000000, 0x80000000, 7), (26, 0xFFFE0000, 0x80000000, 14),  # bypass
        (27, 0xFFFFFFFF, 0x80000000, 31))),
    (22, "SRC1_EQ_DEST", 0xFF000000, 0x80000000, 7),
    (23, "SRC2_EQ_DEST", 0xFFFE0000, 0x80000000, 14),
    (24, "SRC12_EQ_DEST", 0, 7),
    (40, "ZEROSRC1", 0, 15), (41, "ZEROSRC2", 32, 32), (42, "ZEROSRC12", 0),
    (43, "ZERODEST", 1024, 2048),
)
DIVU = (  # isa/rv32ui/divu.S
    (2, "RR_OP", 3, 20, 6), (3, "RR_OP", 715827879, -20, 6), (4, "RR_OP", 0, 20, -6),
    (5, "RR_OP", 0, -20, -6), (6, "RR_OP", -1 << 31, -1 << 31, 1),
    (7, "RR_OP", 0, -1 << 31, -1), (8, "RR_OP", -1, -1 << 31, 0), (9, "RR_OP", -1, 1, 0),
    (10, "RR_OP", -1, 0, 0),
)
REMU = (  # isa/rv32ui/remu.S
    (2, "RR_OP", 2, 20, 6), (3, "RR_OP", 2, -20, 6), (4, "RR_OP", 20, 20, -6),
    (5, "RR_OP", -20, -20, -6), (6, "RR_OP", 0, -1 << 63, 1),
    (7, "RR_OP", -1 << 63, -1 << 63, -1), (8, "RR_OP", -1 << 63, -1 << 63, 0),
    (9, "RR_OP", 1, 1, 0), (10, "RR_OP", 0, 0, 0),
)

# Immediates: (testnum, macro, result, val1, imm) with macro IMM_OP or SRC1_EQ_DEST,
# (testnum, "ZEROSRC1", result, imm) and (testnum, "ZERODEST", val1, imm); imm is the suite's
# 12-bit pattern, sign-extended as SEXT_IMM does.
ADDI = (  # isa/rv32ui/addi.S
    *((n, "IMM_OP", r, a, i) for n, r, a, i in (
        (2, 0x00000000, 0x00000000, 0x000), (3, 0x00000002, 0x00000001, 0x001),
        (4, 0x0000000A, 0x00000003, 0x007), (5, 0xFFFFF800, 0x00000000, 0x800),
        (6, 0x80000000, 0x80000000, 0x000), (7, 0x7FFFF800, 0x80000000, 0x800),
        (8, 0x000007FF, 0x00000000, 0x7FF), (9, 0x7FFFFFFF, 0x7FFFFFFF, 0x000),
        (10, 0x800007FE, 0x7FFFFFFF, 0x7FF), (11, 0x800007FF, 0x80000000, 0x7FF),
        (12, 0x7FFFF7FF, 0x7FFFFFFF, 0x800), (13, 0xFFFFFFFF, 0x00000000, 0xFFF),
        (14, 0x00000000, 0xFFFFFFFF, 0x001), (15, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFF),
        (16, 0x80000000, 0x7FFFFFFF, 0x001),
        (18, 24, 13, 11), (19, 23, 13, 10), (20, 22, 13, 9))),  # bypass
    (17, "SRC1_EQ_DEST", 24, 13, 11),
    (24, "ZEROSRC1", 32, 32),
    (25, "ZERODEST", 33, 50),
)

# Branches: (testnum, macro, val1, val2) with macro TAKEN, NOTTAKEN or BYPASS (not taken).
BLTU = (  # isa/rv32ui/bltu.S
    (2, "TAKEN", 0x00000000, 0x00000001), (3, "TAKEN", 0xFFFFFFFE, 0xFFFFFFFF),
    (4, "TAKEN", 0x00000000, 0xFFFFFFFF),
    (5, "NOTTAKEN", 0x00000001, 0x00000000), (6, "NOTTAKEN", 0xFFFFFFFF, 0xFFFFFFFE),
    (7, "NOTTAKEN", 0xFFFFFFFF, 0x00000000), (8, "NOTTAKEN", 0x80000000, 0x7FFFFFFF),
    (9, "BYPASS", 0xF0000000, 0xEFFFFFFF),
)
BLTU_CUSTOM = (  # bltu.S test 21: the instructions after a taken branch do not run
    (21, 3, ("li x14, 1\n bltu x0, x14, .Ls21\n addi x14, x14, 1\n addi x14, x14, 1\n"
             " addi x14, x14, 1\n addi x14, x14, 1\n.Ls21: addi x14, x14, 1\n"
             " addi x14, x14, 1")),
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

LH = (  # isa/rv32ui/lh.S, on the data of lhu.S
    (2, 0x000000FF, 0, "tdat"), (3, 0xFFFFFF00, 2, "tdat"),
    (4, 0x00000FF0, 4, "tdat"), (5, 0xFFFFF00F, 6, "tdat"),
    (6, 0x000000FF, -6, "tdat4"), (7, 0xFFFFFF00, -4, "tdat4"),
    (8, 0x00000FF0, -2, "tdat4"), (9, 0xFFFFF00F, 0, "tdat4"),
    (12, 0x00000FF0, 2, "tdat2"), (13, 0xFFFFF00F, 2, "tdat3"), (14, 0xFFFFFF00, 2, "tdat1"),
)
LH_CUSTOM = (  # lh.S tests 10 and 11
    (10, 0x000000FF, "li x1, tdat\n addi x1, x1, -32\n lh x14, 32(x1)"),
    (11, 0xFFFFFF00, "li x1, tdat\n addi x1, x1, -5\n lh x14, 7(x1)"),
)

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


def _sext12(i: int) -> int:
    return i - 0x1000 if i & 0x800 else i


def imm(inst: str, case) -> str:
    n, macro, *v = case
    if macro == "ZEROSRC1":
        return _check(n, "x1", v[0], f"{inst} x1, x0, {_sext12(v[1])}")
    if macro == "ZERODEST":
        return _check(n, "x0", 0, f"li x1, {v[0] & M}\n {inst} x0, x1, {_sext12(v[1])}")
    result, a, i = v
    reg = "x14" if macro == "IMM_OP" else "x11"
    src = "x13" if macro == "IMM_OP" else "x11"
    return _check(n, reg, result, f"li {src}, {a & M}\n {inst} {reg}, {src}, {_sext12(i)}")


def br2(inst: str, case) -> str:
    """TEST_BR2_OP_TAKEN / _NOTTAKEN (forward and backward), and the bypass form."""
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
    "rv32um/divu": program("".join(rr("divu", c) for c in DIVU)),
    "rv32um/remu": program("".join(rr("remu", c) for c in REMU)),
    "rv32ui/sra": program("".join(rr("sra", c) for c in SRA)),
    "rv32ui/addi": program("".join(imm("addi", c) for c in ADDI)),
    "rv32ui/bltu": program("".join(br2("bltu", c) for c in BLTU)
                           + "".join(map(custom, BLTU_CUSTOM))),
    "rv32ui/lh": program("".join(ld("lh", c) for c in LH) + "".join(map(custom, LH_CUSTOM)),
                         LHU_DATA),
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


@pytest.mark.parametrize("src", [
    program(rr("add", (3, "RR_OP", 0x00000003, 0x00000001, 0x00000001))),
    program(imm("addi", (3, "IMM_OP", 0x00000003, 0x00000001, 0x001))),
    program(br2("bltu", (3, "TAKEN", 0x00000001, 0x00000000))),
    program(br2("bltu", (3, "NOTTAKEN", 0x00000000, 0x00000001))),
    program(br2("bltu", (3, "BYPASS", 0x00000000, 0x00000001))),
    program(ld("lb", (3, 0x000000FF, 0, "tdat")), LB_DATA),
    program(st("sb", (3, "lbu", 0xFFFFFFAA, 0, "tdat")), SB_DATA),
], ids=["rr", "imm", "taken", "nottaken", "bypass", "load", "store"])
def test_the_shim_reports_a_failing_case(src):
    # Each macro can fail: a wrong expected value, or a branch that goes the other way, stops
    # at its case with the suite's verdict 2 * testnum + 1.
    assert verdict(src) == 2 * 3 + 1
