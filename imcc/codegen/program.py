"""Generate the assembly program of a partitioned, mapped graph.

Layout of the text (a person reads it; ``imcc compile -S`` writes it)::

    header comments, .chip, .input/.output
    .text
    start:  wprog of every tile (runs once per machine), drift reference reads (if any)
    infer:  drift compensation (if any), then one commented block per ONNX node (later runs
            start here: .rerun infer)
            halt
    .data     consts: .incbin "<name>.data.bin"      (float32 constants)
    .weights  weights: .incbin "<name>.weights.bin"  (cell levels of every tile)
    .map "<name>.map.json"
    memory layout: .equ of every buffer (activations reuse memory by liveness)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# Importing the lowering modules registers their ops.
from imcc.codegen import conv, dynamic, elementwise, movement, nn  # noqa: F401
from imcc.codegen.asm import AsmWriter, printable
from imcc.codegen.context import Ctx, lower_node
from imcc.codegen.drift import REGION, emit_compensation, emit_programmed, plan_drift
from imcc.codegen.imc import ImcLayer, program_weights
from imcc.codegen.memory import ALIGN, CONSTS, SCRATCH, ConstPool, Scratch, plan_buffers
from imcc.codegen.views import View
from imcc.options import CompileOptions, Tuning
from isa.diagnostics import ConfigError
from isa.objfile import IO_DTYPES
from isa.spec import TILE_BASE, TILE_STRIDE

ACTS = "acts"

#: The suffix of the weight section's side file, after the program's base name.
WEIGHTS_FILE = ".weights.bin"


@dataclass(frozen=True)
class Program:
    """Assembly text and the side files it includes (name -> bytes)."""

    text: str
    includes: MappingProxyType
    memory_bytes: int
    instruction_counts: MappingProxyType


def _drift_mib(drift) -> str:
    return "" if drift is None else f", drift references {drift.nbytes / 2**20:.1f}"


def _quote(s: str) -> str:
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def _stamp(w: AsmWriter, chip, header) -> None:
    """The header comments and ``.chip``: the only lines that name the chip."""
    for line in header:  # ONNX names in it may hold line breaks: one comment per line
        for part in line.splitlines() or [""]:
            w.raw(f"# {printable(part)}" if part else "#")
    w.raw(f".chip {_quote(chip.name)}, {_quote(chip.program_hash)}")


def _io_directives(w: AsmWriter, graph, buffers) -> None:
    """Every ``.input`` / ``.output``."""

    def dtype(t: str) -> str:  # the element type the host sees, when it is not float32
        d = graph.types[t].dtype
        return f", {d}" if d != "float32" and d in IO_DTYPES else ""

    for t in graph.inputs:
        if not graph.is_const(t):
            w.raw(f".input {_quote(t)}, {buffers[t].symbol}, {list(graph.types[t].shape)}"
                  f"{dtype(t)}")
    for t in graph.outputs:
        w.raw(f".output {_quote(t)}, {buffers[t].symbol}, {list(graph.types[t].shape)}"
              f"{dtype(t)}")
    w.blank()


def _text(ctx: Ctx, layers: list[ImcLayer], drift, classes) -> None:
    """The text section: programming, then one commented block per node, then ``halt``."""
    w, graph = ctx.w, ctx.graph
    w.raw(".text")
    w.label("start")
    program_weights(ctx, layers)
    if drift is not None:
        w.blank()
        emit_programmed(ctx, drift)
    w.blank()
    w.label("infer")
    if drift is not None:
        emit_compensation(ctx, drift)
    for node in graph.nodes:
        ctx.scratch.reset()
        for sc in ctx.tile_scratch.values():
            sc.reset()
        w.blank()
        cls = f" [{classes[node.name]}]" if classes and node.name in classes else ""
        w.comment(f"{node.name}: {node.op_type}{cls}")
        w.comment(f"  in:  {', '.join(t or '-' for t in node.inputs)}")
        w.comment(f"  out: {', '.join(node.outputs)}")
        lower_node(ctx, node)
    for t in graph.outputs:  # constant outputs (e.g. a shape that folded away)
        if graph.is_const(t):
            w.comment(f"constant output {t}")
            ctx.copy(View.of(ctx.buffers[t].symbol, graph.types[t].shape), ctx.view(t))
    w.blank()
    w.op("halt")
    w.raw(".rerun infer")


def _sections(w: AsmWriter, consts: ConstPool, base_name: str,
              weights_blob: bytes) -> dict[str, bytes]:
    """The data and weight sections, included from side files: the side files by name (the
    storage map follows them, once the chip is known)."""
    data_name = f"{base_name}.data.bin"
    weights_name = base_name + WEIGHTS_FILE
    includes = {data_name: consts.blob()}
    w.blank()
    w.raw(".data")
    w.raw(f"{CONSTS}: .incbin {_quote(data_name)}")
    if weights_blob:
        includes[weights_name] = weights_blob
        w.raw(".weights")
        w.raw(f"weights: .incbin {_quote(weights_name)}")
    return includes


def _global_bytes(ctx: Ctx, act_end: int, drift) -> int:
    """The bytes of global memory the program needs (constants, activations, scratch, drift
    references: the layout :func:`_layout` writes)."""
    scratch_at = -(-ctx.consts.size // ALIGN) * ALIGN + act_end
    if drift is None:
        return scratch_at + ctx.scratch.peak
    return -(-(scratch_at + ctx.scratch.peak) // ALIGN) * ALIGN + drift.nbytes


def _layout(ctx: Ctx, chip, act_end: int, half: int, drift) -> int:
    """Check that the program fits the chip's memories and write the memory layout (an
    ``.equ`` per region and buffer); returns the bytes of global memory it needs."""
    w, consts, scratch, buffers = ctx.w, ctx.consts, ctx.scratch, ctx.buffers
    acts = -(-consts.size // ALIGN) * ALIGN
    scratch_at = acts + act_end
    drift_at = -(-(scratch_at + scratch.peak) // ALIGN) * ALIGN
    total = _global_bytes(ctx, act_end, drift)
    if total > int(chip.global_mib) * 2**20:
        raise ConfigError(
            f"the program needs {total / 2**20:.1f} MiB of global memory (constants "
            f"{consts.size / 2**20:.1f}, activations {act_end / 2**20:.1f}, scratch "
            f"{scratch.peak / 2**20:.1f}{_drift_mib(drift)}) but chip {chip.name!r} has "
            f"{chip.global_mib} MiB",
            hint="use a chip with more global memory or a smaller batch")
    for t, sc in sorted(ctx.tile_scratch.items()):
        if sc.peak > half:  # pragma: no cover - staging is never larger than a resident input
            raise ConfigError(f"staging of {sc.peak} bytes exceeds half of tile {t}'s buffer")
    w.blank()
    w.raw("# memory layout (bytes): constants at 0, activations, then scratch"
          + (", drift references" if drift is not None else "") + "; tile buffers")
    w.raw(f".equ {ACTS}, {acts:#x}")
    w.raw(f".equ {SCRATCH}, {scratch_at:#x}")
    if drift is not None:
        w.raw(f".equ {REGION}, {drift_at:#x}    # kept from programming on (reruns restore it)")
    tiles = sorted({b.tile for b in buffers.values() if b.tile is not None} | set(ctx.tile_scratch))
    for t in tiles:
        w.raw(f".equ tile{t}, {TILE_BASE + t * TILE_STRIDE:#x}")
        if t in ctx.tile_scratch:
            w.raw(f".equ tscratch{t}, tile{t} + {half:#x}")
    for name, b in sorted(buffers.items(), key=lambda kv: (kv[1].tile is not None,
                                                          kv[1].tile or 0, kv[1].addr,
                                                          kv[1].symbol)):
        base = ACTS if b.tile is None else f"tile{b.tile}"
        w.raw(f".equ {b.symbol}, {base} + {b.addr:#x}    # {printable(name)} "
              f"{list(ctx.graph.types[name].shape)}")
    return total


def generate(
    graph,
    imc: dict[str, ImcLayer],
    *,
    chip,
    options: CompileOptions,
    base_name: str,
    weights_blob: bytes,
    stamp: Callable[[Any], tuple[list[str], bytes | None]],
    classes: dict[str, str] | None = None,
    tile_pref: dict[str, int] | None = None,
    tuning: Tuning = Tuning(),
    refit: Callable[[int], Any] | None = None,
) -> Program:
    """Emit the program. ``chip`` provides name, hash, global memory size (``global_mib``),
    ``arrays_per_tile`` and ``buffer_kib``; ``tile_pref`` names tensors to keep in a chip
    tile's buffer (outputs of IMC layers whose arrays sit on that tile); ``tuning`` sizes the
    chunks large work is cut into. ``stamp(chip)`` gives the header comment lines and the
    storage map's JSON (None: no map) of the program for the chip it is emitted for: with
    ``refit`` (``--fit``), given the bytes of global memory the program needs, that chip grown
    to hold them (``chip`` itself where it does). Only the global memory may differ, and
    nothing but the header, the ``.chip`` line, the storage map and the memory check depend on
    it, so the program is emitted once and stamped for its chip at the end."""
    w = AsmWriter()
    half = int(chip.buffer_kib) * 1024 // 2
    buffers, act_end = plan_buffers(graph, 0, tile_pref, half)
    layers = [imc[n.name] for n in graph.nodes if n.name in imc]
    drift = plan_drift(getattr(chip, "drift_compensation", "none"), layers)
    ctx = Ctx(graph=graph, w=w, consts=ConstPool(), buffers=buffers, scratch=Scratch(),
              imc=MappingProxyType(imc), options=options, tuning=tuning,
              arrays_per_tile=int(chip.arrays_per_tile),
              drift_scales=drift.scales if drift is not None else MappingProxyType({}))
    _io_directives(w, graph, buffers)
    _text(ctx, layers, drift, classes)
    includes = _sections(w, ctx.consts, base_name, weights_blob)
    map_at = len(w.lines)
    need = _global_bytes(ctx, act_end, drift)
    if refit is not None:
        grown = refit(need)
        if (grown.arrays_per_tile, grown.buffer_kib) != (chip.arrays_per_tile, chip.buffer_kib):
            raise AssertionError("refit may only grow the global memory")
        chip = grown
    header, map_json = stamp(chip)
    if map_json is not None:
        map_name = f"{base_name}.map.json"
        includes[map_name] = map_json
        w.lines.insert(map_at, f".map {_quote(map_name)}")
    first = AsmWriter()
    _stamp(first, chip, header)
    w.lines[:0] = first.lines
    total = _layout(ctx, chip, act_end, half, drift)
    return Program(w.text(), MappingProxyType(includes), total, MappingProxyType(dict(w.counts)))
