"""The assembler's directives: ONE table (:data:`DIRECTIVES`) giving each directive's name, the
sections it is allowed in, its operands and effect (the table of docs/assembly.md is rendered
from them by :mod:`isa.gen_docs`), its size in pass 1 and its emit function in pass 2. The
assembler (:mod:`isa.assembler`) and the disassembler read it; the grammar takes any ``.name``
statement and leaves it to this table.

A size function ``size(asm, st, section, offset) -> (nbytes, payload)`` runs in pass 1, where
later symbols are unknown; an emit function ``emit(asm, out, section, addr, st, payload)`` runs in
pass 2 and writes into :class:`Out`.
"""

from __future__ import annotations

import difflib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from isa import hostlimits
from isa.objfile import IO_DTYPES, IOTensor
from isa.parser import ListOp, Statement, Str, Sym
from isa.spec import TILE_BASE, WEIGHT_FORMATS, WEIGHT_PAGE

SECTIONS = ("text", "data", "weights")
DATA_BASE = 0
#: The data section is an image of global memory, which ends where the tiles begin (a chip's
#: ``global_mib`` is at most 2048). ``wprog`` addresses the weight memory with a page (CSR
#: ``wpage``) and a 32-bit offset; a section holds up to 2**48 bytes (pages 0 to 65535, each
#: set by one ``cfgi``).
MAX_DATA_BYTES = TILE_BASE
MAX_WEIGHT_BYTES = WEIGHT_PAGE * 2**16 - 1
#: The element types of weight memory (isa.spec.WEIGHT_FORMATS) as little-endian dtypes.
_WEIGHT_DTYPES = {v: np.dtype(v).newbyteorder("<").str for v in WEIGHT_FORMATS.values()}
_WEIGHT_NAMES = ", ".join(list(_WEIGHT_DTYPES)[:-1]) + " or " + list(_WEIGHT_DTYPES)[-1]


class Chunks(list):
    """A section's contents as pieces, joined once at the end (large .incbin payloads are not
    copied piece by piece)."""

    def extend(self, blob) -> None:
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


@dataclass
class Out:
    """What pass 2 builds: code words and their source lines, data and weight bytes, metadata."""

    text: list[int] = field(default_factory=list)
    lines: dict[int, int] = field(default_factory=dict)
    data: Chunks = field(default_factory=Chunks)
    weights: Chunks = field(default_factory=Chunks)
    meta: dict = field(default_factory=lambda: {"inputs": [], "outputs": []})


@dataclass(frozen=True)
class Directive:
    """One directive. ``sections`` empty: allowed anywhere. ``unit``: bytes per operand of a
    value directive (in ``.data`` its offset must be a multiple of it); ``kind``: how its
    values are read (``int``, ``float``, or a weight element type)."""

    name: str
    sections: tuple[str, ...]
    operands: str
    effect: str
    size: Callable
    emit: Callable | None = None
    unit: int = 0
    kind: str = ""
    hint: str | None = None  # shown when it is used in a section that does not allow it


# ---- pass 1: sizes -----------------------------------------------------------------------------


def check_end(asm, st: Statement, section: str, end: int) -> None:
    """A section may not grow past what the machine can address (checked before its bytes
    are allocated)."""
    if section == "data" and DATA_BASE + end > MAX_DATA_BYTES:
        raise asm.error(f".data would end at {DATA_BASE + end:#x}, beyond global memory "
                        f"(at most {MAX_DATA_BYTES >> 20} MiB on any chip)", st.pos)
    if section == "weights" and end > MAX_WEIGHT_BYTES:
        raise asm.error(f".weights would hold {end} bytes, more than wprog's pages reach "
                        f"({MAX_WEIGHT_BYTES + 1} bytes)", st.pos)


