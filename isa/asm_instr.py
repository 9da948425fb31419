"""The assembler's instructions: pseudo-instruction expansion, operand matching against the
table in :mod:`isa.spec` (count, kind, range) and encoding."""

from __future__ import annotations

import difflib
import struct

from isa.asm_symbols import AsmBase, Fail
from isa.encoding import Instr, encode, field_error
from isa.parser import BinOp, ListOp, Mem, Neg, Num, Pos, Reloc, Statement, Str, Sym, parse
from isa.spec import (
    BY_MNEMONIC,
    CSR_BY_NAME,
    CSR_BY_NUMBER,
    FIELDS,
    PSEUDO_BY_MNEMONIC,
    REGISTER_NAMES,
    InstrSpec,
    OperandKind,
)


class Instructions(AsmBase):
    """Matches and encodes the instruction statements of a source."""

    # ---- pseudo-instructions -------------------------------------------------------------------

    def expand(self, st: Statement) -> list[Statement]:
        """Expand a pseudo-instruction into table instructions (templates from isa.spec)."""
        p = PSEUDO_BY_MNEMONIC.get(st.name)
        if p is None:
            return [st]
        params = p.params
        self.expect_count(st, len(params), ", ".join(params))
        alternatives = _ALTERNATIVES[st.name]
        choice = alternatives[0]
        if len(alternatives) > 1:  # li: one addi only for a literal that fits 12 bits
            v = st.operands[1]
            lit = v.value if isinstance(v, Num) else (
                -v.arg.value if isinstance(v, Neg) and isinstance(v.arg, Num) else None)
            if lit is None or not -2048 <= lit <= 2047:
                choice = alternatives[1]
        binding = dict(zip(params, st.operands))
        return [
            Statement(t.name, tuple(_substitute(o, binding, st.pos) for o in t.operands),
                      st.name_pos, st.pos)
            for t in _TEMPLATES[choice]
        ]

    # ---- pass 2 ------------------------------------------------------------------------------

    def operand(self, spec: InstrSpec, o, op, pc: int) -> tuple[int, ...]:
        kind = o.kind
        if kind is OperandKind.REG:
            return (self.register(op),)
        if kind is OperandKind.MEM:
            if not isinstance(op, Mem):
                raise self.error(f"expected a memory operand offset(reg) for {spec.mnemonic}",
                                 op.pos)
            off = 0 if op.offset is None else self.eval_int(op.offset, pc)
            self.check_fits(spec, o.field, off, op.offset.pos if op.offset else op.pos)
            if op.base not in REGISTER_NAMES:
                got = f", got '{op.base}'" if op.base else ""
                raise self.error(f"expected a base register (x0..x31){got}", op.base_pos,
                                 _register_hint(op.base))
            return off, REGISTER_NAMES[op.base]
        if isinstance(op, Mem | Str | ListOp):
            raise self.error(f"expected {kind.value} operand '{o.name}' for {spec.mnemonic}",
                             op.pos)
        if kind is OperandKind.CSR:
            if isinstance(op, Sym) and op.name in CSR_BY_NAME:
                num = CSR_BY_NAME[op.name].number
            elif isinstance(op, Sym) and op.name not in self.defs:
                close = difflib.get_close_matches(op.name, list(CSR_BY_NAME), n=1)
                raise self.error(f"unknown CSR '{op.name}'", op.pos,
                                 f"did you mean '{close[0]}'?" if close else None)
            else:
                num = self.eval_int(op, pc)
                if num not in CSR_BY_NUMBER:
                    raise self.error(f"unknown CSR number {num:#x}", op.pos)
            csr = CSR_BY_NUMBER[num]
            if csr.readonly and spec.mnemonic in ("csrrw", "csrrwi", "cfgi"):
                raise self.error(f"CSR '{csr.name}' is read-only", op.pos)

            self.check_fits(spec, o.field, num, op.pos)
            return (num,)
        value = self.eval_int(op, pc)
        if kind is OperandKind.TARGET:
            d = self.defs.get(op.name) if isinstance(op, Sym) else None
            if d is not None and d.section in ("data", "weights"):
                raise self.error(f"branch or jump target '{op.name}' is a .{d.section} label, "
                                 "not code", op.pos,
                                 "branches and jumps go to labels in .text")
            value -= pc
        self.check_fits(spec, o.field, value, op.pos)
        return (value,)

    def register(self, op) -> int:
        if isinstance(op, Sym) and op.name in REGISTER_NAMES:
            return REGISTER_NAMES[op.name]
        raise self.error("expected a register (x0..x31)", op.pos,
                         _register_hint(op.name) if isinstance(op, Sym) else None)

    def check_fits(self, spec: InstrSpec, fname: str, value: int, pos: Pos) -> None:
        if not FIELDS[fname].fits(value):
            raise self.error(field_error(spec, fname, value), pos)

    def instruction(self, st: Statement, pc: int) -> int:
        """The word of one table instruction. Statements of one shape (mnemonic and operands,
        positions aside; :func:`_shape`) encode to one word: the first is encoded and checked,
        the others take its word (a compiled program repeats most of its lines)."""
        shape = _shape(st)
        if shape is not None:
            word = self.words.get(shape)
            if word is None:
                word = self.words[shape] = self._instruction(st, pc)
            return word
        return self._instruction(st, pc)

    def _instruction(self, st: Statement, pc: int) -> int:
        spec = BY_MNEMONIC.get(st.name)
        if spec is None:
            names = list(BY_MNEMONIC) + list(PSEUDO_BY_MNEMONIC)
            if st.name.lower() in names:
                hint = f"mnemonics are lower case: '{st.name.lower()}'"
            else:
                close = difflib.get_close_matches(st.name, names, n=1)
                hint = f"did you mean '{close[0]}'?" if close else None
            raise self.error(f"unknown instruction '{st.name}'", st.name_pos, hint)
        if len(st.operands) != len(spec.operands):
            want = ", ".join(o.name for o in spec.operands) or "none"
            raise self.error(
                f"{spec.mnemonic} takes {len(spec.operands)} operand(s) ({want}), "
                f"got {len(st.operands)}",
                st.pos,
            )
        args: list[int] = []
        failed = False
        for o, op in zip(spec.operands, st.operands):
            try:
                args.extend(self.operand(spec, o, op, pc))
            except Fail:
                failed = True
        if failed:
            raise Fail()
        if spec.mnemonic == "cfgi" and args[1] and CSR_BY_NUMBER[args[0]].kind == "f32":
            name = CSR_BY_NUMBER[args[0]].name
            raise self.error(f"cfgi {name}, {args[1]}: CSR '{name}' holds float32 bits, and a "
                             f"17-bit immediate is the denormal {_f32_of(args[1]):g}",
                             st.operands[1].pos,
                             f"write a float with li + csrw: li x5, %f32(0.5); csrw {name}, x5")
        return encode(Instr(spec.mnemonic, tuple(args)))


