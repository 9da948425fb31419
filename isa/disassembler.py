"""Object file -> assembly text that re-assembles to the identical bytes.

Symbols come back under their names; branch and jump targets without a symbol get local labels
(``.L<addr>``), which the assembler does not export, so the symbol table is unchanged by a round
trip. Large data and weight sections and the storage map go to side files when a base name is
given; otherwise they are left out with a comment (and the listing says it is incomplete).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from isa.directives import raw_directive
from isa.encoding import DecodeError, decode, format_instr
from isa.objfile import IOTensor, ObjectFile
from isa.spec import OperandKind

INLINE_WEIGHT_LIMIT = 64 * 1024
INLINE_DATA_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Listing:
    """Disassembly text plus side files (name -> bytes) that the text includes."""

    text: str
    side_files: dict[str, bytes] = field(default_factory=dict)
    complete: bool = True  # False when something was left out (re-assembly would differ)


def _quote(s: str) -> str:
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _targets(obj: ObjectFile) -> set[int]:
    out = set()
    for i, w in enumerate(obj.text):
        try:
            ins = decode(w)
        except DecodeError:
            continue
        for o, v in zip(ins.spec.operands, ins.args):
            if o.kind is OperandKind.TARGET:
                out.add(4 * i + v)
    return out


def _labels_by_addr(obj: ObjectFile, section: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for s in obj.symbols:
        if s.section == section:
            out.setdefault(s.value, []).append(s.name)
    return out


def _io(kind: str, t: IOTensor) -> str:
    dtype = "" if t.dtype == "float32" else f", {t.dtype}"
    return f".{kind} {_quote(t.name)}, {t.addr:#x}, [{', '.join(map(str, t.shape))}]{dtype}"


def _inline(blob: bytes, section: str, start: int) -> list[str]:
    """Exact text for a run of bytes at offset ``start`` of its section: whole aligned words of
    ``.data`` as ``.word``, any other bytes with the section's byte directive
    (:func:`isa.directives.raw_directive`)."""
    unit = 4 if section == "data" and start % 4 == 0 and len(blob) % 4 == 0 else 1
    name = raw_directive(section, unit)
    if unit == 4:
        words = [f"{int.from_bytes(blob[k:k + 4], 'little'):#010x}" for k in range(0, len(blob), 4)]
        return [f"    {name} " + ", ".join(words[k : k + 8]) for k in range(0, len(words), 8)]
    return [f"    {name} " + ", ".join(str(b) for b in blob[k : k + 16])
            for k in range(0, len(blob), 16)]


def _blob(lines, side, blob: bytes, labels: dict[int, list[str]], base_name: str | None,
          section: str, inline_limit: int) -> bool:
    """Emit a data or weight section split at its labels (offsets within the section), inline or
    as ``.incbin`` side files. Return False when bytes had to be left out."""
    cuts = sorted(a for a in labels if 0 < a < len(blob))
    bounds = [0, *cuts, len(blob)]
    lines.extend(f"{n}:" for n in labels.get(0, []))
    to_file = base_name is not None and len(blob) > inline_limit
    if not to_file and len(blob) > inline_limit:
        lines.append(f"    # {len(blob)} bytes of {section} left out: disassemble with -o to "
                     "write them beside the listing")
        return False
    for j, (a, b) in enumerate(itertools.pairwise(bounds)):
        if a:
            lines.extend(f"{n}:" for n in labels[a])
        if b == a:
            continue
        if to_file:
            suffix = "" if len(bounds) == 2 else f".{j}"
            fname = f"{base_name}.{section}{suffix}.bin"
            side[fname] = blob[a:b]
            lines.append(f"    .incbin {_quote(fname.rsplit('/', 1)[-1])}")
        else:
            lines.extend(_inline(blob[a:b], section, a))
    if len(blob):
        lines.extend(f"{n}:" for n in labels.get(len(blob), []))
    return True


def disassemble(obj: ObjectFile, base_name: str | None = None) -> Listing:
    """Disassemble ``obj``. Data and weight sections larger than 64 KiB go to side files
    ``<base_name>.data.bin`` / ``<base_name>.weights.bin`` (split at labels) and the storage map
    to ``<base_name>.map.json``, returned in ``side_files``; without ``base_name`` they are left
    out and ``complete`` is False."""
    lines: list[str] = []
    side: dict[str, bytes] = {}
    complete = True
    text_labels = _labels_by_addr(obj, "text")
    local: dict[int, str] = {}
    wanted = _targets(obj) | {obj.entry} | ({obj.rerun} if obj.rerun is not None else set())
    end = 4 * len(obj.text)
    for a in sorted(wanted):
        if a not in text_labels and 0 <= a <= end and a % 4 == 0:
            local[a] = f".L{a:x}"
    names = {a: v[0] for a, v in text_labels.items()} | local

    if obj.chip is not None:
        lines.append(f".chip {_quote(obj.chip[0])}, {_quote(obj.chip[1])}")
    if obj.entry != 0:
        lines.append(f".entry {names[obj.entry]}")
    if obj.rerun is not None:
        lines.append(f".rerun {names[obj.rerun]}")
    lines.extend(_io("input", t) for t in obj.inputs)
    lines.extend(_io("output", t) for t in obj.outputs)
    for s in obj.symbols:
        if s.section == "abs":
            lines.append(f".equ {s.name}, {s.value}")

    lines.append(".text")
    for i, w in enumerate(obj.text):
        pc = 4 * i
        lines.extend(f"{n}:" for n in text_labels.get(pc, []))
        if pc in local:
            lines.append(f"{local[pc]}:")
        try:
            lines.append("    " + format_instr(decode(w), pc, names))
        except DecodeError:
            lines.append(f"    .word {w:#010x}")
    lines.extend(f"{n}:" for n in text_labels.get(end, []))
    if end in local:
        lines.append(f"{local[end]}:")

    data_labels = {a - obj.data_base: v for a, v in _labels_by_addr(obj, "data").items()}
    if obj.data or data_labels:
        lines.append(".data")
        done = _blob(lines, side, obj.data, data_labels, base_name, "data", INLINE_DATA_LIMIT)
        complete &= done
    w_labels = _labels_by_addr(obj, "weights")
    if obj.weights or w_labels:
        lines.append(".weights")
        complete &= _blob(lines, side, obj.weights, w_labels, base_name, "weights",
                          INLINE_WEIGHT_LIMIT)

    if obj.map_json is not None:
        if base_name is not None:
            fname = f"{base_name}.map.json"
            side[fname] = obj.map_json
            lines.append(f".map {_quote(fname.rsplit('/', 1)[-1])}")
        else:
            complete = False
            lines.append("# storage map left out: disassemble with -o to write it beside the listing")
    return Listing("\n".join(lines) + "\n", side, complete)
