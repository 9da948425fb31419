"""The compiler pipeline: ONNX file -> object file, storage map and report.

Each stage, top to bottom:

1. load and check the ONNX model, fix the batch size (frontend);
2. canonicalize (constant folding, BN folding, Gemm/MatMul/Conv normal forms);
3. partition into IMC, dynamic-operand and digital ops (the seed's heterogeneous system);
4. resolve per-layer precision (chip defaults + precision file) and calibrate input scales;
5. divide each IMC weight matrix into tiles and place them on arrays (2-D bin packing);
6. quantize and slice the weights into cell levels;
7. generate the program and assemble it (the same text that ``-S`` writes).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import onnx

from imcc import storagemap
from imcc.calibrate import activation_ranges, nonnegative
from imcc.codegen.imc import ImcLayer, WeightBlob, cell_format
from imcc.codegen.program import generate
from imcc.ir import Graph
from imcc.mapping import LayerWork, map_layers, pack_base
from imcc.precision import PrecisionConfig, resolve
from imcc.settings import fit_arrays, fit_memory, shape_for
from imcc.tiling import divide_layer, quantize_layer
from isa.assembler import assemble
from isa.diagnostics import ConfigError, OnnxImportError
from isa.objfile import ObjectFile


@dataclass(frozen=True)
class CompileOptions:
    """Everything that changes what the compiler produces (no hidden switches)."""

    priority: str = "efficiency"  # or "resource"
    dynamic: str = "sram"  # attention matmuls on the SRAM-IMC unit, or "digital"
    sram_bits: int | None = None  # operand bits of the SRAM-IMC unit; None: the chip's input_bits
    batch: int | None = None  # fix a symbolic leading dimension of the inputs
    input_shapes: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    calibration: str = "minmax"  # or "percentile"
    percentile: float = 99.99
    time_limit: float = 10.0  # packing effort budget (deterministic)
    seed: int = 0
    workers: int = 2
    fit: bool = False  # grow the chip until the model fits (imcc.settings)


@dataclass(frozen=True)
class CompileResult:
    obj: ObjectFile
    asm: str
    side_files: MappingProxyType  # name -> bytes, included by the assembly
    storage_map: dict
    report: dict
    graph: Graph  # the compiled graph; crossbar-only weights are zero stand-ins (in obj.weights)
    chip: object  # the chip compiled for: the one given, or with --fit the one grown to fit
    classes: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # node ->
    # "imc" | "dynamic" | "digital", the partition of the compiled graph


def _input_shapes(model, options: CompileOptions) -> dict[str, tuple[int, ...]]:
    from imcc.frontend import batched_input_shapes

    return batched_input_shapes(model, options.input_shapes, options.batch)


def _fixed_batch_notes(model, options: CompileOptions) -> list[str]:
    """A warning for each input whose batch the model fixes to another size than ``batch``:
    the program is compiled for the model's batch (runs loop over chunks of it)."""
    from imcc.frontend import fixed_batches

    if options.batch is None:
        return []
    fixed = fixed_batches(model, options.input_shapes)
    return [f"input {k!r}: the model fixes its batch at {b}, so the program is compiled for "
            f"batch {b}, not {options.batch}; runs go through the samples in chunks of {b}"
            for k, b in fixed.items() if b != options.batch]


def model_name(model, name: str | None = None) -> str:
    """The name a compile records for ``model`` (in the storage map, the report and the
    assembly's header): ``name`` when given, else the file's name, else ``model.onnx`` for an
    in-memory model."""
    if name is not None:
        return name
    return "model.onnx" if isinstance(model, onnx.ModelProto) else Path(model).name


