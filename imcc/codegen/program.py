"""Generate the assembly program of a partitioned, mapped graph.

Layout of the text (a person reads it; ``imcc compile -S`` writes it)::

    header comments, .chip, .input/.output
    .text
    start:  wprog of every tile (runs once per machine)
    infer:  one commented block per ONNX node (later runs start here: .rerun infer)
            halt
    .data     consts: .incbin "<name>.data.bin"      (float32 constants)
    .weights  weights: .incbin "<name>.weights.bin"  (cell levels of every tile)
    .map "<name>.map.json"
    memory layout: .equ of every buffer (activations reuse memory by liveness)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

# Importing the lowering modules registers their ops.
from imcc.codegen import dynamic, elementwise, movement, nn  # noqa: F401
from imcc.codegen.asm import AsmWriter
from imcc.codegen.context import LOWERINGS, Ctx, lower_node
from imcc.codegen.imc import ImcLayer, program_weights
from imcc.codegen.memory import ALIGN, CONSTS, SCRATCH, ConstPool, Scratch, plan_buffers
from imcc.codegen.views import View
from isa.diagnostics import ConfigError

ACTS = "acts"


@dataclass(frozen=True)
class Program:
    """Assembly text and the side files it includes (name -> bytes)."""

    text: str
    includes: MappingProxyType
    memory_bytes: int
    instruction_counts: MappingProxyType


def _quote(s: str) -> str:
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def generate(
    graph,
    imc: dict[str, ImcLayer],
    *,
    chip,
    options,
    base_name: str,
    weights_blob: bytes,
    map_json: bytes | None,
    header: list[str] = (),
    classes: dict[str, str] | None = None,
) -> Program:
    """Emit the program. ``chip`` provides name, hash and global memory size (``global_mib``)."""
    w = AsmWriter()
    consts = ConstPool()
    scratch = Scratch()
    buffers, act_end = plan_buffers(graph, 0)
    ctx = Ctx(graph=graph, w=w, consts=consts, buffers=buffers, scratch=scratch,
              imc=MappingProxyType(imc), options=options)
    for line in header:
        w.raw(f"# {line}" if line else "#")
    w.raw(f".chip {_quote(chip.name)}, {_quote(chip.hash)}")
    for t in graph.inputs:
        if not graph.is_const(t):
            w.raw(f".input {_quote(t)}, {buffers[t].symbol}, {list(graph.types[t].shape)}")
    for t in graph.outputs:
        w.raw(f".output {_quote(t)}, {buffers[t].symbol}, {list(graph.types[t].shape)}")
    w.blank()
    w.raw(".text")
    w.label("start")
    layers = [imc[n.name] for n in graph.nodes if n.name in imc]
    program_weights(ctx, layers)
    w.blank()
    w.label("infer")
    for node in graph.nodes:
        scratch.reset()
        w.blank()
        cls = f" [{classes[node.name]}]" if classes and node.name in classes else ""
        w.comment(f"{node.name}: {node.op_type}{cls}")
        w.comment(f"  in:  {', '.join(t or '-' for t in node.inputs)}")
        w.comment(f"  out: {', '.join(node.outputs)}")
        lower_node(ctx, node)
    for t in graph.outputs:  # outputs that no node writes (constants are excluded upstream)
        if not any(t in n.outputs for n in graph.nodes) and t in buffers and graph.is_const(t):
            ctx.copy(View.of(buffers[t].symbol, graph.types[t].shape), ctx.view(t))
    w.blank()
    w.op("halt")
    w.raw(".rerun infer")
    data_name = f"{base_name}.data.bin"
    weights_name = f"{base_name}.weights.bin"
    includes = {data_name: consts.blob()}
    w.blank()
    w.raw(".data")
    w.raw(f"{CONSTS}: .incbin {_quote(data_name)}")
    if weights_blob:
        includes[weights_name] = weights_blob
        w.raw(".weights")
        w.raw(f"weights: .incbin {_quote(weights_name)}")
    if map_json is not None:
        map_name = f"{base_name}.map.json"
        includes[map_name] = map_json
        w.raw(f".map {_quote(map_name)}")
    acts = -(-consts.size // ALIGN) * ALIGN
    scratch_at = acts + act_end
    total = scratch_at + scratch.peak
    limit = int(chip.global_mib) * 2**20
    if total > limit:
        raise ConfigError(
            f"the program needs {total / 2**20:.1f} MiB of global memory (constants "
            f"{consts.size / 2**20:.1f}, activations {act_end / 2**20:.1f}, scratch "
            f"{scratch.peak / 2**20:.1f}) but chip {chip.name!r} has {chip.global_mib} MiB",
            hint="use a chip with more global memory or a smaller batch")
    w.blank()
    w.raw("# memory layout (bytes): constants at 0, activations, then scratch")
    w.raw(f".equ {ACTS}, {acts:#x}")
    w.raw(f".equ {SCRATCH}, {scratch_at:#x}")
    for name, b in sorted(buffers.items(), key=lambda kv: (kv[1].addr, kv[1].symbol)):
        w.raw(f".equ {b.symbol}, {ACTS} + {b.addr:#x}    # {name} {list(graph.types[name].shape)}")
    return Program(w.text(), MappingProxyType(includes), total, MappingProxyType(dict(w.counts)))


def supported_ops() -> frozenset[str]:
    """Op types with a lowering (IMC ops included)."""
    return frozenset(LOWERINGS)
