"""The imcc instruction set: ONE declarative table from which everything else is derived.

The encoder and decoder (:mod:`isa.encoding`), the assembler's operand matching
(:mod:`isa.asm_instr`), the disassembler, ``docs/isa.md`` (:mod:`isa.gen_docs`), the reference
machine's dispatch (:mod:`runtime.ops.registry`), the code generator's instruction writer
(:mod:`imcc.codegen.asm`) and the round-trip tests read this module. No opcode is written
anywhere else; the types of the table, its row builder and its checker are :mod:`isa.model`.

Layout of the table, in the style of riscv-opcodes and TableGen:

* :data:`FIELDS` — bit fields of a 32-bit word, including split immediates;
* :data:`FORMATS` — which fields make up each format (every bit belongs to exactly one field);
* :data:`CSRS` — the configuration registers the array, vector and precision units read;
* :data:`INSTRUCTIONS` — built from the literal rows of ``_TABLE``: each instruction names a
  format, binds constant fields (opcode, funct3, funct7...) and maps its assembly operands onto
  the remaining fields.

The scalar subset is encoded exactly as RV32IM (so ``addi x1, x0, 1`` is ``0x00100093``); the
in-memory-computing instructions live in RISC-V's four custom major opcodes. This follows the
seed paper's advice that an IMC ISA keep length, function division and addressing consistent with
a mainstream digital ISA. :func:`validate_spec` runs at import and checks the table.
"""

from __future__ import annotations

from types import MappingProxyType

from isa.model import (  # noqa: F401 - the table's types, imported from here by its readers
    Category,
    CsrSpec,
    Field,
    InstrSpec,
    Operand,
    OperandKind,
    Pseudo,
    SpecError,
    build,
    field_of,
    validate,
)

WORD_BITS = 32
WORD_BYTES = 4
NUM_REGS = 32
AGU_RANK = 6  # dimensions of the vector unit's address generator

# Memory map (byte addresses, 32-bit). Global memory starts at 0; the ``.data`` section is
# loaded there. Tile ``t``'s local buffer starts at TILE_BASE + t * TILE_STRIDE.
TILE_BASE = 0x8000_0000
TILE_STRIDE = 0x0100_0000
MAX_TILES = (2**32 - TILE_BASE) // TILE_STRIDE

# Weight memory is byte-addressed with 64-bit offsets: ``wprog`` reads at ``wpage * WEIGHT_PAGE +
# rs1`` (CSR ``wpage``), so a section may exceed what one register addresses.
WEIGHT_PAGE = 2**32
# Element formats of the weight memory read by ``wprog`` (CSR ``wfmt``).
WEIGHT_FORMATS = MappingProxyType({0: "uint8", 1: "uint16", 2: "float32"})

WEIGHT_FORMATS_TEXT = ", ".join(f"{k} {v}" for k, v in WEIGHT_FORMATS.items())
#: ``wfmt`` of each weight element type (the inverse of WEIGHT_FORMATS).
WFMT = MappingProxyType({v: k for k, v in WEIGHT_FORMATS.items()})


