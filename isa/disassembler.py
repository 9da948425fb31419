"""Object file -> assembly text that re-assembles to the identical bytes.

Symbols come back under their names; branch and jump targets without a symbol get local labels
(``.L<addr>``), which the assembler does not export, so the symbol table is unchanged by a round
trip. Weights and the storage map go to side files when a base name is given; otherwise small
weights are printed inline and large ones are left out with a comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from isa.encoding import DecodeError, decode, format_instr
from isa.objfile import IOTensor, ObjectFile
from isa.spec import OperandKind

INLINE_WEIGHT_LIMIT = 64 * 1024


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
    return f".{kind} {_quote(t.name)}, {t.addr:#x}, [{', '.join(map(str, t.shape))}]"


def _byte_lines(blob: bytes, start: int, labels: dict[int, list[str]], per_line: int) -> list[str]:
    """``.u8`` lines for ``blob`` (section offset ``start``), split at labelled offsets."""
    out = []
    cuts = sorted(a for a in labels if start < a < start + len(blob))
    bounds = [start, *cuts, start + len(blob)]
    for a, b in zip(bounds, bounds[1:]):
        if a != start:
            out.extend(f"{n}:" for n in labels[a])
        for k in range(a, b, per_line):
            chunk = blob[k - start : min(b, k + per_line) - start]
            out.append("    .u8 " + ", ".join(str(x) for x in chunk))
    return out


def disassemble(obj: ObjectFile, base_name: str | None = None) -> Listing:
    """Disassemble ``obj``. With ``base_name``, weights go to ``<base_name>.weights.bin`` and the
    storage map to ``<base_name>.map.json`` (returned in ``side_files``)."""
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

    data_labels = _labels_by_addr(obj, "data")
    if obj.data or data_labels:
        lines.append(".data")
        base = obj.data_base
        nwords = len(obj.data) // 4
        words = [int.from_bytes(obj.data[4 * k : 4 * k + 4], "little") for k in range(nwords)]
        run: list[str] = []

        def flush():
            for k in range(0, len(run), 8):
                lines.append("    .word " + ", ".join(run[k : k + 8]))
            run.clear()

        for k, w in enumerate(words):
            addr = base + 4 * k
            if addr in data_labels:
                flush()
                lines.extend(f"{n}:" for n in data_labels[addr])
            run.append(f"{w:#010x}")
        flush()
        lines.extend(f"{n}:" for n in data_labels.get(base + len(obj.data), []))

    w_labels = _labels_by_addr(obj, "weights")
    if obj.weights or w_labels:
        lines.append(".weights")
        lines.extend(f"{n}:" for n in w_labels.get(0, []))
        if base_name is not None and obj.weights:
            # Split the blob at labels so they land where they were.
            cuts = sorted(a for a in w_labels if 0 < a < len(obj.weights))
            bounds = [0, *cuts, len(obj.weights)]
            for j, (a, b) in enumerate(zip(bounds, bounds[1:])):
                if a:
                    lines.extend(f"{n}:" for n in w_labels[a])
                fname = f"{base_name}.weights.bin" if len(bounds) == 2 else \
                    f"{base_name}.weights.{j}.bin"
                side[fname] = obj.weights[a:b]
                lines.append(f"    .incbin {_quote(fname.rsplit('/', 1)[-1])}")
        elif len(obj.weights) <= INLINE_WEIGHT_LIMIT:
            lines.extend(_byte_lines(obj.weights, 0, w_labels, 16))
        else:
            complete = False
            lines.append(f"    # {len(obj.weights)} bytes of weights left out: "
                         "disassemble with -o to write them beside the listing")
        lines.extend(f"{n}:" for n in w_labels.get(len(obj.weights), []) if len(obj.weights))

    if obj.map_json is not None:
        if base_name is not None:
            fname = f"{base_name}.map.json"
            side[fname] = obj.map_json
            lines.append(f".map {_quote(fname.rsplit('/', 1)[-1])}")
        else:
            complete = False
            lines.append("# storage map left out: disassemble with -o to write it beside the listing")
    return Listing("\n".join(lines) + "\n", side, complete)
