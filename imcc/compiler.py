"""The compiler pipeline: ONNX file -> object file, storage map and report.

:func:`compile_model` runs the stages, one function each, top to bottom:

1. load and check the ONNX model, fix the batch size (frontend);
2. canonicalize (constant folding, BN folding, Gemm/MatMul/Conv normal forms);
3. partition into IMC, dynamic-operand and digital ops (the seed's heterogeneous system);
4. resolve per-layer precision (chip defaults + precision file), divide each IMC weight matrix
   into tiles;
5. place the tiles on arrays (2-D bin packing) -- stages 1-5 are :func:`imcc.mapper.map_model`;
6. calibrate the input scales of the layers that quantize their inputs;
7. quantize and slice the weights into cell levels;
8. generate the program and assemble it (the same text that ``-S`` writes), and report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx

from imcc import storagemap
from imcc.calibrate import activation_ranges
from imcc.codegen.imc import ImcLayer, WeightBlob, cell_format
from imcc.codegen.memory import ALIGN
from imcc.codegen.program import Program, generate
from imcc.ir import Graph
from imcc.mapper import (
    Mapped,
    map_model,
    model_name,
    partition_model,
    return_freed_memory,
    smallest_chips,
)
from imcc.options import CompileOptions, PassChecks, Tuning
from imcc.precision import PrecisionConfig
from imcc.settings import fit_memory
from imcc.tiling import LayerPlan, quantize_layer
from isa.assembler import assemble, collector_paused
from isa.diagnostics import ConfigError
from isa.objfile import ObjectFile

__all__ = ["CompileOptions", "CompileResult", "Mapped", "PassChecks", "Tuning",
           "compile_model", "map_model", "model_name", "partition_model", "smallest_chips"]


@dataclass(frozen=True)
class CompileResult:
    obj: ObjectFile | None  # None where compile_model was asked not to assemble
    asm: str
    side_files: MappingProxyType  # name -> bytes, included by the assembly
    storage_map: dict
    report: dict
    graph: Graph  # the compiled graph; crossbar-only weights are zero stand-ins (in obj.weights)
    chip: Any  # the chip compiled for: the one given, or with --fit the one grown to fit
    classes: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # node ->
    # "imc" | "dynamic" | "digital", the partition of the compiled graph


# ---- stage 6: calibrate ------------------------------------------------------------------------


#: Operators an integer input may pass through on its way to a lookup's indices.
_INDEX_PATHS = frozenset({"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten",
                          "Expand", "Transpose"})


def _lookup_rows(graph: Graph, t: str) -> int | None:
    """The fewest rows of the constant tables that integer input ``t`` indexes (``Gather``
    indices, through reshapes and casts): token ids index an embedding; None where it indexes
    none."""
    rows, todo, seen = [], [t], set()
    while todo:
        u = todo.pop()
        seen.add(u)
        for c in graph.consumers(u):
            if c.op_type == "Gather" and c.inputs[1] == u and graph.is_const(c.inputs[0]):
                shape = graph.types[c.inputs[0]].shape
                rows.append(shape[int(c.attrs.get("axis", 0)) % len(shape)])
            elif c.op_type in _INDEX_PATHS and c.inputs[0] == u:
                todo += [o for o in c.outputs if o not in seen]
    return min(rows) if rows else None


def _synthetic_samples(graph: Graph, n: int, seed: int) -> dict[str, np.ndarray]:
    """Calibration samples where none are given: standard normal floats; integers drawn over
    the rows of the tables they index (token ids over their embedding), else 1 (an attention
    mask that masks nothing; all zeros would mask every position); booleans true."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in graph.inputs:
        if graph.is_const(t):
            continue
        ty = graph.types[t]
        shape = (n, *ty.shape[1:])
        if np.dtype(ty.dtype).kind in "iub":
            rows = _lookup_rows(graph, t) if np.dtype(ty.dtype).kind != "b" else None
            out[t] = (rng.integers(0, rows, shape) if rows else np.ones(shape)).astype(ty.dtype)
        else:
            out[t] = rng.standard_normal(shape).astype(ty.dtype)
    return out


