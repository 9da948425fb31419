"""The case values of the RISC-V unprivileged test suite (riscv-software-src/riscv-tests,
``isa/rv32ui/*.S``; the M extension's files sit in ``isa/rv32ui`` in an earlier layout of the suite
and in ``isa/rv32um`` in a later one, sltu and sltiu in ``isa/rv64ui``, whose values hold on RV32
once masked to 32 bits as the suite's MASK_XLEN does), as Python data for the macro shim of
test_rv32_suite.py. Every value is the suite's; only the notation is ours.

Register-register cases: ``(testnum, macro, result, val1, val2)`` with macro ``RR_OP``,
``SRC1_EQ_DEST`` or ``SRC2_EQ_DEST``; ``(testnum, "SRC12_EQ_DEST", result, val1)``;
``(testnum, "ZEROSRC1" or "ZEROSRC2", result, val)``; ``(testnum, "ZEROSRC12", result)``;
``(testnum, "ZERODEST", val1, val2)``. Immediate cases: ``(testnum, "IMM_OP" or "SRC1_EQ_DEST",
result, val1, imm)``, ``(testnum, "ZEROSRC1", result, imm)``, ``(testnum, "ZERODEST", val1, imm)``,
``imm`` the suite's 12-bit pattern. Branches: ``(testnum, "TAKEN" | "NOTTAKEN" | "BYPASS", val1,
val2)`` (the bypass cases expect the branch not taken). Loads: ``(testnum, result, offset,
base)``; stores: ``(testnum, load, result, offset, base)``. The suite's pipeline-bypass variants
(DEST_BYPASS, SRC12_BYPASS, SRC21_BYPASS, SRC1_BYPASS) are their plain form here: this machine has
no pipeline, so only their values matter. Custom cases (the suite's TEST_CASE bodies):
``(testnum, result, code[, register])`` in our syntax, ``li`` for the suite's ``la`` and x13/x14
where the suite's code used x3, which is the suite's TESTNUM register.
"""

