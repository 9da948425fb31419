"""Drift compensation (chip option ``drift_compensation``): reference reads of every IMC tile and
a digital rescale of each layer's dequantization scales (docs/compiler.md, "Drift
compensation").

Each placed tile of a layer is read with a known input: every row driven with the largest
quantized input ``q = 2**B - 1`` (``B`` the input's magnitude bits; the memory holds
``X = in_scale * q``, or ``X = 1`` with an ideal DAC), its raw physical columns written out
(``sablk = 1``), through the layer's own converter settings. The program does it twice:

* right after programming (before ``.rerun``): the sums ``S0`` of the outputs, kept in the
  ``driftref`` region of global memory, which reruns restore (docs/machine.md, "Reruns");
* at the start of every inference (after ``.rerun``, where the arrays are read at the
  machine's read time): the same sums ``S``, the factor ``alpha = S0 / S`` (1 where ``S = 0``)
  and the layer's compensated dequantization scales ``in_scale * weight_scale[n] * alpha``,
  which the layer's final ``vfma`` then reads instead of the constant scales.

``global``: one sum per layer over every physical column of every tile (replicas included,
reference columns of the offset scheme too). ``per-column``: one sum per output channel ``n``
over the columns of its slice/polarity blocks in every K-tile and replica. Signed float cells
(``signed = "direct"``) sum magnitudes ``|.|``. The factor comes from what the arrays read,
never from the conductances themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from imcc.codegen.asm import f32_bits
from imcc.codegen.context import Ctx
from imcc.codegen.imc import ImcLayer, adc_shift
from imcc.codegen.memory import ALIGN
from imcc.codegen.views import View, emit
from imcc.mapping import TilePlacement

REGION = "driftref"
MODES = ("none", "global", "per-column")


@dataclass(frozen=True)
class LayerRefs:
    """Where one layer's reference reads and factors live in the ``driftref`` region.

    ``reads``: the placements in the order their outputs lie in ``ref`` (element offsets);
    ``groups``: per-column only, ``(first channel, channels, offset in ref, blocks, block
    width)`` of the placements covering one column range of one matrix block, side by side."""

    layer: ImcLayer
    reads: tuple[tuple[TilePlacement, int], ...]
    groups: tuple[tuple[int, int, int, int, int], ...]
    ref: View  # raw reference outputs, every column of every placement
    s0: View  # sums right after programming ([1] global, [N] per column)
    s: View  # sums now
    alpha: View  # S0 / S (1 where S = 0)
    scale: View  # [N] compensated dequantization scales


@dataclass(frozen=True)
class DriftPlan:
    mode: str
    layers: tuple[LayerRefs, ...]
    nbytes: int  # size of the driftref region

    @property
    def scales(self) -> MappingProxyType:
        """Layer name -> the view of its compensated dequantization scales."""
        return MappingProxyType({r.layer.plan.layer: r.scale for r in self.layers})


def plan_drift(mode: str, layers: list[ImcLayer]) -> DriftPlan | None:
    """Lay out the reference buffers of ``layers`` (None when ``mode`` is ``none`` or there is
    no IMC layer)."""
    if mode not in MODES:
        raise ValueError(f"unknown drift compensation {mode!r}")
    if mode == "none" or not layers:
        return None
    top = 0

    def take(n: int) -> View:
        nonlocal top
        v = View.of(REGION, (n,), top)
        top += -(-n // (ALIGN // 4)) * (ALIGN // 4)
        return v

    out = []
    for L in layers:
        # placements of one (block, column range) side by side: a channel's columns are then
        # every part_width-th element of one run
        order = sorted(L.placements, key=lambda p: (p.tile.block, p.tile.n0, p.replica,
                                                    p.tile.k0, p.tile.parts))
        reads, groups, off = [], [], 0
        for key in dict.fromkeys((p.tile.block, p.tile.n0, p.tile.n1) for p in order):
            pls = [p for p in order if (p.tile.block, p.tile.n0, p.tile.n1) == key]
            pw = pls[0].tile.part_width
            start = off
            for p in pls:
                reads.append((p, off))
                off += p.tile.w
            block = L.plan.blocks[key[0]]
            groups.append((block.n_offset + key[1], key[2] - key[1], start, (off - start) // pw,
                           pw))
        n = L.plan.N
        k = 1 if mode == "global" else n
        ref = take(off)
        out.append(LayerRefs(L, tuple(reads), tuple(groups), ref, take(k), take(k), take(k),
                             take(n)))
    return DriftPlan(mode, tuple(out), 4 * top)


def reference_input(L: ImcLayer) -> np.ndarray:
    """The reference read's input: ``in_scale * (2**B - 1)`` on every row (``B`` the input's
    magnitude bits), or 1 with an ideal DAC; as many values as the layer's tallest tile."""
    p = L.plan.precision
    h = max(t.h for t in L.plan.tiles)
    if p.input_bits == 0:
        return np.ones(h, np.float32)
    q = (1 << (p.input_bits - int(L.in_signed))) - 1
    return np.full(h, np.float32(L.in_scale) * np.float32(q), np.float32)


