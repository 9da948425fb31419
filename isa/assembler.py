"""Two-pass assembler: AST (from :mod:`isa.parser`) -> :class:`isa.objfile.ObjectFile`.

Pass 1 lays out the sections and defines labels, so forward references work. Pass 2 evaluates
operands, matches every instruction against the table in :mod:`isa.spec` (operand count, kind and
range), encodes it, and builds the data and weight sections. Every error in the file is reported,
each with ``file:line:col`` and a caret under the offending operand.

Directives::

    .text / .data / .weights         switch section
    .equ NAME, expr                  symbolic constant
    .word e, ...   .float f, ...     32-bit words (text or data); .zero NBYTES (data)
    .u8 / .u16 / .f32 v, ...         weight-memory values; .align N (weights)
    .npy "file.npy"                  weights from a .npy next to the source (uint8/uint16/float32)
    .incbin "file"                   raw bytes next to the source (weights; data: whole words)
    .entry label  /  .rerun label    where a run starts / where later runs on the same machine start
    .input "name", addr, [d0, ...]   a float32 model input in global memory (.output likewise)
    .chip "name", "hash"             the chip configuration the program was built for
    .map "file.json"                 embed a storage map (JSON) in the object
"""

from __future__ import annotations

import difflib
import math
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from isa import hostlimits
from isa.diagnostics import AsmError, ErrorList, ToolchainError, source_lines
from isa.encoding import Instr, encode, field_error
from isa.objfile import IO_DTYPES, IOTensor, ObjectFile, Symbol
from isa.parser import (
    BinOp,
    Flt,
    ListOp,
    Mem,
    Neg,
    Num,
    Pos,
    Reloc,
    Source,
    Statement,
    Str,
    Sym,
    parse,
    parse_recovering,
)
from isa.spec import (
    BY_MNEMONIC,
    CSR_BY_NAME,
    CSR_BY_NUMBER,
    FIELDS,
    PSEUDO_BY_MNEMONIC,
    REGISTER_NAMES,
    TILE_BASE,
    InstrSpec,
    OperandKind,
)

DATA_BASE = 0
MAX_ERRORS = 100
#: Integer expressions are computed exactly, but no value may reach 2**64: ``.equ`` chains of
#: squares would otherwise grow without bound.
VALUE_BITS = 64
#: The data section is an image of global memory, which ends where the tiles begin (a chip's
#: ``global_mib`` is at most 2048); ``wprog`` addresses the weight memory with 32 bits.
MAX_DATA_BYTES = TILE_BASE
MAX_WEIGHT_BYTES = 2**32 - 1
#: Symbols are stored in the object as 32-bit values, signed or unsigned.
SYMBOL_RANGE = (-(2**31), 2**32 - 1)
SECTIONS = ("text", "data", "weights")
_WEIGHT_DTYPES = {"uint8": "<u1", "uint16": "<u2", "float32": "<f4"}
_DATA_DIRECTIVES = {".word": 4, ".float": 4}
_F32_OVERFLOW = 2.0**128 - 2.0**103  # the smallest magnitude that rounds to float32 inf
_WEIGHT_DIRECTIVES = {".u8": ("<u1", 1), ".u16": ("<u2", 2), ".f32": ("<f4", 4)}


@dataclass(frozen=True)
class Assembly:
    """The result of assembling: the object, and the source line of every instruction."""

    obj: ObjectFile
    source: Source
    line_of_pc: dict[int, int] = field(compare=False)

    def where(self, pc: int) -> str | None:
        line = self.line_of_pc.get(pc)
        if line is None:
            return None
        rows = source_lines(self.source.text)
        text = rows[line - 1].strip() if line <= len(rows) else ""
        return f"{self.source.file}:{line}: {text}"


