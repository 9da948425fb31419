"""The ``.imo`` object file: assembled code, data, weights, symbols and metadata.

Layout (all integers little-endian)::

    magic      8 bytes   b"\\x7fIMCOBJ\\n"
    version    u16       FORMAT_VERSION
    reserved   u16       0
    nsections  u32
    table      nsections x (kind u32, reserved u32, offset u64, size u64)
    payloads   section bytes, in table order, each starting at its offset
    checksum   32 bytes  SHA-256 of every byte before it

Sections: ``text`` (code words, u32 LE), ``data`` (initial global-memory image at address
``meta.data_base``), ``weights`` (weight-memory bytes read by ``wprog``), ``symbols`` (JSON),
``meta`` (JSON) and an optional ``map`` (the storage map, JSON). JSON is written with sorted keys
and no whitespace, so the same program always gives the same bytes. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, fields
from types import MappingProxyType

from isa import hostlimits
from isa.diagnostics import ObjectFileError

MAGIC = b"\x7fIMCOBJ\n"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sHHI")
_ENTRY = struct.Struct("<IIQQ")
_SECTION_KINDS = {"text": 1, "data": 2, "weights": 3, "symbols": 4, "meta": 5, "map": 6}
_KIND_NAMES = {v: k for k, v in _SECTION_KINDS.items()}


@dataclass(frozen=True)
class Symbol:
    """A named address: ``section`` is ``text``, ``data``, ``weights`` or ``abs`` (``.equ``)."""

    name: str
    section: str
    value: int


#: Raw-bits element types: the memory words themselves, as int32 or uint32 (what ``sw`` stored),
#: not float32 values converted (docs/assembly.md, ``.input``/``.output``).
RAW_DTYPES = MappingProxyType({"i32bits": "int32", "u32bits": "uint32"})
#: Element types numpy holds through ml_dtypes: every value of theirs is a float32 exactly.
NARROW_DTYPES = ("bfloat16", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
                 "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn", "int4", "uint4", "int2",
                 "uint2")
#: Element types an input or output may declare (the host converts float32 words, except the
#: raw-bits types).
IO_DTYPES = ("float32", "float16", "float64", "int64", "int32", "int16", "int8", "uint64",
             "uint32", "uint16", "uint8", "bool", *RAW_DTYPES, *NARROW_DTYPES)
#: Integer element types whose range is wider than the whole numbers float32 holds exactly
#: (``-2**24 .. 2**24``): the machine refuses their values beyond it (docs/assembly.md).
WIDE_INTEGERS = ("int64", "int32", "uint64", "uint32")
#: The largest magnitude of a whole number every float32 word holds exactly.
EXACT_INTEGER = 2**24


@dataclass(frozen=True)
class IOTensor:
    """A model input or output: a tensor of ``shape`` at global address ``addr``, held in
    memory as float32 (every value the machine computes is); ``dtype`` is the element type the
    host hands it over or gets it back as (``int64`` indices, ``bool`` masks...)."""

    name: str
    addr: int
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def nbytes(self) -> int:
        n = 4
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class ObjectFile:
    """An assembled program. ``meta`` holds entry points, I/O tensors and the chip record."""

    text: tuple[int, ...]
    data: bytes = b""
    weights: bytes | memoryview = b""  # bytes-like; a compiled model's is a read-only view
    symbols: tuple[Symbol, ...] = ()
    entry: int = 0
    rerun: int | None = None
    inputs: tuple[IOTensor, ...] = ()
    outputs: tuple[IOTensor, ...] = ()
    chip: tuple[str, str] | None = None  # (name, hash) of the chip configuration
    data_base: int = 0
    map_json: bytes | None = None  # the storage map, as embedded (JSON text)

    def __reduce__(self):
        """Pickle (e.g. to worker processes) with the weights as bytes: a view does not pickle."""
        vals = [getattr(self, f.name) for f in fields(self)]
        return type(self), tuple(bytes(v) if isinstance(v, memoryview) else v for v in vals)

    def storage_map(self) -> dict | None:
        """The embedded storage map, parsed, or None."""
        return None if self.map_json is None else json.loads(self.map_json)

    def label_map(self, section: str = "text") -> dict[int, str]:
        """Address -> first symbol name defined there in ``section``."""
        out: dict[int, str] = {}
        for s in self.symbols:
            if s.section == section:
                out.setdefault(s.value, s.name)
        return out

    def symbol(self, name: str) -> Symbol | None:
        for s in self.symbols:
            if s.name == name:
                return s
        return None


def _dumps(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _meta(obj: ObjectFile) -> dict:
    def io(t: IOTensor) -> dict:
        d = {"name": t.name, "addr": t.addr, "shape": list(t.shape)}
        if t.dtype != "float32":
            d["dtype"] = t.dtype
        return d

    return {
        "entry": obj.entry,
        "rerun": obj.rerun,
        "inputs": [io(t) for t in obj.inputs],
        "outputs": [io(t) for t in obj.outputs],
        "chip": None if obj.chip is None else {"name": obj.chip[0], "hash": obj.chip[1]},
        "data_base": obj.data_base,
    }


def _sections(obj: ObjectFile) -> list[tuple[str, bytes]]:
    sections = [
        ("text", struct.pack(f"<{len(obj.text)}I", *obj.text)),
        ("data", bytes(obj.data)),
        ("weights", memoryview(obj.weights).cast("B")),  # no copy of the largest section
        ("symbols", _dumps([[s.name, s.section, s.value] for s in obj.symbols])),
        ("meta", _dumps(_meta(obj))),
    ]
    if obj.map_json is not None:
        sections.append(("map", obj.map_json))
    return sections


def object_pieces(obj: ObjectFile):
    """The file's bytes, piece by piece (header, table, sections, checksum)."""
    sections = _sections(obj)
    offset = _HEADER.size + _ENTRY.size * len(sections)
    table = []
    for name, blob in sections:
        table.append(_ENTRY.pack(_SECTION_KINDS[name], 0, offset, len(blob)))
        offset += len(blob)
    h = hashlib.sha256()
    for piece in (_HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(sections)), *table):
        h.update(piece)
        yield piece
    for _, blob in sections:
        for piece in _mapped_pieces(blob):
            h.update(piece)
            yield piece
    yield h.digest()