#: Instructions with an operand relative to their own address: no two encode alike.
_PC_RELATIVE = frozenset(s.mnemonic for s in BY_MNEMONIC.values()
                         if any(o.kind is OperandKind.TARGET for o in s.operands))


def _operand_shape(op):
    """An operand without its positions, or None where its value may depend on where it is
    (``.``) or it is not of the plain kinds."""
    t = type(op)
    if t is Num:
        return op.value
    if t is Sym:
        return None if op.name == "." else op.name
    if t is BinOp:
        a, b = _operand_shape(op.left), _operand_shape(op.right)
        return None if a is None or b is None else (op.op, a, b)
    if t is Reloc:
        a = _operand_shape(op.arg)
        return None if a is None else ("%", op.func, a)
    if t is Mem:
        a = 0 if op.offset is None else _operand_shape(op.offset)
        return None if a is None else ("()", a, op.base)
    return None


def _shape(st: Statement) -> tuple | None:
    """What determines a statement's word in one source (symbols have one value there), or
    None where the word depends on its address."""
    if st.name in _PC_RELATIVE:
        return None
    ops = tuple(_operand_shape(o) for o in st.operands)
    return None if None in ops else (st.name, ops)


def _substitute(op, binding: dict, pos: Pos):
    """Replace template parameters by the user's operands; give literals the statement's span."""
    if isinstance(op, Sym):
        return binding.get(op.name, Sym(op.name, pos))
    if isinstance(op, Num):
        return Num(op.value, pos)
    if isinstance(op, Mem):
        base = binding.get(op.base)
        if base is None:
            base_name, base_pos = op.base, pos
        else:  # a bound operand that is not a register name gives "" -> "expected a register"
            base_name, base_pos = (base.name if isinstance(base, Sym) else ""), base.pos
        off = _substitute(op.offset, binding, pos) if op.offset is not None else None
        return Mem(off, base_name, base_pos, pos)
    if isinstance(op, Reloc):
        arg = _substitute(op.arg, binding, pos)
        return Reloc(op.func, arg, arg.pos)
    return op


def _templates() -> dict[str, tuple[Statement, ...]]:
    """Parse every pseudo-instruction expansion in the table once, at import."""
    out = {}
    for p in PSEUDO_BY_MNEMONIC.values():
        for alt in p.expansion.split("|"):
            alt = alt.strip()
            out[alt] = tuple(
                parse(t.strip() + "\n", "<pseudo>").lines[0].statement for t in alt.split(";")
            )
    return out


_TEMPLATES = _templates()
#: Each pseudo-instruction's expansions, in the table's order.
_ALTERNATIVES = {m: tuple(a.strip() for a in p.expansion.split("|"))
                 for m, p in PSEUDO_BY_MNEMONIC.items()}


#: RISC-V's ABI register names, which this assembler does not take (hints only).
_ABI = {"zero": 0, "ra": 1, "sp": 2, "gp": 3, "tp": 4, "t0": 5, "t1": 6, "t2": 7, "fp": 8,
        "s0": 8, "s1": 9, **{f"a{i}": 10 + i for i in range(8)},
        **{f"s{i}": 16 + i for i in range(2, 12)}, **{f"t{i}": 25 + i for i in range(3, 7)}}


def _register_hint(name: str | None) -> str | None:
    """A hint for a register written as an ABI name or in upper case."""
    if not name:
        return None
    if name in _ABI:
        return f"registers are x0..x31: '{name}' is x{_ABI[name]} (ABI names are not taken)"
    if name.lower() in REGISTER_NAMES:
        return f"registers are lower case: '{name.lower()}'"
    return None


def _f32_of(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]
