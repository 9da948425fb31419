"""What a lowering function sees: the graph, the writer, buffers, constants, scratch, IMC layers.

A lowering is one function per ONNX op type, registered with :func:`lowers`; it reads its
node's attributes and emits instructions through helpers that take :class:`View` operands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from imcc.codegen.asm import AsmWriter, f32_bits
from imcc.codegen.memory import Buffer, ConstPool, Scratch
from imcc.codegen.views import View, emit
from imcc.ir import Graph, describe
from imcc.opdefs import OPS
from imcc.options import CompileOptions, Tuning
from isa.diagnostics import OnnxImportError, UnsupportedOpError

if TYPE_CHECKING:  # for annotations only: imc.py imports this module
    from imcc.codegen.imc import ImcLayer

LOWERINGS: dict[str, Callable] = {}


def lowers(*op_types: str):
    """Register a lowering for ``op_types`` (at import; one function per op or op family).
    Each must have a record the code generator lowers (:data:`imcc.opdefs.OPS`): a lowering
    of an operator canonicalization always removes could never run."""

    def deco(fn):
        for op in op_types:
            if op in LOWERINGS:
                raise RuntimeError(f"two lowerings for {op}")
            if op not in OPS or not OPS[op].lowered:
                raise RuntimeError(f"a lowering of {op}, which no canonical graph has (its "
                                   "record in imcc/opdefs/table.py)")
            LOWERINGS[op] = fn
        return fn

    return deco


@dataclass
class Ctx:
    """Per-compile state shared by the lowerings (created fresh for every compile)."""

    graph: Graph
    w: AsmWriter
    consts: ConstPool
    buffers: dict[str, Buffer]
    scratch: Scratch
    imc: Mapping[str, ImcLayer] = field(default_factory=lambda: MappingProxyType({}))
    options: CompileOptions = CompileOptions()
    tuning: Tuning = Tuning()
    arrays_per_tile: int = 1
    # chip tile -> Scratch (staging for sends)
    tile_scratch: dict[int, Scratch] = field(default_factory=dict)
    # layer -> its drift-compensated dequantization scales [N] (imcc/codegen/drift.py)
    drift_scales: Mapping[str, View] = field(default_factory=lambda: MappingProxyType({}))

    # -- tensors -------------------------------------------------------------------------------

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.graph.types[name].shape)

    def const(self, name: str) -> np.ndarray | None:
        return self.graph.constants.get(name) if name else None

    def view(self, name: str) -> View:
        """The tensor as a row-major view (constants come from the constant pool)."""
        if self.graph.is_const(name):
            return self.consts.add(self.graph.constants[name], name)
        return self.buffers[name].view(self.shape(name))

    def array(self, values, where: str = "constant") -> View:
        return self.consts.add(np.asarray(values, dtype=np.float32), where)

    def scalar(self, value: float) -> View:
        return self.consts.add(np.asarray([value], dtype=np.float32), "scalar")

    def tmp(self, shape) -> View:
        return self.scratch.take(tuple(int(s) for s in shape))

    def tmp_like(self, like: View, shape) -> View:
        """Scratch of ``shape`` (4-D NCHW), stored channels-last when ``like`` is (a padded
        copy of a tensor then copies whole rows)."""
        if not is_channels_last(like):
            return self.tmp(shape)
        n, c, h, w = (int(s) for s in shape)
        return self.tmp((n, h, w, c)).permute((0, 3, 1, 2))

    def tile_of(self, name: str) -> int | None:
        """The chip tile whose buffer holds tensor ``name`` (None: global memory)."""
        b = self.buffers.get(name)
        return None if b is None else b.tile

    def tile_tmp(self, tile: int, shape) -> View:
        """Node-local staging in ``tile``'s buffer (its second half)."""
        from imcc.codegen.memory import Scratch

        sc = self.tile_scratch.setdefault(tile, Scratch(f"tscratch{tile}"))
        return sc.take(tuple(int(s) for s in shape))

    def send(self, dst: View, src: View) -> None:
        """Copy a contiguous tensor between tiles (or global memory) over the network."""
        assert dst.is_contiguous() and src.is_contiguous() and dst.size == src.size
        self.w.li("x5", dst.addr())
        self.w.li("x6", src.addr())
        self.w.li("x7", src.size)
        self.w.op("send", "x5", "x6", "x7", note=f"{src.size} words {src.base} -> {dst.base}")

    # -- emission helpers -------------------------------------------------------------------

    def unary(self, mnemonic: str, out: View, x: View) -> None:
        emit(self.w, mnemonic, out.shape, {"d": out, "a": x.broadcast_to(out.shape)})

    def binary(self, mnemonic: str, out: View, a: View, b: View) -> None:
        emit(self.w, mnemonic, out.shape,
             {"d": out, "a": a.broadcast_to(out.shape), "b": b.broadcast_to(out.shape)})

    def ternary(self, mnemonic: str, out: View, a: View, b: View, c: View) -> None:
        s = out.shape
        emit(self.w, mnemonic, s, {"d": out, "a": a.broadcast_to(s), "b": b.broadcast_to(s),
                                   "c": c.broadcast_to(s)})

    def copy(self, out: View, x: View) -> None:
        if out == x:
            return
        self.unary("vcopy", out, x)

    def fill(self, out: View, value: float) -> None:
        self.w.li("x10", f32_bits(value))
        emit(self.w, "vfill", out.shape, {"d": out}, extra_regs=("x10",))

    def reduce(self, mnemonic: str, out: View, x: View, nred: int) -> None:
        """Reduce the innermost ``nred`` dims of ``x`` into ``out`` (the outer shape)."""
        emit(self.w, mnemonic, x.shape, {"d": out, "a": x}, nred=nred)


def is_channels_last(v: View) -> bool:
    """Whether a 4-D view's channels are its innermost dimension in memory (an NCHW tensor
    stored NHWC, :func:`~imcc.codegen.memory.channels_last_tensors`)."""
    if v.rank != 4 or v.shape[1] == 1:
        return False
    return v.permute((0, 2, 3, 1)).is_contiguous() and not v.is_contiguous()


def lower_node(ctx: Ctx, node) -> None:
    fn = LOWERINGS.get(node.op_type)
    if fn is None:
        raise UnsupportedOpError(
            f"{describe(ctx.graph, node)}: no lowering for op type {node.op_type}",
            hint="supported: " + ", ".join(sorted(LOWERINGS)))
    try:
        fn(ctx, node)
    except ValueError as e:  # operands ONNX's shape inference let through but do not fit
        ins = ", ".join(f"{t} {list(ctx.shape(t))}" for t in node.inputs if t)
        raise OnnxImportError(f"{describe(ctx.graph, node)}: its operands do not fit "
                              f"together ({e}; inputs: {ins}); fix the model") from None