#: Bytes of a mapped section read at a time (:func:`_mapped_pieces`).
_MAPPED_PIECE = 64 << 20


def _mapping(blob):
    """The file map ``blob`` views from its start to its end (a compiled model's weight
    section), whose pages can be let go of; else None."""
    import mmap

    mm = blob.obj if isinstance(blob, memoryview) else None
    if not isinstance(mm, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED") \
            or len(blob) != len(mm) or memoryview(blob).nbytes != len(mm):
        return None
    return mm


def _let_go(mm, start: int, stop: int) -> None:
    import mmap

    if mm is not None:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)


def _mapped_pieces(blob):
    """``blob`` in pieces; a view of a mapped file (a compiled model's weight section) piece by
    piece, each piece's pages let go of once it is written, so writing the object never makes
    the whole section resident in the writing process."""
    mm = _mapping(blob)
    if mm is None or len(blob) <= _MAPPED_PIECE:
        yield blob
        return
    for start in range(0, len(blob), _MAPPED_PIECE):
        stop = min(start + _MAPPED_PIECE, len(blob))
        yield blob[start:stop]
        _let_go(mm, start, stop)


def same_bytes(a, b) -> bool:
    """Whether two sections (bytes-like) hold the same bytes, compared piece by piece, the pages
    of a mapped one let go of after each piece: comparing two compiled models' weight sections
    never makes both resident."""
    if a is b:
        return True
    ma, mb = _mapping(a), _mapping(b)
    a, b = memoryview(a).cast("B"), memoryview(b).cast("B")
    if a.nbytes != b.nbytes:
        return False
    for start in range(0, a.nbytes, _MAPPED_PIECE):
        stop = min(start + _MAPPED_PIECE, a.nbytes)
        same = a[start:stop] == b[start:stop]
        _let_go(ma, start, stop)
        _let_go(mb, start, stop)
        if not same:
            return False
    return True