def _read(ctx: Ctx, r: LayerRefs) -> None:
    """The reference reads of one layer into ``r.ref``."""
    w, L = ctx.w, r.layer
    prec = L.plan.precision
    x = ctx.array(reference_input(L), f"{L.plan.layer} drift reference input")
    w.csrs(ibits=prec.input_bits, isgn=int(L.in_signed), dacb=prec.dac_bits,
           adcb=prec.adc_bits, vl=1, xs=0, ys=0, sablk=1)
    w.csr("iscale", f32_bits(L.in_scale))
    for pl, off in r.reads:
        t = pl.tile
        w.csrs(xbarr=pl.array, xbrow=pl.row, xbcol=pl.col, xbh=t.h, xbw=t.w,
               adcsh=adc_shift(L.col_max[t.id], prec, L.in_signed))
        w.li("x6", x.addr())
        w.li("x5", r.ref.addr(off))
        w.op("mvm", "x5", "x6", note=f"reference read of {t.id} r{pl.replica} on array "
                                     f"{pl.array}")


def _sums(ctx: Ctx, r: LayerRefs, out: View, mode: str, name: str) -> None:
    """``out`` = the sums of the reference outputs (one, or one per output channel)."""
    if r.layer.plan.precision.slice_spec.scheme == "direct":  # signed cells: magnitudes
        emit(ctx.w, "vabs", r.ref.shape, {"d": r.ref, "a": r.ref})
    if mode == "global":
        emit(ctx.w, "vrsum", (1, r.ref.size), {"d": out, "a": r.ref.reshape((1, r.ref.size))},
             nred=1, note=f"{name} of the layer")
        return
    for n0, ncol, off, blocks, pw in r.groups:
        cols = View(REGION, r.ref.offset + off, (ncol, blocks), (1, pw))
        emit(ctx.w, "vrsum", cols.shape, {"d": out.slice(0, n0, n0 + ncol), "a": cols}, nred=1,
             note=f"{name} of channels {n0}:{n0 + ncol}")


def emit_programmed(ctx: Ctx, plan: DriftPlan) -> None:
    """Right after programming: read every tile and keep the sums ``S0``."""
    ctx.w.comment(f"drift compensation ({plan.mode}): reference reads right after programming, "
                  "sums kept for every inference")
    for r in plan.layers:
        _read(ctx, r)
        _sums(ctx, r, r.s0, plan.mode, "S0")


def emit_compensation(ctx: Ctx, plan: DriftPlan) -> None:
    """At the start of an inference: read every tile again, ``alpha = S0 / S`` (1 where
    ``S = 0``), and the compensated dequantization scales of every layer."""
    ctx.w.comment(f"drift compensation ({plan.mode}): reference reads now, alpha = S0 / S, "
                  "dequantization scales x alpha")
    one = ctx.scalar(1.0)
    for r in plan.layers:
        L = r.layer
        _read(ctx, r)
        _sums(ctx, r, r.s, plan.mode, "S")
        k = r.alpha.shape
        emit(ctx.w, "vdiv", k, {"d": r.alpha, "a": r.s0, "b": r.s}, note="alpha = S0 / S")
        emit(ctx.w, "vsel", k, {"d": r.alpha, "a": r.s, "b": r.alpha, "c": one.broadcast_to(k)},
             note="alpha = 1 where S = 0")
        scale = (np.float32(L.in_scale) * L.scale).astype(np.float32)
        sv = ctx.array(scale.reshape(-1), f"{L.plan.layer} dequantization scales")
        emit(ctx.w, "vmul", r.scale.shape, {"d": r.scale, "a": sv,
                                            "b": r.alpha.broadcast_to(r.scale.shape)},
             note="dequantization scales x alpha")
