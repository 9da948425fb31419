"""One analog layer's chip: its programmed tiles (numpy, from the compiler's and the runtime's
own functions) and the crossbar numerics of a forward pass (torch).

Programming (:func:`program_layer`) is what the compiler and the machine do, by their own
code: :func:`imcc.tiling.divide_layer` cuts the weight matrix into tiles of at most ``rows``
rows, :func:`imcc.tiling.quantize_layer` quantizes it per output channel and
:func:`imcc.tiling.tile_cells` slices each tile into cell levels (:mod:`imcc.quant`); each
tile's ADC step is :func:`imcc.codegen.imc.adc_shift` of its largest column sum, as the code
generator computes it; and each tile is programmed into a
:class:`runtime.crossbar.NumpyCrossbar` of its own size, which draws the programming noise,
the stuck cells and the drift exponents from its generators seeded by (chip seed, run seed,
array, purpose) and gives the read conductances right after programming and at the read time.

A forward pass (:func:`forward_blocks`) applies the machine's five MVM steps (docs/machine.md)
to every tile with torch tensors, on any device: input quantization, DAC cycles, analog
products with read noise, the ADC with the tile's step, shift-and-add; then the recombination
of slices and polarities, the reference column of the offset scheme, the accumulation over
K-tiles in the order and float precision the machine uses (so a chip whose cells are exact
integers gives the machine's bits), and the drift compensation's reference reads. The constants
(input and ADC ranges, cycles) come from :class:`runtime.crossbar.Precision`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from imcc.codegen.imc import adc_shift
from imcc.quant import coefficients
from imcc.tiling import LayerPlan, quantize_layer, tile_cells
from runtime.crossbar import F32_EXACT, NumpyCrossbar, Precision

#: Tiles of one layer are programmed into arrays ``index * ARRAY_STRIDE + tile``: each its own
#: random streams (the machine's arrays are numbered per chip; a tile's draws depend on
#: nothing else but the seeds).
ARRAY_STRIDE = 1 << 20


@dataclass
class Chunk:
    """The tiles of one matrix block that share rows ``k0:k1``: ``parts`` slice/polarity blocks
    of ``width`` physical columns each (the block's columns, plus one reference column per
    column range for the offset scheme), side by side as ``[h, parts * width]``."""

    k0: int
    k1: int
    g: torch.Tensor  # read conductances at the read time
    g0: torch.Tensor | None  # right after programming (drift compensation's first read)
    down: torch.Tensor  # [parts * width] 2**-adcsh of each column's tile
    up: torch.Tensor  # [parts * width] 2**adcsh
    gmax: torch.Tensor  # [parts * width] Gmax of each column's tile (read noise)
    exact: bool  # every read conductance is an integer level
    colsum: float  # largest column sum of |g|
    lossless: bool  # every tile's ADC step is 0 (or the ADC is ideal)
    comb: torch.Tensor | None  # [h, width] sum_b c_b G_b, where float32 holds it
    comb_colsum: float  # largest column sum of |comb| (over the exact sum)


@dataclass
class Block:
    """One matrix block of the layer (a conv's super-block of groups, or the whole matrix)."""

    k_offset: int
    n_offset: int
    K: int
    N: int
    parts: int
    width: int
    coef: torch.Tensor  # [parts] float64 shift-and-add coefficients
    cols: torch.Tensor | None  # [N] physical column of each output channel (None: identity)
    refs: torch.Tensor | None  # [N] its range's reference column (offset scheme)
    chunks: list[Chunk]


@dataclass
class LayerChip:
    """A programmed layer: its blocks and the settings every forward pass uses."""

    blocks: list[Block]
    columns: bool  # slices side by side (each tile's MVM shift-and-adds its blocks)
    read_noise: float
    s0: torch.Tensor | None = None  # drift compensation: reference sums after programming


def _program_tile(chip, cells: np.ndarray, *, seed: int, array: int, time_s: float | None,
                  reference: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The tile's read conductances at ``time_s`` (and right after programming, with
    ``reference``), from a crossbar of the tile's size (its random draws are the runtime's)."""
    h, w = cells.shape
    xb = NumpyCrossbar(dataclasses.replace(chip, rows=h, cols=w), seed=seed, time_s=None)
    xb.program(array, 0, 0, np.ascontiguousarray(cells, dtype=np.float32))
    g0 = xb.cells(array)
    if time_s is None:
        return g0, (g0 if reference else None)
    xb.set_time(time_s)
    return xb.cells(array), (g0 if reference else None)


def program_layer(plan: LayerPlan, w: np.ndarray, chip, *, signed: bool, seed: int,
                  index: int, time_s: float | None, reference: bool,
                  device: torch.device) -> tuple[LayerChip, np.ndarray]:
    """Quantize ``w`` (the compiler's weight layout: [K, N], or [Cout, Cin/g, kh, kw]),
    slice it onto cells, program every tile of ``plan`` and gather the tiles into blocks;
    returns the layer and its per-channel weight scales."""
    prec = plan.precision
    spec = prec.slice_spec
    lw = quantize_layer(plan, w)
    ref = spec.scheme == "offset"
    parts = spec.blocks
    coef = torch.tensor(coefficients(spec), dtype=torch.float64, device=device)
    gmax_int = float(chip.max_level)
    blocks = []
    tile_no = 0
    for b in plan.blocks:
        tiles = [t for t in plan.tiles if t.block == b.index]
        ranges = sorted({(t.n0, t.n1) for t in tiles})  # the block's column ranges
        n0s = [r[0] for r in ranges]
        width = b.N + (len(ranges) if ref else 0)
        rows: dict[int, list] = {}
        for t in tiles:
            rows.setdefault(t.k0, []).append(t)
        chunks = []
        for k0 in sorted(rows):
            h = rows[k0][0].h
            g = np.zeros((h, parts, width), np.float32)
            g0 = np.zeros_like(g) if reference else None
            shift = np.zeros((parts, width), np.float64)
            gmax = np.zeros((parts, width), np.float64)
            lossless = True
            for t in rows[k0]:
                cells = tile_cells(t, lw)
                col_max = float(np.abs(cells.astype(np.float64)).sum(axis=0).max())
                sh = adc_shift(col_max, prec, signed)  # as WeightBlob / imc_product
                lossless = lossless and sh == 0
                gt, gp = _program_tile(chip, cells, seed=seed, array=index * ARRAY_STRIDE
                                       + tile_no, time_s=time_s, reference=reference)
                tile_no += 1
                if chip.float_cells:  # NumpyCrossbar.program's Gmax of float cells
                    top = np.abs(cells) if chip.signed_cells else cells
                    tmax = max(float(top.max(initial=0.0)), 0.0)
                else:
                    tmax = gmax_int
                j = n0s.index(t.n0)
                e0 = t.n0 + (j if ref else 0)
                pw = t.part_width
                for i, p in enumerate(t.parts):
                    cols = slice(e0, e0 + pw)
                    g[:, p, cols] = gt[:, i * pw : (i + 1) * pw]
                    if g0 is not None:
                        g0[:, p, cols] = gp[:, i * pw : (i + 1) * pw]
                    shift[p, cols] = sh
                    gmax[p, cols] = tmax
            chunks.append(_chunk(k0, g, g0, shift, gmax, lossless or prec.adc_bits == 0,
                                 coefficients(spec), bool(chip.signed_cells), device))
        cols = refs = None
        if ref:  # range j's columns n0..n1 lie at n0 + j .. n1 + j, its reference at n1 + j
            c, r = np.zeros(b.N, np.int64), np.zeros(b.N, np.int64)
            for j, (n0, n1) in enumerate(ranges):
                c[n0:n1] = np.arange(n0, n1) + j
                r[n0:n1] = n1 + j
            cols, refs = torch.from_numpy(c).to(device), torch.from_numpy(r).to(device)
        blocks.append(Block(b.k_offset, b.n_offset, b.K, b.N, parts, width, coef, cols, refs,
                            chunks))
    layer = LayerChip(blocks, prec.slices == "columns", float(chip.nonideal.read_noise))
    return layer, lw.scale


def _chunk(k0: int, g: np.ndarray, g0: np.ndarray | None, shift: np.ndarray, gmax: np.ndarray,
           lossless: bool, coef: np.ndarray, signed_cells: bool, device: torch.device) -> Chunk:
    """One K-range of a block: its programmed conductances ``g`` [h, parts, width] (and ``g0``,
    the noiseless ones), ADC shifts and ranges per column, on ``device``; with the parts
    combined by ``coef`` in float32 (``comb``) where that is exact."""
    h, parts, width = g.shape
    flat = g.reshape(h, parts * width)
    exact = bool(np.array_equal(flat, np.rint(flat)))
    acc = np.einsum("hpw,p->hw", g.astype(np.float64), coef.astype(np.float64))
    comb = acc.astype(np.float32)
    if exact and not np.array_equal(comb, acc):
        comb = None
    mags = np.abs(flat) if signed_cells else flat
    return Chunk(
        k0=k0, k1=k0 + h,
        g=torch.from_numpy(flat).to(device),
        g0=None if g0 is None else torch.from_numpy(g0.reshape(h, -1)).to(device),
        down=torch.from_numpy(2.0 ** -shift.reshape(-1)).float().to(device),
        up=torch.from_numpy(2.0 ** shift.reshape(-1)).float().to(device),
        gmax=torch.from_numpy(gmax.reshape(-1)).float().to(device),
        exact=exact,
        colsum=float(mags.sum(axis=0, dtype=np.float64).max(initial=0.0)),
        lossless=lossless,
        comb=None if comb is None else torch.from_numpy(comb).to(device),
        comb_colsum=float(np.abs(acc).sum(axis=0).max(initial=0.0)))


# ---- forward numerics ------------------------------------------------------------------------


def quantize_inputs(x: torch.Tensor, p: Precision, iscale: torch.Tensor) -> torch.Tensor:
    """Step 1: ``q = clip(rint(X / iscale), lo, hi)`` in float32 (round half to even)."""
    lo, hi = p.input_range
    q = torch.round(x / iscale) if p.iscale != 1.0 else torch.round(x)
    return q.clamp_(lo, hi)


def adc_codes(i: torch.Tensor, down, lo: float, hi: float) -> torch.Tensor:
    """runtime.converters.adc_codes in torch: ``clip(rint(I * down), lo, hi)`` (round half
    to even; ``down`` a power of two, per column here), a new tensor."""
    return torch.round(i * down).clamp_(lo, hi)


def _noise(shape, sigma: torch.Tensor, gen: torch.Generator | None, dtype) -> torch.Tensor:
    """``N(0, sigma^2)`` draws (``sigma`` broadcast to ``shape``) in ``dtype``."""
    z = torch.randn(shape, generator=gen, device=sigma.device, dtype=torch.float32)
    return (z * sigma).to(dtype)


def columns(a: torch.Tensor, ch: Chunk, g: torch.Tensor, p: Precision, read_noise: float,
            gen: torch.Generator | None) -> torch.Tensor:
    """The raw physical columns (float32 ``[M, parts * width]``) of MVMs of ``a`` (quantized
    inputs ``q``, or ``X`` with an ideal DAC) on the chunk's cells ``g``: DAC cycles, analog
    products and read noise, the ADC, shift-and-add over cycles
    (runtime.bitserial.cycles_plain: the same steps, float precisions and bounds, so exact
    integer cells give its bits)."""
    adcb = p.adcb
    if adcb:
        clo, chi = p.adc_range
    if p.ibits == 0:  # ideal DAC: one cycle with the inputs as they are
        i = a @ g
        if read_noise:
            sigma = read_noise * torch.linalg.vector_norm(a, dim=1, keepdim=True)
            i = i + _noise(i.shape, sigma * ch.gmax, gen, i.dtype)
        if adcb:  # adcsh = 0 without quantized inputs (adc_shift)
            i = adc_codes(i, 1.0, clo, chi)
        return i.float()
    cycles, dacb = p.cycles, p.dacb
    qmax = (1 << p.magnitude_bits) - 1
    exact = ch.exact and not read_noise
    cycle_bound = min(qmax, (1 << dacb) - 1) * ch.colsum
    dtype = torch.float32 if not exact or cycle_bound <= F32_EXACT else torch.float64
    top = float(max(-clo, chi)) if adcb else (cycle_bound if exact else 0.0)
    weight_sum = sum(1 << (c * dacb) for c in range(cycles))
    acc = torch.float32 if top * weight_sum <= F32_EXACT else torch.float64
    mag = a.abs().to(torch.int32)
    sgn = torch.sign(a).to(dtype) if p.isgn else None
    gd = g.to(dtype)
    mask = (1 << dacb) - 1
    down, up = ch.down.to(dtype), ch.up.to(acc)
    y = None
    for c in range(cycles):
        d = torch.bitwise_and(torch.bitwise_right_shift(mag, c * dacb), mask).to(dtype)
        if sgn is not None:
            d = d * sgn
        i = d @ gd
        if read_noise:
            sigma = read_noise * torch.linalg.vector_norm(d.float(), dim=1, keepdim=True)
            i = i + _noise(i.shape, sigma * ch.gmax, gen, dtype)
        if adcb:  # the ADC's code; its 2**adcsh step is applied after the sum
            i = adc_codes(i, down, clo, chi)
        i = i.to(acc)
        if c:
            i = i * float(1 << (c * dacb))
        y = i if y is None else y + i
    if adcb:
        y = y * up
    return y.float()


def _fast(ch: Chunk, p: Precision, read_noise: float) -> bool:
    """The machine's combined-cells product applies (NumpyCrossbar.kernel with coefficients):
    one product with ``sum_b c_b G_b`` gives the same bits (exact integers) or differs by
    float32 rounding only (ideal DAC and ADC)."""
    if read_noise or ch.comb is None:
        return False
    if p.ibits == 0:
        return p.adcb == 0
    qmax = (1 << p.magnitude_bits) - 1
    cyc_max = min(qmax, (1 << p.dacb) - 1)
    lossless = p.adcb == 0 or (ch.lossless and cyc_max * ch.colsum <= p.adc_range[1])
    return (ch.exact and lossless and qmax * ch.colsum <= F32_EXACT
            and qmax * ch.comb_colsum < 2.0**53)


def _combined(a: torch.Tensor, ch: Chunk, p: Precision) -> torch.Tensor:
    """``a @ sum_b c_b G_b`` rounded once to float32 (exact in float64 below 2**53)."""
    if p.ibits == 0:
        return a @ ch.comb
    qmax = (1 << p.magnitude_bits) - 1
    if qmax * ch.comb_colsum <= F32_EXACT:
        return a @ ch.comb
    return (a.double() @ ch.comb.double()).float()


def _recombine(cols: torch.Tensor, blk: Block) -> torch.Tensor:
    """``sum_b c_b * cols[:, b]`` over the slice/polarity blocks, in float64 rounded once to
    float32 (``vsadd``, and ``mvm`` with ``sablk``)."""
    m = cols.shape[0]
    v = cols.view(m, blk.parts, blk.width)
    if blk.parts == 1 and float(blk.coef[0]) == 1.0:
        return v[:, 0]
    return (v.double() * blk.coef[:, None]).sum(dim=1).float()


def block_product(a: torch.Tensor, blk: Block, layer: LayerChip, p: Precision,
                  gen: torch.Generator | None) -> torch.Tensor:
    """The block's integer-unit outputs ``[M, N]`` (before dequantization) for its inputs
    ``a`` ``[M, K]``, as the code generator's ``imc_product`` computes them: per K-tile the
    MVMs (with ``sablk``, the blocks recombined by each MVM) accumulated in float32 in the
    order of the tiles' rows, or per slice/polarity block accumulated, then ``vsadd``; the
    offset scheme's reference column subtracted last."""
    rn = layer.read_noise
    y = None
    if layer.columns or blk.parts == 1:
        for ch in blk.chunks:
            ai = a[:, ch.k0 : ch.k1]
            if _fast(ch, p, rn):
                yi = _combined(ai, ch, p)
            else:
                yi = _recombine(columns(ai, ch, ch.g, p, rn, gen), blk)
            y = yi if y is None else y + yi
    else:  # one array per slice: every block accumulated over the K-tiles, then vsadd
        acc = None
        for ch in blk.chunks:
            c = columns(a[:, ch.k0 : ch.k1], ch, ch.g, p, rn, gen)
            acc = c if acc is None else acc + c
        y = _recombine(acc, blk)
    if blk.refs is not None:
        return y[:, blk.cols] - y[:, blk.refs]
    return y


def reference_sums(layer: LayerChip, p: Precision, mode: str, n_out: int, *, programmed: bool,
                   direct: bool, gen: torch.Generator | None,
                   device: torch.device) -> torch.Tensor:
    """The drift compensation's reference reads (imcc/codegen/drift.py): every tile read with
    every row driven by the largest quantized input ``2**B - 1`` (1 with an ideal DAC), its raw
    physical columns summed (``global``: one float32 sum of all of them; ``per-column``: one per
    output channel over its slice/polarity columns in every K-tile); right after programming
    (``programmed``) or at the read time."""
    level = 1.0 if p.ibits == 0 else float((1 << p.magnitude_bits) - 1)
    total = torch.zeros((), dtype=torch.float64, device=device)
    per = torch.zeros(n_out, dtype=torch.float64, device=device)
    for blk in layer.blocks:
        for ch in blk.chunks:
            g = ch.g0 if programmed else ch.g
            a = torch.full((1, ch.k1 - ch.k0), level, dtype=torch.float32, device=device)
            out = columns(a, ch, g, p, layer.read_noise, gen)[0].double()
            if direct:
                out = out.abs()
            if mode == "global":
                total += out.sum()
                continue
            v = out.view(blk.parts, blk.width)
            idx = blk.cols if blk.cols is not None else torch.arange(blk.N, device=device)
            per[blk.n_offset : blk.n_offset + blk.N] += v[:, idx].sum(dim=0)
    return (total.reshape(1) if mode == "global" else per).float()


def compensation(s0: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``alpha = S0 / S`` in float32, 1 where ``S = 0``."""
    alpha = s0 / s
    return torch.where(s != 0, alpha, torch.ones_like(alpha))