def _fill(asm, n: int, st: Statement) -> None:
    """Count ``n`` zero bytes of ``.zero``/``.align`` against ``--max-elements``, before they
    are allocated (a few bytes of source must not make the assembler allocate gigabytes)."""
    asm.zero_fill += n
    limit = hostlimits.LIMITS.max_elements
    if asm.zero_fill > limit:
        raise asm.error(f"{st.name} would bring the zero fill of this source (.zero and "
                        f".align) to {asm.zero_fill} bytes, more than the limit of {limit}",
                        st.pos, "raise the limit with --max-elements N (or "
                        "IMCC_MAX_ELEMENTS) if the source is trusted")


def _switch(asm, st, section, offset):
    asm.expect_count(st, 0)
    asm.section = st.name[1:]
    return 0, None


def _equ(asm, st, section, offset):
    asm.expect_count(st, 2)
    name = st.operands[0]
    if not isinstance(name, Sym):
        raise asm.error(".equ expects a symbol name", name.pos)
    asm.define(name.name, "abs", None, st.operands[1], name.pos)
    return 0, None


def _values(asm, st, section, offset):
    d = DIRECTIVES[st.name]
    if not st.operands:
        raise asm.error(f"{st.name} expects at least one value", st.pos)
    if section == "data" and offset % d.unit:
        raise asm.error(f"{st.name} at .data offset {offset} is not {d.unit}-byte aligned", st.pos,
                        f"put .align {d.unit} before it: loads and vector operands read "
                        f"{d.unit}-byte values at multiples of {d.unit}")
    return d.unit * len(st.operands), None


def _zero(asm, st, section, offset):
    asm.expect_count(st, 1, "byte count")
    n = asm.eval_int(st.operands[0], None)
    if n < 0 or n % 4:
        raise asm.error(f".zero size {n} must be a non-negative multiple of 4", st.operands[0].pos)
    check_end(asm, st, section, offset + n)
    _fill(asm, n, st)
    return n, n


def _align(asm, st, section, offset):
    asm.expect_count(st, 1)
    n = asm.eval_int(st.operands[0], None)
    if n <= 0 or n & (n - 1) or n > 2**31:
        raise asm.error(f".align {n}: expected a power of two up to 2**31", st.operands[0].pos)
    pad = (-offset) % n
    check_end(asm, st, section, offset + pad)
    _fill(asm, pad, st)
    return pad, pad


def _incbin(asm, st, section, offset):
    asm.expect_count(st, 1)
    blob = asm.read_path(st.operands[0], st.name)
    return len(blob), blob


def _npy(asm, st, section, offset):
    asm.expect_count(st, 1)
    arr = asm.read_path(st.operands[0], st.name)
    if arr.dtype.name not in _WEIGHT_DTYPES:
        raise asm.error(f"unsupported dtype {arr.dtype.name} in '{st.operands[0].value}'",
                        st.operands[0].pos, "weights must be " + _WEIGHT_NAMES)
    blob = np.ascontiguousarray(arr, dtype=_WEIGHT_DTYPES[arr.dtype.name]).tobytes()
    return len(blob), blob


def _nothing(asm, st, section, offset):
    return 0, None


# ---- pass 2: emit ------------------------------------------------------------------------------


def _emit_word(asm, out, section, addr, st, payload):
    words = [asm.word(o, addr + 4 * i) for i, o in enumerate(st.operands)]
    if section == "text":
        for i in range(len(words)):
            out.lines[addr + 4 * i] = st.pos.line
        out.text.extend(words)
    else:
        out.data.extend(struct.pack(f"<{len(words)}I", *words))


def _emit_small(asm, out, section, addr, st, payload):
    """``.half``/``.byte``: signed or unsigned values of 2 or 1 bytes, little-endian."""
    unit = DIRECTIVES[st.name].unit
    lo, hi = -(1 << (8 * unit - 1)), (1 << (8 * unit)) - 1
    vals = []
    for i, o in enumerate(st.operands):
        v = asm.eval_int(o, addr + unit * i)
        if not lo <= v <= hi:
            raise asm.error(f"value {v} doesn't fit in {st.name} ({lo}..{hi})", o.pos)
        vals.append(v & hi)
    out.data.extend(np.asarray(vals, f"<u{unit}").tobytes())