def _return_freed_memory(collect: bool = True) -> None:
    """Hand freed heap memory back to the system. glibc keeps the pages of freed arrays smaller
    than its (growing) mmap threshold, in the middle of the heap, where they count against the
    process: the loaded protobuf, the weights BatchNorm folding replaces, each layer's weights
    once its cells are written. ``collect`` first runs the cycle collector. A no-op where there
    is no glibc."""
    import gc

    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, loaded once (it runs after every crossbar weight), or None."""
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _synthetic_samples(graph: Graph, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in graph.inputs:
        if graph.is_const(t):
            continue
        ty = graph.types[t]
        if np.dtype(ty.dtype).kind in "iub":
            out[t] = np.zeros((n, *ty.shape[1:]), dtype=ty.dtype)
        else:
            out[t] = rng.standard_normal((n, *ty.shape[1:])).astype(ty.dtype)
    return out


def _layer_work(graph: Graph, node, cycles: int) -> LayerWork:
    out = graph.types[node.outputs[0]].shape
    if node.op_type == "Conv":
        vectors = out[0] * math.prod(out[2:])
    else:
        vectors = math.prod(out[:-1])
    return LayerWork(max(1, vectors), cycles)


@dataclass(frozen=True)
class Mapped:
    """Stages 1-5: the canonical graph, its partition, and the placed tiles."""

    graph: Graph
    partition: object
    imc_nodes: tuple
    precisions: MappingProxyType
    signed: MappingProxyType
    work: MappingProxyType
    plans: tuple
    mapping: object
    storage_map: dict
    warnings: tuple
    times: MappingProxyType
    chip: object  # the chip mapped onto: the one given, or with --fit the one grown to fit


def map_model(
    model: str | Path | onnx.ModelProto,
    chip,
    *,
    precision: PrecisionConfig | None = None,
    options: CompileOptions = CompileOptions(),
    progress: Callable[[str], None] | None = None,
    name: str | None = None,
) -> Mapped:
    """Load, canonicalize, partition, divide and place (what ``imcc map`` shows). ``model`` is
    a file path or an in-memory ``ModelProto`` (external data already loaded into it);
    ``name`` is the model's name in the storage map (:func:`model_name`)."""
    from imcc.frontend import load_model, load_model_proto
    from imcc.partition import OpClass, partition
    from imcc.passes import canonicalize

    say = progress or (lambda _m: None)
    name = model_name(model, name)
    times: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str, start: float) -> float:
        now = time.perf_counter()
        times[name] = round(now - start, 3)
        return now

    say("loading")
    notes = _fixed_batch_notes(model, options)
    if isinstance(model, onnx.ModelProto):
        graph = load_model_proto(model, _input_shapes(model, options), where=name)
    else:
        graph = load_model(model, _input_shapes(Path(model), options))
    _return_freed_memory()  # the parsed protobuf, as large as the weights, is garbage now
    t = lap("load", t)
    say("canonicalizing")
    graph = canonicalize(graph)
    _return_freed_memory(collect=False)  # e.g. the weights BatchNorm folding replaced
    t = lap("canonicalize", t)
    part = partition(graph, dynamic=options.dynamic)
    imc_nodes = tuple(n for n in graph.nodes if part.classes[n.name] == OpClass.IMC)
    precs, warnings = resolve(chip, precision, [n.name for n in imc_nodes])
    warnings = [*notes, *warnings]
    plans, signed, work = [], {}, {}
    memo: dict = {}
    for n in imc_nodes:
        p = precs[n.name]
        w = np.asarray(graph.constants[n.inputs[1]])
        if w.dtype.kind == "f" and not np.isfinite(w).all():  # map refuses what compile would
            bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
            raise OnnxImportError(f"layer {n.name!r}: its weight {n.inputs[1]!r} holds {bad} NaN "
                                  "or infinite value(s), which no crossbar cell can store; fix "
                                  "the model's weights")
        groups = int(n.attrs.get("group", 1)) if n.op_type == "Conv" else 1
        plans.append(divide_layer(n.name, n.op_type, tuple(w.shape), groups, p, chip.rows,
                                  chip.cols))
        signed[n.name] = not nonnegative(graph, n.inputs[0], memo)
        bits = p.input_bits - (1 if signed[n.name] else 0) if p.input_bits else 0
        cycles = max(1, -(-bits // p.dac_bits)) if bits else 1
        work[n.name] = _layer_work(graph, n, cycles)
    t = lap("divide", t)
    say(f"packing {sum(len(p.tiles) for p in plans)} tiles onto arrays")
    base = pack_base(plans, rows=chip.rows, cols=chip.cols, priority=options.priority,
                     time_limit=options.time_limit, seed=options.seed, workers=options.workers,
                     progress=progress)
    needed = base.bins_used if base is not None else 0
    if options.fit:
        chip = fit_arrays(chip, needed)
    elif needed > chip.total_arrays:
        _does_not_fit(plans, base, chip, options.priority)
    mapping = map_layers(plans, rows=chip.rows, cols=chip.cols,
                         arrays_available=chip.tiles * chip.arrays_per_tile,
                         priority=options.priority, work=work,
                         t_cycle_ns=_t_cycle(chip), time_limit=options.time_limit,
                         seed=options.seed, workers=options.workers, progress=progress,
                         base=base)
    t = lap("pack", t)
    smap = storagemap.build(mapping, model=name, chip=chip)
    return Mapped(graph, part, imc_nodes, MappingProxyType(precs), MappingProxyType(signed),
                  MappingProxyType(work), tuple(plans), mapping, smap, tuple(warnings),
                  MappingProxyType(times), chip)


def partition_model(model: str | Path | onnx.ModelProto,
                    options: CompileOptions = CompileOptions()) -> tuple[Graph, dict]:
    """Stages 1-3 only (load, canonicalize, partition): the canonical graph and each node's
    class (``imc``, ``dynamic``, ``digital``), as a compile of ``model`` sees them."""
    from imcc.frontend import load_model, load_model_proto
    from imcc.partition import partition
    from imcc.passes import canonicalize

    if isinstance(model, onnx.ModelProto):
        graph = load_model_proto(model, _input_shapes(model, options))
    else:
        graph = load_model(model, _input_shapes(Path(model), options))
    graph = canonicalize(graph)
    part = partition(graph, dynamic=options.dynamic)
    return graph, {n.name: part.classes[n.name].value for n in graph.nodes}


def _does_not_fit(plans, base, chip, priority: str) -> None:
    """The error of a model that needs more arrays than ``chip`` has, naming the smallest chip
    of its shape that holds it (what ``--fit`` would use)."""
    used = base.bins_used
    sizes = sorted(((p.cells, p.layer) for p in plans), reverse=True)[:3]
    biggest = ", ".join(f"{name} ({math.ceil(c / (chip.rows * chip.cols))} arrays' worth)"
                        for c, name in sizes)
    try:
        tiles, apt = shape_for(chip, used)
        hint = (f"--fit grows the chip to fit ({tiles} tiles x {apt} arrays holds it); or use "
                "fewer weight bits or more bits per cell")
    except ConfigError as e:
        hint = e.message
    raise ConfigError(
        f"the model needs {used} arrays ({priority} priority; lower bound {base.lower_bound}) "
        f"but chip {chip.name!r} has {chip.total_arrays}: short by {used - chip.total_arrays}; "
        f"largest layers: {biggest}", hint=hint)


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
) -> CompileResult:
    """Compile the ONNX model ``model`` (a file path, or an in-memory ``ModelProto``) for
    ``chip`` (a runtime chip configuration). ``name`` is the model's name in the storage map,
    the report and the assembly (:func:`model_name`); ``base_name`` names the assembly's side
    files (default: ``name`` without its suffix)."""
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    name = model_name(model, name)
    base = base_name or Path(name).stem
    m = map_model(model, chip, precision=precision, options=options, progress=progress,
                  name=name)
    graph, mapping, plans, chip = m.graph, m.mapping, m.plans, m.chip
    times = dict(m.times)
    warnings = list(m.warnings)
    t = time.perf_counter()

    # Input scales of the layers that quantize their inputs.
    quantized = [n for n in m.imc_nodes if m.precisions[n.name].input_bits > 0]
    ranges: dict[str, float] = {}
    if quantized:
        samples = calib
        if samples is None:
            warnings.append("no calibration data (--calib): activation scales come from random "
                            "normal inputs; accuracy may suffer")
            samples = _synthetic_samples(graph, 8, options.seed)
        say(f"calibrating {len(quantized)} layer input(s)")
        ranges = activation_ranges(graph, [n.inputs[0] for n in quantized], samples,
                                   method=options.calibration, percentile=options.percentile)
    in_scale = {}
    for n in m.imc_nodes:
        p = m.precisions[n.name]
        if p.input_bits > 0:
            qmax = (1 << (p.input_bits - (1 if m.signed[n.name] else 0))) - 1
            if qmax < 1:
                raise ConfigError(
                    f"layer {n.name!r}: its inputs can be negative, and input_bits = "
                    f"{p.input_bits} leaves no bit beside the sign",
                    hint="use input_bits >= 2 for this layer (chip file or precision file)")
            amax = ranges.get(n.inputs[0], 0.0)
            in_scale[n.name] = float(np.float32(amax / qmax)) if amax > 0 else 1.0
        else:
            in_scale[n.name] = 1.0
    times["calibrate"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()

    say("quantizing weights")
    # The crossbars' weights are read once more, here, into the weight section: the graph keeps
    # zero-stride stand-ins of them (same shape and type), so each is freed once its cells are
    # in the section and the compile does not hold the model's weights and its cells at once.
    graph, imc_weights = _take_imc_weights(graph, plans)
    m = replace(m, graph=graph)
    uses: dict[str, int] = {}
    for p in plans:
        wname = graph.node(p.layer).inputs[1]
        uses[wname] = uses.get(wname, 0) + 1
    wb = WeightBlob(list(plans))
    scales = {}
    for p in plans:  # one layer's slice levels at a time
        wname = graph.node(p.layer).inputs[1]
        uses[wname] -= 1
        last = wname in imc_weights and not uses[wname]
        if wname not in imc_weights:
            wmat = np.asarray(graph.constants[wname])
        else:  # dropped after its last layer (an unrolled RNN's steps share their weights)
            wmat = np.asarray(imc_weights.pop(wname) if last else imc_weights[wname])
        lw = quantize_layer(p, wmat)
        wb.add_layer(p, lw)
        scales[p.layer] = lw.scale
        del lw, wmat
        if last:
            _return_freed_memory(collect=False)
    blob = wb.finish()
    imc = {}
    for p in plans:
        imc[p.layer] = ImcLayer(
            plan=p, scale=scales[p.layer],
            placements=tuple(pl for pl in mapping.placements if pl.tile.layer == p.layer),
            replicas=mapping.replicas[p.layer], in_scale=in_scale[p.layer],
            in_signed=m.signed[p.layer],
            weight_offset=MappingProxyType({t.id: wb.offsets[t.id] for t in p.tiles}),
            wfmt=cell_format(p),
            col_max=MappingProxyType({t.id: wb.col_max[t.id] for t in p.tiles}))
    times["quantize"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()

    say("generating code")
    classes = {n.name: m.partition.classes[n.name].value for n in graph.nodes}
    if options.sram_bits is None:
        options = replace(options, sram_bits=int(chip.input_bits))
    # An IMC layer whose arrays all sit on one chip tile keeps its output in that tile's buffer,
    # and so do the digital ops that consume it (each tile has a digital unit); an IMC layer on
    # another tile receives its input with a send. Tensors that do not fit stay global.
    tile_pref: dict[str, int] = {}
    for n in graph.nodes:
        if n.name in imc:
            tiles = {pl.array // chip.arrays_per_tile for pl in imc[n.name].placements}
            if len(tiles) == 1:
                tile_pref[n.outputs[0]] = tiles.pop()
            continue
        srcs = [t for t in n.inputs if t and not graph.is_const(t)]
        if srcs and srcs[0] in tile_pref:
            for o in n.outputs:
                if o:
                    tile_pref[o] = tile_pref[srcs[0]]

    def emit(chip):
        header = [f"{name} compiled by imcc for chip {chip.name} ({chip.program_hash}), "
                  f"{options.priority} priority",
                  f"{len(m.imc_nodes)} IMC layers on {mapping.arrays_used} arrays "
                  f"(lower bound {mapping.base.lower_bound}), {len(graph.nodes)} nodes"]
        smap = storagemap.build(mapping, model=name, chip=chip)
        return smap, generate(graph, imc, chip=chip, options=options, base_name=base,
                              weights_blob=blob, map_json=storagemap.to_json(smap),
                              header=header, classes=classes, tile_pref=tile_pref)

    try:
        smap, prog = emit(chip)
    except ConfigError as e:
        if not options.fit:
            if e.message.startswith("the program needs"):  # its global memory
                raise ConfigError(e.message, hint=f"{e.hint}; or --fit") from None
            raise
        # --fit: measure the program on the largest memory, then emit it for what it needs
        _, roomy = emit(fit_memory(chip, chip.maximum("global_mib") * 2**20))
        chip = fit_memory(chip, roomy.memory_bytes)
        del roomy
        smap, prog = emit(chip)
    times["codegen"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    say("assembling")
    asm = assemble(prog.text, f"{base}.s", includes=dict(prog.includes))
    times["assemble"] = round(time.perf_counter() - t, 3)

    counts: dict[str, int] = {}
    for v in m.partition.classes.values():
        counts[v.value] = counts.get(v.value, 0) + 1
    report = {
        "model": name,
        "chip": {"name": chip.name, "hash": chip.program_hash},
        "chip_size": {"tiles": chip.tiles, "arrays_per_tile": chip.arrays_per_tile,
                      "global_mib": chip.global_mib},
        "priority": options.priority,
        "nodes": len(graph.nodes),
        "partition": dict(sorted(counts.items())),
        "imc_layers": len(m.imc_nodes),
        "tiles": sum(len(p.tiles) for p in plans),
        "arrays_used": mapping.arrays_used,
        "arrays_available": chip.tiles * chip.arrays_per_tile,
        "lower_bound": mapping.base.lower_bound,
        "packing_status": mapping.base.status,
        "packing_time_s": round(mapping.base.solve_time_s, 3),
        "one_tile_per_array": sum(len(p.tiles) for p in plans),
        "replicas": {k: v for k, v in mapping.replicas.items() if v > 1},
        "estimated_mvm_latency_ns": mapping.latency_ns,
        "instructions": len(asm.obj.text),
        "instruction_counts": dict(sorted(prog.instruction_counts.items())),
        "memory_bytes": prog.memory_bytes,
        "weight_bytes": len(blob),
        "times_s": times,
        "total_s": round(time.perf_counter() - t0, 3),
        "warnings": warnings,
    }
    return CompileResult(asm.obj, prog.text, prog.includes, smap, report, graph, chip,
                         MappingProxyType(classes))


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


def _t_cycle(chip) -> float:
    """Crossbar read time per input cycle, from the chip's cost table."""
    return float(chip.cost.read_ns)


def smallest_chips(m: Mapped, chip, options: CompileOptions = CompileOptions(),
                   progress: Callable[[str], None] | None = None) -> dict:
    """Per priority (``resource``, ``efficiency``): ``(arrays, tiles, arrays_per_tile)`` of the
    smallest chip of ``chip``'s shape (its tile count and array size) that holds the tiles of
    ``m`` (:func:`imcc.settings.shape_for`), or ``(arrays, None, None)`` beyond the largest
    chip. The priority ``m`` was mapped under reuses its packing; the other packs again."""
    out = {}
    for priority in ("resource", "efficiency"):
        if priority == m.mapping.priority:
            needed = m.mapping.base.bins_used
        else:
            if progress is not None:
                progress(f"packing for the {priority} priority")
            base = pack_base(list(m.plans), rows=chip.rows, cols=chip.cols, priority=priority,
                             time_limit=options.time_limit, seed=options.seed,
                             workers=options.workers)
            needed = base.bins_used if base is not None else 0
        try:
            out[priority] = (needed, *shape_for(chip, needed, grow_only=False))
        except ConfigError:
            out[priority] = (needed, None, None)
    return out
