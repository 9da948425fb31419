"""Lowering of the IMC layers (constant-weight Conv, Gemm, MatMul) onto the crossbar arrays.

For a layer with input rows ``A`` [M, K] (for a conv: a channels-last image read in place by
shifted windows, or an im2col patch matrix):

1. for each replica (a share of the M rows), each matrix block, and each column range of the
   block: every K-tile's region gets an ``mvm`` (the first) or ``mvm.acc`` (the rest) into a
   partial-sum buffer ``P`` [rows, parts x part_width] -- or, when every tile holds all the
   parts of its columns, with ``sablk = parts``: the mvm shift-and-adds the parts itself and
   writes ``P`` [rows, part_width] (straight into the output where it can);
2. otherwise ``vsadd`` recombines the slice/polarity parts of ``P`` (shift-and-add) into the
   output columns; the offset scheme then subtracts the reference column;
3. one ``vfma`` dequantizes (``input_scale * weight_scale[n]``), adds the bias and writes the
   final layout (NCHW for a conv).
"""

from __future__ import annotations

import math
import mmap
import tempfile
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from imcc.codegen.asm import f32_bits
from imcc.codegen.context import Ctx, lowers
from imcc.codegen.dynamic import lower_dynamic
from imcc.codegen.views import View, emit_raw
from imcc.mapping import TilePlacement
from imcc.tiling import LayerPlan, LayerWeights, tile_cells
from isa.diagnostics import ConfigError, OutputError
from isa.directives import MAX_WEIGHT_BYTES
from isa.spec import WEIGHT_PAGE, WFMT, dac_cycles

WEIGHTS = "weights"


@dataclass(frozen=True)
class ImcLayer:
    """Everything the code generator needs about one mapped IMC layer."""

    plan: LayerPlan
    scale: np.ndarray  # per output channel: real weight = integer value * scale
    placements: tuple[TilePlacement, ...]
    replicas: int
    in_scale: float  # input quantization step (1.0 when inputs are not quantized)
    in_signed: bool
    weight_offset: MappingProxyType  # tile id -> byte offset in the weight blob
    wfmt: str  # "uint8" | "uint16" | "float32"
    col_max: MappingProxyType  # tile id -> largest column sum of its cell values (0 where
    # the layer's ADC range does not depend on it: adc_ranged)

    @property
    def cycles(self) -> int:
        p = self.plan.precision
        return dac_cycles(p.input_bits, int(self.in_signed), p.dac_bits)


def cell_format(plan: LayerPlan) -> str:
    spec = plan.precision.slice_spec
    return "float32" if spec.is_float else ("uint8" if spec.cell_bits <= 8 else "uint16")