def to_bytes(obj: ObjectFile) -> bytes:
    """Serialize an object file (deterministic)."""
    return b"".join(object_pieces(obj))


def _corrupt(where: str, what: str) -> ObjectFileError:
    return ObjectFileError(
        f"{where}: corrupt object file ({what})",
        hint="re-assemble or re-compile it; the file was truncated or modified",
    )


def from_bytes(blob: bytes, where: str = "<object>") -> ObjectFile:
    """Parse an object file; raise :class:`ObjectFileError` naming ``where`` on any defect."""
    if len(blob) < len(MAGIC) or blob[: len(MAGIC)] != MAGIC:
        raise ObjectFileError(
            f"{where}: not an imcc object file (bad magic)",
            hint="assemble a .s file with `imcc asm` or compile a model with `imcc compile`",
        )
    if len(blob) < _HEADER.size + 32:
        raise _corrupt(where, "truncated header")
    _, version, _, nsec = _HEADER.unpack_from(blob, 0)
    if version != FORMAT_VERSION:
        raise ObjectFileError(
            f"{where}: object format version {version}, this imcc reads version {FORMAT_VERSION}",
            hint="re-assemble or re-compile it with this imcc",
        )
    view = memoryview(blob)  # sections are views of the file's bytes, not copies
    body, digest = view[:-32], bytes(view[-32:])
    if hashlib.sha256(body).digest() != digest:
        raise _corrupt(where, "checksum mismatch")
    if _HEADER.size + nsec * _ENTRY.size > len(body):
        raise _corrupt(where, "section table runs past the end")
    secs: dict[str, memoryview] = {}
    for i in range(nsec):
        kind, _, off, size = _ENTRY.unpack_from(blob, _HEADER.size + i * _ENTRY.size)
        name = _KIND_NAMES.get(kind)
        if name is None or name in secs:
            raise _corrupt(where, f"unknown or repeated section kind {kind}")
        if off + size > len(body):
            raise _corrupt(where, f"section {name} runs past the end")
        secs[name] = body[off : off + size]
    for required in ("text", "data", "weights", "symbols", "meta"):
        if required not in secs:
            raise _corrupt(where, f"missing section {required}")
    if len(secs["text"]) % 4:
        raise _corrupt(where, "text section is not a whole number of words")
    try:
        syms = hostlimits.parse_json(bytes(secs["symbols"]))
        meta = hostlimits.parse_json(bytes(secs["meta"]))
        if "map" in secs:
            hostlimits.parse_json(bytes(secs["map"]))
    except ValueError as e:
        raise _corrupt(where, f"bad metadata: {e}") from None
    try:
        return _object(secs, syms, meta)
    except _BadMeta as e:
        raise _corrupt(where, f"bad metadata: {e}") from None


class _BadMeta(Exception):
    pass


def _int(v, what: str, lo: int, hi: int) -> int:
    """An integer field (JSON bools and floats are not integers) in ``lo..hi``."""
    if type(v) is not int or not lo <= v <= hi:
        raise _BadMeta(f"{what} = {v!r} is not an integer in {lo}..{hi}")
    return v


def _str(v, what: str) -> str:
    if type(v) is not str:
        raise _BadMeta(f"{what} = {v!r} is not a string")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no file or terminal takes it
        raise _BadMeta(f"{what} = {v!r} is not valid text") from None
    return v


