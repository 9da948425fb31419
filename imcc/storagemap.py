"""Storage maps: where every slice of every weight tile lives on the chip.

JSON schema ``imcc.storage-map/1`` (keys are stable; new keys may be added)::

    {
      "schema": "imcc.storage-map/1",
      "model": str, "priority": "efficiency" | "resource",
      "chip": {"name", "hash", "tiles", "arrays_per_tile", "rows", "cols"},
      "arrays_used": int, "arrays_one_copy": int, "arrays_available": int,
      "lower_bound": int, "lower_bounds": {name: int}, "one_tile_per_array": int,
      "packing": {"status": str, "gap": float},
      "estimated_latency_ns": float,
      "layers": [{"name", "op", "K", "N", "groups", "replicas", "tiles", "cells",
                  "precision": {weight_bits, cell_bits, input_bits, dac_bits, adc_bits, signed,
                                slices}, "latency_ns"}],
      "entries": [{"tile", "layer", "replica", "block", "rows": [k0, k1], "cols": [n0, n1],
                   "part", "slice", "polarity": "+" | "-" | "u", "bit_weight": int,
                   "chip_tile", "array", "row", "col", "height", "width"}],
      "arrays": [{"array", "chip_tile", "cells_used", "utilisation", "layers": [str]}]
    }

The map holds no wall-clock times, so the same compile always gives the same bytes (the packer's
solve time is in the compile report). ``rows``/``cols`` of an entry are the weight-matrix region (rows are inputs of the layer's
input vector, i.e. im2col patch positions for a conv; cols are output channels); ``row``/``col``
the cell offset in the array; ``width`` counts the entry's physical columns (a reference column
included for the offset scheme). ``bit_weight`` is the power of two that the slice's levels are
worth (signed by polarity in ``vsadd``).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict

from imcc.mapping import Mapping
from isa.hostlimits import MadeJson

SCHEMA = "imcc.storage-map/1"


def build(mapping: Mapping, *, model: str, chip) -> dict:
    """The storage map of a mapping, as a JSON-ready dict."""
    entries = []
    cells: dict[int, int] = defaultdict(int)
    layers_in: dict[int, set] = defaultdict(set)
    plan_of: dict[str, object] = {}
    for p in mapping.plans:
        plan_of.setdefault(p.layer, p)
    for pl in mapping.placements:
        t = pl.tile
        plan = plan_of[t.layer]
        spec = plan.precision.slice_spec
        block = plan.blocks[t.block]
        for j, part in enumerate(t.parts):
            s, pol = divmod(part, spec.polarities)
            polarity = "u" if spec.polarities == 1 else "+-"[pol]
            entries.append({
                "tile": t.id, "layer": t.layer, "replica": pl.replica, "block": t.block,
                "rows": [block.k_offset + t.k0, block.k_offset + t.k1],
                "cols": [block.n_offset + t.n0, block.n_offset + t.n1],
                "part": part, "slice": s, "polarity": polarity,
                "bit_weight": 1 if spec.is_float else 1 << (s * spec.cell_bits),
                "chip_tile": pl.array // chip.arrays_per_tile, "array": pl.array,
                "row": pl.row, "col": pl.col + j * t.part_width,
                "height": t.h, "width": t.part_width,
            })
        cells[pl.array] += t.h * t.w
        layers_in[pl.array].add(t.layer)
    size = chip.rows * chip.cols
    arrays = [{"array": a, "chip_tile": a // chip.arrays_per_tile, "cells_used": cells[a],
               "utilisation": round(cells[a] / size, 6), "layers": sorted(layers_in[a])}
              for a in sorted(cells)]
    layers = []
    for p in mapping.plans:
        pr = p.precision
        layers.append({
            "name": p.layer, "op": p.op, "K": p.K, "N": p.N, "groups": p.groups,
            "replicas": mapping.replicas.get(p.layer, 1), "tiles": len(p.tiles),
            "cells": p.cells,
            "precision": {"weight_bits": pr.weight_bits, "cell_bits": pr.cell_bits,
                          "input_bits": pr.input_bits, "dac_bits": pr.dac_bits,
                          "adc_bits": pr.adc_bits, "signed": pr.signed, "slices": pr.slices},
            "latency_ns": mapping.layer_latency_ns.get(p.layer, 0.0),
        })
    b = mapping.base
    return {
        "schema": SCHEMA,
        "model": model,
        "priority": mapping.priority,
        "chip": {"name": chip.name, "hash": chip.program_hash, "tiles": chip.tiles,
                 "arrays_per_tile": chip.arrays_per_tile, "rows": chip.rows, "cols": chip.cols},
        "arrays_used": mapping.arrays_used,
        "arrays_one_copy": b.bins_used,
        "arrays_available": chip.tiles * chip.arrays_per_tile,
        "lower_bound": b.lower_bound,
        "lower_bounds": dict(b.lower_bounds),
        "one_tile_per_array": sum(len(p.tiles) for p in mapping.plans),
        "packing": {"status": b.status, "gap": round(b.gap, 6)},
        "estimated_latency_ns": mapping.latency_ns,
        "layers": layers,
        "entries": entries,
        "arrays": arrays,
    }


#: The map's long lists: written one element a line (a tile's entry, an array, a layer).
ROWS = ("entries", "arrays", "layers")
_ROW = json.JSONEncoder(sort_keys=True, allow_nan=True).encode  # json's C encoder, one line


def to_json(smap: dict) -> bytes:
    """Canonical JSON bytes (sorted keys), so the same map always gives the same bytes: those
    of ``json.dumps(smap, sort_keys=True, indent=1)``, except that each element of the lists
    named in :data:`ROWS` is one line, as ``json.dumps(element, sort_keys=True)`` writes it,
    and a newline at the end. One line per tile keeps a map of a million tiles greppable and
    lets json's C encoder write it (its indenting encoder is pure Python). The bytes are a
    :class:`isa.hostlimits.MadeJson`: the assembler's ``.map`` takes them as they are."""
    if type(smap) is not dict or any(type(k) is not str for k in smap):
        return MadeJson((json.dumps(smap, sort_keys=True, indent=1) + "\n").encode())
    out = ["{"]
    for i, (k, v) in enumerate(sorted(smap.items())):
        out.append("\n " if i == 0 else ",\n ")
        out.append(_ROW(k) + ": ")
        if k in ROWS and type(v) is list and v:
            out.append("[\n  " + ",\n  ".join(map(_ROW, v)) + "\n ]")
        else:
            out.append(json.dumps(v, sort_keys=True, indent=1).replace("\n", "\n "))
    out.append("\n}\n" if smap else "}\n")
    return MadeJson("".join(out).encode())


