"""Encode and decode instruction words: two generic functions over the table in :mod:`isa.spec`.

>>> w = encode(Instr("addi", (1, 0, 1)))
>>> hex(w)
'0x100093'
>>> decode(w)
Instr(mnemonic='addi', args=(1, 0, 1))
>>> format_instr(decode(0x00812283))
'lw x5, 8(x2)'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from isa.diagnostics import EncodeError, ToolchainError
from isa.spec import (
    BY_MNEMONIC,
    CSR_BY_NUMBER,
    FIELDS,
    INSTRUCTIONS,
    InstrSpec,
    OperandKind,
)


class DecodeError(ToolchainError):
    """A word matches no instruction in the table."""


@dataclass(frozen=True)
class Instr:
    """A decoded instruction: mnemonic and one integer per operand field, in the order of
    :func:`operand_fields`. TARGET operands hold the offset relative to the instruction."""

    mnemonic: str
    args: tuple[int, ...]

    @property
    def spec(self) -> InstrSpec:
        return BY_MNEMONIC[self.mnemonic]

    def field(self, name: str) -> int:
        """Value of the named field (an operand field or a fixed one)."""
        spec = self.spec
        if name in spec.fixed:
            return spec.fixed[name]
        return self.args[operand_fields(spec).index(name)]


def _operand_fields(spec: InstrSpec) -> tuple[str, ...]:
    out = []
    for o in spec.operands:
        out.append(o.field)
        if o.base_field:
            out.append(o.base_field)
    return tuple(out)


_OPERAND_FIELDS = MappingProxyType({s.mnemonic: _operand_fields(s) for s in INSTRUCTIONS})


def operand_fields(spec: InstrSpec) -> tuple[str, ...]:
    """Field names filled by the operands of ``spec``, in assembly order (MEM: offset, base)."""
    return _OPERAND_FIELDS[spec.mnemonic]


def field_error(spec: InstrSpec, fname: str, value: int) -> str:
    """The message for an operand value that does not fit its field."""
    f = FIELDS[fname]
    lo, hi = f.value_range
    if lo <= value <= hi and (value - f.bias) % f.align:
        return (f"field '{fname}': value {value} is not a multiple of {f.align} "
                f"(instruction {spec.mnemonic})")
    kind = "signed " if f.signed else ""
    return (f"field '{fname}': value {value} doesn't fit in {f.width} {kind}bits, "
            f"range {lo}..{hi} (instruction {spec.mnemonic})")


def encode(instr: Instr) -> int:
    """Encode one instruction to a 32-bit word; raise :class:`EncodeError` if an operand is out
    of range."""
    spec = BY_MNEMONIC.get(instr.mnemonic)
    if spec is None:
        raise EncodeError(f"unknown instruction {instr.mnemonic!r}")
    fields = operand_fields(spec)
    if len(fields) != len(instr.args):
        raise EncodeError(
            f"instruction {spec.mnemonic} takes {len(fields)} operand field(s), got {len(instr.args)}"
        )
    word = spec.match
    for fname, value in zip(fields, instr.args):
        f = FIELDS[fname]
        if not f.fits(value):
            raise EncodeError(field_error(spec, fname, value))
        word |= f.insert(value)
    return word


def _by_opcode() -> MappingProxyType:
    table: dict[int, list[InstrSpec]] = {}
    for s in INSTRUCTIONS:
        table.setdefault(s.fixed["opcode"], []).append(s)
    return MappingProxyType({k: tuple(v) for k, v in table.items()})


_BY_OPCODE = _by_opcode()


def find_spec(word: int) -> InstrSpec | None:
    """The instruction whose fixed bits match ``word``, or None."""
    for s in _BY_OPCODE.get(word & 0x7F, ()):
        if word & s.mask == s.match:
            return s
    return None


def decode(word: int) -> Instr:
    """Decode a 32-bit word; raise :class:`DecodeError` if no instruction matches."""
    spec = find_spec(word)
    if spec is None:
        raise DecodeError(f"word {word:#010x} is not a valid instruction")
    return Instr(spec.mnemonic, tuple(FIELDS[f].extract(word) for f in operand_fields(spec)))


def csr_name(number: int) -> str:
    c = CSR_BY_NUMBER.get(number)
    return c.name if c else f"{number:#x}"


def format_instr(instr: Instr, pc: int | None = None, labels: dict[int, str] | None = None) -> str:
    """Render an instruction as assembly. Branch/jump targets print as a label from ``labels``
    (keyed by absolute address) when ``pc`` is given, else as ``.+offset``."""
    spec = instr.spec
    vals = dict(zip(operand_fields(spec), instr.args))
    parts = []
    for o in spec.operands:
        v = vals[o.field]
        if o.kind is OperandKind.REG:
            parts.append(f"x{v}")
        elif o.kind is OperandKind.MEM:
            parts.append(f"{v}(x{vals[o.base_field]})")
        elif o.kind is OperandKind.CSR:
            parts.append(csr_name(v))
        elif o.kind is OperandKind.TARGET:
            if pc is not None and labels and (pc + v) in labels:
                parts.append(labels[pc + v])
            else:
                parts.append(f".{v:+d}")
        elif o.field in ("imm_u",):
            parts.append(f"{v:#x}")
        else:
            parts.append(str(v))
    return f"{spec.mnemonic} {', '.join(parts)}".strip()