def dac_cycles(ibits: int, isgn: int, dacb: int) -> int:
    """DAC cycles of one ``mvm`` input vector: ``ceil((ibits - isgn) / dacb)`` (each cycle applies
    ``dacb`` bits of ``|q|``), or 1 with an ideal DAC (``ibits = 0``)."""
    if ibits == 0:
        return 1
    return max(1, -(-(ibits - isgn) // dacb))


# --------------------------------------------------------------------------------------------
# Fields and formats
# --------------------------------------------------------------------------------------------

FIELDS: MappingProxyType[str, Field] = MappingProxyType(
    {
        f.name: f
        for f in (
            field_of("opcode", (6, 0), doc="major opcode"),
            field_of("rd", (11, 7), doc="destination register"),
            field_of("funct3", (14, 12), doc="minor opcode"),
            field_of("rs1", (19, 15), doc="first source register"),
            field_of("rs2", (24, 20), doc="second source register"),
            field_of("funct7", (31, 25), doc="minor opcode"),
            field_of("rs3", (31, 27), doc="third source register (R4 format)"),
            field_of("funct2", (26, 25), doc="minor opcode (R4 format)"),
            field_of("imm_i", (31, 20), signed=True, doc="12-bit signed immediate"),
            field_of("imm_s", (31, 25, 5), (11, 7, 0), signed=True,
                     doc="12-bit signed store offset"),
            field_of("imm_b", (31, 31, 12), (30, 25, 5), (11, 8, 1), (7, 7, 11), signed=True,
                     doc="13-bit signed branch offset, even"),
            field_of("imm_u", (31, 12), doc="20-bit upper immediate"),
            field_of("imm_j", (31, 31, 20), (30, 21, 1), (20, 20, 11), (19, 12, 12), signed=True,
                     doc="21-bit signed jump offset, even"),
            field_of("shamt", (24, 20), doc="5-bit shift amount"),
            field_of("csr", (31, 20), doc="12-bit CSR number"),
            field_of("uimm5", (19, 15), doc="5-bit unsigned immediate"),
            field_of("kcsr", (14, 7), bias=0x800, doc="CSR number 0x800..0x8ff (cfgi)"),
            field_of("kimm", (31, 15), doc="17-bit unsigned immediate (cfgi)"),
        )
    }
)

FORMATS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "R": ("funct7", "rs2", "rs1", "funct3", "rd", "opcode"),
        "R4": ("rs3", "funct2", "rs2", "rs1", "funct3", "rd", "opcode"),
        "I": ("imm_i", "rs1", "funct3", "rd", "opcode"),
        "IS": ("funct7", "shamt", "rs1", "funct3", "rd", "opcode"),
        "S": ("imm_s", "rs2", "rs1", "funct3", "opcode"),
        "B": ("imm_b", "rs2", "rs1", "funct3", "opcode"),
        "U": ("imm_u", "rd", "opcode"),
        "J": ("imm_j", "rd", "opcode"),
        "CSR": ("csr", "rs1", "funct3", "rd", "opcode"),
        "CSRI": ("csr", "uimm5", "funct3", "rd", "opcode"),
        "K": ("kimm", "kcsr", "opcode"),
    }
)

# Major opcodes (RV32I's, and RISC-V's custom-0..3 for the IMC extension).
OPC = MappingProxyType(
    {
        "LOAD": 0b0000011,
        "OP_IMM": 0b0010011,
        "STORE": 0b0100011,
        "OP": 0b0110011,
        "LUI": 0b0110111,
        "AUIPC": 0b0010111,
        "MISC_MEM": 0b0001111,
        "BRANCH": 0b1100011,
        "JALR": 0b1100111,
        "JAL": 0b1101111,
        "SYSTEM": 0b1110011,
        "XBAR": 0b0001011,  # custom-0: crossbar arrays
        "VEC": 0b0101011,  # custom-1: digital vector unit
        "NOC": 0b1011011,  # custom-2: tile-to-tile network
        "CFG": 0b1111011,  # custom-3: wide config-register writes
    }
)

# --------------------------------------------------------------------------------------------
# Configuration registers
# --------------------------------------------------------------------------------------------


