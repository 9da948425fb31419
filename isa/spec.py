"""The imcc instruction set: ONE declarative table from which everything else is derived.

The encoder and decoder (:mod:`isa.encoding`), the assembler's operand matching
(:mod:`isa.assembler`), the disassembler, ``docs/isa.md`` (:mod:`isa.gen_docs`), the reference
interpreter's dispatch (:mod:`runtime.interpreter`) and the round-trip tests read this module.
No opcode is written anywhere else.

Layout of the table, in the style of riscv-opcodes and TableGen:

* :data:`FIELDS` — bit fields of a 32-bit word, including split immediates;
* :data:`FORMATS` — which fields make up each format (every bit belongs to exactly one field);
* :data:`CSRS` — the configuration registers the array, vector and precision units read;
* :data:`INSTRUCTIONS` — each instruction names a format, binds constant fields (opcode,
  funct3, funct7...) and maps its assembly operands onto the remaining fields.

The scalar subset is encoded exactly as RV32IM (so ``addi x1, x0, 1`` is ``0x00100093``); the
in-memory-computing instructions live in RISC-V's four custom major opcodes. This follows the
seed paper's advice that an IMC ISA keep length, function division and addressing consistent with
a mainstream digital ISA. :func:`validate_spec` runs at import and checks the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

WORD_BITS = 32
WORD_BYTES = 4
NUM_REGS = 32
AGU_RANK = 6  # dimensions of the vector unit's address generator

# Memory map (byte addresses, 32-bit). Global memory starts at 0; the ``.data`` section is
# loaded there. Tile ``t``'s local buffer starts at TILE_BASE + t * TILE_STRIDE.
TILE_BASE = 0x8000_0000
TILE_STRIDE = 0x0100_0000
MAX_TILES = (2**32 - TILE_BASE) // TILE_STRIDE

# Element formats of the weight memory read by ``wprog`` (CSR ``wfmt``).
WEIGHT_FORMATS = MappingProxyType({0: "uint8", 1: "uint16", 2: "float32"})


class Category(str, Enum):
    """The seed paper's three kinds of IMC instruction, plus control and config."""

    LOAD = "load"
    COMPUTE = "compute"
    COMMUNICATE = "communicate"
    CONTROL = "control"
    CONFIG = "config"