def summary(smap: dict, *, layers: bool = True) -> str:
    """A short text report: arrays used vs bounds, utilisation, per-layer tiles."""
    used = smap["arrays_used"]
    util = (sum(a["cells_used"] for a in smap["arrays"])
            / max(1, used * smap["chip"]["rows"] * smap["chip"]["cols"]))
    c = smap["chip"]
    lines = [
        f"storage map ({smap['priority']} priority) on chip {c['name']}: "
        f"{c['tiles']} tiles x {c['arrays_per_tile']} arrays of {c['rows']}x{c['cols']}",
        f"  arrays used {used} of {smap['arrays_available']}"
        + (f" ({smap['arrays_one_copy']} for one copy of every tile, {used - smap['arrays_one_copy']}"
           " for replicas of the slowest layers)" if used != smap["arrays_one_copy"] else "")
        + f"; lower bound {smap['lower_bound']}"
        + (f" ({', '.join(f'{k} {v}' for k, v in smap['lower_bounds'].items())})"
           if smap["lower_bounds"] else "") + "; "
        f"one tile per array would use {smap['one_tile_per_array']}",
        f"  cell utilisation {100 * util:.1f} %; packing {smap['packing']['status']}; "
        f"estimated MVM latency "
        f"{smap['estimated_latency_ns'] / 1000:.1f} us per inference",
    ]
    if layers:
        lines.append(f"  {'layer':<32} {'op':<8} {'K x N':>13} {'tiles':>6} {'repl':>5} "
                     f"{'w/cell/in/adc bits':>19}")
        for L in smap["layers"]:
            p = L["precision"]
            bits = f"{p['weight_bits']}/{p['cell_bits']}/{p['input_bits']}/{p['adc_bits']}"
            kn = f"{L['K']}x{L['N']}"
            lines.append(f"  {L['name'][:32]:<32} {L['op']:<8} {kn:>13} {L['tiles']:>6} "
                         f"{L['replicas']:>5} {bits:>19}")
    return "\n".join(lines)


_PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
            "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def to_svg(smap: dict, *, max_arrays: int = 4096) -> str:
    """A grid of the used arrays (one square each, grouped by chip tile), every entry drawn as a
    rectangle coloured by layer, with each array's utilisation and a legend."""
    c = smap["chip"]
    arrays = [a["array"] for a in smap["arrays"]][:max_arrays]
    index = {a: i for i, a in enumerate(arrays)}
    per_row = max(1, min(16, c["arrays_per_tile"] if len(arrays) > c["arrays_per_tile"] else len(arrays)))
    cell = 96  # pixels per array square
    gap = 22
    names = [L["name"] for L in smap["layers"]]
    color = {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}
    nrows = -(-len(arrays) // per_row) if arrays else 0
    legend_h = 18 * min(len(names), 40) + 30
    width = per_row * (cell + gap) + gap + 300
    height = max(nrows * (cell + gap) + gap + 40, legend_h + 40)
    sx, sy = cell / c["cols"], cell / c["rows"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="{gap}" y="18" font-size="14">{html.escape(smap["model"])}: '
           f'{smap["arrays_used"]} arrays ({smap["priority"]} priority), lower bound '
           f'{smap["lower_bound"]}</text>']
    util = {a["array"]: a["utilisation"] for a in smap["arrays"]}
    for a in arrays:
        i = index[a]
        x0 = gap + (i % per_row) * (cell + gap)
        y0 = 40 + (i // per_row) * (cell + gap)
        out.append(f'<rect x="{x0}" y="{y0}" width="{cell}" height="{cell}" fill="#f4f4f4" '
                   f'stroke="#888"/>')
        out.append(f'<text x="{x0}" y="{y0 + cell + 12}">a{a} t{a // c["arrays_per_tile"]} '
                   f'{100 * util[a]:.0f}%</text>')
    for e in smap["entries"]:
        if e["array"] not in index:
            continue
        i = index[e["array"]]
        x0 = gap + (i % per_row) * (cell + gap) + e["col"] * sx
        y0 = 40 + (i // per_row) * (cell + gap) + e["row"] * sy
        title = html.escape(f'{e["layer"]} rows {e["rows"]} cols {e["cols"]} slice {e["slice"]}'
                            f'{e["polarity"]} r{e["replica"]}')
        out.append(f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{e["width"] * sx:.2f}" '
                   f'height="{e["height"] * sy:.2f}" fill="{color[e["layer"]]}" '
                   f'fill-opacity="{0.95 if e["polarity"] != "-" else 0.6}" stroke="white" '
                   f'stroke-width="0.3"><title>{title}</title></rect>')
    lx = gap + per_row * (cell + gap) + 10
    out.append(f'<text x="{lx}" y="40" font-size="12">layers</text>')
    for k, n in enumerate(names[:40]):
        y = 56 + 18 * k
        out.append(f'<rect x="{lx}" y="{y - 10}" width="12" height="12" fill="{color[n]}"/>')
        out.append(f'<text x="{lx + 18}" y="{y}">{html.escape(n[:40])}</text>')
    if len(names) > 40:
        out.append(f'<text x="{lx}" y="{56 + 18 * 40}">... {len(names) - 40} more</text>')
    if len(smap["arrays"]) > max_arrays:
        out.append(f'<text x="{gap}" y="{height - 8}">first {max_arrays} of '
                   f'{len(smap["arrays"])} arrays shown</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