class WeightBlob:
    """The weight section: every tile's cell values at a 4-byte aligned offset, written one tile
    at a time (a layer's slice levels never exist all at once) into an unnamed temporary file
    (:func:`tempfile.TemporaryFile`, in ``TMPDIR``), so the section never takes the compiling
    process's memory: :meth:`finish` maps the file read-only and hands out that view, which
    the object writer copies and the machine reads page by page. Where no temporary file can
    be made, the section is a buffer in memory, zeroed lazily."""

    def __init__(self, plans: list[LayerPlan]) -> None:
        self.offsets: dict[str, int] = {}
        self.col_max: dict[str, float] = {}
        top = 0
        for plan in plans:
            size = np.dtype(cell_format(plan)).itemsize
            for t in plan.tiles:
                self.offsets[t.id] = top
                top += -(-(t.h * t.w * size) // 4) * 4
        if top > MAX_WEIGHT_BYTES:  # before a byte of it is written
            tiles = sum(len(p.tiles) for p in plans)
            raise ConfigError(
                f"the model's cells take {top / 2**30:.2f} GiB ({tiles:,} tiles), more than the "
                f"{(MAX_WEIGHT_BYTES + 1) >> 30} GiB weight section wprog's pages reach",
                hint="program fewer cells per weight: fewer weight bits or more bits per cell "
                     "(--precision, --set weight_bits=N, --set cell_bits=N)")
        self.size = top
        self._file = _spill_file() if top else None
        self.data = None if self._file is not None else np.zeros(top, np.uint8)  # calloc
        self._buf = np.empty(0, np.uint8)  # one tile's cells on their way to the file

    def add_layer(self, plan: LayerPlan, lw: LayerWeights) -> None:
        """Write the cells of ``plan``'s tiles, each made in place: in the section's buffer,
        or in one reused buffer that is then written to the file. Each tile's largest column
        sum is kept where the layer's ADC range needs it (:func:`adc_shift`), else 0."""
        dt = np.dtype(cell_format(plan)).newbyteorder("<")
        ranged = adc_ranged(plan.precision)
        for t in plan.tiles:
            off, size = self.offsets[t.id], t.h * t.w * dt.itemsize
            if self._file is None:
                cells = self.data[off : off + size].view(dt).reshape(t.h, t.w)
            else:
                if self._buf.size < size:
                    self._buf = np.empty(size, np.uint8)
                cells = self._buf[:size].view(dt).reshape(t.h, t.w)
            tile_cells(t, lw, cells)
            self.col_max[t.id] = 0.0
            if ranged:
                mags = cells if dt.kind == "u" else np.abs(cells)
                self.col_max[t.id] = float(mags.sum(axis=0, dtype=np.float64).max())
            if self._file is None:
                continue
            try:
                self._file.seek(off)
                self._file.write(self._buf[:size].data)
            except OSError as e:
                raise OutputError(f"cannot write the weight section to a temporary file in "
                                  f"{tempfile.gettempdir()}: {e.strerror}",
                                  hint="free space there, or point TMPDIR at a folder with "
                                       f"{self.size >> 20} MiB free") from None

    def finish(self) -> memoryview:
        """The section's bytes (a read-only view of the mapped file, or of the buffer)."""
        if self._file is None:
            if self.data is None:
                return memoryview(b"")
            self.data.flags.writeable = False
            return memoryview(self.data)
        f, self._file = self._file, None
        try:
            f.truncate(self.size)  # the alignment after the last tile reads as zeros
            f.flush()
            return memoryview(mmap.mmap(f.fileno(), self.size, access=mmap.ACCESS_READ))
        except OSError as e:
            raise OutputError(f"cannot map the weight section's temporary file in "
                              f"{tempfile.gettempdir()}: {e.strerror}") from None
        finally:
            f.close()  # the map keeps the (unnamed) file until the view is dropped


def _spill_file():
    """An unnamed temporary file for the weight section, or None where none can be made."""
    try:
        return tempfile.TemporaryFile()
    except OSError:
        return None


def adc_ranged(prec) -> bool:
    """Whether a layer of precision ``prec`` sets its ADC's range from its column sums
    (:func:`adc_shift`): a converter of ``adc_bits`` behind quantized inputs."""
    return bool(prec.adc_bits and prec.input_bits)


def adc_shift(colmax: float, prec, signed: bool) -> int:
    """ADC LSB (power of two) so the largest possible column current of one cycle (``colmax``
    = largest column sum of the region's levels) fits the converter: lossless whenever
    ``adc_bits`` suffices for this region."""
    if not adc_ranged(prec):
        return 0
    imax = ((1 << prec.dac_bits) - 1) * colmax
    need = max(1, math.ceil(math.log2(imax + 1))) + (1 if signed else 0)
    return max(0, need - prec.adc_bits)


def program_weights(ctx: Ctx, layers: list[ImcLayer]) -> None:
    """Emit ``wprog`` for every placed tile (all replicas)."""
    w = ctx.w
    page = 0  # wpage at reset; set where a section past 4 GiB needs another page
    for L in layers:
        w.comment(f"program layer {L.plan.layer}: {len(L.plan.tiles)} tiles x {L.replicas} "
                  f"replica(s), {L.wfmt} cells")
        w.csr("wfmt", WFMT[L.wfmt])
        for pl in L.placements:
            t = pl.tile
            w.csrs(xbarr=pl.array, xbrow=pl.row, xbcol=pl.col, xbh=t.h, xbw=t.w)
            tile_page, off = divmod(L.weight_offset[t.id], WEIGHT_PAGE)
            if tile_page != page:
                page = tile_page
                w.csr("wpage", page)
            w.li("x10", f"{WEIGHTS} + {off}")
            w.op("wprog", "x10", note=f"{t.id} r{pl.replica} -> array {pl.array} "
                                      f"@({pl.row},{pl.col}) {t.h}x{t.w}")


def _split(m: int, r: int) -> list[tuple[int, int]]:
    base, extra = divmod(m, r)
    out, s = [], 0
    for i in range(r):
        e = s + base + (1 if i < extra else 0)
        if e > s:
            out.append((s, e))
        s = e
    return out


def _precision_csrs(ctx: Ctx, L: ImcLayer) -> None:
    """A comment saying the layer's precision, and the CSRs that set it."""
    w, prec = ctx.w, L.plan.precision
    spec = prec.slice_spec
    if prec.input_bits:
        sign = "signed" if L.in_signed else "unsigned"
        adc = f"{prec.adc_bits}-bit ADC" if prec.adc_bits else "ideal ADC"
        w.comment(f"precision: {prec.weight_bits}-bit weights on {spec.cell_bits}-bit cells "
                  f"({spec.blocks} blocks per column), {prec.input_bits}-bit {sign} inputs "
                  f"(step {L.in_scale:.6g}), {prec.dac_bits}-bit DAC, {adc}")
    else:
        w.comment("precision: float cells, unquantized inputs, ideal converters")
    w.csrs(ibits=prec.input_bits, isgn=int(L.in_signed), dacb=prec.dac_bits,
           adcb=prec.adc_bits, cellb=max(1, spec.cell_bits), wsch=int(spec.polarities == 2))
    w.csr("iscale", f32_bits(L.in_scale))


def imc_product(ctx: Ctx, L: ImcLayer, a: View, out: View,
                local: dict[int, View] | None = None, *, out_global: bool = False,
                kseg: tuple[int, int] | None = None) -> None:
    """``out[m, n] = sum_k a[m, k] * W[k, n]`` in integer units (before dequantization).

    ``a`` is [M, K] with contiguous rows; ``out`` is [M, N] (any strides). ``local`` gives, for
    some chip tiles, a copy of ``a`` in that tile's buffer: arrays there read it instead.
    ``out_global`` says every array of the layer may write ``out`` (it is in global memory, or
    in the buffer of the tile that holds all of them): a layer of one block per column (signed
    float cells) then writes its MVM results straight into ``out``, without partial sums to
    recombine. ``kseg = (length, jump)``: row ``m``'s inputs
    are runs of ``length`` elements, each ``jump`` elements after the previous one (``a``'s
    address of element ``k`` is ``m * xs + (k // length) * jump + k % length``); a tile
    spanning two runs is read as two sub-regions of its rows, the second accumulating."""
    assert a.strides[1] == 1
    by_range: dict[tuple[int, int, int, int], dict[tuple[int, ...], list[TilePlacement]]] = {}
    for pl in L.placements:
        t = pl.tile
        key = (pl.replica, t.block, t.n0, t.n1)
        by_range.setdefault(key, {}).setdefault(t.parts, []).append(pl)
    chunks = _split(a.shape[0], L.replicas)
    _precision_csrs(ctx, L)
    for (rep, bi, n0, n1), by_parts in sorted(by_range.items()):
        if rep < len(chunks):
            _product_range(ctx, L, a, out, local or {}, out_global, kseg, (rep, bi, n0, n1),
                           chunks[rep], by_parts)


def _product_range(ctx: Ctx, L: ImcLayer, a: View, out: View, local: dict[int, View],
                   out_global: bool, kseg: tuple[int, int] | None,
                   key: tuple[int, int, int, int], chunk: tuple[int, int],
                   by_parts: dict[tuple[int, ...], list[TilePlacement]]) -> None:
    """One replica's rows ``chunk`` of one column range ``n0:n1`` of matrix block ``bi``:
    the MVMs of its tiles into partial sums, then their shift-and-add into ``out``."""
    w, plan = ctx.w, L.plan
    rep, bi, n0, n1 = key
    m0, m1 = chunk
    rows, xs = m1 - m0, a.strides[0]
    block = plan.blocks[bi]
    any_tile = next(iter(by_parts.values()))[0].tile
    pw = any_tile.part_width
    nparts = plan.precision.slice_spec.blocks
    ncol = n1 - n0
    dst = out.slice(0, m0, m1, 1).slice(1, block.n_offset + n0, block.n_offset + n1, 1)
    # Every tile of the range holds all the slice/polarity blocks side by side: the mvm
    # shift-and-adds them itself (sablk), writing pw columns instead of nparts * pw.
    combine = nparts > 1 and list(by_parts) == [tuple(range(nparts))]
    width = pw if combine else nparts * pw
    straight = (out_global and (nparts == 1 or combine) and not any_tile.ref
                and pw == ncol and dst.strides[1] == 1 and dst.strides[0] >= ncol)
    ps = dst if straight else ctx.tmp((rows, width))
    w.comment(f"{plan.layer} block {bi} cols {block.n_offset + n0}:{block.n_offset + n1} "
              f"rows {m0}:{m1} (replica {rep})")
    w.csrs(vl=rows, xs=xs, ys=dst.strides[0] if straight else width,
           sablk=nparts if combine else 1)
    for parts, pls in sorted(by_parts.items()):
        _mvms(ctx, L, a, local, ps.addr(parts[0] * pw), m0 * xs, block.k_offset, kseg, pls)
    if straight:
        return
    if combine:
        tmp = ps
    else:
        ctx.w.comment(f"shift-and-add {nparts} slice/polarity blocks -> output columns")
        tmp = ctx.tmp((rows, pw)) if any_tile.ref else dst
        _sadd(ctx, tmp, ps, rows, pw if any_tile.ref else ncol, nparts, pw)
    if any_tile.ref:
        ref = tmp.slice(1, ncol, ncol + 1, 1)
        ctx.binary("vsub", dst, tmp.slice(1, 0, ncol, 1), ref)
    elif combine:
        ctx.unary("vcopy", dst, tmp.slice(1, 0, ncol, 1))


def _mvms(ctx: Ctx, L: ImcLayer, a: View, local: dict[int, View], dst: str, row0: int,
          k_offset: int, kseg: tuple[int, int] | None, pls: list[TilePlacement]) -> None:
    """The ``mvm`` of the first K-tile of ``pls`` and the ``mvm.acc`` of the others into
    ``dst``, reading the inputs from element ``row0`` of ``a`` (or its copy in the tile's
    buffer); a tile spanning two runs of ``kseg`` is read as two sub-regions of its rows."""
    w, prec = ctx.w, L.plan.precision
    first = True
    for pl in sorted(pls, key=lambda p: p.tile.k0):
        t = pl.tile
        src = local.get(pl.array // ctx.arrays_per_tile, a)
        for k0, k1 in _runs(k_offset + t.k0, k_offset + t.k1, kseg):
            w.csrs(xbarr=pl.array, xbrow=pl.row + k0 - k_offset - t.k0,
                   xbcol=pl.col, xbh=k1 - k0, xbw=t.w,
                   adcsh=adc_shift(L.col_max[t.id], prec, L.in_signed))
            at = k0 if kseg is None else k0 // kseg[0] * kseg[1] + k0 % kseg[0]
            w.li("x6", src.addr(row0 + at))
            w.li("x5", dst)
            w.op("mvm" if first else "mvm.acc", "x5", "x6",
                 note=f"{t.id} on array {pl.array}" if k1 - k0 == t.h else
                 f"{t.id} rows {k0 - k_offset - t.k0}:"
                 f"{k1 - k_offset - t.k0} on array {pl.array}")
            first = False


def _runs(k0: int, k1: int, kseg: tuple[int, int] | None) -> list[tuple[int, int]]:
    """``[k0, k1)`` cut at the multiples of ``kseg[0]`` (whole without ``kseg``)."""
    if kseg is None:
        return [(k0, k1)]
    n = kseg[0]
    return [(s, min(k1, (s // n + 1) * n)) for s in [k0] + list(range((k0 // n + 1) * n, k1, n))]


def _sadd(ctx: Ctx, dst: View, ps: View, rows: int, ncol: int, nparts: int, pw: int) -> None:
    """dst[m, j] = sum_b c_b * ps[m, b * pw + j] (the shift-and-add network)."""
    emit_raw(ctx.w, "vsadd", (1, 1, 1, rows, ncol, nparts),
             {"d": (0, 0, 0, dst.strides[0], dst.strides[1], None),
              "a": (0, 0, 0, ps.strides[0], 1, pw)},
             {"d": dst.addr(), "a": ps.addr()})


def dequantize(ctx: Ctx, L: ImcLayer, out: View, src: View, channel_axis: int,
               bias: np.ndarray | None) -> None:
    """``out = src * (input_scale * weight_scale[n]) + bias[n]`` along ``channel_axis``; with
    drift compensation the scales are the layer's compensated ones (imcc/codegen/drift.py),
    computed at the start of the inference."""
    n = out.shape[channel_axis]
    scale = (np.float32(L.in_scale) * L.scale).astype(np.float32)
    shape = [1] * out.rank
    shape[channel_axis] = n
    compensated = ctx.drift_scales.get(L.plan.layer)
    trivial = compensated is None and np.all(scale == 1.0)
    ctx.w.comment("add bias, final layout" if trivial else
                  "dequantize (input step x weight scale per channel, drift-compensated), add "
                  "bias, final layout" if compensated is not None else
                  "dequantize (input step x weight scale per channel), add bias, final layout")
    if trivial and bias is None:
        ctx.copy(out, src)
        return
    if compensated is not None:
        sv = compensated.reshape(tuple(shape))
    else:
        sv = ctx.array(scale.reshape(shape), f"{L.plan.layer} dequantization scales")
    if bias is None:
        ctx.binary("vmul", out, src, sv)
        return
    bv = ctx.array(np.asarray(bias, dtype=np.float32).reshape(shape), f"{L.plan.layer} bias")
    if trivial:
        ctx.binary("vadd", out, src, bv)
    else:
        ctx.ternary("vfma", out, src, sv, bv)


def _rows(v: View) -> View:
    """A row-major tensor [..., K] as [M, K]."""
    return v.reshape((math.prod(v.shape[:-1]), v.shape[-1]))


def _send_inputs(ctx: Ctx, L: ImcLayer, name: str, a: View) -> dict[int, View]:
    """An input in one tile's buffer is sent to every other chip tile holding the layer's
    arrays (an array reads only global memory or its own tile's buffer)."""
    src = ctx.tile_of(name)
    if src is None:
        return {}
    tiles = sorted({pl.array // ctx.arrays_per_tile for pl in L.placements} - {src})
    local = {}
    for t in tiles:
        ctx.w.comment(f"the input lives in tile {src}'s buffer: send it to tile {t}")
        dst = ctx.tile_tmp(t, a.shape)
        ctx.send(dst, a)
        local[t] = dst
    return local


def lower_linear(ctx: Ctx, node) -> None:
    """Gemm (canonical: Y = A @ B + C) or MatMul with a constant [K, N] weight."""
    L = ctx.imc[node.name]
    a = _rows(ctx.view(node.inputs[0]))
    y = _rows(ctx.view(node.outputs[0]))
    tile = ctx.tile_of(node.outputs[0])
    imc_product(ctx, L, a, y, _send_inputs(ctx, L, node.inputs[0], a),
                out_global=tile is None or all(pl.array // ctx.arrays_per_tile == tile
                                               for pl in L.placements))
    bias = None
    if node.op_type == "Gemm" and len(node.inputs) > 2 and node.inputs[2]:
        bias = ctx.const(node.inputs[2])
    dequantize(ctx, L, y, y, 1, bias)


@lowers("Gemm", "MatMul")
def lower_gemm_matmul(ctx: Ctx, node) -> None:
    if node.name in ctx.imc:
        lower_linear(ctx, node)
    else:
        lower_dynamic(ctx, node)