class OperandKind(str, Enum):
    """How an assembly operand is written and checked."""

    REG = "reg"  # x0..x31
    IMM = "imm"  # integer expression
    TARGET = "target"  # code label; encoded relative to the instruction's address
    CSR = "csr"  # configuration register name (or number)
    MEM = "mem"  # offset(base): an immediate field plus a base register field


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A value spread over one or more bit ranges of the instruction word.

    Each segment ``(msb, lsb, vlsb)`` says that word bits ``msb..lsb`` hold value bits
    ``vlsb + (msb - lsb) .. vlsb``. Value bits below the lowest ``vlsb`` are implicit zeros (so
    a branch offset must be even). ``bias`` is subtracted before encoding.
    """

    name: str
    segments: tuple[tuple[int, int, int], ...]
    signed: bool = False
    bias: int = 0
    doc: str = ""

    @property
    def width(self) -> int:
        """Number of value bits, implicit low zeros included."""
        return max(vlsb + msb - lsb + 1 for msb, lsb, vlsb in self.segments)

    @property
    def align(self) -> int:
        """Values must be multiples of this (2 ** number of implicit low zero bits)."""
        return 1 << min(vlsb for _, _, vlsb in self.segments)

    @property
    def word_mask(self) -> int:
        m = 0
        for msb, lsb, _ in self.segments:
            m |= ((1 << (msb - lsb + 1)) - 1) << lsb
        return m

    @property
    def value_range(self) -> tuple[int, int]:
        """Smallest and largest representable value (bias included)."""
        if self.signed:
            lo, hi = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
        else:
            lo, hi = 0, (1 << self.width) - 1
        hi -= hi % self.align if hi >= 0 else 0
        return lo + self.bias, hi + self.bias

    def fits(self, value: int) -> bool:
        lo, hi = self.value_range
        return lo <= value <= hi and (value - self.bias) % self.align == 0

    def insert(self, value: int) -> int:
        """Return the word bits encoding ``value`` (which must fit)."""
        raw = (value - self.bias) & ((1 << self.width) - 1)
        word = 0
        for msb, lsb, vlsb in self.segments:
            n = msb - lsb + 1
            word |= ((raw >> vlsb) & ((1 << n) - 1)) << lsb
        return word

    def extract(self, word: int) -> int:
        """Return the value held by this field in ``word``."""
        raw = 0
        for msb, lsb, vlsb in self.segments:
            n = msb - lsb + 1
            raw |= ((word >> lsb) & ((1 << n) - 1)) << vlsb
        if self.signed and raw & (1 << (self.width - 1)):
            raw -= 1 << self.width
        return raw + self.bias


def _f(name, *segments, signed=False, bias=0, doc=""):
    segs = tuple(s if len(s) == 3 else (s[0], s[1], 0) for s in segments)
    return Field(name, segs, signed, bias, doc)


FIELDS: MappingProxyType[str, Field] = MappingProxyType(
    {
        f.name: f
        for f in (
            _f("opcode", (6, 0), doc="major opcode"),
            _f("rd", (11, 7), doc="destination register"),
            _f("funct3", (14, 12), doc="minor opcode"),
            _f("rs1", (19, 15), doc="first source register"),
            _f("rs2", (24, 20), doc="second source register"),
            _f("funct7", (31, 25), doc="minor opcode"),
            _f("rs3", (31, 27), doc="third source register (R4 format)"),
            _f("funct2", (26, 25), doc="minor opcode (R4 format)"),
            _f("imm_i", (31, 20), signed=True, doc="12-bit signed immediate"),
            _f("imm_s", (31, 25, 5), (11, 7, 0), signed=True, doc="12-bit signed store offset"),
            _f(
                "imm_b",
                (31, 31, 12),
                (30, 25, 5),
                (11, 8, 1),
                (7, 7, 11),
                signed=True,
                doc="13-bit signed branch offset, even",
            ),
            _f("imm_u", (31, 12), doc="20-bit upper immediate"),
            _f(
                "imm_j",
                (31, 31, 20),
                (30, 21, 1),
                (20, 20, 11),
                (19, 12, 12),
                signed=True,
                doc="21-bit signed jump offset, even",
            ),
            _f("shamt", (24, 20), doc="5-bit shift amount"),
            _f("csr", (31, 20), doc="12-bit CSR number"),
            _f("uimm5", (19, 15), doc="5-bit unsigned immediate"),
            _f("kcsr", (14, 7), bias=0x800, doc="CSR number 0x800..0x8ff (cfgi)"),
            _f("kimm", (31, 15), doc="17-bit unsigned immediate (cfgi)"),
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


@dataclass(frozen=True)
class CsrSpec:
    """A configuration register. ``kind`` is ``int``, ``f32`` (float32 bit pattern) or ``stride``
    (signed element count)."""

    name: str
    number: int
    doc: str
    kind: str = "int"
    reset: int = 0
    readonly: bool = False


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
        CsrSpec("wfmt", base + 0x08, "wprog source format: 0 uint8, 1 uint16, 2 float32"),
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
# Instructions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operand:
    """An assembly operand: its name in the docs, its kind, and the field(s) it fills."""

    name: str
    kind: OperandKind
    field: str
    base_field: str | None = None  # MEM operands: the base register's field


@dataclass(frozen=True)
class InstrSpec:
    """One instruction: mnemonic, category, format, constant fields, operands, semantics."""

    mnemonic: str
    category: Category
    format: str
    fixed: MappingProxyType
    operands: tuple[Operand, ...]
    doc: str
    match: int = field(default=0, compare=False)
    mask: int = field(default=0, compare=False)

    @property
    def syntax(self) -> str:
        return " ".join([self.mnemonic, ", ".join(_operand_syntax(o) for o in self.operands)]).strip()


def _operand_syntax(o: Operand) -> str:
    return f"{o.name}({o.base_field})" if o.kind is OperandKind.MEM else o.name


_REG_FIELDS = ("rd", "rs1", "rs2", "rs3")
_KIND_OF = {
    "rd": OperandKind.REG,
    "rs1": OperandKind.REG,
    "rs2": OperandKind.REG,
    "rs3": OperandKind.REG,
    "csr": OperandKind.CSR,
    "kcsr": OperandKind.CSR,
    "imm_b": OperandKind.TARGET,
    "imm_j": OperandKind.TARGET,
}


def _ins(mnemonic, category, fmt, ops, doc, **fixed) -> InstrSpec:
    """Build a spec. ``ops`` lists operand fields in assembly order (``imm_i(rs1)`` for MEM,
    ``name=field`` to rename); register fields of the format not named become fixed zeros."""
    operands = []
    for tok in ops.split():
        if "(" in tok:
            imm, base = tok[:-1].split("(")
            operands.append(Operand("offset", OperandKind.MEM, imm, base))
            continue
        name, _, fld = tok.partition("=")
        fld = fld or name
        kind = _KIND_OF.get(fld, OperandKind.IMM)
        display = "imm" if name.startswith("imm_") or name in ("shamt", "uimm5", "kimm") else name
        if kind is OperandKind.TARGET:
            display = "target"
        operands.append(Operand(display if name == fld else name, kind, fld))
    used = {o.field for o in operands} | {o.base_field for o in operands if o.base_field}
    fx = dict(fixed)
    fx["opcode"] = OPC[fx["opcode"]] if isinstance(fx.get("opcode"), str) else fx["opcode"]
    for fname in FORMATS[fmt]:
        if fname not in used and fname not in fx:
            fx[fname] = 0
    return InstrSpec(mnemonic, Category(category), fmt, MappingProxyType(fx), tuple(operands), doc)


def _r(mn, cat, f3, f7, ops, doc, opcode):
    return _ins(mn, cat, "R", ops, doc, opcode=opcode, funct3=f3, funct7=f7)


def _scalar() -> list[InstrSpec]:
    out = []
    alu = [
        ("add", 0, 0, "rd = rs1 + rs2"),
        ("sub", 0, 0x20, "rd = rs1 - rs2"),
        ("sll", 1, 0, "rd = rs1 << (rs2 & 31)"),
        ("slt", 2, 0, "rd = (rs1 < rs2) signed ? 1 : 0"),
        ("sltu", 3, 0, "rd = (rs1 < rs2) unsigned ? 1 : 0"),
        ("xor", 4, 0, "rd = rs1 ^ rs2"),
        ("srl", 5, 0, "rd = rs1 >> (rs2 & 31), logical"),
        ("sra", 5, 0x20, "rd = rs1 >> (rs2 & 31), arithmetic"),
        ("or", 6, 0, "rd = rs1 | rs2"),
        ("and", 7, 0, "rd = rs1 & rs2"),
        ("mul", 0, 1, "rd = low 32 bits of rs1 * rs2"),
        ("mulh", 1, 1, "rd = high 32 bits of rs1 * rs2, both signed"),
        ("mulhsu", 2, 1, "rd = high 32 bits of rs1 * rs2, rs1 signed, rs2 unsigned"),
        ("mulhu", 3, 1, "rd = high 32 bits of rs1 * rs2, both unsigned"),
        ("div", 4, 1, "rd = rs1 / rs2 signed, rounding toward zero (x/0 = -1)"),
        ("divu", 5, 1, "rd = rs1 / rs2 unsigned (x/0 = 2**32-1)"),
        ("rem", 6, 1, "rd = rs1 % rs2 signed, sign of rs1 (x%0 = x)"),
        ("remu", 7, 1, "rd = rs1 % rs2 unsigned (x%0 = x)"),
    ]
    for mn, f3, f7, doc in alu:
        out.append(_r(mn, "compute", f3, f7, "rd rs1 rs2", doc, "OP"))
    imm = [
        ("addi", 0, "rd = rs1 + imm"),
        ("slti", 2, "rd = (rs1 < imm) signed ? 1 : 0"),
        ("sltiu", 3, "rd = (rs1 < imm) unsigned ? 1 : 0"),
        ("xori", 4, "rd = rs1 ^ imm"),
        ("ori", 6, "rd = rs1 | imm"),
        ("andi", 7, "rd = rs1 & imm"),
    ]
    for mn, f3, doc in imm:
        out.append(_ins(mn, "compute", "I", "rd rs1 imm_i", doc, opcode="OP_IMM", funct3=f3))
    for mn, f3, f7, doc in (
        ("slli", 1, 0, "rd = rs1 << shamt"),
        ("srli", 5, 0, "rd = rs1 >> shamt, logical"),
        ("srai", 5, 0x20, "rd = rs1 >> shamt, arithmetic"),
    ):
        out.append(
            _ins(mn, "compute", "IS", "rd rs1 shamt", doc, opcode="OP_IMM", funct3=f3, funct7=f7)
        )
    out.append(
        _ins("lui", "compute", "U", "rd imm_u", "rd = imm << 12", opcode="LUI")
    )
    out.append(
        _ins("auipc", "compute", "U", "rd imm_u", "rd = pc + (imm << 12)", opcode="AUIPC")
    )
    for mn, f3, doc in (
        ("lb", 0, "rd = mem8[rs1 + offset], sign-extended"),
        ("lh", 1, "rd = mem16[rs1 + offset], sign-extended (address 2-aligned)"),
        ("lbu", 4, "rd = mem8[rs1 + offset], zero-extended"),
        ("lhu", 5, "rd = mem16[rs1 + offset], zero-extended (address 2-aligned)"),
    ):
        out.append(_ins(mn, "load", "I", "rd imm_i(rs1)", doc, opcode="LOAD", funct3=f3))
    for mn, f3, doc in (
        ("sb", 0, "mem8[rs1 + offset] = low 8 bits of rs2"),
        ("sh", 1, "mem16[rs1 + offset] = low 16 bits of rs2 (address 2-aligned)"),
    ):
        out.append(_ins(mn, "load", "S", "rs2 imm_s(rs1)", doc, opcode="STORE", funct3=f3))
    out.append(
        _ins(
            "lw", "load", "I", "rd imm_i(rs1)",
            "rd = mem32[rs1 + offset] (address 4-aligned)", opcode="LOAD", funct3=2,
        )
    )
    out.append(
        _ins(
            "sw", "load", "S", "rs2 imm_s(rs1)",
            "mem32[rs1 + offset] = rs2 (address 4-aligned)", opcode="STORE", funct3=2,
        )
    )
    for mn, f3, cond in (
        ("beq", 0, "rs1 == rs2"),
        ("bne", 1, "rs1 != rs2"),
        ("blt", 4, "rs1 < rs2 signed"),
        ("bge", 5, "rs1 >= rs2 signed"),
        ("bltu", 6, "rs1 < rs2 unsigned"),
        ("bgeu", 7, "rs1 >= rs2 unsigned"),
    ):
        out.append(
            _ins(mn, "control", "B", "rs1 rs2 imm_b", f"if {cond}: pc = target",
                 opcode="BRANCH", funct3=f3)
        )
    out.append(_ins("jal", "control", "J", "rd imm_j", "rd = pc + 4; pc = target", opcode="JAL"))
    out.append(
        _ins("jalr", "control", "I", "rd imm_i(rs1)",
             "rd = pc + 4; pc = (rs1 + offset) & ~1", opcode="JALR", funct3=0)
    )
    out.append(
        _ins("halt", "control", "I", "", "stop the machine (encoded as RISC-V ECALL)",
             opcode="SYSTEM", funct3=0, imm_i=0)
    )
    out.append(
        _ins("ebreak", "control", "I", "",
             "breakpoint: the machine has no debugger, so the run stops with a trap",
             opcode="SYSTEM", funct3=0, imm_i=1)
    )
    out.append(
        _ins("fence", "control", "I", "",
             "order memory accesses (pred = succ = iorw); no effect: this machine runs one "
             "instruction at a time, in order", opcode="MISC_MEM", funct3=0, imm_i=0x0FF)
    )
    out.append(
        _ins("csrrw", "config", "CSR", "rd csr rs1", "rd = csr; csr = rs1",
             opcode="SYSTEM", funct3=1)
    )
    out.append(
        _ins("csrrs", "config", "CSR", "rd csr rs1", "rd = csr; csr = csr | rs1",
             opcode="SYSTEM", funct3=2)
    )
    out.append(
        _ins("csrrwi", "config", "CSRI", "rd csr uimm5", "rd = csr; csr = imm (0..31)",
             opcode="SYSTEM", funct3=5)
    )
    out.append(
        _ins("csrrc", "config", "CSR", "rd csr rs1", "rd = csr; csr = csr & ~rs1",
             opcode="SYSTEM", funct3=3)
    )
    for mn, f3, doc in (
        ("csrrsi", 6, "rd = csr; csr = csr | imm (0..31)"),
        ("csrrci", 7, "rd = csr; csr = csr & ~imm (0..31)"),
    ):
        out.append(_ins(mn, "config", "CSRI", "rd csr uimm5", doc, opcode="SYSTEM", funct3=f3))
    out.append(
        _ins("cfgi", "config", "K", "csr=kcsr kimm", "csr = imm (0..131071)", opcode="CFG")
    )
    return out


_AGU = "D[i] = f(A[i], B[i]) for every index i of the AGU space n0..n5"


def _imc() -> list[InstrSpec]:
    xb = "XBAR"
    out = [
        _ins(
            "wprog", "load", "R", "rs1",
            "program region (xbarr, xbrow, xbcol, xbh x xbw) from weight memory at rs1, "
            "row-major, elements of format wfmt",
            opcode=xb, funct3=2, funct7=0,
        ),
        _ins(
            "mvm", "compute", "R", "rd rs1",
            "for m < vl: Y[m, :xbw] = xbar(X[m, :xbh]) with X at rs1 (row stride xs), "
            "Y at rd (row stride ys); quantized by ibits/isgn/iscale, dacb, adcb/adcsh; with "
            "sablk > 1, Y[m, :xbw/sablk] = the shift-and-add of its sablk column blocks",
            opcode=xb, funct3=0, funct7=0,
        ),
        _ins(
            "mvm.acc", "compute", "R", "rd rs1",
            "as mvm, but Y[m, :] += xbar(X[m, :]) (accumulate partial sums of a split K)",
            opcode=xb, funct3=1, funct7=0,
        ),
    ]
    return out


# Digital vector unit. Operands are float32 tensors addressed through the AGU: operand P at base
# register r covers elements r + 4 * sum_k(i_k * sP_k) for i_k < n_k.
_VEC_BINARY = (
    ("vadd", 0, "D = A + B"),
    ("vsub", 1, "D = A - B"),
    ("vmul", 2, "D = A * B"),
    ("vdiv", 3, "D = A / B"),
    ("vmax", 4, "D = max(A, B)"),
    ("vmin", 5, "D = min(A, B)"),
    ("vpow", 6, "D = A ** B"),
    ("vcmplt", 7, "D = 1.0 if A < B else 0.0"),
    ("vcmple", 8, "D = 1.0 if A <= B else 0.0"),
    ("vcmpeq", 9, "D = 1.0 if A == B else 0.0"),
    ("vmod", 10, "D = A - B * floor(A / B)"),
)
_VEC_UNARY = (
    ("vcopy", 0, "D = A (moves, transposes, broadcasts, im2col windows through the AGU)"),
    ("vrelu", 1, "D = max(A, 0)"),
    ("vsigm", 2, "D = 1 / (1 + exp(-A))"),
    ("vtanh", 3, "D = tanh(A)"),
    ("vgelu", 4, "D = A * (1 + erf(A / sqrt(2))) / 2"),
    ("verf", 5, "D = erf(A)"),
    ("vexp", 6, "D = exp(A)"),
    ("vlog", 7, "D = log(A)"),
    ("vsqrt", 8, "D = sqrt(A)"),
    ("vrecip", 9, "D = 1 / A"),
    ("vneg", 10, "D = -A"),
    ("vabs", 11, "D = |A|"),
    ("vfloor", 12, "D = floor(A)"),
    ("vceil", 13, "D = ceil(A)"),
    ("vround", 14, "D = round half to even (A)"),
    ("vsign", 15, "D = sign(A)"),
    ("vsin", 16, "D = sin(A)"),
    ("vcos", 17, "D = cos(A)"),
    ("vnot", 18, "D = 1.0 if A == 0 else 0.0"),
)
_VEC_REDUCE = (
    ("vrsum", 0, "D = sum of A over the innermost nred dims"),
    ("vrmax", 1, "D = max of A over the innermost nred dims"),
    ("vrmin", 2, "D = min of A over the innermost nred dims"),
    ("vrmean", 3, "D = mean of A over the innermost nred dims"),
    ("vsoftmax", 4, "D = exp(A - max) / sum(exp(A - max)) over the innermost nred dims"),
    ("vnorm", 5, "D = (A - mean) / sqrt(var + eps) over the innermost nred dims"),
    (
        "vsadd", 6,
        ("shift-and-add of slice partial sums: D = sum_b c_b * A[..., b] over dim 5, "
        "c_b = 2**(cellb * (b // p)) * (-1 if wsch and b odd else 1), p = 1 + wsch"),
    ),
    ("vcumsum", 7, "D = inclusive cumulative sum of A along dim 5"),
)
_VEC_SPECIAL = (
    (
        "vmm", 0,
        "rd rs1 rs2",
        ("digital matmul: D[.., m, n] = sum_k A[.., m, k] * B[.., k, n]; "
        "m, n, k are AGU dims 3, 4, 5; dims 0..2 are batch"),
    ),
    (
        "smm", 1,
        "rd rs1 rs2",
        ("SRAM-IMC matmul: as vmm with A and B quantized per tensor to ibits (signed), "
        "integer product, rescaled"),
    ),
    (
        "vgather", 2,
        "rd rs1 rs2",
        "D[i] = A[i + gstride * k] with k = B[i] (k < 0 means k + glen; k must be < glen)",
    ),
    (
        "vquant", 3,
        "rd rs1 rs2",
        "D = clamp(round(A * B)) to the input range of mvm (ibits, isgn)",
    ),
    ("vfill", 4, "rd rs1", "D = the float32 whose bits are rs1"),
)


def _vector() -> list[InstrSpec]:
    """Each entry binds its funct7 (funct2 for R4) explicitly: an encoding never depends on an
    instruction's position, so a new one never re-encodes another (tests/isa/encodings.lock)."""
    v = "VEC"
    out = []
    for mn, f7, doc in _VEC_BINARY:
        out.append(_r(mn, "compute", 0, f7, "rd rs1 rs2", doc, v))
    for mn, f7, doc in _VEC_UNARY:
        cat = "load" if mn == "vcopy" else "compute"
        out.append(_r(mn, cat, 1, f7, "rd rs1", doc, v))
    for mn, f7, doc in _VEC_REDUCE:
        out.append(_r(mn, "compute", 2, f7, "rd rs1", doc, v))
    for mn, f7, ops, doc in _VEC_SPECIAL:
        out.append(_r(mn, "compute", 3, f7, ops, doc, v))
    for mn, f2, doc in (
        ("vfma", 0, "D = A * B + C (scale-shift, batch norm, dequantization)"),
        ("vsel", 1, "D = B if A != 0 else C"),
    ):
        out.append(
            _ins(mn, "compute", "R4", "rd rs1 rs2 rs3", doc, opcode=v, funct3=4, funct2=f2)
        )
    out.append(
        _ins(
            "vsetli", "config", "I", "imm_i",
            "AGU := one contiguous dim of imm elements (n5 = imm, other n = 1, "
            "every operand stride of dim 5 = 1, other strides 0, nred = 1)",
            opcode=v, funct3=6, rd=0, rs1=0,
        )
    )
    out.append(
        _ins("vsetl", "config", "R", "rs1", "as vsetli with n5 = rs1", opcode=v, funct3=7,
             funct7=0)
    )
    return out