def _csrs() -> tuple[CsrSpec, ...]:
    base = 0x800
    out = [
        CsrSpec("vl", base + 0x00, "number of input vectors streamed by mvm", reset=1),
        CsrSpec("xs", base + 0x01, "mvm input row stride (elements)", "stride"),
        CsrSpec("ys", base + 0x02, "mvm output row stride (elements)", "stride"),
        CsrSpec("xbarr", base + 0x03, "array index (global) used by mvm and wprog"),
        CsrSpec("xbrow", base + 0x04, "first row of the array region"),
        CsrSpec("xbcol", base + 0x05, "first column of the array region"),
        CsrSpec("xbh", base + 0x06, "rows in the array region (input vector length)", reset=1),
        CsrSpec("xbw", base + 0x07, "columns in the array region (output length)", reset=1),
        CsrSpec("wfmt", base + 0x08, "wprog source format: " + WEIGHT_FORMATS_TEXT),
        CsrSpec("ibits", base + 0x09, "input bits of mvm/smm/vquant; 0 = unquantized"),
        CsrSpec("isgn", base + 0x0A, "1 if inputs are signed (sign-magnitude DAC)"),
        CsrSpec("iscale", base + 0x0B, "input quantization step (float32 bits)", "f32", 0x3F800000),
        CsrSpec("dacb", base + 0x0C, "DAC bits applied per input cycle", reset=1),
        CsrSpec("adcb", base + 0x0D, "ADC bits; 0 = ideal converter"),
        CsrSpec("adcsh", base + 0x0E, "ADC LSB is 2**adcsh current units"),
        CsrSpec("cellb", base + 0x0F, "bits per cell, the shift of vsadd", reset=1),
        CsrSpec("wsch", base + 0x10, "vsadd blocks: 0 one per slice, 1 (+,-) pair per slice"),
        CsrSpec("eps", base + 0x11, "epsilon of vnorm (float32 bits)", "f32", 0x3727C5AC),
        CsrSpec("nred", base + 0x12, "innermost AGU dims reduced by reductions", reset=1),
        CsrSpec("gstride", base + 0x13, "vgather: element stride of the gathered axis", "stride"),
        CsrSpec("glen", base + 0x14, "vgather: length of the gathered axis", reset=1),
        CsrSpec("sablk", base + 0x15, "mvm: the xbw columns are sablk blocks, shift-and-added "
                "(cellb, wsch, as vsadd) into xbw/sablk outputs; 1 = none", reset=1),
        CsrSpec("wpage", base + 0x16, "wprog: weight-memory page; the region's elements start "
                "at byte wpage * 2**32 + rs1"),
    ]
    for i in range(AGU_RANK):
        out.append(CsrSpec(f"n{i}", base + 0x20 + i, f"AGU size of dimension {i}", reset=1))
    for j, op in enumerate("dabc"):
        for i in range(AGU_RANK):
            out.append(
                CsrSpec(
                    f"s{op}{i}",
                    base + 0x28 + 8 * j + i,
                    f"AGU stride of operand {op.upper()} in dimension {i} (elements)",
                    "stride",
                )
            )
    out.append(CsrSpec("instret", 0xC02, "instructions retired", readonly=True))
    return tuple(out)


CSRS: tuple[CsrSpec, ...] = _csrs()
CSR_BY_NAME: MappingProxyType[str, CsrSpec] = MappingProxyType({c.name: c for c in CSRS})
CSR_BY_NUMBER: MappingProxyType[int, CsrSpec] = MappingProxyType({c.number: c for c in CSRS})

# --------------------------------------------------------------------------------------------
# Instructions: (mnemonic, category, format, operands, fixed fields, semantics). Operands name
# their fields in assembly order (``imm_i(rs1)``: a memory operand; ``csr=kcsr``: operand csr in
# field kcsr); every encoding is written here, and a register field that is neither an operand
# nor fixed is zero. Never renumber an encoding: tests/isa/encodings.lock holds every one.
# --------------------------------------------------------------------------------------------