def input_scales(m: Mapped, calib: dict[str, np.ndarray] | None, options: CompileOptions,
                 warnings: list[str], say: Callable[[str], None]) -> dict[str, float]:
    """Each IMC layer's input step ``max|x| / qmax`` from the float model on the calibration
    samples (random ones, with a warning in ``warnings``, without them); 1.0 for a layer
    whose inputs are not quantized."""
    quantized = [n for n in m.imc_nodes if m.precisions[n.name].input_bits > 0]
    ranges: dict[str, float] = {}
    if quantized:
        samples = calib
        if samples is None:
            warnings.append("no calibration data (--calib): activation scales come from random "
                            "inputs (normal floats, token ids over their embedding); accuracy "
                            "may suffer")
            samples = _synthetic_samples(m.graph, 8, options.seed)
        say(f"calibrating {len(quantized)} layer input(s)")
        ranges = activation_ranges(m.graph, [n.inputs[0] for n in quantized], samples,
                                   method=options.calibration, percentile=options.percentile,
                                   notes=warnings)
    in_scale = {}
    for n in m.imc_nodes:
        p = m.precisions[n.name]
        in_scale[n.name] = 1.0
        if p.input_bits > 0:
            qmax = (1 << (p.input_bits - (1 if m.signed[n.name] else 0))) - 1
            if qmax < 1:
                raise ConfigError(
                    f"layer {n.name!r}: its inputs can be negative, and input_bits = "
                    f"{p.input_bits} leaves no bit beside the sign",
                    hint="use input_bits >= 2 for this layer (chip file or precision file)")
            amax = ranges.get(n.inputs[0], 0.0)
            in_scale[n.name] = float(np.float32(amax / qmax)) if amax > 0 else 1.0
    return in_scale


# ---- stage 7: quantize -------------------------------------------------------------------------


def _take_imc_weights(graph: Graph, plans) -> tuple[Graph, dict[str, np.ndarray]]:
    """Split off the weights that only crossbar layers read (not graph outputs, not read by a
    digital op, e.g. an embedding tied to the output layer): a graph whose constants hold
    zero-stride stand-ins for them, and the weights by name."""
    layers = {p.layer for p in plans}
    taken = {}
    for p in plans:
        w = graph.node(p.layer).inputs[1]
        if w in taken or w in graph.outputs or w in graph.inputs:
            continue
        if all(c.name in layers and c.inputs[1] == w and w not in c.inputs[:1] + c.inputs[2:]
               for c in graph.consumers(w)):
            taken[w] = graph.constants[w]
    if not taken:
        return graph, {}
    consts = {k: (np.broadcast_to(np.zeros((), v.dtype), v.shape) if k in taken else v)
              for k, v in graph.constants.items()}
    return replace(graph, constants=consts), taken


def _cell_levels(graph: Graph, plans: tuple[LayerPlan, ...],
                 imc_weights: dict[str, np.ndarray]) -> tuple[WeightBlob, dict[str, np.ndarray]]:
    """The weight section, one layer's slice levels at a time, and each layer's per-channel
    weight scale. A weight only crossbars read is dropped after its last layer (an unrolled
    RNN's steps share their weights)."""
    uses: dict[str, int] = {}
    for p in plans:
        wname = graph.node(p.layer).inputs[1]
        uses[wname] = uses.get(wname, 0) + 1
    wb = WeightBlob(list(plans))
    scales = {}
    for p in plans:
        wname = graph.node(p.layer).inputs[1]
        uses[wname] -= 1
        last = wname in imc_weights and not uses[wname]
        if wname not in imc_weights:
            wmat = np.asarray(graph.constants[wname])
        else:
            wmat = np.asarray(imc_weights.pop(wname) if last else imc_weights[wname])
        lw = quantize_layer(p, wmat)
        wb.add_layer(p, lw)
        scales[p.layer] = lw.scale
        del lw, wmat
        if last:
            return_freed_memory(collect=False)
    return wb, scales


def take_imc_weights(m: Mapped) -> tuple[Mapped, dict[str, np.ndarray]]:
    """``m`` whose graph no longer holds the crossbar-only weights (zero-stride stand-ins of
    the same shape and type), and those weights by name (:func:`quantize_weights` drops each
    once its cells are written). The caller keeps only the returned ``Mapped``: the one it
    gave would keep every weight alive until the compile ends."""
    graph, imc_weights = _take_imc_weights(m.graph, m.plans)
    return replace(m, graph=graph), imc_weights


