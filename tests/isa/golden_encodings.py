"""Expected words, computed by hand from docs/isa.md (and, for the RV32IM subset, from the RISC-V
specification), NOT from the encoder: a bug shared by encoder and decoder still shows here.

Each entry: assembly text -> 32-bit word.
"""

GOLDEN = {
    # RV32I / RV32M (well-known encodings)
    "addi x1, x0, 1": 0x00100093,
    "add x3, x1, x2": 0x002081B3,
    "sub x1, x2, x3": 0x403100B3,
    "mul x3, x1, x2": 0x022081B3,
    "srai x1, x2, 3": 0x40315093,
    "lw x5, 8(x2)": 0x00812283,
    "sw x5, 12(x2)": 0x00512623,
    "lui x5, 0x12345": 0x123452B7,
    "halt": 0x00000073,  # ECALL
    "csrrs x6, instret, x0": 0xC0202373,  # rdinstret x6
    "csrrw x0, vl, x5": 0x80029073,  # csrw 0x800, x5
    # custom-0 (0b0001011): crossbar arrays
    # mvm: rs1=6 -> bits 19:15, rd=7 -> bits 11:7, funct3=0
    "mvm x7, x6": (6 << 15) | (7 << 7) | 0b0001011,
    "mvm.acc x1, x2": (2 << 15) | (1 << 12) | (1 << 7) | 0b0001011,
    "wprog x5": (5 << 15) | (2 << 12) | 0b0001011,
    # custom-1 (0b0101011): vector unit; binary funct3=0 (vadd funct7=0, vsub 1)
    "vadd x1, x2, x3": (3 << 20) | (2 << 15) | (1 << 7) | 0b0101011,
    "vsub x1, x2, x3": (1 << 25) | (3 << 20) | (2 << 15) | (1 << 7) | 0b0101011,
    # unary funct3=1, vrelu funct7=1
    "vrelu x4, x5": (1 << 25) | (5 << 15) | (1 << 12) | (4 << 7) | 0b0101011,
    # R4: rs3 in 31:27, funct2 in 26:25, funct3=4; vfma funct2=0, vsel funct2=1
    "vfma x1, x2, x3, x4": (4 << 27) | (3 << 20) | (2 << 15) | (4 << 12) | (1 << 7) | 0b0101011,
    "vsel x1, x2, x3, x4": (4 << 27) | (1 << 25) | (3 << 20) | (2 << 15) | (4 << 12) | (1 << 7)
    | 0b0101011,
    # vsetli: I-type, funct3=6, imm in 31:20
    "vsetli 16": (16 << 20) | (6 << 12) | 0b0101011,
    # custom-2 (0b1011011): network
    "send x1, x2, x3": (3 << 20) | (2 << 15) | (1 << 7) | 0b1011011,
    "barrier": (1 << 12) | 0b1011011,
    # custom-3 (0b1111011): cfgi, imm in 31:15, CSR number - 0x800 in 14:7
    "cfgi vl, 64": (64 << 15) | (0x00 << 7) | 0b1111011,
    "cfgi xbw, 3": (3 << 15) | (0x07 << 7) | 0b1111011,
    "cfgi sd5, 1": (1 << 15) | (0x2D << 7) | 0b1111011,
}

# Branches and jumps are relative to their own address; these sit at address 0.
GOLDEN_AT_ZERO = {
    "beq x1, x2, 8": 0x00208463,
    "jal x1, 16": 0x010000EF,
    "blt x1, x2, -4": 0xFE20CEE3,
}
