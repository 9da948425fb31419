"""Stages 1-5 of the compiler (what ``imcc map`` shows): load the ONNX model, canonicalize,
partition, divide every IMC weight matrix into tiles and place them on the chip's arrays.

:func:`map_model` runs them, one function per stage; :mod:`imcc.compiler` goes on from its
:class:`Mapped` to the program.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx

from imcc import storagemap
from imcc.calibrate import nonnegative
from imcc.frontend.external_data import let_go
from imcc.ir import Graph, Node, describe
from imcc.mapping import LayerWork, Mapping, map_layers, pack_base
from imcc.options import CompileOptions, PassChecks
from imcc.partition import Partition
from imcc.precision import LayerPrecision, PrecisionConfig, resolve
from imcc.qdq import apply_qdq, qdq_weights
from imcc.settings import fit_arrays, shape_for
from imcc.spill import spill
from imcc.tiling import LayerPlan, divide_layer
from isa.diagnostics import ConfigError, OnnxImportError
from isa.spec import dac_cycles


@dataclass(frozen=True)
class Mapped:
    """Stages 1-5: the canonical graph, its partition, and the placed tiles."""

    graph: Graph
    partition: Partition
    imc_nodes: tuple[Node, ...]
    precisions: MappingOf[str, LayerPrecision]
    signed: MappingOf[str, bool]  # layer -> whether its inputs can be negative
    work: MappingOf[str, LayerWork]
    plans: tuple[LayerPlan, ...]
    mapping: Mapping  # the placement (imcc.mapping.Mapping)
    storage_map: dict
    warnings: tuple[str, ...]
    times: MappingOf[str, float]  # stage -> seconds
    chip: Any  # a runtime.config.ChipConfig: the one given, or with --fit the one grown to fit


class _Clock:
    """Seconds per stage, rounded to the millisecond."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.times[stage] = round(now - self._t, 3)
        self._t = now


def model_name(model, name: str | None = None) -> str:
    """The name a compile records for ``model`` (in the storage map, the report and the
    assembly's header): ``name`` when given, else the file's name, else ``model.onnx`` for an
    in-memory model."""
    if name is not None:
        return name
    return "model.onnx" if isinstance(model, onnx.ModelProto) else Path(model).name


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


def return_freed_memory(collect: bool = True) -> None:
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


# ---- stage 1: load -----------------------------------------------------------------------------


def load_graph(model: str | Path | onnx.ModelProto, options: CompileOptions,
               name: str | None = None) -> Graph:
    """The model as an IR graph with its inputs' shapes fixed (``--batch``, ``--input-shape``)."""
    from imcc.frontend import load_model, load_model_proto

    if isinstance(model, onnx.ModelProto):
        where = {} if name is None else {"where": name}
        return load_model_proto(model, _input_shapes(model, options), **where)
    return load_model(model, _input_shapes(Path(model), options))


# ---- stage 2: canonicalize ---------------------------------------------------------------------


def canonical_graph(graph: Graph, checks: PassChecks = PassChecks()) -> Graph:
    """The normal forms the later stages rely on (imcc/passes), with ``checks`` around each
    pass: the graph written after the passes it names, the verifier after every pass."""
    from imcc.passes import DumpAfter, canonicalize, pass_names

    hooks = None
    if checks.dump_after:
        write = checks.write or (lambda text: sys.stderr.write(text))
        hooks = DumpAfter(pass_names(checks.dump_after), write)
    return canonicalize(graph, verify_each=checks.verify_each, hooks=hooks)


# ---- stages 3-4: partition, precision, divide --------------------------------------------------


def _layer_work(graph: Graph, node: Node, cycles: int) -> LayerWork:
    out = graph.types[node.outputs[0]].shape
    if node.op_type == "Conv":
        vectors = out[0] * math.prod(out[2:])
    else:
        vectors = math.prod(out[:-1])
    return LayerWork(max(1, vectors), cycles)


def _finite_weight(graph: Graph, node: Node, w: np.ndarray) -> None:
    """Refuse a weight no crossbar cell can store (``map`` refuses what ``compile`` would),
    naming the layer as the model does (the weight may be one canonicalization made)."""
    if w.dtype.kind == "f" and not np.isfinite(w).all():
        bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
        raise OnnxImportError(f"{describe(graph, node)}: its weight holds {bad} NaN or infinite "
                              "value(s), which no crossbar cell can store; fix the model's "
                              "weights")