ADD = (  # isa/rv32ui/add.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 2, 1, 1), (4, "RR_OP", 10, 3, 7),
    (5, "RR_OP", 0xFFFF8000, 0, 0xFFFF8000), (6, "RR_OP", 0x80000000, 0x80000000, 0),
    (7, "RR_OP", 0x7FFF8000, 0x80000000, 0xFFFF8000), (8, "RR_OP", 0x00007FFF, 0, 0x00007FFF),
    (9, "RR_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0), (10, "RR_OP", 0x80007FFE, 0x7FFFFFFF, 0x00007FFF),
    (11, "RR_OP", 0x80007FFF, 0x80000000, 0x00007FFF),
    (12, "RR_OP", 0x7FFF7FFF, 0x7FFFFFFF, 0xFFFF8000), (13, "RR_OP", 0xFFFFFFFF, 0, 0xFFFFFFFF),
    (14, "RR_OP", 0, 0xFFFFFFFF, 1), (15, "RR_OP", 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF),
    (16, "RR_OP", 0x80000000, 1, 0x7FFFFFFF), (17, "SRC1_EQ_DEST", 24, 13, 11),
    (18, "SRC2_EQ_DEST", 25, 14, 11), (19, "SRC12_EQ_DEST", 26, 13), (20, "RR_OP", 24, 13, 11),
    (21, "RR_OP", 25, 14, 11), (22, "RR_OP", 26, 15, 11), (23, "RR_OP", 24, 13, 11),
    (24, "RR_OP", 25, 14, 11), (25, "RR_OP", 26, 15, 11), (26, "RR_OP", 24, 13, 11),
    (27, "RR_OP", 25, 14, 11), (28, "RR_OP", 26, 15, 11), (29, "RR_OP", 24, 13, 11),
    (30, "RR_OP", 25, 14, 11), (31, "RR_OP", 26, 15, 11), (32, "RR_OP", 24, 13, 11),
    (33, "RR_OP", 25, 14, 11), (34, "RR_OP", 26, 15, 11), (35, "ZEROSRC1", 15, 15),
    (36, "ZEROSRC2", 32, 32), (37, "ZEROSRC12", 0), (38, "ZERODEST", 16, 30),
)

ADDI = (  # isa/rv32ui/addi.S
    (2, "IMM_OP", 0, 0, 0), (3, "IMM_OP", 2, 1, 1), (4, "IMM_OP", 10, 3, 7),
    (5, "IMM_OP", 0xFFFFF800, 0, 0x00000800), (6, "IMM_OP", 0x80000000, 0x80000000, 0),
    (7, "IMM_OP", 0x7FFFF800, 0x80000000, 0x00000800), (8, "IMM_OP", 0x000007FF, 0, 0x000007FF),
    (9, "IMM_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0), (10, "IMM_OP", 0x800007FE, 0x7FFFFFFF, 0x000007FF),
    (11, "IMM_OP", 0x800007FF, 0x80000000, 0x000007FF),
    (12, "IMM_OP", 0x7FFFF7FF, 0x7FFFFFFF, 0x00000800), (13, "IMM_OP", 0xFFFFFFFF, 0, 0x00000FFF),
    (14, "IMM_OP", 0, 0xFFFFFFFF, 1), (15, "IMM_OP", 0xFFFFFFFE, 0xFFFFFFFF, 0x00000FFF),
    (16, "IMM_OP", 0x80000000, 0x7FFFFFFF, 1), (17, "SRC1_EQ_DEST", 24, 13, 11),
    (18, "IMM_OP", 24, 13, 11), (19, "IMM_OP", 23, 13, 10), (20, "IMM_OP", 22, 13, 9),
    (21, "IMM_OP", 24, 13, 11), (22, "IMM_OP", 23, 13, 10), (23, "IMM_OP", 22, 13, 9),
    (24, "ZEROSRC1", 32, 32), (25, "ZERODEST", 33, 50),
)

SUB = (  # isa/rv32ui/sub.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 0xFFFFFFFC, 3, 7),
    (5, "RR_OP", 0x00008000, 0, 0xFFFF8000), (6, "RR_OP", 0x80000000, 0x80000000, 0),
    (7, "RR_OP", 0x80008000, 0x80000000, 0xFFFF8000), (8, "RR_OP", 0xFFFF8001, 0, 0x00007FFF),
    (9, "RR_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0), (10, "RR_OP", 0x7FFF8000, 0x7FFFFFFF, 0x00007FFF),
    (11, "RR_OP", 0x7FFF8001, 0x80000000, 0x00007FFF),
    (12, "RR_OP", 0x80007FFF, 0x7FFFFFFF, 0xFFFF8000), (13, "RR_OP", 1, 0, 0xFFFFFFFF),
    (14, "RR_OP", 0xFFFFFFFE, 0xFFFFFFFF, 1), (15, "RR_OP", 0, 0xFFFFFFFF, 0xFFFFFFFF),
    (16, "SRC1_EQ_DEST", 2, 13, 11), (17, "SRC2_EQ_DEST", 3, 14, 11),
    (18, "SRC12_EQ_DEST", 0, 13), (19, "RR_OP", 2, 13, 11), (20, "RR_OP", 3, 14, 11),
    (21, "RR_OP", 4, 15, 11), (22, "RR_OP", 2, 13, 11), (23, "RR_OP", 3, 14, 11),
    (24, "RR_OP", 4, 15, 11), (25, "RR_OP", 2, 13, 11), (26, "RR_OP", 3, 14, 11),
    (27, "RR_OP", 4, 15, 11), (28, "RR_OP", 2, 13, 11), (29, "RR_OP", 3, 14, 11),
    (30, "RR_OP", 4, 15, 11), (31, "RR_OP", 2, 13, 11), (32, "RR_OP", 3, 14, 11),
    (33, "RR_OP", 4, 15, 11), (34, "ZEROSRC1", 15, -15), (35, "ZEROSRC2", 32, 32),
    (36, "ZEROSRC12", 0), (37, "ZERODEST", 16, 30),
)

AND = (  # isa/rv32ui/and.S
    (2, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (3, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (4, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F),
    (5, "RR_OP", 0xF000F000, 0xF00FF00F, 0xF0F0F0F0),
    (6, "SRC1_EQ_DEST", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (7, "SRC2_EQ_DEST", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (8, "SRC12_EQ_DEST", 0xFF00FF00, 0xFF00FF00),
    (9, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (10, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (11, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F),
    (12, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (13, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (14, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F),
    (15, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (16, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (17, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F),
    (18, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (19, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (20, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F),
    (21, "RR_OP", 0x0F000F00, 0xFF00FF00, 0x0F0F0F0F),
    (22, "RR_OP", 0x00F000F0, 0x0FF00FF0, 0xF0F0F0F0),
    (23, "RR_OP", 0x000F000F, 0x00FF00FF, 0x0F0F0F0F), (24, "ZEROSRC1", 0, 0xFF00FF00),
    (25, "ZEROSRC2", 0, 0x00FF00FF), (26, "ZEROSRC12", 0),
    (27, "ZERODEST", 0x11111111, 0x22222222),
)

ANDI = (  # isa/rv32ui/andi.S
    (2, "IMM_OP", 0xFF00FF00, 0xFF00FF00, 0x00000F0F), (3, "IMM_OP", 240, 0x0FF00FF0, 240),
    (4, "IMM_OP", 15, 0x00FF00FF, 0x0000070F), (5, "IMM_OP", 0, 0xF00FF00F, 240),
    (6, "SRC1_EQ_DEST", 0, 0xFF00FF00, 240), (7, "IMM_OP", 0x00000700, 0x0FF00FF0, 0x0000070F),
    (8, "IMM_OP", 240, 0x00FF00FF, 240), (9, "IMM_OP", 0xF00FF00F, 0xF00FF00F, 0x00000F0F),
    (10, "IMM_OP", 0x00000700, 0x0FF00FF0, 0x0000070F), (11, "IMM_OP", 240, 0x00FF00FF, 240),
    (12, "IMM_OP", 15, 0xF00FF00F, 0x0000070F), (13, "ZEROSRC1", 0, 240),
    (14, "ZERODEST", 0x00FF00FF, 0x0000070F),
)

OR = (  # isa/rv32ui/or.S
    (2, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (3, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (4, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F),
    (5, "RR_OP", 0xF0FFF0FF, 0xF00FF00F, 0xF0F0F0F0),
    (6, "SRC1_EQ_DEST", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (7, "SRC2_EQ_DEST", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (8, "SRC12_EQ_DEST", 0xFF00FF00, 0xFF00FF00),
    (9, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (10, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (11, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F),
    (12, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (13, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (14, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F),
    (15, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (16, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (17, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F),
    (18, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (19, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (20, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F),
    (21, "RR_OP", 0xFF0FFF0F, 0xFF00FF00, 0x0F0F0F0F),
    (22, "RR_OP", 0xFFF0FFF0, 0x0FF00FF0, 0xF0F0F0F0),
    (23, "RR_OP", 0x0FFF0FFF, 0x00FF00FF, 0x0F0F0F0F), (24, "ZEROSRC1", 0xFF00FF00, 0xFF00FF00),
    (25, "ZEROSRC2", 0x00FF00FF, 0x00FF00FF), (26, "ZEROSRC12", 0),
    (27, "ZERODEST", 0x11111111, 0x22222222),
)

ORI = (  # isa/rv32ui/ori.S
    (2, "IMM_OP", 0xFFFFFF0F, 0xFF00FF00, 0x00000F0F), (3, "IMM_OP", 0x0FF00FF0, 0x0FF00FF0, 240),
    (4, "IMM_OP", 0x00FF07FF, 0x00FF00FF, 0x0000070F), (5, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240),
    (6, "SRC1_EQ_DEST", 0xFF00FFF0, 0xFF00FF00, 240), (7, "IMM_OP", 0x0FF00FF0, 0x0FF00FF0, 240),
    (8, "IMM_OP", 0x00FF07FF, 0x00FF00FF, 0x0000070F), (9, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240),
    (10, "IMM_OP", 0x0FF00FF0, 0x0FF00FF0, 240),
    (11, "IMM_OP", 0xFFFFFFFF, 0x00FF00FF, 0x00000F0F),
    (12, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240), (13, "ZEROSRC1", 240, 240),
    (14, "ZERODEST", 0x00FF00FF, 0x0000070F),
)

XOR = (  # isa/rv32ui/xor.S
    (2, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (3, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (4, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F),
    (5, "RR_OP", 0x00FF00FF, 0xF00FF00F, 0xF0F0F0F0),
    (6, "SRC1_EQ_DEST", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (7, "SRC2_EQ_DEST", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F), (8, "SRC12_EQ_DEST", 0, 0xFF00FF00),
    (9, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (10, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (11, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F),
    (12, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (13, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (14, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F),
    (15, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (16, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (17, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F),
    (18, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (19, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (20, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F),
    (21, "RR_OP", 0xF00FF00F, 0xFF00FF00, 0x0F0F0F0F),
    (22, "RR_OP", 0xFF00FF00, 0x0FF00FF0, 0xF0F0F0F0),
    (23, "RR_OP", 0x0FF00FF0, 0x00FF00FF, 0x0F0F0F0F), (24, "ZEROSRC1", 0xFF00FF00, 0xFF00FF00),
    (25, "ZEROSRC2", 0x00FF00FF, 0x00FF00FF), (26, "ZEROSRC12", 0),
    (27, "ZERODEST", 0x11111111, 0x22222222),
)

XORI = (  # isa/rv32ui/xori.S
    (2, "IMM_OP", 0xFF00F00F, 0x00FF0F00, 0x00000F0F), (3, "IMM_OP", 0x0FF00F00, 0x0FF00FF0, 240),
    (4, "IMM_OP", 0x00FF0FF0, 0x00FF08FF, 0x0000070F), (5, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240),
    (6, "SRC1_EQ_DEST", 0xFF00F00F, 0xFF00F700, 0x0000070F),
    (7, "IMM_OP", 0x0FF00F00, 0x0FF00FF0, 240), (8, "IMM_OP", 0x00FF0FF0, 0x00FF08FF, 0x0000070F),
    (9, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240), (10, "IMM_OP", 0x0FF00F00, 0x0FF00FF0, 240),
    (11, "IMM_OP", 0x00FF0FF0, 0x00FF0FFF, 15), (12, "IMM_OP", 0xF00FF0FF, 0xF00FF00F, 240),
    (13, "ZEROSRC1", 240, 240), (14, "ZERODEST", 0x00FF00FF, 0x0000070F),
)

SLL = (  # isa/rv32ui/sll.S
    (2, "RR_OP", 1, 1, 0), (3, "RR_OP", 2, 1, 1), (4, "RR_OP", 128, 1, 7),
    (5, "RR_OP", 0x00004000, 1, 14), (6, "RR_OP", 0x80000000, 1, 31),
    (7, "RR_OP", 0xFFFFFFFF, 0xFFFFFFFF, 0), (8, "RR_OP", 0xFFFFFFFE, 0xFFFFFFFF, 1),
    (9, "RR_OP", 0xFFFFFF80, 0xFFFFFFFF, 7), (10, "RR_OP", 0xFFFFC000, 0xFFFFFFFF, 14),
    (11, "RR_OP", 0x80000000, 0xFFFFFFFF, 31), (12, "RR_OP", 0x21212121, 0x21212121, 0),
    (13, "RR_OP", 0x42424242, 0x21212121, 1), (14, "RR_OP", 0x90909080, 0x21212121, 7),
    (15, "RR_OP", 0x48484000, 0x21212121, 14), (16, "RR_OP", 0x80000000, 0x21212121, 31),
    (17, "RR_OP", 0x21212121, 0x21212121, 0xFFFFFFE0),
    (18, "RR_OP", 0x42424242, 0x21212121, 0xFFFFFFE1),
    (19, "RR_OP", 0x90909080, 0x21212121, 0xFFFFFFE7),
    (20, "RR_OP", 0x48484000, 0x21212121, 0xFFFFFFEE), (21, "RR_OP", 0, 0x21212120, 0xFFFFFFFF),
    (22, "SRC1_EQ_DEST", 128, 1, 7), (23, "SRC2_EQ_DEST", 0x00004000, 1, 14),
    (24, "SRC12_EQ_DEST", 24, 3), (25, "RR_OP", 128, 1, 7), (26, "RR_OP", 0x00004000, 1, 14),
    (27, "RR_OP", 0x80000000, 1, 31), (28, "RR_OP", 128, 1, 7), (29, "RR_OP", 0x00004000, 1, 14),
    (30, "RR_OP", 0x80000000, 1, 31), (31, "RR_OP", 128, 1, 7), (32, "RR_OP", 0x00004000, 1, 14),
    (33, "RR_OP", 0x80000000, 1, 31), (34, "RR_OP", 128, 1, 7), (35, "RR_OP", 0x00004000, 1, 14),
    (36, "RR_OP", 0x80000000, 1, 31), (37, "RR_OP", 128, 1, 7), (38, "RR_OP", 0x00004000, 1, 14),
    (39, "RR_OP", 0x80000000, 1, 31), (40, "ZEROSRC1", 0, 15), (41, "ZEROSRC2", 32, 32),
    (42, "ZEROSRC12", 0), (43, "ZERODEST", 0x00000400, 0x00000800),
)

SLLI = (  # isa/rv32ui/slli.S
    (2, "IMM_OP", 1, 1, 0), (3, "IMM_OP", 2, 1, 1), (4, "IMM_OP", 128, 1, 7),
    (5, "IMM_OP", 0x00004000, 1, 14), (6, "IMM_OP", 0x80000000, 1, 31),
    (7, "IMM_OP", 0xFFFFFFFF, 0xFFFFFFFF, 0), (8, "IMM_OP", 0xFFFFFFFE, 0xFFFFFFFF, 1),
    (9, "IMM_OP", 0xFFFFFF80, 0xFFFFFFFF, 7), (10, "IMM_OP", 0xFFFFC000, 0xFFFFFFFF, 14),
    (11, "IMM_OP", 0x80000000, 0xFFFFFFFF, 31), (12, "IMM_OP", 0x21212121, 0x21212121, 0),
    (13, "IMM_OP", 0x42424242, 0x21212121, 1), (14, "IMM_OP", 0x90909080, 0x21212121, 7),
    (15, "IMM_OP", 0x48484000, 0x21212121, 14), (16, "IMM_OP", 0x80000000, 0x21212121, 31),
    (17, "SRC1_EQ_DEST", 128, 1, 7), (18, "IMM_OP", 128, 1, 7), (19, "IMM_OP", 0x00004000, 1, 14),
    (20, "IMM_OP", 0x80000000, 1, 31), (21, "IMM_OP", 128, 1, 7),
    (22, "IMM_OP", 0x00004000, 1, 14), (23, "IMM_OP", 0x80000000, 1, 31), (24, "ZEROSRC1", 0, 31),
    (25, "ZERODEST", 33, 20),
)

SRL = (  # isa/rv32ui/srl.S
    (2, "RR_OP", 0xFFFF8000, 0xFFFF8000, 0), (3, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1),
    (4, "RR_OP", 0x01FFFF00, 0xFFFF8000, 7), (5, "RR_OP", 0x0003FFFE, 0xFFFF8000, 14),
    (6, "RR_OP", 0x0001FFFF, 0xFFFF8001, 15), (7, "RR_OP", 0xFFFFFFFF, 0xFFFFFFFF, 0),
    (8, "RR_OP", 0x7FFFFFFF, 0xFFFFFFFF, 1), (9, "RR_OP", 0x01FFFFFF, 0xFFFFFFFF, 7),
    (10, "RR_OP", 0x0003FFFF, 0xFFFFFFFF, 14), (11, "RR_OP", 1, 0xFFFFFFFF, 31),
    (12, "RR_OP", 0x21212121, 0x21212121, 0), (13, "RR_OP", 0x10909090, 0x21212121, 1),
    (14, "RR_OP", 0x00424242, 0x21212121, 7), (15, "RR_OP", 0x00008484, 0x21212121, 14),
    (16, "RR_OP", 0, 0x21212121, 31), (17, "RR_OP", 0x21212121, 0x21212121, 0xFFFFFFE0),
    (18, "RR_OP", 0x10909090, 0x21212121, 0xFFFFFFE1),
    (19, "RR_OP", 0x00424242, 0x21212121, 0xFFFFFFE7),
    (20, "RR_OP", 0x00008484, 0x21212121, 0xFFFFFFEE), (21, "RR_OP", 0, 0x21212121, 0xFFFFFFFF),
    (22, "SRC1_EQ_DEST", 0x7FFFC000, 0xFFFF8000, 1),
    (23, "SRC2_EQ_DEST", 0x0003FFFE, 0xFFFF8000, 14), (24, "SRC12_EQ_DEST", 0, 7),
    (25, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1), (26, "RR_OP", 0x0003FFFE, 0xFFFF8000, 14),
    (27, "RR_OP", 0x0001FFFF, 0xFFFF8000, 15), (28, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1),
    (29, "RR_OP", 0x01FFFF00, 0xFFFF8000, 7), (30, "RR_OP", 0x0001FFFF, 0xFFFF8000, 15),
    (31, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1), (32, "RR_OP", 0x01FFFF00, 0xFFFF8000, 7),
    (33, "RR_OP", 0x0001FFFF, 0xFFFF8000, 15), (34, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1),
    (35, "RR_OP", 0x01FFFF00, 0xFFFF8000, 7), (36, "RR_OP", 0x0001FFFF, 0xFFFF8000, 15),
    (37, "RR_OP", 0x7FFFC000, 0xFFFF8000, 1), (38, "RR_OP", 0x01FFFF00, 0xFFFF8000, 7),
    (39, "RR_OP", 0x0001FFFF, 0xFFFF8000, 15), (40, "ZEROSRC1", 0, 15), (41, "ZEROSRC2", 32, 32),
    (42, "ZEROSRC12", 0), (43, "ZERODEST", 0x00000400, 0x00000800),
)

SRLI = (  # isa/rv32ui/srli.S
    (2, "IMM_OP", 0xFFFF8000, 0xFFFF8000, 0), (3, "IMM_OP", 0x7FFFC000, 0xFFFF8000, 1),
    (4, "IMM_OP", 0x01FFFF00, 0xFFFF8000, 7), (5, "IMM_OP", 0x0003FFFE, 0xFFFF8000, 14),
    (6, "IMM_OP", 0x0001FFFF, 0xFFFF8001, 15), (7, "IMM_OP", 0xFFFFFFFF, 0xFFFFFFFF, 0),
    (8, "IMM_OP", 0x7FFFFFFF, 0xFFFFFFFF, 1), (9, "IMM_OP", 0x01FFFFFF, 0xFFFFFFFF, 7),
    (10, "IMM_OP", 0x0003FFFF, 0xFFFFFFFF, 14), (11, "IMM_OP", 1, 0xFFFFFFFF, 31),
    (12, "IMM_OP", 0x21212121, 0x21212121, 0), (13, "IMM_OP", 0x10909090, 0x21212121, 1),
    (14, "IMM_OP", 0x00424242, 0x21212121, 7), (15, "IMM_OP", 0x00008484, 0x21212121, 14),
    (16, "IMM_OP", 0, 0x21212121, 31), (21, "SRC1_EQ_DEST", 0x7FFFC000, 0xFFFF8000, 1),
    (22, "IMM_OP", 0x7FFFC000, 0xFFFF8000, 1), (23, "IMM_OP", 0x0003FFFE, 0xFFFF8000, 14),
    (24, "IMM_OP", 0x0001FFFF, 0xFFFF8000, 15), (25, "IMM_OP", 0x7FFFC000, 0xFFFF8000, 1),
    (26, "IMM_OP", 0x0003FFFE, 0xFFFF8000, 14), (27, "IMM_OP", 0x0001FFFF, 0xFFFF8000, 15),
    (28, "ZEROSRC1", 0, 31), (29, "ZERODEST", 33, 20),
)

SRA = (  # isa/rv32ui/sra.S
    (2, "RR_OP", 0x80000000, 0x80000000, 0), (3, "RR_OP", 0xC0000000, 0x80000000, 1),
    (4, "RR_OP", 0xFF000000, 0x80000000, 7), (5, "RR_OP", 0xFFFE0000, 0x80000000, 14),
    (6, "RR_OP", 0xFFFFFFFF, 0x80000001, 31), (7, "RR_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0),
    (8, "RR_OP", 0x3FFFFFFF, 0x7FFFFFFF, 1), (9, "RR_OP", 0x00FFFFFF, 0x7FFFFFFF, 7),
    (10, "RR_OP", 0x0001FFFF, 0x7FFFFFFF, 14), (11, "RR_OP", 0, 0x7FFFFFFF, 31),
    (12, "RR_OP", 0x81818181, 0x81818181, 0), (13, "RR_OP", 0xC0C0C0C0, 0x81818181, 1),
    (14, "RR_OP", 0xFF030303, 0x81818181, 7), (15, "RR_OP", 0xFFFE0606, 0x81818181, 14),
    (16, "RR_OP", 0xFFFFFFFF, 0x81818181, 31), (17, "RR_OP", 0x81818181, 0x81818181, 0xFFFFFFC0),
    (18, "RR_OP", 0xC0C0C0C0, 0x81818181, 0xFFFFFFC1),
    (19, "RR_OP", 0xFF030303, 0x81818181, 0xFFFFFFC7),
    (20, "RR_OP", 0xFFFE0606, 0x81818181, 0xFFFFFFCE),
    (21, "RR_OP", 0xFFFFFFFF, 0x81818181, 0xFFFFFFFF),
    (22, "SRC1_EQ_DEST", 0xFF000000, 0x80000000, 7),
    (23, "SRC2_EQ_DEST", 0xFFFE0000, 0x80000000, 14), (24, "SRC12_EQ_DEST", 0, 7),
    (25, "RR_OP", 0xFF000000, 0x80000000, 7), (26, "RR_OP", 0xFFFE0000, 0x80000000, 14),
    (27, "RR_OP", 0xFFFFFFFF, 0x80000000, 31), (28, "RR_OP", 0xFF000000, 0x80000000, 7),
    (29, "RR_OP", 0xFFFE0000, 0x80000000, 14), (30, "RR_OP", 0xFFFFFFFF, 0x80000000, 31),
    (31, "RR_OP", 0xFF000000, 0x80000000, 7), (32, "RR_OP", 0xFFFE0000, 0x80000000, 14),
    (33, "RR_OP", 0xFFFFFFFF, 0x80000000, 31), (34, "RR_OP", 0xFF000000, 0x80000000, 7),
    (35, "RR_OP", 0xFFFE0000, 0x80000000, 14), (36, "RR_OP", 0xFFFFFFFF, 0x80000000, 31),
    (37, "RR_OP", 0xFF000000, 0x80000000, 7), (38, "RR_OP", 0xFFFE0000, 0x80000000, 14),
    (39, "RR_OP", 0xFFFFFFFF, 0x80000000, 31), (40, "ZEROSRC1", 0, 15), (41, "ZEROSRC2", 32, 32),
    (42, "ZEROSRC12", 0), (43, "ZERODEST", 0x00000400, 0x00000800),
)

SRAI = (  # isa/rv32ui/srai.S
    (2, "IMM_OP", 0, 0, 0), (3, "IMM_OP", 0xC0000000, 0x80000000, 1),
    (4, "IMM_OP", 0xFF000000, 0x80000000, 7), (5, "IMM_OP", 0xFFFE0000, 0x80000000, 14),
    (6, "IMM_OP", 0xFFFFFFFF, 0x80000001, 31), (7, "IMM_OP", 0x7FFFFFFF, 0x7FFFFFFF, 0),
    (8, "IMM_OP", 0x3FFFFFFF, 0x7FFFFFFF, 1), (9, "IMM_OP", 0x00FFFFFF, 0x7FFFFFFF, 7),
    (10, "IMM_OP", 0x0001FFFF, 0x7FFFFFFF, 14), (11, "IMM_OP", 0, 0x7FFFFFFF, 31),
    (12, "IMM_OP", 0x81818181, 0x81818181, 0), (13, "IMM_OP", 0xC0C0C0C0, 0x81818181, 1),
    (14, "IMM_OP", 0xFF030303, 0x81818181, 7), (15, "IMM_OP", 0xFFFE0606, 0x81818181, 14),
    (16, "IMM_OP", 0xFFFFFFFF, 0x81818181, 31), (17, "SRC1_EQ_DEST", 0xFF000000, 0x80000000, 7),
    (18, "IMM_OP", 0xFF000000, 0x80000000, 7), (19, "IMM_OP", 0xFFFE0000, 0x80000000, 14),
    (20, "IMM_OP", 0xFFFFFFFF, 0x80000001, 31), (21, "IMM_OP", 0xFF000000, 0x80000000, 7),
    (22, "IMM_OP", 0xFFFE0000, 0x80000000, 14), (23, "IMM_OP", 0xFFFFFFFF, 0x80000001, 31),
    (24, "ZEROSRC1", 0, 31), (25, "ZERODEST", 33, 20),
)

SLT = (  # isa/rv32ui/slt.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 1, 3, 7), (5, "RR_OP", 0, 7, 3),
    (6, "RR_OP", 0, 0, 0xFFFF8000), (7, "RR_OP", 1, 0x80000000, 0),
    (8, "RR_OP", 1, 0x80000000, 0xFFFF8000), (9, "RR_OP", 1, 0, 0x00007FFF),
    (10, "RR_OP", 0, 0x7FFFFFFF, 0), (11, "RR_OP", 0, 0x7FFFFFFF, 0x00007FFF),
    (12, "RR_OP", 1, 0x80000000, 0x00007FFF), (13, "RR_OP", 0, 0x7FFFFFFF, 0xFFFF8000),
    (14, "RR_OP", 0, 0, 0xFFFFFFFF), (15, "RR_OP", 1, 0xFFFFFFFF, 1),
    (16, "RR_OP", 0, 0xFFFFFFFF, 0xFFFFFFFF), (17, "SRC1_EQ_DEST", 0, 14, 13),
    (18, "SRC2_EQ_DEST", 1, 11, 13), (19, "SRC12_EQ_DEST", 0, 13), (20, "RR_OP", 1, 11, 13),
    (21, "RR_OP", 0, 14, 13), (22, "RR_OP", 1, 12, 13), (23, "RR_OP", 0, 14, 13),
    (24, "RR_OP", 1, 11, 13), (25, "RR_OP", 0, 15, 13), (26, "RR_OP", 1, 10, 13),
    (27, "RR_OP", 0, 16, 13), (28, "RR_OP", 1, 9, 13), (29, "RR_OP", 0, 17, 13),
    (30, "RR_OP", 1, 8, 13), (31, "RR_OP", 0, 18, 13), (32, "RR_OP", 1, 7, 13),
    (33, "RR_OP", 0, 19, 13), (34, "RR_OP", 1, 6, 13), (35, "ZEROSRC1", 0, -1),
    (36, "ZEROSRC2", 1, -1), (37, "ZEROSRC12", 0), (38, "ZERODEST", 16, 30),
)

SLTI = (  # isa/rv32ui/slti.S
    (2, "IMM_OP", 0, 0, 0), (3, "IMM_OP", 0, 1, 1), (4, "IMM_OP", 1, 3, 7),
    (5, "IMM_OP", 0, 7, 3), (6, "IMM_OP", 0, 0, 0x00000800), (7, "IMM_OP", 1, 0x80000000, 0),
    (8, "IMM_OP", 1, 0x80000000, 0x00000800), (9, "IMM_OP", 1, 0, 0x000007FF),
    (10, "IMM_OP", 0, 0x7FFFFFFF, 0), (11, "IMM_OP", 0, 0x7FFFFFFF, 0x000007FF),
    (12, "IMM_OP", 1, 0x80000000, 0x000007FF), (13, "IMM_OP", 0, 0x7FFFFFFF, 0x00000800),
    (14, "IMM_OP", 0, 0, 0x00000FFF), (15, "IMM_OP", 1, 0xFFFFFFFF, 1),
    (16, "IMM_OP", 0, 0xFFFFFFFF, 0x00000FFF), (18, "IMM_OP", 0, 15, 10),
    (19, "IMM_OP", 1, 10, 16), (20, "IMM_OP", 0, 16, 9), (21, "IMM_OP", 1, 11, 15),
    (22, "IMM_OP", 0, 17, 8), (23, "IMM_OP", 1, 12, 14), (24, "ZEROSRC1", 0, 0x00000FFF),
    (25, "ZERODEST", 0x00FF00FF, 0x00000FFF),
)

SLTU = (  # isa/rv64ui/sltu.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 1, 3, 7), (5, "RR_OP", 0, 7, 3),
    (6, "RR_OP", 1, 0, 0xFFFF8000), (7, "RR_OP", 0, 0x80000000, 0),
    (8, "RR_OP", 1, 0x80000000, 0xFFFF8000), (9, "RR_OP", 1, 0, 0x00007FFF),
    (10, "RR_OP", 0, 0x7FFFFFFF, 0), (11, "RR_OP", 0, 0x7FFFFFFF, 0x00007FFF),
    (12, "RR_OP", 0, 0x80000000, 0x00007FFF), (13, "RR_OP", 1, 0x7FFFFFFF, 0xFFFF8000),
    (14, "RR_OP", 1, 0, 0xFFFFFFFF), (15, "RR_OP", 0, 0xFFFFFFFF, 1),
    (16, "RR_OP", 0, 0xFFFFFFFF, 0xFFFFFFFF), (17, "SRC1_EQ_DEST", 0, 14, 13),
    (18, "SRC2_EQ_DEST", 1, 11, 13), (19, "SRC12_EQ_DEST", 0, 13), (20, "RR_OP", 1, 11, 13),
    (21, "RR_OP", 0, 14, 13), (22, "RR_OP", 1, 12, 13), (23, "RR_OP", 0, 14, 13),
    (24, "RR_OP", 1, 11, 13), (25, "RR_OP", 0, 15, 13), (26, "RR_OP", 1, 10, 13),
    (27, "RR_OP", 0, 16, 13), (28, "RR_OP", 1, 9, 13), (29, "RR_OP", 0, 17, 13),
    (30, "RR_OP", 1, 8, 13), (31, "RR_OP", 0, 18, 13), (32, "RR_OP", 1, 7, 13),
    (33, "RR_OP", 0, 19, 13), (34, "RR_OP", 1, 6, 13), (35, "ZEROSRC1", 1, -1),
    (36, "ZEROSRC2", 0, -1), (37, "ZEROSRC12", 0), (38, "ZERODEST", 16, 30),
)

SLTIU = (  # isa/rv64ui/sltiu.S
    (2, "IMM_OP", 0, 0, 0), (3, "IMM_OP", 0, 1, 1), (4, "IMM_OP", 1, 3, 7),
    (5, "IMM_OP", 0, 7, 3), (6, "IMM_OP", 1, 0, 0x00000800), (7, "IMM_OP", 0, 0x80000000, 0),
    (8, "IMM_OP", 1, 0x80000000, 0x00000800), (9, "IMM_OP", 1, 0, 0x000007FF),
    (10, "IMM_OP", 0, 0x7FFFFFFF, 0), (11, "IMM_OP", 0, 0x7FFFFFFF, 0x000007FF),
    (12, "IMM_OP", 0, 0x80000000, 0x000007FF), (13, "IMM_OP", 1, 0x7FFFFFFF, 0x00000800),
    (14, "IMM_OP", 1, 0, 0x00000FFF), (15, "IMM_OP", 0, 0xFFFFFFFF, 1),
    (16, "IMM_OP", 0, 0xFFFFFFFF, 0x00000FFF), (17, "SRC1_EQ_DEST", 1, 11, 13),
    (18, "IMM_OP", 0, 15, 10), (19, "IMM_OP", 1, 10, 16), (20, "IMM_OP", 0, 16, 9),
    (21, "IMM_OP", 1, 11, 15), (22, "IMM_OP", 0, 17, 8), (23, "IMM_OP", 1, 12, 14),
    (24, "ZEROSRC1", 1, 0x00000FFF), (25, "ZERODEST", 0x00FF00FF, 0x00000FFF),
)

BEQ = (  # isa/rv32ui/beq.S
    (2, "TAKEN", 0, 0), (3, "TAKEN", 1, 1), (4, "TAKEN", -1, -1), (5, "NOTTAKEN", 0, 1),
    (6, "NOTTAKEN", 1, 0), (7, "NOTTAKEN", -1, 1), (8, "NOTTAKEN", 1, -1), (9, "BYPASS", 0, -1),
    (10, "BYPASS", 0, -1), (11, "BYPASS", 0, -1), (12, "BYPASS", 0, -1), (13, "BYPASS", 0, -1),
    (14, "BYPASS", 0, -1), (15, "BYPASS", 0, -1), (16, "BYPASS", 0, -1), (17, "BYPASS", 0, -1),
    (18, "BYPASS", 0, -1), (19, "BYPASS", 0, -1), (20, "BYPASS", 0, -1),
)

BNE = (  # isa/rv32ui/bne.S
    (2, "TAKEN", 0, 1), (3, "TAKEN", 1, 0), (4, "TAKEN", -1, 1), (5, "TAKEN", 1, -1),
    (6, "NOTTAKEN", 0, 0), (7, "NOTTAKEN", 1, 1), (8, "NOTTAKEN", -1, -1), (9, "BYPASS", 0, 0),
    (10, "BYPASS", 0, 0), (11, "BYPASS", 0, 0), (12, "BYPASS", 0, 0), (13, "BYPASS", 0, 0),
    (14, "BYPASS", 0, 0), (15, "BYPASS", 0, 0), (16, "BYPASS", 0, 0), (17, "BYPASS", 0, 0),
    (18, "BYPASS", 0, 0), (19, "BYPASS", 0, 0), (20, "BYPASS", 0, 0),
)

BLT = (  # isa/rv32ui/blt.S
    (2, "TAKEN", 0, 1), (3, "TAKEN", -1, 1), (4, "TAKEN", -2, -1), (5, "NOTTAKEN", 1, 0),
    (6, "NOTTAKEN", 1, -1), (7, "NOTTAKEN", -1, -2), (8, "NOTTAKEN", 1, -2), (9, "BYPASS", 0, -1),
    (10, "BYPASS", 0, -1), (11, "BYPASS", 0, -1), (12, "BYPASS", 0, -1), (13, "BYPASS", 0, -1),
    (14, "BYPASS", 0, -1), (15, "BYPASS", 0, -1), (16, "BYPASS", 0, -1), (17, "BYPASS", 0, -1),
    (18, "BYPASS", 0, -1), (19, "BYPASS", 0, -1), (20, "BYPASS", 0, -1),
)

BGE = (  # isa/rv32ui/bge.S
    (2, "TAKEN", 0, 0), (3, "TAKEN", 1, 1), (4, "TAKEN", -1, -1), (5, "TAKEN", 1, 0),
    (6, "TAKEN", 1, -1), (7, "TAKEN", -1, -2), (8, "NOTTAKEN", 0, 1), (9, "NOTTAKEN", -1, 1),
    (10, "NOTTAKEN", -2, -1), (11, "NOTTAKEN", -2, 1), (12, "BYPASS", -1, 0),
    (13, "BYPASS", -1, 0), (14, "BYPASS", -1, 0), (15, "BYPASS", -1, 0), (16, "BYPASS", -1, 0),
    (17, "BYPASS", -1, 0), (18, "BYPASS", -1, 0), (19, "BYPASS", -1, 0), (20, "BYPASS", -1, 0),
    (21, "BYPASS", -1, 0), (22, "BYPASS", -1, 0), (23, "BYPASS", -1, 0),
)

BLTU = (  # isa/rv32ui/bltu.S
    (2, "TAKEN", 0, 1), (3, "TAKEN", 0xFFFFFFFE, 0xFFFFFFFF), (4, "TAKEN", 0, 0xFFFFFFFF),
    (5, "NOTTAKEN", 1, 0), (6, "NOTTAKEN", 0xFFFFFFFF, 0xFFFFFFFE),
    (7, "NOTTAKEN", 0xFFFFFFFF, 0), (8, "NOTTAKEN", 0x80000000, 0x7FFFFFFF),
    (9, "BYPASS", 0xF0000000, 0xEFFFFFFF), (10, "BYPASS", 0xF0000000, 0xEFFFFFFF),
    (11, "BYPASS", 0xF0000000, 0xEFFFFFFF), (12, "BYPASS", 0xF0000000, 0xEFFFFFFF),
    (13, "BYPASS", 0xF0000000, 0xEFFFFFFF), (14, "BYPASS", 0xF0000000, 0xEFFFFFFF),
    (15, "BYPASS", 0xF0000000, 0xEFFFFFFF), (16, "BYPASS", 0xF0000000, 0xEFFFFFFF),
    (17, "BYPASS", 0xF0000000, 0xEFFFFFFF), (18, "BYPASS", 0xF0000000, 0xEFFFFFFF),
    (19, "BYPASS", 0xF0000000, 0xEFFFFFFF), (20, "BYPASS", 0xF0000000, 0xEFFFFFFF),
)

BGEU = (  # isa/rv32ui/bgeu.S
    (2, "TAKEN", 0, 0), (3, "TAKEN", 1, 1), (4, "TAKEN", 0xFFFFFFFF, 0xFFFFFFFF),
    (5, "TAKEN", 1, 0), (6, "TAKEN", 0xFFFFFFFF, 0xFFFFFFFE), (7, "TAKEN", 0xFFFFFFFF, 0),
    (8, "NOTTAKEN", 0, 1), (9, "NOTTAKEN", 0xFFFFFFFE, 0xFFFFFFFF),
    (10, "NOTTAKEN", 0, 0xFFFFFFFF), (11, "NOTTAKEN", 0x7FFFFFFF, 0x80000000),
    (12, "BYPASS", 0xEFFFFFFF, 0xF0000000), (13, "BYPASS", 0xEFFFFFFF, 0xF0000000),
    (14, "BYPASS", 0xEFFFFFFF, 0xF0000000), (15, "BYPASS", 0xEFFFFFFF, 0xF0000000),
    (16, "BYPASS", 0xEFFFFFFF, 0xF0000000), (17, "BYPASS", 0xEFFFFFFF, 0xF0000000),
    (18, "BYPASS", 0xEFFFFFFF, 0xF0000000), (19, "BYPASS", 0xEFFFFFFF, 0xF0000000),
    (20, "BYPASS", 0xEFFFFFFF, 0xF0000000), (21, "BYPASS", 0xEFFFFFFF, 0xF0000000),
    (22, "BYPASS", 0xEFFFFFFF, 0xF0000000), (23, "BYPASS", 0xEFFFFFFF, 0xF0000000),
)

LB = (  # isa/rv32ui/lb.S
    (2, 0xFFFFFFFF, 0, "tdat"), (3, 0, 1, "tdat"), (4, 0xFFFFFFF0, 2, "tdat"), (5, 15, 3, "tdat"),
    (6, 0xFFFFFFFF, -3, "tdat4"), (7, 0, -2, "tdat4"), (8, 0xFFFFFFF0, -1, "tdat4"),
    (9, 15, 0, "tdat4"), (12, 0xFFFFFFF0, 1, "tdat2"), (13, 15, 1, "tdat3"), (14, 0, 1, "tdat1"),
    (15, 0xFFFFFFF0, 1, "tdat2"), (16, 15, 1, "tdat3"), (17, 0, 1, "tdat1"),
)

LBU = (  # isa/rv32ui/lbu.S
    (2, 255, 0, "tdat"), (3, 0, 1, "tdat"), (4, 240, 2, "tdat"), (5, 15, 3, "tdat"),
    (6, 255, -3, "tdat4"), (7, 0, -2, "tdat4"), (8, 240, -1, "tdat4"), (9, 15, 0, "tdat4"),
    (12, 240, 1, "tdat2"), (13, 15, 1, "tdat3"), (14, 0, 1, "tdat1"), (15, 240, 1, "tdat2"),
    (16, 15, 1, "tdat3"), (17, 0, 1, "tdat1"),
)

LH = (  # isa/rv32ui/lh.S
    (2, 255, 0, "tdat"), (3, 0xFFFFFF00, 2, "tdat"), (4, 0x00000FF0, 4, "tdat"),
    (5, 0xFFFFF00F, 6, "tdat"), (6, 255, -6, "tdat4"), (7, 0xFFFFFF00, -4, "tdat4"),
    (8, 0x00000FF0, -2, "tdat4"), (9, 0xFFFFF00F, 0, "tdat4"), (12, 0x00000FF0, 2, "tdat2"),
    (13, 0xFFFFF00F, 2, "tdat3"), (14, 0xFFFFFF00, 2, "tdat1"), (15, 0x00000FF0, 2, "tdat2"),
    (16, 0xFFFFF00F, 2, "tdat3"), (17, 0xFFFFFF00, 2, "tdat1"),
)

LHU = (  # isa/rv32ui/lhu.S
    (2, 255, 0, "tdat"), (3, 0x0000FF00, 2, "tdat"), (4, 0x00000FF0, 4, "tdat"),
    (5, 0x0000F00F, 6, "tdat"), (6, 255, -6, "tdat4"), (7, 0x0000FF00, -4, "tdat4"),
    (8, 0x00000FF0, -2, "tdat4"), (9, 0x0000F00F, 0, "tdat4"), (12, 0x00000FF0, 2, "tdat2"),
    (13, 0x0000F00F, 2, "tdat3"), (14, 0x0000FF00, 2, "tdat1"), (15, 0x00000FF0, 2, "tdat2"),
    (16, 0x0000F00F, 2, "tdat3"), (17, 0x0000FF00, 2, "tdat1"),
)

LW = (  # isa/rv32ui/lw.S
    (2, 0x00FF00FF, 0, "tdat"), (3, 0xFF00FF00, 4, "tdat"), (4, 0x0FF00FF0, 8, "tdat"),
    (5, 0xF00FF00F, 12, "tdat"), (6, 0x00FF00FF, -12, "tdat4"), (7, 0xFF00FF00, -8, "tdat4"),
    (8, 0x0FF00FF0, -4, "tdat4"), (9, 0xF00FF00F, 0, "tdat4"), (12, 0x0FF00FF0, 4, "tdat2"),
    (13, 0xF00FF00F, 4, "tdat3"), (14, 0xFF00FF00, 4, "tdat1"), (15, 0x0FF00FF0, 4, "tdat2"),
    (16, 0xF00FF00F, 4, "tdat3"), (17, 0xFF00FF00, 4, "tdat1"),
)

SB = (  # isa/rv32ui/sb.S
    (2, "lb", 0xFFFFFFAA, 0, "tdat"), (3, "lb", 0, 1, "tdat"), (4, "lh", 0xFFFFEFA0, 2, "tdat"),
    (5, "lb", 10, 3, "tdat"), (6, "lb", 0xFFFFFFAA, -3, "tdat8"), (7, "lb", 0, -2, "tdat8"),
    (8, "lb", 0xFFFFFFA0, -1, "tdat8"), (9, "lb", 10, 0, "tdat8"),
    (12, "lb", 0xFFFFFFDD, 0, "tdat"), (13, "lb", 0xFFFFFFCD, 1, "tdat"),
    (14, "lb", 0xFFFFFFCC, 2, "tdat"), (15, "lb", 0xFFFFFFBC, 3, "tdat"),
    (16, "lb", 0xFFFFFFBB, 4, "tdat"), (17, "lb", 0xFFFFFFAB, 5, "tdat"),
    (18, "lb", 51, 0, "tdat"), (19, "lb", 35, 1, "tdat"), (20, "lb", 34, 2, "tdat"),
    (21, "lb", 18, 3, "tdat"), (22, "lb", 17, 4, "tdat"), (23, "lb", 1, 5, "tdat"),
)

SH = (  # isa/rv32ui/sh.S
    (2, "lh", 170, 0, "tdat"), (3, "lh", 0xFFFFAA00, 2, "tdat"), (4, "lw", 0xBEEF0AA0, 4, "tdat"),
    (5, "lh", 0xFFFFA00A, 6, "tdat"), (6, "lh", 170, -6, "tdat8"),
    (7, "lh", 0xFFFFAA00, -4, "tdat8"), (8, "lh", 0x00000AA0, -2, "tdat8"),
    (9, "lh", 0xFFFFA00A, 0, "tdat8"), (12, "lh", 0xFFFFCCDD, 0, "tdat"),
    (13, "lh", 0xFFFFBCCD, 2, "tdat"), (14, "lh", 0xFFFFBBCC, 4, "tdat"),
    (15, "lh", 0xFFFFABBC, 6, "tdat"), (16, "lh", 0xFFFFAABB, 8, "tdat"),
    (17, "lh", 0xFFFFDAAB, 10, "tdat"), (18, "lh", 0x00002233, 0, "tdat"),
    (19, "lh", 0x00001223, 2, "tdat"), (20, "lh", 0x00001122, 4, "tdat"),
    (21, "lh", 0x00000112, 6, "tdat"), (22, "lh", 17, 8, "tdat"),
    (23, "lh", 0x00003001, 10, "tdat"),
)

SW = (  # isa/rv32ui/sw.S
    (2, "lw", 0x00AA00AA, 0, "tdat"), (3, "lw", 0xAA00AA00, 4, "tdat"),
    (4, "lw", 0x0AA00AA0, 8, "tdat"), (5, "lw", 0xA00AA00A, 12, "tdat"),
    (6, "lw", 0x00AA00AA, -12, "tdat8"), (7, "lw", 0xAA00AA00, -8, "tdat8"),
    (8, "lw", 0x0AA00AA0, -4, "tdat8"), (9, "lw", 0xA00AA00A, 0, "tdat8"),
    (12, "lw", 0xAABBCCDD, 0, "tdat"), (13, "lw", 0xDAABBCCD, 4, "tdat"),
    (14, "lw", 0xDDAABBCC, 8, "tdat"), (15, "lw", 0xCDDAABBC, 12, "tdat"),
    (16, "lw", 0xCCDDAABB, 16, "tdat"), (17, "lw", 0xBCCDDAAB, 20, "tdat"),
    (18, "lw", 0x00112233, 0, "tdat"), (19, "lw", 0x30011223, 4, "tdat"),
    (20, "lw", 0x33001122, 8, "tdat"), (21, "lw", 0x23300112, 12, "tdat"),
    (22, "lw", 0x22330011, 16, "tdat"), (23, "lw", 0x12233001, 20, "tdat"),
)

MUL = (  # isa/rv32ui/mul.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 1, 1, 1), (4, "RR_OP", 21, 3, 7),
    (5, "RR_OP", 0, 0, 0xFFFF8000), (6, "RR_OP", 0, 0x80000000, 0),
    (7, "RR_OP", 0, 0x80000000, 0xFFFF8000), (8, "SRC1_EQ_DEST", 143, 13, 11),
    (9, "SRC2_EQ_DEST", 154, 14, 11), (10, "SRC12_EQ_DEST", 169, 13), (11, "RR_OP", 143, 13, 11),
    (12, "RR_OP", 154, 14, 11), (13, "RR_OP", 165, 15, 11), (14, "RR_OP", 143, 13, 11),
    (15, "RR_OP", 154, 14, 11), (16, "RR_OP", 165, 15, 11), (17, "RR_OP", 143, 13, 11),
    (18, "RR_OP", 154, 14, 11), (19, "RR_OP", 165, 15, 11), (20, "RR_OP", 143, 13, 11),
    (21, "RR_OP", 154, 14, 11), (22, "RR_OP", 165, 15, 11), (23, "RR_OP", 143, 13, 11),
    (24, "RR_OP", 154, 14, 11), (25, "RR_OP", 165, 15, 11), (26, "ZEROSRC1", 0, 31),
    (27, "ZEROSRC2", 0, 32), (28, "ZEROSRC12", 0), (29, "ZERODEST", 33, 34),
    (30, "RR_OP", 0x0000FF7F, 0xAAAAAAAB, 0x0002FE7D),
    (31, "RR_OP", 0x0000FF7F, 0x0002FE7D, 0xAAAAAAAB),
    (32, "RR_OP", 0x00001200, 0x00007E00, 0xB6DB6DB7),
    (33, "RR_OP", 0x00001240, 0x00007FC0, 0xB6DB6DB7),
)

MULH = (  # isa/rv32um/mulh.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 0, 3, 7),
    (5, "RR_OP", 0, 0, 0xFFFF8000), (6, "RR_OP", 0, 0x80000000, 0),
    (7, "RR_OP", 0x00004000, 0x80000000, 0xFFFF8000),
    (8, "SRC1_EQ_DEST", 0x00008F00, 0x00D00000, 0x00B00000),
    (9, "SRC2_EQ_DEST", 0x00009A00, 0x00E00000, 0x00B00000),
    (10, "SRC12_EQ_DEST", 0x0000A900, 0x00D00000),
    (11, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (12, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (13, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (14, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (15, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (16, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (17, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (18, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (19, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (20, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (21, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (22, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (23, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (24, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (25, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000), (26, "ZEROSRC1", 0, 0x7C000000),
    (27, "ZEROSRC2", 0, 0x80000000), (28, "ZEROSRC12", 0),
    (29, "ZERODEST", 0x02100000, 0x02200000), (30, "RR_OP", 0xFFFF0081, 0xAAAAAAAB, 0x0002FE7D),
    (31, "RR_OP", 0xFFFF0081, 0x0002FE7D, 0xAAAAAAAB),
    (32, "RR_OP", 0x00010000, 0xFF000000, 0xFF000000), (33, "RR_OP", 0, 0xFFFFFFFF, 0xFFFFFFFF),
    (34, "RR_OP", 0xFFFFFFFF, 0xFFFFFFFF, 1), (35, "RR_OP", 0xFFFFFFFF, 1, 0xFFFFFFFF),
)

MULHSU = (  # isa/rv32ui/mulhsu.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 0, 3, 7),
    (5, "RR_OP", 0, 0, 0xFFFF8000), (6, "RR_OP", 0, 0x80000000, 0),
    (7, "RR_OP", 0x80004000, 0x80000000, 0xFFFF8000),
    (8, "SRC1_EQ_DEST", 0x00008F00, 0x00D00000, 0x00B00000),
    (9, "SRC2_EQ_DEST", 0x00009A00, 0x00E00000, 0x00B00000),
    (10, "SRC12_EQ_DEST", 0x0000A900, 0x00D00000),
    (11, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (12, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (13, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (14, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (15, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (16, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (17, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (18, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (19, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (20, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (21, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (22, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (23, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (24, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (25, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000), (26, "ZEROSRC1", 0, 0x7C000000),
    (27, "ZEROSRC2", 0, 0x80000000), (28, "ZEROSRC12", 0),
    (29, "ZERODEST", 0x02100000, 0x02200000),
)

MULHU = (  # isa/rv32ui/mulhu.S
    (2, "RR_OP", 0, 0, 0), (3, "RR_OP", 0, 1, 1), (4, "RR_OP", 0, 3, 7),
    (5, "RR_OP", 0, 0, 0xFFFF8000), (6, "RR_OP", 0, 0x80000000, 0),
    (7, "RR_OP", 0x7FFFC000, 0x80000000, 0xFFFF8000),
    (8, "SRC1_EQ_DEST", 0x00008F00, 0x00D00000, 0x00B00000),
    (9, "SRC2_EQ_DEST", 0x00009A00, 0x00E00000, 0x00B00000),
    (10, "SRC12_EQ_DEST", 0x0000A900, 0x00D00000),
    (11, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (12, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (13, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (14, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (15, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (16, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (17, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (18, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (19, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (20, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (21, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (22, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000),
    (23, "RR_OP", 0x00008F00, 0x00D00000, 0x00B00000),
    (24, "RR_OP", 0x00009A00, 0x00E00000, 0x00B00000),
    (25, "RR_OP", 0x0000A500, 0x00F00000, 0x00B00000), (26, "ZEROSRC1", 0, 0x7C000000),
    (27, "ZEROSRC2", 0, 0x80000000), (28, "ZEROSRC12", 0),
    (29, "ZERODEST", 0x02100000, 0x02200000), (30, "RR_OP", 0x0001FEFE, 0xAAAAAAAB, 0x0002FE7D),
    (31, "RR_OP", 0x0001FEFE, 0x0002FE7D, 0xAAAAAAAB),
)

# div.S, rem.S and remu.S write their extreme operand as -1<<63, which MASK_XLEN makes 0 on RV32.
DIV = (  # isa/rv32ui/div.S
    (2, "RR_OP", 3, 20, 6), (3, "RR_OP", -3, -20, 6), (4, "RR_OP", -3, 20, -6),
    (5, "RR_OP", 3, -20, -6), (6, "RR_OP", -1 << 63, -1 << 63, 1),
    (7, "RR_OP", -1 << 63, -1 << 63, -1), (8, "RR_OP", -1, -1 << 63, 0),
    (9, "RR_OP", -1, 1, 0), (10, "RR_OP", -1, 0, 0),
)

DIVU = (  # isa/rv32ui/divu.S
    (2, "RR_OP", 3, 20, 6), (3, "RR_OP", 715827879, -20, 6), (4, "RR_OP", 0, 20, -6),
    (5, "RR_OP", 0, -20, -6), (6, "RR_OP", -1 << 31, -1 << 31, 1),
    (7, "RR_OP", 0, -1 << 31, -1), (8, "RR_OP", -1, -1 << 31, 0), (9, "RR_OP", -1, 1, 0),
    (10, "RR_OP", -1, 0, 0),
)

REM = (  # isa/rv32ui/rem.S
    (2, "RR_OP", 2, 20, 6), (3, "RR_OP", -2, -20, 6), (4, "RR_OP", 2, 20, -6),
    (5, "RR_OP", -2, -20, -6), (6, "RR_OP", 0, -1 << 63, 1), (7, "RR_OP", 0, -1 << 63, -1),
    (8, "RR_OP", -1 << 63, -1 << 63, 0), (9, "RR_OP", 1, 1, 0), (10, "RR_OP", 0, 0, 0),
)

REMU = (  # isa/rv32ui/remu.S
    (2, "RR_OP", 2, 20, 6), (3, "RR_OP", 2, -20, 6), (4, "RR_OP", 20, 20, -6),
    (5, "RR_OP", -20, -20, -6), (6, "RR_OP", 0, -1 << 63, 1),
    (7, "RR_OP", -1 << 63, -1 << 63, -1), (8, "RR_OP", -1 << 63, -1 << 63, 0),
    (9, "RR_OP", 1, 1, 0), (10, "RR_OP", 0, 0, 0),
)


# ---- the suite's TEST_CASE bodies and hand-written tests ---------------------------------------


def _loads(inst: str, r10: int, r11: int, back: int) -> tuple:
    """Tests 10 (negative base), 11 (unaligned base) and 18, 19 (write after write) of the
    load files, which differ only in these values."""
    return (
        (10, r10, f"li x1, tdat\n addi x1, x1, -32\n {inst} x14, 32(x1)"),
        (11, r11, f"li x1, tdat\n addi x1, x1, -{back}\n {inst} x14, 7(x1)"),
        (18, 2, f"li x13, tdat\n {inst} x2, 0(x13)\n li x2, 2", "x2"),
        (19, 2, f"li x13, tdat\n {inst} x2, 0(x13)\n nop\n li x2, 2", "x2"),
    )


def _stores(st: str, ld: str, r10: int, v11: int, r11: int, back: int) -> tuple:
    """Tests 10 (negative base) and 11 (unaligned base) of the store files."""
    return (
        (10, r10, (f"li x1, tdat9\n li x2, 0x12345678\n addi x4, x1, -32\n {st} x2, 32(x4)\n"
                  f" {ld} x14, 0(x1)")),
        (11, r11, (f"li x1, tdat9\n li x2, {v11:#x}\n addi x1, x1, -{back}\n {st} x2, 7(x1)\n"
                  f" li x4, tdat10\n {ld} x14, 0(x4)")),
    )


def _jalr_bypass(n: int, nops: int) -> tuple:
    """TEST_JALR_SRC1_BYPASS: jalr through a register just loaded, twice; x4 counts the
    passes."""
    return (n, 2, f"li x4, 0\n.Lb{n}: li x6, .Lc{n}\n" + " nop\n" * nops
            + f" jalr x13, 0(x6)\n bne x0, x3, fail\n.Lc{n}: addi x4, x4, 1\n li x5, 2\n"
            f" bne x4, x5, .Lb{n}", "x4")


CUSTOM = {
    "rv32ui/lui": (
        (2, 0x00000000, "lui x14, 0x00000"),
        (3, 0xFFFFF800, "lui x14, 0xfffff\n srai x14, x14, 1"),
        (4, 0x000007FF, "lui x14, 0x7ffff\n srai x14, x14, 20"),
        (5, 0xFFFFF800, "lui x14, 0x80000\n srai x14, x14, 20"),
        (6, 0, "lui x0, 0x80000", "x0"),
    ),
    "rv32ui/auipc": tuple(  # lla (auipc + addi) of 1f +- 10000, minus the address of 1f
        (n, d, (f".Lp{n}: auipc x14, %hi(.Lt{n} + {d} - .Lp{n})\n"
               f" addi x14, x14, %lo(.Lt{n} + {d} - .Lp{n})\n jal x11, .Lt{n}\n"
               f".Lt{n}: sub x14, x14, x11")) for n, d in ((2, 10000), (3, -10000))),
    "rv32ui/slti": ((17, 1, "li x11, 11\n sltiu x11, x11, 13", "x11"),),  # the suite's sltiu
    "rv32ui/lb": _loads("lb", 0xFFFFFFFF, 0x00000000, 6),
    "rv32ui/lbu": _loads("lbu", 0x000000FF, 0x00000000, 6),
    "rv32ui/lh": _loads("lh", 0x000000FF, 0xFFFFFF00, 5),
    "rv32ui/lhu": _loads("lhu", 0x000000FF, 0x0000FF00, 5),
    "rv32ui/lw": _loads("lw", 0x00FF00FF, 0xFF00FF00, 3),
    "rv32ui/sb": _stores("sb", "lb", 0x78, 0x3098, 0xFFFFFF98, 6),
    "rv32ui/sh": (*_stores("sh", "lh", 0x5678, 0x3098, 0x3098, 5),
                  (24, 0x12343098, ("li x1, tdat11\n li x2, 0x00003098\n sh x2, 0(x1)\n"
                                   " lw x14, 0(x1)"))),  # the upper half of the word is kept
    "rv32ui/sw": _stores("sw", "lw", 0x12345678, 0x58213098, 0x58213098, 3),
    # jal.S test 2 and jalr.S tests 2 and 3: the link register holds the address after the
    # jump (x14 = link - that address = 0); x31 is not written by jalr x0.
    "rv32ui/jal": ((2, 0, ("li x1, 0\n.Ll2: jal x1, .Lt2\n nop\n nop\n j fail\n"
                          ".Lt2: li x2, .Ll2\n addi x2, x2, 4\n sub x14, x2, x1")),),
    "rv32ui/jalr": (
        (2, 0, ("li x31, 0\n li x2, .Lt2\n.Ll2: jalr x19, 0(x2)\n nop\n nop\n j fail\n"
               ".Lt2: li x1, .Ll2\n addi x1, x1, 4\n sub x14, x1, x19")),
        (3, 0, "li x31, 0\n li x13, .Lt3\n jalr x0, 0(x13)\n nop\n j fail\n.Lt3: mv x14, x31"),
        *(_jalr_bypass(n, k) for n, k in ((4, 0), (5, 1), (6, 2))),
        (7, 4, "li x14, 1\n li x2, .Lt7\n jalr x19, -4(x2)\n" + " addi x14, x14, 1\n" * 4
               + ".Lt7: addi x14, x14, 1\n addi x14, x14, 1"),
    ),
}

#: "Test delay slot instructions not executed nor bypassed": (testnum, the jump up to its
#: target); x14 starts at 1, four increments are jumped over, two run: 3.
SKIP = {
    "rv32ui/beq": (21, "beq x0, x0,"), "rv32ui/bne": (21, "bne x14, x0,"),
    "rv32ui/blt": (21, "blt x0, x14,"), "rv32ui/bltu": (21, "bltu x0, x14,"),
    "rv32ui/bge": (24, "bge x14, x0,"), "rv32ui/bgeu": (24, "bgeu x14, x0,"),
    "rv32ui/jal": (3, "jal x1,"),
}


def _labelled(directive: str, values, tail: str = "") -> str:
    """The suite's data: ``tdat:`` then ``tdatK: <directive> value`` for K = 1, 2, ..."""
    return "tdat:\n" + "".join(f"tdat{k}: {directive} {v:#x}\n"
                               for k, v in enumerate(values, 1)) + tail


_BYTES = _labelled(".byte", (0xFF, 0x00, 0xF0, 0x0F))
_HALVES = _labelled(".half", (0x00FF, 0xFF00, 0x0FF0, 0xF00F))
DATA = {
    "rv32ui/lb": _BYTES, "rv32ui/lbu": _BYTES, "rv32ui/lh": _HALVES, "rv32ui/lhu": _HALVES,
    "rv32ui/lw": _labelled(".word", (0x00FF00FF, 0xFF00FF00, 0x0FF00FF0, 0xF00FF00F)),
    "rv32ui/sb": _labelled(".byte", (0xEF,) * 10),
    "rv32ui/sh": _labelled(".half", (0xBEEF,) * 10, "tdat11: .word 0x12345678\n"),
    "rv32ui/sw": _labelled(".word", (0xDEADBEEF,) * 10),
}

#: Every file: (macro family of its cases, instruction, cases). simple.S runs no case: it
#: passes when the program reaches the end.
FILES = {
    **{f"rv32ui/{t.lower()}": ("rr", t.lower(), globals()[t]) for t in (
        "ADD", "SUB", "AND", "OR", "XOR", "SLL", "SRL", "SRA", "SLT", "SLTU")},
    **{f"rv32ui/{t.lower()}": ("imm", t.lower(), globals()[t]) for t in (
        "ADDI", "ANDI", "ORI", "XORI", "SLLI", "SRLI", "SRAI", "SLTI", "SLTIU")},
    **{f"rv32ui/{t.lower()}": ("br", t.lower(), globals()[t]) for t in (
        "BEQ", "BNE", "BLT", "BGE", "BLTU", "BGEU")},
    **{f"rv32ui/{t.lower()}": ("ld", t.lower(), globals()[t]) for t in (
        "LB", "LBU", "LH", "LHU", "LW")},
    **{f"rv32ui/{t.lower()}": ("st", t.lower(), globals()[t]) for t in ("SB", "SH", "SW")},
    **{f"rv32um/{t.lower()}": ("rr", t.lower(), globals()[t]) for t in (
        "MUL", "MULH", "MULHSU", "MULHU", "DIV", "DIVU", "REM", "REMU")},
    "rv32ui/lui": ("rr", "lui", ()), "rv32ui/auipc": ("rr", "auipc", ()),
    "rv32ui/jal": ("rr", "jal", ()), "rv32ui/jalr": ("rr", "jalr", ()),
    "rv32ui/simple": ("rr", "", ()),
}
