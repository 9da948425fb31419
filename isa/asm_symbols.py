"""The assembler's base: diagnostics, symbols, integer and float expressions, and the files that
``.npy``/``.incbin``/``.map`` name. :class:`isa.assembler.Assembler` builds on it."""

from __future__ import annotations

import difflib
import math
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isa import hostlimits
from isa.diagnostics import AsmError, ErrorList, ToolchainError
from isa.parser import BinOp, Flt, Neg, Num, Pos, Reloc, Source, Statement, Str, Sym
from isa.spec import CSR_BY_NAME, REGISTER_NAMES

MAX_ERRORS = 100
#: Integer expressions are computed exactly, but no value may reach 2**64: ``.equ`` chains of
#: squares would otherwise grow without bound.
VALUE_BITS = 64
F32_OVERFLOW = 2.0**128 - 2.0**103  # the smallest magnitude that rounds to float32 inf


class Fail(Exception):
    """Internal: abandon the current statement after recording an error."""


@dataclass
class Def:
    section: str
    value: int | None
    expr: object | None
    pos: Pos


class AsmBase:
    """Errors, symbols and expressions of one source."""

    def __init__(self, source: Source, base_dir: Path, includes=None):
        self.src = source
        self.base_dir = base_dir
        self.includes = dict(includes or {})
        self.errors: list[ToolchainError] = []
        self.defs: dict[str, Def] = {}
        self.failed: set[str] = set()  # .equ symbols whose value could not be computed
        self.seen: set[tuple[int, int, str]] = set()
        self.read_cache: dict[Path, bytes] = {}  # an included file is read once
        self.words: dict[tuple, int] = {}  # an instruction's shape -> its word (asm_instr)

    # ---- diagnostics ------------------------------------------------------------------------

    def error(self, msg: str, pos: Pos, hint: str | None = None) -> Fail:
        key = (pos.line, pos.col, msg)
        if key in self.seen:  # one mistake reported once (pseudo expansions reuse operands)
            return Fail()
        self.seen.add(key)
        self.errors.append(AsmError(msg, self.src.span(pos), source=self.src.text, hint=hint))
        if len(self.errors) >= MAX_ERRORS:
            raise ErrorList(self.errors)
        return Fail()

    def expect_count(self, st: Statement, n: int, what: str | None = None) -> None:
        if len(st.operands) != n:
            noun = "operand" if n == 1 else "operands"
            raise self.error(
                f"{st.name} takes {n} {noun}{' (' + what + ')' if what else ''}, "
                f"got {len(st.operands)}",
                st.pos,
            )

    # ---- symbols and expressions -----------------------------------------------------------

    def define(self, name: str, section: str, value, expr, pos: Pos) -> None:
        if name in REGISTER_NAMES or name in CSR_BY_NAME:
            self.error(f"'{name}' is a register or CSR name and cannot be a symbol", pos)
            return
        if name in self.defs:
            first = self.defs[name].pos
            self.error(f"symbol '{name}' is already defined (first at line {first.line})", pos)
            return
        self.defs[name] = Def(section, value, expr, pos)

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
            raise Fail()
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
                except Fail:
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
        if math.isfinite(v) and abs(v) >= F32_OVERFLOW:
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