def divide_layers(graph: Graph, imc_nodes: tuple[Node, ...],
                  precs: dict[str, LayerPrecision], chip):
    """Each IMC layer's tiles (:func:`imcc.tiling.divide_layer`), whether its inputs can be
    negative, and its work for the latency estimate: ``(plans, signed, work)``."""
    plans, signed, work = [], {}, {}
    memo: dict = {}
    for n in imc_nodes:
        p = precs[n.name]
        w = np.asarray(graph.constants[n.inputs[1]])
        _finite_weight(graph, n, w)
        let_go(w)  # read again when calibrating and quantizing; not held in between
        groups = int(n.attrs.get("group", 1)) if n.op_type == "Conv" else 1
        plans.append(divide_layer(n.name, n.op_type, tuple(w.shape), groups, p, chip.rows,
                                  chip.cols))
        signed[n.name] = not nonnegative(graph, n.inputs[0], memo)
        cycles = dac_cycles(p.input_bits, int(signed[n.name]), p.dac_bits)
        work[n.name] = _layer_work(graph, n, cycles)
    return plans, signed, work


# ---- stage 5: place ----------------------------------------------------------------------------


def _t_cycle(chip) -> float:
    """Crossbar read time per input cycle, from the chip's cost table."""
    return float(chip.cost.read_ns)


def place_tiles(plans: list[LayerPlan], work: dict[str, LayerWork], chip,
                options: CompileOptions, progress: Callable[[str], None] | None):
    """Pack the tiles onto arrays under the priority, grow the chip with ``--fit`` (or refuse a
    model that does not fit), and replicate layers on the arrays left over: ``(mapping,
    chip)``."""
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
    return mapping, chip


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


# ---- the driver --------------------------------------------------------------------------------


def map_model(
    model: str | Path | onnx.ModelProto,
    chip,
    *,
    precision: PrecisionConfig | None = None,
    options: CompileOptions = CompileOptions(),
    progress: Callable[[str], None] | None = None,
    name: str | None = None,
    checks: PassChecks = PassChecks(),
) -> Mapped:
    """Load, canonicalize, partition, divide and place (what ``imcc map`` shows). ``model`` is
    a file path or an in-memory ``ModelProto`` (external data already loaded into it);
    ``name`` is the model's name in the storage map (:func:`model_name`); ``checks`` dump the
    graph after passes and verify it after each."""
    from imcc.partition import OpClass, partition

    say = progress or (lambda _m: None)
    name = model_name(model, name)
    clock = _Clock()
    say("loading")
    notes = _fixed_batch_notes(model, options)
    graph = load_graph(model, options, name)
    return_freed_memory()  # the parsed protobuf, as large as the weights, is garbage now
    clock.lap("load")
    say("canonicalizing")
    qdq = qdq_weights(graph)
    graph = spill(canonical_graph(graph, checks))
    return_freed_memory(collect=False)  # e.g. the weights BatchNorm folding replaced
    clock.lap("canonicalize")
    part = partition(graph, dynamic=options.dynamic)
    imc_nodes = tuple(n for n in graph.nodes if part.classes[n.name] == OpClass.IMC)
    precs, warnings = resolve(chip, precision, [n.name for n in imc_nodes])
    precs, qdq_warnings = apply_qdq(graph, imc_nodes, precs, qdq)
    warnings += qdq_warnings
    plans, signed, work = divide_layers(graph, imc_nodes, precs, chip)
    clock.lap("divide")
    say(f"packing {sum(len(p.tiles) for p in plans)} tiles onto arrays")
    mapping, chip = place_tiles(plans, work, chip, options, progress)
    clock.lap("pack")
    smap = storagemap.build(mapping, model=name, chip=chip)
    return Mapped(graph, part, imc_nodes, MappingProxyType(precs), MappingProxyType(signed),
                  MappingProxyType(work), tuple(plans), mapping, smap,
                  (*notes, *warnings), MappingProxyType(clock.times), chip)


def partition_model(model: str | Path | onnx.ModelProto,
                    options: CompileOptions = CompileOptions()) -> tuple[Graph, dict]:
    """Stages 1-3 only (load, canonicalize, partition): the canonical graph and each node's
    class (``imc``, ``dynamic``, ``digital``), as a compile of ``model`` sees them."""
    from imcc.partition import partition

    graph = canonical_graph(load_graph(model, options))
    part = partition(graph, dynamic=options.dynamic)
    return graph, {n.name: part.classes[n.name].value for n in graph.nodes}


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