def quantize_weights(m: Mapped, in_scale: dict[str, float],
                     imc_weights: dict[str, np.ndarray], cells: dict | None = None
                     ) -> tuple[dict[str, ImcLayer], memoryview]:
    """Quantize and slice every crossbar weight into cell levels (``m`` and ``imc_weights``
    from :func:`take_imc_weights`; the weights are popped from ``imc_weights`` as their cells
    are written, so the compile never holds the model's weights and their cells at once):
    each IMC layer as the code generator sees it, and the weight section's bytes. ``cells``
    keeps the section for the next compile of the same model whose plans are the same (the
    cells depend on the weights and the plans only; :mod:`imcc.decoder` compiles a prefill
    and a decode step of one model): that compile reuses it instead of making it again."""
    graph = m.graph
    key = hit = None
    if cells is not None:
        try:
            key = tuple((p, graph.node(p.layer).inputs[1]) for p in m.plans)
            hit = cells.get(key)
        except TypeError:  # a plan that does not hash: no reuse
            key = None
    if hit is None:
        wb, scales = _cell_levels(graph, m.plans, imc_weights)
        hit = (wb.finish(), wb.offsets, wb.col_max, scales)
        if key is not None:
            cells.clear()  # one section kept
            cells[key] = hit
    elif imc_weights:  # the cells were made: the weights go now, as when they are
        imc_weights.clear()
        return_freed_memory()
    blob, offsets, col_max, scales = hit
    placed: dict[str, list] = {}
    for pl in m.mapping.placements:
        placed.setdefault(pl.tile.layer, []).append(pl)
    imc = {}
    for p in m.plans:
        imc[p.layer] = ImcLayer(
            plan=p, scale=scales[p.layer],
            placements=tuple(placed.get(p.layer, ())),
            replicas=m.mapping.replicas[p.layer], in_scale=in_scale[p.layer],
            in_signed=m.signed[p.layer],
            weight_offset=MappingProxyType({t.id: offsets[t.id] for t in p.tiles}),
            wfmt=cell_format(p),
            col_max=MappingProxyType({t.id: col_max[t.id] for t in p.tiles}))
    return imc, blob


# ---- stage 8: generate, assemble, report -------------------------------------------------------