def _emit_float(asm, out, section, addr, st, payload):
    out.data.extend(struct.pack(f"<{len(st.operands)}f", *(asm.f32(o) for o in st.operands)))


def _emit_weight(asm, out, section, addr, st, payload):
    dtype = _WEIGHT_DTYPES[DIRECTIVES[st.name].kind]
    if dtype == "<f4":
        vals = [asm.f32(o) for o in st.operands]
    else:
        vals = [asm.eval_int(o, None) for o in st.operands]
        hi = np.iinfo(np.dtype(dtype)).max
        for o, v in zip(st.operands, vals):
            if not 0 <= v <= hi:
                raise asm.error(f"value {v} doesn't fit in {st.name} (0..{hi})", o.pos)
    out.weights.extend(np.asarray(vals, dtype=dtype).tobytes())


def _emit_zeros(asm, out, section, addr, st, payload):
    getattr(out, section).zeros(payload)


def _emit_bytes(asm, out, section, addr, st, payload):
    getattr(out, section).extend(payload)


def _emit_entry(asm, out, section, addr, st, payload):
    asm.expect_count(st, 1, "label")
    target = asm.eval_int(st.operands[0], None)
    d = asm.defs.get(st.operands[0].name) if isinstance(st.operands[0], Sym) else None
    if d is None or d.section != "text":
        raise asm.error(f"{st.name} expects a label in .text", st.operands[0].pos)
    if st.name[1:] in out.meta:
        raise asm.error(f"{st.name} given twice", st.pos)
    out.meta[st.name[1:]] = target


def _io_dtype(asm, st) -> str:
    if len(st.operands) != 4:
        asm.expect_count(st, 3, "name, address, [shape] [, dtype]")
        return "float32"
    dt = st.operands[3]
    dtype = dt.name if isinstance(dt, Sym) else dt.value if isinstance(dt, Str) else ""
    if dtype not in IO_DTYPES:
        raise asm.error(f"{st.name} element type must be one of {', '.join(IO_DTYPES)}", dt.pos)
    return dtype


def _emit_io(asm, out, section, addr, st, payload):
    name = st.name
    dtype = _io_dtype(asm, st)
    nm, ad, shp = st.operands[:3]
    if not isinstance(nm, Str | Sym):
        raise asm.error(f"{name} expects a tensor name", nm.pos)
    tname = nm.value if isinstance(nm, Str) else nm.name
    a = asm.eval_int(ad, None)
    if a % 4 or not 0 <= a < TILE_BASE:
        raise asm.error(f"{name} address {a:#x} must be 4-aligned global memory", ad.pos)
    if not isinstance(shp, ListOp):
        raise asm.error(f"{name} expects a shape like [1, 3, 32, 32] ([] for a scalar)", shp.pos)
    dims = tuple(asm.eval_int(d, None) for d in shp.items)
    if any(not 0 <= d < 2**32 for d in dims):
        raise asm.error(f"{name} shape dimensions must be in 0..2**32-1 (0: an empty tensor)",
                        shp.pos)
    key = name[1:] + "s"
    if any(t.name == tname for t in out.meta[key]):
        raise asm.error(f"{name} '{tname}' declared twice", nm.pos)
    out.meta[key].append(IOTensor(tname, a, dims, dtype))


def _emit_chip(asm, out, section, addr, st, payload):
    asm.expect_count(st, 2, '"name", "hash"')
    if not all(isinstance(o, Str) for o in st.operands):
        raise asm.error('.chip expects two strings: "name", "hash"', st.pos)
    out.meta["chip"] = (st.operands[0].value, st.operands[1].value)


def _emit_map(asm, out, section, addr, st, payload):
    asm.expect_count(st, 1, '"file.json"')
    blob = asm.read_path(st.operands[0], ".map")
    try:
        if not isinstance(blob, hostlimits.MadeJson):
            hostlimits.parse_json(blob)
    except ValueError as e:
        raise asm.error(f"'{st.operands[0].value}' is not valid JSON: {e}",
                        st.operands[0].pos) from None
    out.meta["map"] = blob