def _noc() -> list[InstrSpec]:
    return [
        _ins(
            "send", "communicate", "R", "rd rs1 rs2",
            "copy rs2 words from address rs1 to address rd over the tile network",
            opcode="NOC", funct3=0, funct7=0,
        ),
        _ins(
            "barrier", "communicate", "R", "",
            "wait until every tile reaches the barrier", opcode="NOC", funct3=1, funct7=0,
        ),
    ]


def _finish(spec: InstrSpec) -> InstrSpec:
    match = mask = 0
    for fname, value in spec.fixed.items():
        f = FIELDS[fname]
        match |= f.insert(value)
        mask |= f.word_mask
    object.__setattr__(spec, "match", match)
    object.__setattr__(spec, "mask", mask)
    return spec


INSTRUCTIONS: tuple[InstrSpec, ...] = tuple(
    _finish(s) for s in (*_scalar(), *_imc(), *_vector(), *_noc())
)
BY_MNEMONIC: MappingProxyType[str, InstrSpec] = MappingProxyType(
    {s.mnemonic: s for s in INSTRUCTIONS}
)

REGISTER_NAMES: MappingProxyType[str, int] = MappingProxyType(
    {**{f"x{i}": i for i in range(NUM_REGS)}, "zero": 0}
)


@dataclass(frozen=True)
class Pseudo:
    """An assembler convenience that expands to table instructions (documented in isa.md)."""

    mnemonic: str
    syntax: str
    expansion: str
    doc: str


