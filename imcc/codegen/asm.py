"""An assembly writer for generated code: instructions, comments, and a record of known register
and CSR contents so that straight-line code does not rewrite a value that is already there."""

from __future__ import annotations

import functools
import re
import struct

from isa.spec import BY_MNEMONIC, CSR_BY_NAME, PSEUDO_BY_MNEMONIC

CFGI_MAX = (1 << 17) - 1
TMP = "x9"  # scratch register for CSR values that do not fit cfgi


def f32_bits(x: float) -> int:
    """The float32 bit pattern of ``x`` as an unsigned integer."""
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


_NAME_OK = re.compile(r"[^A-Za-z0-9_.$]")


def symbol(prefix: str, name: str) -> str:
    """A valid assembly symbol derived from an ONNX name (``/layer1/Conv_output_0`` ...)."""
    s = _NAME_OK.sub("_", name)
    return f"{prefix}{s}"


@functools.cache
def arity(mnemonic: str) -> tuple[int, str]:
    """The operand count and syntax of an instruction or pseudo-instruction of the ISA table;
    ``ValueError`` for a mnemonic the table does not have (a generator calls it for every line
    it writes: looked up once per mnemonic)."""
    spec = BY_MNEMONIC.get(mnemonic)
    if spec is not None:
        return len(spec.operands), spec.syntax
    pseudo = PSEUDO_BY_MNEMONIC.get(mnemonic)
    if pseudo is not None:
        return len(pseudo.params), pseudo.syntax
    raise ValueError(f"AsmWriter.op: '{mnemonic}' is not an instruction or pseudo-instruction "
                     "of isa/spec.py")


def printable(text: str) -> str:
    """``text`` with every non-printable character (line breaks included) escaped, for comments
    that carry ONNX names."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class AsmWriter:
    """Accumulates assembly lines. ``reg``/``csr`` skip writes whose value is already known;
    ``label`` forgets everything (control may arrive from elsewhere)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._regs: dict[str, str] = {}
        self._csrs: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    # -- text --------------------------------------------------------------------------------

    def comment(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.lines.append(f"    # {printable(line)}".rstrip())

    def blank(self) -> None:
        self.lines.append("")

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.forget()

    def forget(self) -> None:
        self._regs.clear()
        self._csrs.clear()

    def op(self, mnemonic: str, *operands: object, note: str | None = None) -> None:
        """One instruction; a mnemonic the ISA table lacks, or the wrong number of operands,
        raises ``ValueError`` here, at the generator's call, not later in the assembler."""
        n, syntax = arity(mnemonic)
        if len(operands) != n:
            raise ValueError(f"AsmWriter.op: {mnemonic} takes {n} operand(s) ({syntax}), got "
                             f"{len(operands)}: {operands!r}")
        text = f"    {mnemonic} {', '.join(str(o) for o in operands)}".rstrip()
        if note:
            text = f"{text:<40} # {printable(note)}"
        self.lines.append(text)
        self.counts[mnemonic] = self.counts.get(mnemonic, 0) + 1

    # -- tracked state -----------------------------------------------------------------------

    def li(self, reg: str, value: int | str) -> None:
        """Load a constant or symbol expression into ``reg`` unless it already holds it."""
        key = str(value)
        if self._regs.get(reg) == key:
            return
        self.op("li", reg, value)
        self._regs[reg] = key

    def csr(self, name: str, value: int) -> None:
        """Write a CSR (a signed or unsigned 32-bit value) unless it already holds it."""
        if name not in CSR_BY_NAME:
            raise KeyError(name)
        value = int(value) & 0xFFFFFFFF
        if self._csrs.get(name) == value:
            return
        if value <= CFGI_MAX:
            self.op("cfgi", name, value)
        else:
            signed = value - (1 << 32) if value >= 1 << 31 else value
            self.li(TMP, signed)
            self.op("csrw", name, TMP)
        self._csrs[name] = value

    def csrs(self, **values: int) -> None:
        for k, v in values.items():
            self.csr(k, v)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