def _field(d, key: str, what: str):
    if not isinstance(d, dict):
        raise _BadMeta(f"{what} is not a JSON object")
    if key not in d:
        raise _BadMeta(f"{what} has no {key!r}")
    return d[key]


def _object(secs: dict[str, memoryview], syms, meta) -> ObjectFile:
    """Check every metadata field's type and range, then build the ObjectFile."""
    end = len(secs["text"])
    u32 = 2**32 - 1

    def code_addr(v, what: str) -> int:
        a = _int(v, what, 0, end)
        if a % 4:
            raise _BadMeta(f"{what} = {a} is not a word address")
        return a

    def io(d, what: str) -> IOTensor:
        dtype = _str(d.get("dtype", "float32") if isinstance(d, dict) else None, f"{what}.dtype")
        if dtype not in IO_DTYPES:
            raise _BadMeta(f"{what}: unknown tensor dtype {dtype!r}")
        shape = _field(d, "shape", what)
        if not isinstance(shape, list):
            raise _BadMeta(f"{what}.shape is not a list")
        return IOTensor(_str(_field(d, "name", what), f"{what}.name"),
                        _int(_field(d, "addr", what), f"{what}.addr", 0, u32),
                        tuple(_int(x, f"{what}.shape", 0, u32) for x in shape), dtype)

    def ios(kind: str) -> tuple[IOTensor, ...]:
        items = _field(meta, kind, "meta")
        if not isinstance(items, list):
            raise _BadMeta(f"meta.{kind} is not a list")
        return tuple(io(d, f"{kind}[{i}]") for i, d in enumerate(items))

    if not isinstance(syms, list):
        raise _BadMeta("the symbol table is not a list")
    symbols = []
    for i, entry in enumerate(syms):
        if not isinstance(entry, list) or len(entry) != 3:
            raise _BadMeta(f"symbol {i} is not [name, section, value]")
        name, section, value = entry
        if section not in ("text", "data", "weights", "abs"):
            raise _BadMeta(f"symbol {i} has section {section!r}")
        symbols.append(Symbol(_str(name, f"symbol {i} name"), section,
                              _int(value, f"symbol {name!r}", -2**31, u32)))
    chip = _field(meta, "chip", "meta")
    if chip is not None:
        chip = (_str(_field(chip, "name", "meta.chip"), "meta.chip.name"),
                _str(_field(chip, "hash", "meta.chip"), "meta.chip.hash"))
    rerun = _field(meta, "rerun", "meta")
    return ObjectFile(
        text=struct.unpack(f"<{end // 4}I", secs["text"]),
        data=bytes(secs["data"]),
        weights=secs["weights"].toreadonly(),
        symbols=tuple(symbols),
        entry=code_addr(_field(meta, "entry", "meta"), "entry"),
        rerun=None if rerun is None else code_addr(rerun, "rerun"),
        inputs=ios("inputs"),
        outputs=ios("outputs"),
        chip=chip,
        data_base=_int(_field(meta, "data_base", "meta"), "data_base", 0, u32),
        map_json=bytes(secs["map"]) if "map" in secs else None,
    )


def atomic_write(path: str | os.PathLike, blob) -> None:
    """Write ``blob`` (bytes, or an iterable of byte pieces) to ``path`` through a temporary
    file and a rename, so a failed write never leaves a partial file behind, never replaces a
    good file with a bad one, and never replaces an input (:func:`isa.outfiles.write_files`)."""
    from isa.outfiles import write_files

    write_files({path: blob})


def write_object(obj: ObjectFile, path: str | os.PathLike) -> None:
    """Write ``obj`` atomically, streaming its sections (no second copy in memory)."""
    atomic_write(path, object_pieces(obj))


def read_object(path: str | os.PathLike) -> ObjectFile:
    try:
        blob = hostlimits.read_bytes(path, f"{path}: the object file")
    except OSError as e:
        raise ObjectFileError(f"{path}: cannot read object file: {e.strerror}") from None
    return from_bytes(blob, str(path))
