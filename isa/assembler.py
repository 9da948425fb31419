"""Two-pass assembler: AST (from :mod:`isa.parser`) -> :class:`isa.objfile.ObjectFile`.

Pass 1 lays out the sections and defines labels, so forward references work. Pass 2 evaluates
operands, matches every instruction against the table in :mod:`isa.spec` (operand count, kind and
range), encodes it, and builds the data and weight sections. Every error in the file is reported,
each with ``file:line:col`` and a caret under the offending operand.

The directives, where each is allowed, its size and what it writes, are the table of
:mod:`isa.directives` (docs/assembly.md, "Directives"); symbols and expressions are
:mod:`isa.asm_symbols`, instructions and pseudo-instructions :mod:`isa.asm_instr`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from isa import hostlimits
from isa.asm_instr import Instructions
from isa.asm_symbols import Fail
from isa.diagnostics import AsmError, ErrorList, source_lines
from isa.directives import DATA_BASE, SECTIONS, Out, check_end, lookup
from isa.objfile import ObjectFile, Symbol
from isa.parser import Source, Statement, Sym, parse_recovering

#: Symbols are stored in the object as 32-bit values, signed or unsigned.
SYMBOL_RANGE = (-(2**31), 2**32 - 1)


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


class Assembler(Instructions):
    """One source, assembled: pass 1 (:meth:`layout`), pass 2 (:meth:`run`)."""

    def __init__(self, source: Source, base_dir: Path, includes=None):
        super().__init__(source, base_dir, includes)
        self.section = "text"  # the current section of pass 1
        self.zero_fill = 0  # bytes asked for by .zero and .align, bounded by --max-elements

    # ---- pass 1 ------------------------------------------------------------------------------

    def layout(self):
        """Every statement's section, address, payload and emit function; the sections'
        sizes."""
        offset = dict.fromkeys(SECTIONS, 0)
        items: list[tuple[str, int, Statement, object, object]] = []
        for line in self.src.lines:
            section = self.section
            base = DATA_BASE if section == "data" else 0
            for lab in line.labels:
                self.define(lab.name, section, base + offset[section], None, lab.pos)
            st = line.statement
            if st is None:
                continue
            try:
                size, payload, emit = self.size_of(st, section, offset[section])
                check_end(self, st, section, offset[section] + size)
            except Fail:
                continue
            if emit is not None:
                items.append((section, base + offset[section], st, payload, emit))
            offset[section] += size
        try:  # an object imcc could not read back is not written
            hostlimits.check_file_bytes(offset["text"] + offset["data"] + offset["weights"],
                                        f"{self.src.file}: the object it assembles into")
        except hostlimits.LimitError as e:
            self.errors.append(e)
        return items, offset

    def size_of(self, st: Statement, section: str, offset: int):
        """``(bytes, payload, emit)`` of one statement in pass 1."""
        if not st.is_directive:
            if section != "text":
                raise self.error(f"instruction '{st.name}' outside .text (in .{section})",
                                 st.name_pos)
            expansion = self.expand(st)
            return 4 * len(expansion), expansion, Assembler.emit_code
        d = lookup(self, st, section)
        size, payload = d.size(self, st, section, offset)
        return size, payload, d.emit

    # ---- pass 2 ------------------------------------------------------------------------------

    def emit_code(self, out: Out, section: str, addr: int, st: Statement, payload) -> None:
        """The words of one instruction statement (a pseudo-instruction's expansion)."""
        for k, sub in enumerate(payload):
            pc = addr + 4 * k
            out.lines[pc] = st.pos.line
            try:
                out.text.append(self.instruction(sub, pc))
            except Fail:
                out.text.append(0)

    def run(self) -> Assembly:
        items, offset = self.layout()
        out = Out()
        for section, addr, st, payload, emit in items:
            try:
                emit(self, out, section, addr, st, payload)
            except Fail:
                pass  # recorded; no object is produced when there are errors
        out.data.zeros(-offset["data"] % 4)  # .data is whole words (after .byte or .half)
        self.check_symbols()
        if self.errors:
            self.errors.sort(key=lambda e: (e.span.line, e.span.col) if e.span else (0, 0))
            raise ErrorList(self.errors)
        return Assembly(self.finish(out), self.src, out.lines)

    def check_symbols(self) -> None:
        """Every ``.equ`` is evaluated (and exported), used or not; an exported symbol fits the
        object's 32 bits."""
        lo, hi = SYMBOL_RANGE
        for name, d in self.defs.items():
            if d.value is None:
                try:
                    self.lookup(Sym(name, d.pos), None)
                except Fail:
                    pass
            if not name.startswith(".L") and name not in self.failed and not lo <= d.value <= hi:
                self.error(f"symbol '{name}' = {d.value} doesn't fit in 32 bits, as the object "
                           "file stores symbols", d.pos,
                           f"name it '.L{name}' to keep it out of the object file")

    def finish(self, out: Out) -> ObjectFile:
        order = {"text": 0, "data": 1, "weights": 2, "abs": 3}
        symbols = sorted(
            (Symbol(n, d.section, d.value) for n, d in self.defs.items()
             if not n.startswith(".L")),
            key=lambda s: (order[s.section], s.value, s.name),
        )
        meta = out.meta
        return ObjectFile(
            text=tuple(out.text),
            data=out.data.join(),
            weights=out.weights.join(),
            symbols=tuple(symbols),
            entry=meta.get("entry", 0),
            rerun=meta.get("rerun"),
            inputs=tuple(meta["inputs"]),
            outputs=tuple(meta["outputs"]),
            chip=meta.get("chip"),
            data_base=DATA_BASE,
            map_json=meta.get("map"),
        )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (and back as it was after). Assembling and
    compiling make millions of small objects (nodes, lines, tiles) that live until the end,
    and every full collection walks all of them again (a third of GPT-2 medium's assembly
    time). Reference cycles made meanwhile wait for the block's end, or for an explicit
    ``gc.collect()``, which still runs."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


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
    with collector_paused():
        source, syntax_errors = parse_recovering(text, file)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        asm = Assembler(source, base, includes)
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