_TABLE = (
    # RV32I, M and Zicsr, with RISC-V's encodings
    ("add", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=0 funct7=0", "rd = rs1 + rs2"),
    ("sub", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=0 funct7=0x20", "rd = rs1 - rs2"),
    ("sll", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=1 funct7=0", "rd = rs1 << (rs2 & 31)"),
    ("slt", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=2 funct7=0",
     "rd = (rs1 < rs2) signed ? 1 : 0"),
    ("sltu", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=3 funct7=0",
     "rd = (rs1 < rs2) unsigned ? 1 : 0"),
    ("xor", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=4 funct7=0", "rd = rs1 ^ rs2"),
    ("srl", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=5 funct7=0",
     "rd = rs1 >> (rs2 & 31), logical"),
    ("sra", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=5 funct7=0x20",
     "rd = rs1 >> (rs2 & 31), arithmetic"),
    ("or", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=6 funct7=0", "rd = rs1 | rs2"),
    ("and", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=7 funct7=0", "rd = rs1 & rs2"),
    ("mul", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=0 funct7=1",
     "rd = low 32 bits of rs1 * rs2"),
    ("mulh", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=1 funct7=1",
     "rd = high 32 bits of rs1 * rs2, both signed"),
    ("mulhsu", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=2 funct7=1",
     "rd = high 32 bits of rs1 * rs2, rs1 signed, rs2 unsigned"),
    ("mulhu", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=3 funct7=1",
     "rd = high 32 bits of rs1 * rs2, both unsigned"),
    ("div", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=4 funct7=1",
     "rd = rs1 / rs2 signed, rounding toward zero (x/0 = -1)"),
    ("divu", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=5 funct7=1",
     "rd = rs1 / rs2 unsigned (x/0 = 2**32-1)"),
    ("rem", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=6 funct7=1",
     "rd = rs1 % rs2 signed, sign of rs1 (x%0 = x)"),
    ("remu", "compute", "R", "rd rs1 rs2", "opcode=OP funct3=7 funct7=1",
     "rd = rs1 % rs2 unsigned (x%0 = x)"),
    ("addi", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=0", "rd = rs1 + imm"),
    ("slti", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=2",
     "rd = (rs1 < imm) signed ? 1 : 0"),
    ("sltiu", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=3",
     "rd = (rs1 < imm) unsigned ? 1 : 0"),
    ("xori", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=4", "rd = rs1 ^ imm"),
    ("ori", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=6", "rd = rs1 | imm"),
    ("andi", "compute", "I", "rd rs1 imm_i", "opcode=OP_IMM funct3=7", "rd = rs1 & imm"),
    ("slli", "compute", "IS", "rd rs1 shamt", "opcode=OP_IMM funct3=1 funct7=0",
     "rd = rs1 << shamt"),
    ("srli", "compute", "IS", "rd rs1 shamt", "opcode=OP_IMM funct3=5 funct7=0",
     "rd = rs1 >> shamt, logical"),
    ("srai", "compute", "IS", "rd rs1 shamt", "opcode=OP_IMM funct3=5 funct7=0x20",
     "rd = rs1 >> shamt, arithmetic"),
    ("lui", "compute", "U", "rd imm_u", "opcode=LUI", "rd = imm << 12"),
    ("auipc", "compute", "U", "rd imm_u", "opcode=AUIPC", "rd = pc + (imm << 12)"),
    ("lb", "load", "I", "rd imm_i(rs1)", "opcode=LOAD funct3=0",
     "rd = mem8[rs1 + offset], sign-extended"),
    ("lh", "load", "I", "rd imm_i(rs1)", "opcode=LOAD funct3=1",
     "rd = mem16[rs1 + offset], sign-extended (address 2-aligned)"),
    ("lbu", "load", "I", "rd imm_i(rs1)", "opcode=LOAD funct3=4",
     "rd = mem8[rs1 + offset], zero-extended"),
    ("lhu", "load", "I", "rd imm_i(rs1)", "opcode=LOAD funct3=5",
     "rd = mem16[rs1 + offset], zero-extended (address 2-aligned)"),
    ("sb", "load", "S", "rs2 imm_s(rs1)", "opcode=STORE funct3=0",
     "mem8[rs1 + offset] = low 8 bits of rs2"),
    ("sh", "load", "S", "rs2 imm_s(rs1)", "opcode=STORE funct3=1",
     "mem16[rs1 + offset] = low 16 bits of rs2 (address 2-aligned)"),
    ("lw", "load", "I", "rd imm_i(rs1)", "opcode=LOAD funct3=2",
     "rd = mem32[rs1 + offset] (address 4-aligned)"),
    ("sw", "load", "S", "rs2 imm_s(rs1)", "opcode=STORE funct3=2",
     "mem32[rs1 + offset] = rs2 (address 4-aligned)"),
    ("beq", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=0",
     "if rs1 == rs2: pc = target"),
    ("bne", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=1",
     "if rs1 != rs2: pc = target"),
    ("blt", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=4",
     "if rs1 < rs2 signed: pc = target"),
    ("bge", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=5",
     "if rs1 >= rs2 signed: pc = target"),
    ("bltu", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=6",
     "if rs1 < rs2 unsigned: pc = target"),
    ("bgeu", "control", "B", "rs1 rs2 imm_b", "opcode=BRANCH funct3=7",
     "if rs1 >= rs2 unsigned: pc = target"),
    ("jal", "control", "J", "rd imm_j", "opcode=JAL", "rd = pc + 4; pc = target"),
    ("jalr", "control", "I", "rd imm_i(rs1)", "opcode=JALR funct3=0",
     "rd = pc + 4; pc = (rs1 + offset) & ~1"),
    ("halt", "control", "I", "", "opcode=SYSTEM funct3=0 imm_i=0",
     "stop the machine (encoded as RISC-V ECALL)"),
    ("ebreak", "control", "I", "", "opcode=SYSTEM funct3=0 imm_i=1",
     "breakpoint: the machine has no debugger, so the run stops with a trap"),
    ("fence", "control", "I", "", "opcode=MISC_MEM funct3=0 imm_i=0xff",
     ("order memory accesses (pred = succ = iorw); no effect: this machine runs one instruction "
     "at a time, in order")),
    ("csrrw", "config", "CSR", "rd csr rs1", "opcode=SYSTEM funct3=1", "rd = csr; csr = rs1"),
    ("csrrs", "config", "CSR", "rd csr rs1", "opcode=SYSTEM funct3=2", "rd = csr; csr = csr | rs1"),
    ("csrrwi", "config", "CSRI", "rd csr uimm5", "opcode=SYSTEM funct3=5",
     "rd = csr; csr = imm (0..31)"),
    ("csrrc", "config", "CSR", "rd csr rs1", "opcode=SYSTEM funct3=3",
     "rd = csr; csr = csr & ~rs1"),
    ("csrrsi", "config", "CSRI", "rd csr uimm5", "opcode=SYSTEM funct3=6",
     "rd = csr; csr = csr | imm (0..31)"),
    ("csrrci", "config", "CSRI", "rd csr uimm5", "opcode=SYSTEM funct3=7",
     "rd = csr; csr = csr & ~imm (0..31)"),
    ("cfgi", "config", "K", "csr=kcsr kimm", "opcode=CFG", "csr = imm (0..131071)"),
    # crossbar arrays (custom-0)
    ("wprog", "load", "R", "rs1", "opcode=XBAR funct3=2 funct7=0",
     ("program region (xbarr, xbrow, xbcol, xbh x xbw) from weight memory at byte "
     "wpage * 2**32 + rs1, row-major, elements of format wfmt")),
    ("mvm", "compute", "R", "rd rs1", "opcode=XBAR funct3=0 funct7=0",
     ("for m < vl: Y[m, :xbw] = xbar(X[m, :xbh]) with X at rs1 (row stride xs), Y at rd (row "
     "stride ys); quantized by ibits/isgn/iscale, dacb, adcb/adcsh; with sablk > 1, Y[m, "
     ":xbw/sablk] = the shift-and-add of its sablk column blocks")),
    ("mvm.acc", "compute", "R", "rd rs1", "opcode=XBAR funct3=1 funct7=0",
     "as mvm, but Y[m, :] += xbar(X[m, :]) (accumulate partial sums of a split K)"),
    # the digital vector unit (custom-1): float32 tensors addressed through the AGU, operand P
    # at base register r covering elements r + 4 * sum_k(i_k * sP_k) for i_k < n_k
    ("vadd", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=0", "D = A + B"),
    ("vsub", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=1", "D = A - B"),
    ("vmul", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=2", "D = A * B"),
    ("vdiv", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=3", "D = A / B"),
    ("vmax", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=4", "D = max(A, B)"),
    ("vmin", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=5", "D = min(A, B)"),
    ("vpow", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=6", "D = A ** B"),
    ("vcmplt", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=7",
     "D = 1.0 if A < B else 0.0"),
    ("vcmple", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=8",
     "D = 1.0 if A <= B else 0.0"),
    ("vcmpeq", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=9",
     "D = 1.0 if A == B else 0.0"),
    ("vmod", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=0 funct7=0xa",
     "D = A - B * floor(A / B)"),
    ("vcopy", "load", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0",
     "D = A (moves, transposes, broadcasts, im2col windows through the AGU)"),
    ("vrelu", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=1", "D = max(A, 0)"),
    ("vsigm", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=2", "D = 1 / (1 + exp(-A))"),
    ("vtanh", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=3", "D = tanh(A)"),
    ("vgelu", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=4",
     "D = A * (1 + erf(A / sqrt(2))) / 2"),
    ("verf", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=5", "D = erf(A)"),
    ("vexp", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=6", "D = exp(A)"),
    ("vlog", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=7", "D = log(A)"),
    ("vsqrt", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=8", "D = sqrt(A)"),
    ("vrecip", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=9", "D = 1 / A"),
    ("vneg", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xa", "D = -A"),
    ("vabs", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xb", "D = |A|"),
    ("vfloor", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xc", "D = floor(A)"),
    ("vceil", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xd", "D = ceil(A)"),
    ("vround", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xe",
     "D = round half to even (A)"),
    ("vsign", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0xf", "D = sign(A)"),
    ("vsin", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0x10", "D = sin(A)"),
    ("vcos", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0x11", "D = cos(A)"),
    ("vnot", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0x12",
     "D = 1.0 if A == 0 else 0.0"),
    ("vgelut", "compute", "R", "rd rs1", "opcode=VEC funct3=1 funct7=0x13",
     ("D = (A * 0.5) * (tanh((A ** 3 * 0.044715 + A) * 0.7978846) + 1), GELU's tanh form, "
      "each operation rounded to float32 (A ** 3 once, from float64)")),
    ("vrsum", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=0",
     "D = sum of A over the innermost nred dims"),
    ("vrmax", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=1",
     "D = max of A over the innermost nred dims"),
    ("vrmin", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=2",
     "D = min of A over the innermost nred dims"),
    ("vrmean", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=3",
     "D = mean of A over the innermost nred dims"),
    ("vsoftmax", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=4",
     "D = exp(A - max) / sum(exp(A - max)) over the innermost nred dims"),
    ("vnorm", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=5",
     "D = (A - mean) / sqrt(var + eps) over the innermost nred dims"),
    ("vsadd", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=6",
     ("shift-and-add of slice partial sums: D = sum_b c_b * A[..., b] over dim 5, c_b = "
     "2**(cellb * (b // p)) * (-1 if wsch and b odd else 1), p = 1 + wsch")),
    ("vcumsum", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=7",
     "D = inclusive cumulative sum of A along dim 5"),
    ("vrmsnorm", "compute", "R", "rd rs1", "opcode=VEC funct3=2 funct7=8",
     ("D = A * (1 / sqrt(mean(A * A) + eps)) over the innermost nred dims, each step rounded to "
      "float32 (the mean accumulated in float64): RMSNorm without its scale")),
    ("vmm", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=3 funct7=0",
     ("digital matmul: D[.., m, n] = sum_k A[.., m, k] * B[.., k, n]; m, n, k are AGU dims 3, "
     "4, 5; dims 0..2 are batch")),
    ("smm", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=3 funct7=1",
     ("SRAM-IMC matmul: as vmm with A and B quantized per tensor to ibits (signed), integer "
     "product, rescaled")),
    ("vgather", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=3 funct7=2",
     "D[i] = A[i + gstride * k] with k = B[i] (k < 0 means k + glen; k must be < glen)"),
    ("vquant", "compute", "R", "rd rs1 rs2", "opcode=VEC funct3=3 funct7=3",
     "D = clamp(round(A * B)) to the input range of mvm (ibits, isgn)"),
    ("vfill", "compute", "R", "rd rs1", "opcode=VEC funct3=3 funct7=4",
     "D = the float32 whose bits are rs1"),
    ("vfma", "compute", "R4", "rd rs1 rs2 rs3", "opcode=VEC funct3=4 funct2=0",
     "D = A * B + C (scale-shift, batch norm, dequantization)"),
    ("vsel", "compute", "R4", "rd rs1 rs2 rs3", "opcode=VEC funct3=4 funct2=1",
     "D = B if A != 0 else C"),
    ("vclip", "compute", "R4", "rd rs1 rs2 rs3", "opcode=VEC funct3=4 funct2=2",
     ("D = min(max(A, B), C), each step keeping its first operand where the two are equal (a "
      "signed zero equal to a bound keeps its sign); the first NaN of A, B, C")),
    ("vsetli", "config", "I", "imm_i", "opcode=VEC funct3=6 rd=0 rs1=0",
     ("AGU := one contiguous dim of imm elements (n5 = imm, other n = 1, every operand stride "
     "of dim 5 = 1, other strides 0, nred = 1)")),
    ("vsetl", "config", "R", "rs1", "opcode=VEC funct3=7 funct7=0", "as vsetli with n5 = rs1"),
    # the tile network (custom-2)
    ("send", "communicate", "R", "rd rs1 rs2", "opcode=NOC funct3=0 funct7=0",
     "copy rs2 words from address rs1 to address rd over the tile network"),
    ("barrier", "communicate", "R", "", "opcode=NOC funct3=1 funct7=0",
     "wait until every tile reaches the barrier"),
)

INSTRUCTIONS: tuple[InstrSpec, ...] = tuple(build(r, FORMATS, FIELDS, OPC) for r in _TABLE)
BY_MNEMONIC: MappingProxyType[str, InstrSpec] = MappingProxyType(
    {s.mnemonic: s for s in INSTRUCTIONS}
)

REGISTER_NAMES: MappingProxyType[str, int] = MappingProxyType(
    {**{f"x{i}": i for i in range(NUM_REGS)}, "zero": 0}
)



PSEUDOS: tuple[Pseudo, ...] = (
    Pseudo("li", "li rd, value",
           "addi rd, x0, value  |  lui rd, %hi(value); addi rd, rd, %lo(value)",
           "load a 32-bit constant: one addi when the operand is a literal that fits 12 bits, "
           "otherwise always lui+addi"),
    Pseudo("mv", "mv rd, rs1", "addi rd, rs1, 0", "copy a register"),
    Pseudo("nop", "nop", "addi x0, x0, 0", "do nothing"),
    Pseudo("ecall", "ecall", "halt", "environment call (RISC-V's ECALL word): the machine has "
           "no environment to call, so it stops, as halt; it disassembles as halt"),
    Pseudo("j", "j target", "jal x0, target", "jump"),
    Pseudo("jr", "jr rs1", "jalr x0, 0(rs1)", "jump to a register"),
    Pseudo("call", "call target", "jal x1, target", "call a subroutine"),
    Pseudo("ret", "ret", "jalr x0, 0(x1)", "return from a subroutine"),
    Pseudo("beqz", "beqz rs1, target", "beq rs1, x0, target", "branch if zero"),
    Pseudo("bnez", "bnez rs1, target", "bne rs1, x0, target", "branch if not zero"),
    Pseudo("bgt", "bgt rs1, rs2, target", "blt rs2, rs1, target", "branch if greater"),
    Pseudo("ble", "ble rs1, rs2, target", "bge rs2, rs1, target", "branch if less or equal"),
    Pseudo("csrw", "csrw csr, rs1", "csrrw x0, csr, rs1", "write a CSR"),
    Pseudo("csrr", "csrr rd, csr", "csrrs rd, csr, x0", "read a CSR"),
)
PSEUDO_BY_MNEMONIC = MappingProxyType({p.mnemonic: p for p in PSEUDOS})



def validate_spec(instructions: tuple[InstrSpec, ...] = INSTRUCTIONS) -> None:
    """Check the table (:func:`isa.model.validate`); ``instructions`` lets a test check a
    broken copy."""
    validate(instructions, formats=FORMATS, fields=FIELDS, csrs=CSRS,
             pseudos=PSEUDO_BY_MNEMONIC, registers=REGISTER_NAMES)


validate_spec()
