"""The types of the instruction table (:mod:`isa.spec` holds the table itself), the builder that
turns one literal row of the table into an :class:`InstrSpec`, and the checker that
:mod:`isa.spec` runs at import (riscv-opcodes style)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from types import MappingProxyType


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

    @cached_property  # the assembler asks for every operand
    def width(self) -> int:
        """Number of value bits, implicit low zeros included."""
        return max(vlsb + msb - lsb + 1 for msb, lsb, vlsb in self.segments)

    @cached_property  # the assembler asks for every operand
    def align(self) -> int:
        """Values must be multiples of this (2 ** number of implicit low zero bits)."""
        return 1 << min(vlsb for _, _, vlsb in self.segments)

    @cached_property  # the assembler asks for every operand
    def word_mask(self) -> int:
        m = 0
        for msb, lsb, _ in self.segments:
            m |= ((1 << (msb - lsb + 1)) - 1) << lsb
        return m

    @cached_property  # the assembler asks for every operand
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


def field_of(name, *segments, signed=False, bias=0, doc="") -> Field:
    """A :class:`Field` from ``(msb, lsb)`` or ``(msb, lsb, vlsb)`` segments."""
    segs = tuple(s if len(s) == 3 else (s[0], s[1], 0) for s in segments)
    return Field(name, segs, signed, bias, doc)


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
        ops = ", ".join(_operand_syntax(o) for o in self.operands)
        return f"{self.mnemonic} {ops}".strip()


def _operand_syntax(o: Operand) -> str:
    return f"{o.name}({o.base_field})" if o.kind is OperandKind.MEM else o.name


@dataclass(frozen=True)
class Pseudo:
    """An assembler convenience that expands to table instructions (documented in isa.md).
    ``expansion`` is one template, or two separated by ``|`` (``li``: the first when the value
    is a literal that fits 12 bits)."""

    mnemonic: str
    syntax: str
    expansion: str
    doc: str

    @property
    def params(self) -> tuple[str, ...]:
        """The operand names of :attr:`syntax`, in order (``("rd", "value")`` for ``li``)."""
        _, _, ops = self.syntax.partition(" ")
        return tuple(t.strip() for t in ops.split(",")) if ops.strip() else ()


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
_REG_FIELDS = ("rd", "rs1", "rs2", "rs3")


def _operands(ops: str) -> tuple[Operand, ...]:
    """``ops`` lists operand fields in assembly order: ``imm_i(rs1)`` for a memory operand,
    ``name=field`` to rename one."""
    out = []
    for tok in ops.split():
        if "(" in tok:
            imm, base = tok[:-1].split("(")
            out.append(Operand("offset", OperandKind.MEM, imm, base))
            continue
        name, _, fld = tok.partition("=")
        fld = fld or name
        kind = _KIND_OF.get(fld, OperandKind.IMM)
        display = "imm" if name.startswith("imm_") or name in ("shamt", "uimm5", "kimm") else name
        if kind is OperandKind.TARGET:
            display = "target"
        out.append(Operand(display if name == fld else name, kind, fld))
    return tuple(out)


def build(row: tuple[str, str, str, str, str, str], formats: Mapping[str, tuple[str, ...]],
          fields: Mapping[str, Field], opcodes: Mapping[str, int]) -> InstrSpec:
    """One instruction from a row ``(mnemonic, category, format, operands, fixed, doc)`` of the
    table. ``fixed`` is ``"opcode=NAME funct3=N ..."``; a register field of the format that is
    neither an operand nor named there is a fixed zero."""
    mnemonic, category, fmt, ops, fixed, doc = row
    operands = _operands(ops)
    fx: dict[str, int] = {}
    for item in fixed.split():
        k, _, v = item.partition("=")
        fx[k] = opcodes[v] if k == "opcode" else int(v, 0)
    used = {o.field for o in operands} | {o.base_field for o in operands if o.base_field}
    for fname in formats[fmt]:
        if fname in _REG_FIELDS and fname not in used and fname not in fx:
            fx[fname] = 0
    match = mask = 0
    for fname, value in fx.items():
        if fname in fields and fields[fname].fits(value):  # else validate() names the mistake
            match |= fields[fname].insert(value)
            mask |= fields[fname].word_mask
    return InstrSpec(mnemonic, Category(category), fmt, MappingProxyType(fx), operands, doc,
                     match, mask)


class SpecError(Exception):
    """The instruction table is inconsistent (a bug in the table, not a user error)."""


def check_formats(formats: Mapping[str, tuple[str, ...]], fields: Mapping[str, Field]) -> None:
    """Every format's fields cover the 32 bits of a word exactly once."""
    for name, fnames in formats.items():
        seen = 0
        for fname in fnames:
            if fname not in fields:
                raise SpecError(f"format {name}: unknown field {fname!r}")
            m = fields[fname].word_mask
            if seen & m:
                raise SpecError(f"format {name}: field {fname!r} overlaps another field")
            seen |= m
        if seen != 0xFFFFFFFF:
            raise SpecError(f"format {name}: bits {~seen & 0xFFFFFFFF:#010x} belong to no field")


def check_instruction(s: InstrSpec, formats, fields) -> None:
    """Operands and fixed values of one instruction fill its format's fields exactly once."""
    fmt = formats[s.format]
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
            raise SpecError(f"instruction {s.mnemonic}: field {fname!r} is neither fixed nor "
                            "an operand")
    for fname, value in s.fixed.items():
        if fname not in fmt:
            raise SpecError(f"instruction {s.mnemonic}: fixed field {fname!r} not in {s.format}")
        if not fields[fname].fits(value):
            raise SpecError(f"instruction {s.mnemonic}: fixed {fname}={value} doesn't fit")


def validate(instructions: tuple[InstrSpec, ...], *, formats, fields, csrs: Iterable[CsrSpec],
             pseudos: Iterable[str], registers: Iterable[str]) -> None:
    """Check the table: formats cover 32 bits exactly, fixed values fit, operands resolve,
    no two instructions can match the same word, names are unique."""
    check_formats(formats, fields)
    names, pseudos = set(), set(pseudos)
    for s in instructions:
        if s.mnemonic in names:
            raise SpecError(f"instruction {s.mnemonic}: defined twice")
        names.add(s.mnemonic)
        check_instruction(s, formats, fields)
        if s.mnemonic in pseudos:
            raise SpecError(f"instruction {s.mnemonic}: also a pseudo-instruction")
    for i, a in enumerate(instructions):
        for b in instructions[i + 1 :]:
            if (a.match ^ b.match) & a.mask & b.mask == 0:
                raise SpecError(f"instructions {a.mnemonic} and {b.mnemonic} overlap in encoding")
    csrs, registers = tuple(csrs), set(registers)
    nums = [c.number for c in csrs]
    if len(set(nums)) != len(nums) or len({c.name for c in csrs}) != len(csrs):
        raise SpecError("CSR names or numbers are not unique")
    for c in csrs:
        if c.name in registers or c.name in names:
            raise SpecError(f"CSR {c.name}: name collides with a register or mnemonic")
