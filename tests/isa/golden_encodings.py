"""Expected words, computed by hand from docs/isa.md (and, for the RV32IM subset, from the RISC-V
specification), NOT from the encoder: a bug shared by encoder and decoder still shows here.

Each entry: assembly text -> 32-bit word. ``GOLDEN_TABLE`` holds one instruction of every
mnemonic (rd = x5, rs1 = x6, rs2 = x7, rs3 = x8): its word is the ``match`` column of the
instruction's row in docs/isa.md with the operand fields laid in by hand at RISC-V's bit positions
(rd 11:7, rs1 19:15, rs2 24:20, rs3 31:27, I-immediate 31:20, S-immediate 31:25 + 11:7, U-immediate
31:12, CSR 31:20, uimm 19:15; cfgi: value 31:15, CSR - 0x800 in 14:7). A test checks that every
instruction of the table has a golden word here.
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
    # R4: rs3 in 31:27, funct2 in 26:25, funct3=4; vfma funct2=0, vsel funct2=1, vclip 2
    "vfma x1, x2, x3, x4": (4 << 27) | (3 << 20) | (2 << 15) | (4 << 12) | (1 << 7) | 0b0101011,
    "vsel x1, x2, x3, x4": (4 << 27) | (1 << 25) | (3 << 20) | (2 << 15) | (4 << 12) | (1 << 7)
    | 0b0101011,
    "vclip x1, x2, x3, x4": (4 << 27) | (2 << 25) | (3 << 20) | (2 << 15) | (4 << 12) | (1 << 7)
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

GOLDEN_TABLE = {
    "lw x5, -8(x6)": 0xff832283,
    "sw x7, -8(x6)": 0xfe732c23,
    "wprog x6": 0x0003200b,
    "vcopy x5, x6": 0x000312ab,
    "add x5, x6, x7": 0x007302b3,
    "sub x5, x6, x7": 0x407302b3,
    "sll x5, x6, x7": 0x007312b3,
    "slt x5, x6, x7": 0x007322b3,
    "sltu x5, x6, x7": 0x007332b3,
    "xor x5, x6, x7": 0x007342b3,
    "srl x5, x6, x7": 0x007352b3,
    "sra x5, x6, x7": 0x407352b3,
    "or x5, x6, x7": 0x007362b3,
    "and x5, x6, x7": 0x007372b3,
    "mul x5, x6, x7": 0x027302b3,
    "div x5, x6, x7": 0x027342b3,
    "divu x5, x6, x7": 0x027352b3,
    "rem x5, x6, x7": 0x027362b3,
    "remu x5, x6, x7": 0x027372b3,
    "addi x5, x6, -5": 0xffb30293,
    "slti x5, x6, -5": 0xffb32293,
    "sltiu x5, x6, -5": 0xffb33293,
    "xori x5, x6, -5": 0xffb34293,
    "ori x5, x6, -5": 0xffb36293,
    "andi x5, x6, -5": 0xffb37293,
    "slli x5, x6, 7": 0x00731293,
    "srli x5, x6, 7": 0x00735293,
    "srai x5, x6, 7": 0x40735293,
    "lui x5, 0xabcde": 0xabcde2b7,
    "mvm x5, x6": 0x0003028b,
    "mvm.acc x5, x6": 0x0003128b,
    "vadd x5, x6, x7": 0x007302ab,
    "vsub x5, x6, x7": 0x027302ab,
    "vmul x5, x6, x7": 0x047302ab,
    "vdiv x5, x6, x7": 0x067302ab,
    "vmax x5, x6, x7": 0x087302ab,
    "vmin x5, x6, x7": 0x0a7302ab,
    "vpow x5, x6, x7": 0x0c7302ab,
    "vcmplt x5, x6, x7": 0x0e7302ab,
    "vcmple x5, x6, x7": 0x107302ab,
    "vcmpeq x5, x6, x7": 0x127302ab,
    "vmod x5, x6, x7": 0x147302ab,
    "vrelu x5, x6": 0x020312ab,
    "vsigm x5, x6": 0x040312ab,
    "vtanh x5, x6": 0x060312ab,
    "vgelu x5, x6": 0x080312ab,
    "verf x5, x6": 0x0a0312ab,
    "vexp x5, x6": 0x0c0312ab,
    "vlog x5, x6": 0x0e0312ab,
    "vsqrt x5, x6": 0x100312ab,
    "vrecip x5, x6": 0x120312ab,
    "vneg x5, x6": 0x140312ab,
    "vabs x5, x6": 0x160312ab,
    "vfloor x5, x6": 0x180312ab,
    "vceil x5, x6": 0x1a0312ab,
    "vround x5, x6": 0x1c0312ab,
    "vsign x5, x6": 0x1e0312ab,
    "vsin x5, x6": 0x200312ab,
    "vcos x5, x6": 0x220312ab,
    "vnot x5, x6": 0x240312ab,
    "vgelut x5, x6": 0x260312ab,
    "vrsum x5, x6": 0x000322ab,
    "vrmax x5, x6": 0x020322ab,
    "vrmin x5, x6": 0x040322ab,
    "vrmean x5, x6": 0x060322ab,
    "vsoftmax x5, x6": 0x080322ab,
    "vnorm x5, x6": 0x0a0322ab,
    "vsadd x5, x6": 0x0c0322ab,
    "vcumsum x5, x6": 0x0e0322ab,
    "vrmsnorm x5, x6": 0x100322ab,
    "vmm x5, x6, x7": 0x007332ab,
    "smm x5, x6, x7": 0x027332ab,
    "vgather x5, x6, x7": 0x047332ab,
    "vquant x5, x6, x7": 0x067332ab,
    "vfill x5, x6": 0x080332ab,
    "vfma x5, x6, x7, x8": 0x407342ab,
    "vsel x5, x6, x7, x8": 0x427342ab,
    "send x5, x6, x7": 0x007302db,
    "barrier": 0x0000105b,
    "jalr x5, -8(x6)": 0xff8302e7,
    "halt": 0x00000073,
    "csrrw x5, iscale, x6": 0x80b312f3,
    "csrrs x5, iscale, x6": 0x80b322f3,
    "csrrwi x5, iscale, 17": 0x80b8d2f3,
    "cfgi adcsh, 70000": 0x88b8077b,
    "vsetli -5": 0xffb0602b,
    "vsetl x6": 0x0003702b,
    # The rest of RV32I/M and Zicsr, from the RISC-V unprivileged specification's tables.
    "lb x5, -8(x6)": 0xFF830283,
    "lh x5, -8(x6)": 0xFF831283,
    "lbu x5, -8(x6)": 0xFF834283,
    "lhu x5, -8(x6)": 0xFF835283,
    "sb x7, -8(x6)": 0xFE730C23,
    "sh x7, -8(x6)": 0xFE731C23,
    "auipc x5, 0xabcde": 0xABCDE297,
    "mulh x5, x6, x7": 0x027312B3,
    "mulhsu x5, x6, x7": 0x027322B3,
    "mulhu x5, x6, x7": 0x027332B3,
    "fence": 0x0FF0000F,  # fence iorw, iorw
    "ebreak": 0x00100073,
    "csrrc x5, iscale, x6": 0x80B332F3,
    "csrrsi x5, iscale, 17": 0x80B8E2F3,
    "csrrci x5, iscale, 17": 0x80B8F2F3,
}

# Branches and jumps are relative to their own address; these sit at address 0.
GOLDEN_AT_ZERO = {
    "beq x1, x2, 8": 0x00208463,
    "jal x1, 16": 0x010000EF,
    "blt x1, x2, -4": 0xFE20CEE3,
    "bne x1, x2, 8": 0x00209463,
    "bge x1, x2, 8": 0x0020D463,
    "bltu x1, x2, 8": 0x0020E463,
    "bgeu x1, x2, 8": 0x0020F463,
}