def tile_preferences(graph: Graph, imc: dict[str, ImcLayer], arrays_per_tile: int
                     ) -> dict[str, int]:
    """Tensors to keep in a chip tile's buffer. An IMC layer whose arrays all sit on one chip
    tile keeps its output in that tile's buffer, and so do the digital ops that consume it
    (each tile has a digital unit); an IMC layer on another tile receives its input with a
    send. Tensors that do not fit stay global."""
    tile_pref: dict[str, int] = {}
    for n in graph.nodes:
        if n.name in imc:
            tiles = {pl.array // arrays_per_tile for pl in imc[n.name].placements}
            if len(tiles) == 1:
                tile_pref[n.outputs[0]] = tiles.pop()
            continue
        srcs = [t for t in n.inputs if t and not graph.is_const(t)]
        if srcs and srcs[0] in tile_pref:
            for o in n.outputs:
                if o:
                    tile_pref[o] = tile_pref[srcs[0]]
    return tile_pref


def emit_program(m: Mapped, graph: Graph, imc: dict[str, ImcLayer], blob: memoryview, *,
                 options: CompileOptions, tuning: Tuning, name: str, base: str):
    """Generate the program (:func:`imcc.codegen.program.generate`) and its storage map: for
    ``m.chip``, or with ``--fit`` for the chip whose global memory just holds it. Returns
    ``(storage map, program, chip)``."""
    chip, mapping = m.chip, m.mapping
    classes = {n.name: m.partition.classes[n.name].value for n in graph.nodes}
    if options.sram_bits is None:
        options = replace(options, sram_bits=int(chip.input_bits))
    tile_pref = tile_preferences(graph, imc, int(chip.arrays_per_tile))

    stamped: list = []  # the chip the program was emitted for (--fit grows it) and its map

    def stamp(chip) -> tuple[list[str], bytes]:
        """The header and storage map of the program for ``chip``."""
        header = [(f"{name} compiled by imcc for chip {chip.name} ({chip.program_hash}), "
                   f"{options.priority} priority"),
                  (f"{len(m.imc_nodes)} IMC layers on {mapping.arrays_used} arrays "
                   f"(lower bound {mapping.base.lower_bound}), {len(graph.nodes)} nodes")]
        smap = m.storage_map if chip is m.chip else storagemap.build(mapping, model=name,
                                                                      chip=chip)
        stamped[:] = [chip, smap]
        return header, storagemap.to_json(smap)

    def refit(need: int):
        """``--fit``: the chip grown to hold ``need`` bytes and the reserve after them (past the
        largest one, that one, which the memory check then refuses); ``chip`` itself where it
        holds them."""
        want = -(-need // ALIGN) * ALIGN + options.reserve_bytes if options.reserve_bytes \
            else need
        return fit_memory(chip, min(want, chip.maximum("global_mib") * 2**20))

    try:
        prog = generate(graph, imc, chip=chip, options=options, tuning=tuning,
                        base_name=base, weights_blob=blob, stamp=stamp, classes=classes,
                        tile_pref=tile_pref, refit=refit if options.fit else None)
    except ConfigError as e:
        if not options.fit and e.message.startswith("the program needs"):  # global memory
            raise ConfigError(e.message, hint=f"{e.hint}; or --fit") from None
        raise
    chip, smap = stamped
    return smap, prog, chip


def compile_report(m: Mapped, graph: Graph, chip, prog: Program, n_instructions: int | None,
                   weight_bytes: int, *, name: str, options: CompileOptions,
                   times: dict[str, float], total_s: float, warnings: list[str]) -> dict:
    """The compile report (``imcc compile --json``)."""
    counts: dict[str, int] = {}
    for v in m.partition.classes.values():
        counts[v.value] = counts.get(v.value, 0) + 1
    mapping, tiles = m.mapping, sum(len(p.tiles) for p in m.plans)
    return {
        "model": name,
        "chip": {"name": chip.name, "hash": chip.program_hash},
        "chip_size": {"tiles": chip.tiles, "arrays_per_tile": chip.arrays_per_tile,
                      "global_mib": chip.global_mib},
        "priority": options.priority,
        "nodes": len(graph.nodes),
        "partition": dict(sorted(counts.items())),
        "imc_layers": len(m.imc_nodes),
        "tiles": tiles,
        "arrays_used": mapping.arrays_used,
        "arrays_available": chip.tiles * chip.arrays_per_tile,
        "lower_bound": mapping.base.lower_bound,
        "packing_status": mapping.base.status,
        "packing_time_s": round(mapping.base.solve_time_s, 3),
        "one_tile_per_array": tiles,
        "replicas": {k: v for k, v in mapping.replicas.items() if v > 1},
        "estimated_mvm_latency_ns": mapping.latency_ns,
        "instructions": n_instructions,
        "instruction_counts": dict(sorted(prog.instruction_counts.items())),
        "memory_bytes": prog.memory_bytes,
        "weight_bytes": weight_bytes,
        "times_s": times,
        "total_s": total_s,
        "warnings": warnings,
    }


# ---- the driver --------------------------------------------------------------------------------


def compile_model(
    model: str | Path | onnx.ModelProto,
    chip,
    *,
    precision: PrecisionConfig | None = None,
    calib: dict[str, np.ndarray] | None = None,
    options: CompileOptions = CompileOptions(),
    base_name: str | None = None,
    progress: Callable[[str], None] | None = None,
    name: str | None = None,
    checks: PassChecks = PassChecks(),
    tuning: Tuning = Tuning(),
    assemble_text: bool = True,
    cells: dict | None = None,
) -> CompileResult:
    """Compile the ONNX model ``model`` (a file path, or an in-memory ``ModelProto``) for
    ``chip`` (a runtime chip configuration). ``name`` is the model's name in the storage map,
    the report and the assembly (:func:`model_name`); ``base_name`` names the assembly's side
    files (default: ``name`` without its suffix); ``checks`` dump and verify the graph around
    the canonicalization passes; ``tuning`` sizes the code generator's chunks. Without
    ``assemble_text`` the result has the assembly text but no object (``obj`` None, the
    report's ``instructions`` None): for a caller that edits the text and assembles it once
    (:mod:`imcc.decoder`); ``cells`` is :func:`quantize_weights`' store, for compiles of one
    model that share their cells."""
    with collector_paused():
        return _compile(model, chip, precision=precision, calib=calib, options=options,
                        base_name=base_name, progress=progress, name=name, checks=checks,
                        tuning=tuning, assemble_text=assemble_text, cells=cells)


def _compile(model, chip, *, precision, calib, options, base_name, progress, name, checks,
             tuning, assemble_text=True, cells=None) -> CompileResult:
    """:func:`compile_model`'s stages."""
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    name = model_name(model, name)
    base = base_name or Path(name).stem
    m = map_model(model, chip, precision=precision, options=options, progress=progress,
                  name=name, checks=checks)
    times, warnings = dict(m.times), list(m.warnings)

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        times[stage] = round(now - since, 3)
        return now

    t = time.perf_counter()
    in_scale = input_scales(m, calib, options, warnings, say)
    t = lap("calibrate", t)
    say("quantizing weights")
    m, imc_weights = take_imc_weights(m)
    imc, blob = quantize_weights(m, in_scale, imc_weights, cells)
    graph = m.graph
    t = lap("quantize", t)
    say("generating code")
    smap, prog, chip = emit_program(m, graph, imc, blob, options=options, tuning=tuning,
                                    name=name, base=base)
    t = lap("codegen", t)
    obj = None
    if assemble_text:
        say("assembling")
        obj = assemble(prog.text, f"{base}.s", includes=dict(prog.includes)).obj
        lap("assemble", t)
    report = compile_report(m, graph, chip, prog, None if obj is None else len(obj.text),
                            len(blob), name=name,
                            options=options, times=times,
                            total_s=round(time.perf_counter() - t0, 3), warnings=warnings)
    classes = {n.name: m.partition.classes[n.name].value for n in graph.nodes}
    return CompileResult(obj, prog.text, prog.includes, smap, report, graph, chip,
                         MappingProxyType(classes))