PSEUDOS: tuple[Pseudo, ...] = (
    Pseudo("li", "li rd, value", "addi rd, x0, value  |  lui rd, %hi(value); addi rd, rd, %lo(value)",
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

# --------------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------------


class SpecError(Exception):
    """The instruction table is inconsistent (a bug in this file, not a user error)."""


def validate_spec() -> None:
    """Check the table: formats cover 32 bits exactly, fixed values fit, operands resolve,
    no two instructions can match the same word, names are unique."""
    for name, fields in FORMATS.items():
        seen = 0
        for fname in fields:
            if fname not in FIELDS:
                raise SpecError(f"format {name}: unknown field {fname!r}")
            m = FIELDS[fname].word_mask
            if seen & m:
                raise SpecError(f"format {name}: field {fname!r} overlaps another field")
            seen |= m
        if seen != 0xFFFFFFFF:
            raise SpecError(f"format {name}: bits {~seen & 0xFFFFFFFF:#010x} belong to no field")
    names = set()
    for s in INSTRUCTIONS:
        if s.mnemonic in names:
            raise SpecError(f"instruction {s.mnemonic}: defined twice")
        names.add(s.mnemonic)
        fmt = FORMATS[s.format]
        used = [o.field for o in s.operands] + [o.base_field for o in s.operands if o.base_field]
        for fname in used:
            if fname not in fmt:
                raise SpecError(f"instruction {s.mnemonic}: operand field {fname!r} not in {s.format}")
            if fname in s.fixed:
                raise SpecError(f"instruction {s.mnemonic}: field {fname!r} is fixed and an operand")
        if len(set(used)) != len(used):
            raise SpecError(f"instruction {s.mnemonic}: a field is used by two operands")
        for fname in fmt:
            if fname not in s.fixed and fname not in used:
                raise SpecError(f"instruction {s.mnemonic}: field {fname!r} is neither fixed nor an operand")
        for fname, value in s.fixed.items():
            if fname not in fmt:
                raise SpecError(f"instruction {s.mnemonic}: fixed field {fname!r} not in {s.format}")
            if not FIELDS[fname].fits(value):
                raise SpecError(f"instruction {s.mnemonic}: fixed {fname}={value} doesn't fit")
        if s.mnemonic in PSEUDO_BY_MNEMONIC:
            raise SpecError(f"instruction {s.mnemonic}: also a pseudo-instruction")
    for i, a in enumerate(INSTRUCTIONS):
        for b in INSTRUCTIONS[i + 1 :]:
            if (a.match ^ b.match) & a.mask & b.mask == 0:
                raise SpecError(f"instructions {a.mnemonic} and {b.mnemonic} overlap in encoding")
    nums = [c.number for c in CSRS]
    if len(set(nums)) != len(nums) or len({c.name for c in CSRS}) != len(CSRS):
        raise SpecError("CSR names or numbers are not unique")
    for c in CSRS:
        if c.name in REGISTER_NAMES or c.name in BY_MNEMONIC:
            raise SpecError(f"CSR {c.name}: name collides with a register or mnemonic")


validate_spec()