# ---- the table ---------------------------------------------------------------------------------

_D, _W, _TD = ("data",), ("weights",), ("text", "data")
_NOT_WEIGHTS = "use .u8/.u16/.f32 in .weights"
_TABLE = (
    Directive(".text", (), "none", "switch section", _switch),
    Directive(".data", (), "none", "switch section", _switch),
    Directive(".weights", (), "none", "switch section", _switch),
    Directive(".equ", (), "`NAME, expr`", "define a constant", _equ),
    Directive(".set", (), "`NAME, expr`", "define a constant", _equ),
    Directive(".word", _TD, "`expr, ...`", "32-bit words (4-aligned)", _values, _emit_word, 4, "int",
              _NOT_WEIGHTS),
    Directive(".half", _D, "`expr, ...`", "16-bit halfwords (2-aligned)",
              _values, _emit_small, 2, "int", _NOT_WEIGHTS),
    Directive(".byte", _D, "`expr, ...`", "bytes", _values, _emit_small, 1,
              "int", _NOT_WEIGHTS),
    Directive(".float", _D, "`fexpr, ...`", "float32 words (4-aligned)", _values, _emit_float, 4, "float",
              _NOT_WEIGHTS),
    Directive(".zero", _D, "`nbytes`", "zero bytes, a multiple of 4", _zero, _emit_zeros),
    *(Directive(f".{n}", _W, "`value, ...`", f"{u}-byte `{k}` elements", _values, _emit_weight,
                u, k)
      for n, u, k in (("u8", 1, "uint8"), ("u16", 2, "uint16"), ("f32", 4, "float32"))),
    Directive(".align", ("data", "weights"), "`n`", "zero bytes up to a multiple of `n`",
              _align, _emit_zeros),
    Directive(".npy", _W, '`"file.npy"`', "the elements of a NumPy array", _npy, _emit_bytes),
    Directive(".incbin", ("data", "weights"), '`"file"`', "the bytes of a file", _incbin,
              _emit_bytes),
    Directive(".entry", (), "`label`", "where the first run starts", _nothing, _emit_entry),
    Directive(".rerun", (), "`label`", "where later runs on the same machine start", _nothing,
              _emit_entry),
    *(Directive(n, (), '`"name", addr, [d0, ...] [, dtype]`', "a tensor the run takes or "
                "returns (float32 in memory; raw words for `i32bits`/`u32bits`)", _nothing,
                _emit_io) for n in (".input", ".output")),
    Directive(".chip", (), '`"name", "hash"`', "the chip the program is built for", _nothing,
              _emit_chip),
    Directive(".map", (), '`"file.json"`', "embed a storage map", _nothing, _emit_map),
)
DIRECTIVES: MappingProxyType[str, Directive] = MappingProxyType({d.name: d for d in _TABLE})


def allowed(d: Directive) -> str:
    """Where ``d`` may appear, as the docs say it."""
    return ", ".join(f"`.{s}`" for s in d.sections) if d.sections else "anywhere"


def lookup(asm, st: Statement, section: str) -> Directive:
    """The directive of ``st``, allowed in ``section``; else an error naming the fix."""
    d = DIRECTIVES.get(st.name)
    if d is None:
        close = difflib.get_close_matches(st.name, list(DIRECTIVES), n=1)
        raise asm.error(f"unknown directive '{st.name}'", st.name_pos,
                        f"did you mean '{close[0]}'?" if close else None)
    if d.sections and section not in d.sections:
        where = " and ".join(f".{s}" for s in d.sections)
        raise asm.error(f"{st.name} is not allowed in .{section} (only in {where})", st.name_pos,
                        d.hint if section == "weights" else None)
    return d


def raw_directive(section: str, unit: int) -> str:
    """The integer directive that writes ``unit``-byte values in ``section`` (the
    disassembler's raw bytes)."""
    return next(d.name for d in _TABLE if section in d.sections and d.unit == unit
                and d.kind in ("int", "uint8", "uint16"))