class _Chunks(list):
    """A section's contents as pieces, joined once at the end (large .incbin payloads are not
    copied piece by piece)."""

    def extend(self, blob) -> None:  # noqa: D102 - list.extend with byte semantics
        if len(blob):
            self.append(blob)

    def zeros(self, n: int) -> None:
        """``n`` zero bytes (``.zero``, ``.align``)."""
        if n:
            self.append(bytes(n))

    def join(self) -> bytes:
        if len(self) == 1:  # one piece (typically one large .incbin): no copy
            return self[0]
        return b"".join(self)


class _Fail(Exception):
    """Internal: abandon the current statement after recording an error."""


@dataclass
class _Def:
    section: str
    value: int | None
    expr: object | None
    pos: Pos


class _Assembler:
    def __init__(self, source: Source, base_dir: Path, includes=None):
        self.src = source
        self.base_dir = base_dir
        self.includes = dict(includes or {})
        self.errors: list[ToolchainError] = []
        self.defs: dict[str, _Def] = {}
        self.failed: set[str] = set()  # .equ symbols whose value could not be computed
        self.seen: set[tuple[int, int, str]] = set()
        self.zero_fill = 0  # bytes asked for by .zero and .align, bounded by --max-elements
        self.read_cache: dict[Path, bytes] = {}  # an included file is read once

    # ---- diagnostics ------------------------------------------------------------------------

    def error(self, msg: str, pos: Pos, hint: str | None = None) -> _Fail:
        key = (pos.line, pos.col, msg)
        if key in self.seen:  # one mistake reported once (pseudo expansions reuse operands)
            return _Fail()
        self.seen.add(key)
        self.errors.append(AsmError(msg, self.src.span(pos), source=self.src.text, hint=hint))
        if len(self.errors) >= MAX_ERRORS:
            raise ErrorList(self.errors)
        return _Fail()

    # ---- symbols and expressions -----------------------------------------------------------

    def define(self, name: str, section: str, value, expr, pos: Pos) -> None:
        if name in REGISTER_NAMES or name in CSR_BY_NAME:
            self.error(f"'{name}' is a register or CSR name and cannot be a symbol", pos)
            return
        if name in self.defs:
            first = self.defs[name].pos
            self.error(f"symbol '{name}' is already defined (first at line {first.line})", pos)
            return
        self.defs[name] = _Def(section, value, expr, pos)

    def lookup(self, sym: Sym, here: int | None) -> int:
        if sym.name == ".":
            if here is None:
                raise self.error("'.' (the current address) is not available here", sym.pos)
            return here
        d = self.defs.get(sym.name)
        if d is None:
            if sym.name in REGISTER_NAMES:
                raise self.error(f"expected a value, got register '{sym.name}'", sym.pos)
            if sym.name in CSR_BY_NAME:
                raise self.error(f"expected a value, got CSR '{sym.name}'", sym.pos)
            close = difflib.get_close_matches(sym.name, list(self.defs), n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            raise self.error(f"undefined symbol '{sym.name}'", sym.pos, hint)
        if d.value is None:
            self.resolve(sym.name)
        if sym.name in self.failed:
            raise _Fail()
        return d.value

    def resolve(self, root: str) -> None:
        """Compute ``.equ`` symbol ``root`` and the symbols it depends on, innermost first, so
        that a chain of any length is evaluated without recursion from symbol to symbol. A
        cycle is reported where it closes; every symbol on it, and every symbol that depends
        on a failed one, fails (reported once)."""
        path, on_path = [root], {root}
        todo = [iter(self.depends(root))]
        while path:
            s = next(todo[-1], None)
            if s is None:
                name = path.pop()
                todo.pop()
                on_path.discard(name)
                d = self.defs[name]
                if any(x.name in self.failed for x in self.depends(name)):
                    self.failed.add(name)
                    d.value = 0
                    continue
                try:
                    d.value = self.eval_int(d.expr, None)
                except _Fail:
                    self.failed.add(name)
                    d.value = 0
                continue
            d = self.defs.get(s.name)
            if d is None or d.value is not None:
                continue
            if s.name in on_path:
                self.error(f"symbol '{s.name}' is defined in terms of itself", s.pos)
                for name in path:  # every symbol on the cycle
                    self.failed.add(name)
                    self.defs[name].value = 0
                path, todo = [], []
                break
            path.append(s.name)
            on_path.add(s.name)
            todo.append(iter(self.depends(s.name)))

    def depends(self, name: str) -> list[Sym]:
        """The symbols that the expression of ``.equ`` symbol ``name`` names."""
        out, stack = [], [self.defs[name].expr]
        while stack:
            e = stack.pop()
            if isinstance(e, Sym):
                out.append(e)
            elif isinstance(e, BinOp):
                stack.extend((e.right, e.left))
            elif isinstance(e, Neg | Reloc):
                stack.append(e.arg)
        return out

    def bounded(self, v: int, e) -> int:
        if not -(2**VALUE_BITS) < v < 2**VALUE_BITS:
            raise self.error(f"the value of this expression does not fit in {VALUE_BITS} bits",
                             e.pos)
        return v

    def eval_int(self, e, here: int | None) -> int:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Sym):
            return self.lookup(e, here)
        if isinstance(e, Neg):
            return -self.eval_int(e.arg, here)
        if isinstance(e, BinOp):
            a, b = self.eval_int(e.left, here), self.eval_int(e.right, here)
            return self.bounded(a + b if e.op == "+" else a - b if e.op == "-" else a * b, e)
        if isinstance(e, Reloc):
            if e.func == "f32":
                return struct.unpack("<I", struct.pack("<f", self.f32(e.arg)))[0]
            v = self.word(e.arg, here)  # a 32-bit value (signed or unsigned), else an error
            if e.func == "hi":
                return ((v + 0x800) >> 12) & 0xFFFFF
            return ((v & 0xFFF) ^ 0x800) - 0x800
        if isinstance(e, Flt):
            raise self.error("expected an integer, got a floating-point number", e.pos,
                             "use %f32(x) for the bits of a float")
        raise self.error("expected an integer expression", e.pos)

    def eval_float(self, e) -> float:
        if isinstance(e, Flt) and math.isinf(e.value):
            raise self.error("float literal out of range; write inf for infinity", e.pos)
        if isinstance(e, Flt | Num):
            return float(e.value)
        if isinstance(e, Sym) and e.name in ("inf", "nan"):
            return math.inf if e.name == "inf" else math.nan
        if isinstance(e, Sym):
            return float(self.lookup(e, None))
        if isinstance(e, Neg):
            return -self.eval_float(e.arg)
        if isinstance(e, BinOp):
            a, b = self.eval_float(e.left), self.eval_float(e.right)
            return a + b if e.op == "+" else a - b if e.op == "-" else a * b
        raise self.error("expected a number", e.pos)

    def f32(self, e) -> float:
        """A float operand stored as float32: finite values beyond its range are errors."""
        v = self.eval_float(e)
        if math.isfinite(v) and abs(v) >= _F32_OVERFLOW:
            raise self.error(f"value {v:g} is beyond float32's range (about +-3.4e38)", e.pos)
        return v

    def word(self, e, here: int | None) -> int:
        v = self.eval_int(e, here)
        if not -(2**31) <= v < 2**32:
            raise self.error(f"value {v} doesn't fit in 32 bits", e.pos)
        return v & 0xFFFFFFFF

    # ---- paths -----------------------------------------------------------------------------

    def read_path(self, op, what: str) -> bytes | np.ndarray:
        if not isinstance(op, Str):
            raise self.error(f"{what} expects a file name in double quotes", op.pos)
        try:
            if op.value in self.includes:
                blob = self.includes[op.value]
            else:
                try:
                    path = (self.base_dir / op.value).resolve()
                    root = self.base_dir.resolve()
                except RuntimeError:  # a symlink loop (Python < 3.13 raises RuntimeError)
                    raise self.error(f"cannot read '{op.value}': a symlink loop", op.pos) \
                        from None
                if Path(op.value).is_absolute() or (root not in path.parents and path != root):
                    raise self.error(f"'{op.value}' is outside the source's folder", op.pos,
                                     "put the file next to the .s file and name it relatively")
                blob = self.read_cache.get(path)
                if blob is None:
                    blob = hostlimits.read_bytes(path, f"'{op.value}'", regular_only=True)
                    self.read_cache[path] = blob
            if what == ".npy":
                return hostlimits.load_array_file(blob, f"'{op.value}'")
            return blob
        except hostlimits.LimitError as e:
            raise self.error(e.message, op.pos, e.hint) from None
        except FileNotFoundError:
            raise self.error(f"no such file '{op.value}'", op.pos) from None
        except hostlimits.NotRegularFile as e:
            raise self.error(f"cannot read '{op.value}': {e}", op.pos,
                             "include a regular file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise self.error(f"cannot read '{op.value}': {e}", op.pos) from None

    # ---- pass 1 ------------------------------------------------------------------------------

    def layout(self):
        section = "text"
        offset = {s: 0 for s in SECTIONS}
        items: list[tuple[str, int, Statement, object]] = []
        for line in self.src.lines:
            for lab in line.labels:
                base = DATA_BASE if section == "data" else 0
                self.define(lab.name, section, base + offset[section], None, lab.pos)
            st = line.statement
            if st is None:
                continue
            try:
                if st.name in (".text", ".data", ".weights"):
                    self.expect_count(st, 0)
                    section = st.name[1:]
                    continue
                if st.name in (".equ", ".set"):
                    self.expect_count(st, 2)
                    name = st.operands[0]
                    if not isinstance(name, Sym):
                        raise self.error(".equ expects a symbol name", name.pos)
                    self.define(name.name, "abs", None, st.operands[1], name.pos)
                    continue
                size, payload = self.size_of(st, section, offset[section])
                self.check_section(st, section, offset[section] + size)
            except _Fail:
                continue
            base = DATA_BASE if section == "data" else 0
            items.append((section, base + offset[section], st, payload))
            offset[section] += size
        try:  # an object imcc could not read back is not written
            hostlimits.check_file_bytes(4 * offset["text"] + offset["data"] + offset["weights"],
                                        f"{self.src.file}: the object it assembles into")
        except hostlimits.LimitError as e:
            self.errors.append(e)
        return items, offset

    def check_section(self, st: Statement, section: str, end: int) -> None:
        """A section may not grow past what the machine can address (checked before its bytes
        are allocated)."""
        if section == "data" and DATA_BASE + end > MAX_DATA_BYTES:
            raise self.error(f".data would end at {DATA_BASE + end:#x}, beyond global memory "
                             f"(at most {MAX_DATA_BYTES >> 20} MiB on any chip)", st.pos)
        if section == "weights" and end > MAX_WEIGHT_BYTES:
            raise self.error(f".weights would hold {end} bytes, more than wprog's 32-bit "
                             "addresses reach", st.pos)

    def fill(self, n: int, st: Statement) -> None:
        """Count ``n`` zero bytes of ``.zero``/``.align`` against ``--max-elements``, before they
        are allocated (a few bytes of source must not make the assembler allocate gigabytes)."""
        self.zero_fill += n
        limit = hostlimits.LIMITS.max_elements
        if self.zero_fill > limit:
            raise self.error(f"{st.name} would bring the zero fill of this source (.zero and "
                             f".align) to {self.zero_fill} bytes, more than the limit of {limit}",
                             st.pos, "raise the limit with --max-elements N (or "
                             "IMCC_MAX_ELEMENTS) if the source is trusted")

    def expect_count(self, st: Statement, n: int, what: str | None = None) -> None:
        if len(st.operands) != n:
            noun = "operand" if n == 1 else "operands"
            raise self.error(
                f"{st.name} takes {n} {noun}{' (' + what + ')' if what else ''}, "
                f"got {len(st.operands)}",
                st.pos,
            )

    def size_of(self, st: Statement, section: str, offset: int):
        name = st.name
        if not st.is_directive:
            if section != "text":
                raise self.error(f"instruction '{name}' outside .text (in .{section})", st.name_pos)
            expansion = self.expand(st)
            return 4 * len(expansion), expansion
        if name == ".word" or name == ".float":
            if section == "weights":
                raise self.error(f"{name} is not allowed in .weights; use .u8/.u16/.f32", st.name_pos)
            if name == ".float" and section == "text":
                raise self.error(".float is not allowed in .text", st.name_pos)
            if not st.operands:
                raise self.error(f"{name} expects at least one value", st.pos)
            return 4 * len(st.operands), None
        if name == ".zero":
            if section != "data":
                raise self.error(".zero is only allowed in .data", st.name_pos)
            self.expect_count(st, 1, "byte count")
            n = self.eval_int(st.operands[0], None)
            if n < 0 or n % 4:
                raise self.error(f".zero size {n} must be a non-negative multiple of 4",
                                 st.operands[0].pos)
            self.check_section(st, section, offset + n)
            self.fill(n, st)
            return n, n
        if name == ".incbin" and section == "data":
            self.expect_count(st, 1)
            blob = self.read_path(st.operands[0], name)
            if len(blob) % 4:
                raise self.error(f".incbin in .data needs whole 32-bit words; '{st.operands[0].value}'"
                                 f" has {len(blob)} bytes", st.operands[0].pos)
            return len(blob), blob
        if name in _WEIGHT_DIRECTIVES or name in (".npy", ".incbin", ".align"):
            if section != "weights":
                raise self.error(f"{name} is only allowed in .weights", st.name_pos)
            if name in _WEIGHT_DIRECTIVES:
                if not st.operands:
                    raise self.error(f"{name} expects at least one value", st.pos)
                return _WEIGHT_DIRECTIVES[name][1] * len(st.operands), None
            self.expect_count(st, 1)
            if name == ".align":
                n = self.eval_int(st.operands[0], None)
                if n <= 0 or n & (n - 1) or n > 2**31:
                    raise self.error(f".align {n}: expected a power of two up to 2**31",
                                     st.operands[0].pos)
                pad = (-offset) % n
                self.check_section(st, section, offset + pad)
                self.fill(pad, st)
                return pad, pad
            blob = self.read_path(st.operands[0], name)
            if name == ".npy":
                arr = blob
                if arr.dtype.name not in _WEIGHT_DTYPES:
                    raise self.error(
                        f"unsupported dtype {arr.dtype.name} in '{st.operands[0].value}'",
                        st.operands[0].pos, "weights must be uint8, uint16 or float32")
                blob = np.ascontiguousarray(arr, dtype=_WEIGHT_DTYPES[arr.dtype.name]).tobytes()
            return len(blob), blob
        if name in (".entry", ".rerun", ".input", ".output", ".chip", ".map"):
            return 0, None
        known = [".text", ".data", ".weights", ".equ", ".word", ".float", ".zero", ".u8", ".u16",
                 ".f32", ".npy", ".incbin", ".align", ".entry", ".rerun", ".input", ".output",
                 ".chip", ".map"]
        close = difflib.get_close_matches(name, known, n=1)
        raise self.error(f"unknown directive '{name}'", st.name_pos,
                         f"did you mean '{close[0]}'?" if close else None)

    # ---- pseudo-instructions -------------------------------------------------------------------

    def expand(self, st: Statement) -> list[Statement]:
        """Expand a pseudo-instruction into table instructions (templates from isa.spec)."""
        p = PSEUDO_BY_MNEMONIC.get(st.name)
        if p is None:
            return [st]
        params = [t.strip() for t in p.syntax.split(None, 1)[1].split(",")] if " " in p.syntax else []
        self.expect_count(st, len(params), ", ".join(params))
        alternatives = [a.strip() for a in p.expansion.split("|")]
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
            except _Fail:
                failed = True
        if failed:
            raise _Fail()
        if spec.mnemonic == "cfgi" and args[1] and CSR_BY_NUMBER[args[0]].kind == "f32":
            name = CSR_BY_NUMBER[args[0]].name
            raise self.error(f"cfgi {name}, {args[1]}: CSR '{name}' holds float32 bits, and a "
                             f"17-bit immediate is the denormal {_f32_of(args[1]):g}",
                             st.operands[1].pos,
                             f"write a float with li + csrw: li x5, %f32(0.5); csrw {name}, x5")
        return encode(Instr(spec.mnemonic, tuple(args)))

    def run(self) -> Assembly:
        items, _ = self.layout()
        text: list[int] = []
        lines: dict[int, int] = {}
        data = _Chunks()
        weights = _Chunks()
        meta: dict = {"inputs": [], "outputs": []}
        for section, addr, st, payload in items:
            if not st.is_directive:
                for k, sub in enumerate(payload):
                    pc = addr + 4 * k
                    lines[pc] = st.pos.line
                    try:
                        text.append(self.instruction(sub, pc))
                    except _Fail:
                        text.append(0)
                continue
            try:
                self.directive(section, addr, st, payload, text, data, weights, meta, lines)
            except _Fail:
                pass  # recorded; no object is produced when there are errors
        lo, hi = SYMBOL_RANGE
        for name, d in self.defs.items():  # every .equ is evaluated (and exported), used or not
            if d.value is None:
                try:
                    self.lookup(Sym(name, d.pos), None)
                except _Fail:
                    pass
            if not name.startswith(".L") and name not in self.failed and not lo <= d.value <= hi:
                self.error(f"symbol '{name}' = {d.value} doesn't fit in 32 bits, as the object "
                           "file stores symbols", d.pos,
                           f"name it '.L{name}' to keep it out of the object file")
        if self.errors:
            self.errors.sort(key=lambda e: (e.span.line, e.span.col) if e.span else (0, 0))
            raise ErrorList(self.errors)
        return Assembly(self.finish(text, data.join(), weights.join(), meta), self.src, lines)

    def directive(self, section, addr, st, payload, text, data, weights, meta, lines) -> None:
        name = st.name
        if name == ".word":
            words = [self.word(o, addr + 4 * i) for i, o in enumerate(st.operands)]
            if section == "text":
                for i, w in enumerate(words):
                    lines[addr + 4 * i] = st.pos.line
                text.extend(words)
            else:
                data.extend(struct.pack(f"<{len(words)}I", *words))
        elif name == ".float":
            data.extend(struct.pack(f"<{len(st.operands)}f", *(self.f32(o) for o in st.operands)))
        elif name == ".zero":
            data.zeros(payload)
        elif name in _WEIGHT_DIRECTIVES:
            dtype, _ = _WEIGHT_DIRECTIVES[name]
            if dtype == "<f4":
                vals = [self.f32(o) for o in st.operands]
            else:
                vals = [self.eval_int(o, None) for o in st.operands]
                hi = np.iinfo(np.dtype(dtype)).max
                for o, v in zip(st.operands, vals):
                    if not 0 <= v <= hi:
                        raise self.error(f"value {v} doesn't fit in {name} (0..{hi})", o.pos)
            weights.extend(np.asarray(vals, dtype=dtype).tobytes())
        elif name == ".incbin" and section == "data":
            data.extend(payload)
        elif name == ".align":
            weights.zeros(payload)
        elif name in (".npy", ".incbin"):
            weights.extend(payload)
        elif name in (".entry", ".rerun"):
            self.expect_count(st, 1, "label")
            target = self.eval_int(st.operands[0], None)
            d = self.defs.get(st.operands[0].name) if isinstance(st.operands[0], Sym) else None
            if d is None or d.section != "text":
                raise self.error(f"{name} expects a label in .text", st.operands[0].pos)
            if name[1:] in meta:
                raise self.error(f"{name} given twice", st.pos)
            meta[name[1:]] = target
        elif name in (".input", ".output"):
            if len(st.operands) != 4:
                self.expect_count(st, 3, "name, address, [shape] [, dtype]")
            nm, ad, shp = st.operands[:3]
            dtype = "float32"
            if len(st.operands) == 4:
                dt = st.operands[3]
                dtype = dt.name if isinstance(dt, Sym) else dt.value if isinstance(dt, Str) \
                    else ""
                if dtype not in IO_DTYPES:
                    raise self.error(f"{name} element type must be one of "
                                     f"{', '.join(IO_DTYPES)}", dt.pos)
            if isinstance(nm, Str):
                tname = nm.value
            elif isinstance(nm, Sym):
                tname = nm.name
            else:
                raise self.error(f"{name} expects a tensor name", nm.pos)
            a = self.eval_int(ad, None)
            if a % 4 or not 0 <= a < TILE_BASE:
                raise self.error(f"{name} address {a:#x} must be 4-aligned global memory", ad.pos)
            if not isinstance(shp, ListOp):
                raise self.error(f"{name} expects a shape like [1, 3, 32, 32] ([] for a "
                                 "scalar)", shp.pos)
            dims = tuple(self.eval_int(d, None) for d in shp.items)
            if any(not 1 <= d < 2**32 for d in dims):
                raise self.error(f"{name} shape dimensions must be in 1..2**32-1", shp.pos)
            key = name[1:] + "s"
            if any(t.name == tname for t in meta[key]):
                raise self.error(f"{name} '{tname}' declared twice", nm.pos)
            meta[key].append(IOTensor(tname, a, dims, dtype))
        elif name == ".chip":
            self.expect_count(st, 2, '"name", "hash"')
            if not all(isinstance(o, Str) for o in st.operands):
                raise self.error('.chip expects two strings: "name", "hash"', st.pos)
            meta["chip"] = (st.operands[0].value, st.operands[1].value)
        elif name == ".map":
            self.expect_count(st, 1, '"file.json"')
            blob = self.read_path(st.operands[0], ".map")
            try:
                hostlimits.parse_json(blob)
            except ValueError as e:
                raise self.error(f"'{st.operands[0].value}' is not valid JSON: {e}",
                                 st.operands[0].pos) from None
            meta["map"] = blob

    def finish(self, text, data, weights, meta) -> ObjectFile:
        order = {"text": 0, "data": 1, "weights": 2, "abs": 3}
        symbols = sorted(
            (
                Symbol(n, d.section, d.value)
                for n, d in self.defs.items()
                if not n.startswith(".L")
            ),
            key=lambda s: (order[s.section], s.value, s.name),
        )
        return ObjectFile(
            text=tuple(text),
            data=data,
            weights=weights,
            symbols=tuple(symbols),
            entry=meta.get("entry", 0),
            rerun=meta.get("rerun"),
            inputs=tuple(meta["inputs"]),
            outputs=tuple(meta["outputs"]),
            chip=meta.get("chip"),
            data_base=DATA_BASE,
            map_json=meta.get("map"),
        )


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


def assemble(
    text: str,
    file: str = "<input>",
    base_dir: str | Path | None = None,
    includes: dict[str, bytes] | None = None,
) -> Assembly:
    """Assemble source text. Raise :class:`ErrorList` with every error found.

    Files named by ``.npy``/``.incbin``/``.map`` are looked up in ``includes`` (name -> bytes)
    first, then next to the source (``base_dir``). A compiler can thus assemble exactly the
    text it would write with ``-S`` without writing the side files.
    """
    source, syntax_errors = parse_recovering(text, file)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    asm = _Assembler(source, base, includes)
    asm.errors.extend(syntax_errors)
    return asm.run()


def assemble_file(path: str | Path) -> Assembly:
    """Assemble a ``.s`` file; includes (.npy, .incbin, .map) resolve next to it."""
    p = Path(path)
    try:
        text = hostlimits.read_text(p, f"{path}: the source")
    except OSError as e:
        raise AsmError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise AsmError(f"{path}: not a text file (assembly must be UTF-8)") from None
    return assemble(text, str(path), p.parent)


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
