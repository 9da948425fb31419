"""Lowering of Conv (any spatial rank) onto the crossbars: a channels-last copy of the padded
input read in place by shifted windows, or an im2col patch matrix, multiplied by
:func:`imcc.codegen.imc.imc_product` and dequantized into the output's layout (docs/compiler.md,
"Code generation"). Large convolutions are cut into chunks of images or output rows
(:class:`imcc.options.Tuning`)."""

from __future__ import annotations

import math

import numpy as np

from imcc.codegen.context import Ctx, lowers
from imcc.codegen.imc import ImcLayer, dequantize, imc_product
from imcc.codegen.views import View


@lowers("Conv")
def lower_conv(ctx: Ctx, node) -> None:
    """Conv (NC + any spatial rank; a 4-D tensor may be stored channels-last). An ungrouped
    conv copies its input, padded, into a channels-last image (or reads an unpadded
    channels-last input in place); a 2-D stride-1 conv then reads its kernel rows in place
    (shifted windows), any other through an im2col patch of that image. A grouped conv pads (in
    its input's layout) and takes its im2col patch. The products are dequantized into the
    output's layout."""
    L = ctx.imc[node.name]
    if L.plan.groups == 1:
        _conv_channels_last(ctx, node, L)
    else:
        _conv_grouped(ctx, node, L)


def _geometry(node):
    """(kernel, strides, dilations, pads begin, pads end), one entry per spatial axis."""
    k = tuple(node.attrs["kernel_shape"])
    p = tuple(node.attrs["pads"])
    return (k, tuple(node.attrs["strides"]), tuple(node.attrs["dilations"]), p[:len(k)],
            p[len(k):])


def _bias(ctx: Ctx, node) -> np.ndarray | None:
    b = node.inputs[2] if len(node.inputs) > 2 else ""
    # normalize-conv makes a runtime bias an Add after the Conv
    assert not b or ctx.graph.is_const(b), f"{node.name}: runtime bias {b!r} reached the Conv"
    return ctx.const(b)


def _pad_slice(v: View, first: int, begins, sizes) -> View:
    """The unpadded interior of ``v``: spatial axes from ``first`` on, from ``begins``."""
    for i, (b, n) in enumerate(zip(begins, sizes)):
        v = v.slice(first + i, b, b + n)
    return v


def _zero_border(ctx: Ctx, v: View, first: int, begins, ends, sizes) -> None:
    """Zero the padding of ``v`` around its interior (spatial axes from ``first`` on, from
    ``begins``, of ``sizes``): the slabs before and after the interior along each axis, not the
    interior, which the copy of the input then writes."""
    for i, (b, e, n) in enumerate(zip(begins, ends, sizes)):
        if b:
            ctx.fill(v.slice(first + i, 0, b), 0.0)
        if e:
            ctx.fill(v.slice(first + i, b + n, b + n + e), 0.0)


def _conv_grouped(ctx: Ctx, node, L: ImcLayer) -> None:
    """Pad (in the input's layout), im2col block by block (each block's patch columns in the
    order (kernel position, channel) of its rows, imcc/tiling.py), IMC product, dequantize to
    NC + spatial."""
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    nb, c = x.shape[:2]
    sp = x.shape[2:]
    osp = y.shape[2:]
    k, s, d, pb, pe = _geometry(node)
    src = x
    if any(pb + pe):
        ctx.w.comment(f"pad before/after {list(pb)}/{list(pe)} with zeros")
        xp = ctx.tmp_like(x, (nb, c) + tuple(n + a + b for n, a, b in zip(sp, pb, pe)))
        _zero_border(ctx, xp, 2, pb, pe, sp)
        ctx.copy(_pad_slice(xp, 2, pb, sp), x)
        src = xp
    sN, sC = src.strides[:2]
    sS = src.strides[2:]
    cin_g = c // L.plan.groups
    taps = math.prod(k)
    windows = []  # (first patch column, [nb, *out, blocks, *kernel, channels] window)
    blocks = L.plan.blocks
    i = 0
    while i < len(blocks):  # consecutive blocks of one size: one window with a block axis
        j = i
        while j < len(blocks) and blocks[j].K == blocks[i].K:
            j += 1
        cb = blocks[i].groups * cin_g
        first = blocks[i].k_offset // taps  # the block's first input channel
        windows.append((blocks[i].k_offset, View(
            src.base, src.offset + first * sC, (nb,) + osp + (j - i,) + k + (cb,),
            (sN,) + tuple(a * b for a, b in zip(s, sS)) + (cb * sC,)
            + tuple(a * b for a, b in zip(d, sS)) + (sC,))))
        i = j
    _im2col_product(ctx, L, windows, y, _bias(ctx, node))


def _im2col_product(ctx: Ctx, L: ImcLayer, windows: list[tuple[int, View]], y: View,
                    bias) -> None:
    """Copy the windows [nb, *out, k...] into patches [rows, K] (each window from its first
    patch column on), multiply, and dequantize into ``y`` (NC + spatial); cut into chunks of at
    most ``ctx.tuning.patch_elements`` (whole images, or bands along the first output axis)."""
    nb, cout = y.shape[:2]
    osp = y.shape[2:]
    ns = len(osp)
    oh, rest = osp[0], math.prod(osp[1:])  # rest: output elements per step of the first axis
    K = L.plan.K
    chunks = conv_chunks(nb, oh, rest * max(K, cout), ctx.tuning.patch_elements)
    rows_max = max((b1 - b0) * (r1 - r0) * rest for b0, b1, r0, r1 in chunks)
    patch_all = ctx.tmp((rows_max, K))
    yt_all = ctx.tmp((rows_max, cout))
    y3 = y.reshape((nb, cout, oh * rest))
    mark = ctx.scratch.top  # each chunk's partial sums reuse the same scratch
    for b0, b1, r0, r1 in chunks:
        ctx.scratch.reset(mark)
        g, nr = b1 - b0, r1 - r0
        rows = g * nr * rest
        patch = patch_all.slice(0, 0, rows)
        yt = yt_all.slice(0, 0, rows)
        part = "" if len(chunks) == 1 else f" (images {b0}:{b1}, output rows {r0}:{r1})"
        for k0, window in windows:
            shape = window.shape[1 + ns:]
            ctx.w.comment(f"im2col: {'x'.join(map(str, (g, nr) + osp[1:]))} windows of "
                          f"{'x'.join(map(str, shape))}{part}")
            cols = patch.slice(1, k0, k0 + math.prod(shape))
            ctx.copy(cols.reshape((g, nr) + osp[1:] + shape),
                     window.slice(0, b0, b1).slice(1, r0, r1))
        imc_product(ctx, L, patch, yt, out_global=True)  # yt is scratch: global memory
        src_nchw = yt.reshape((g, nr * rest, cout)).permute((0, 2, 1))
        dequantize(ctx, L, y3.slice(0, b0, b1).slice(2, r0 * rest, r1 * rest), src_nchw, 1,
                   bias)


def _conv_channels_last(ctx: Ctx, node, L: ImcLayer) -> None:
    """An ungrouped conv on a channels-last copy ``xp`` [nb, *padded, C] of its padded input.

    2-D, stride 1 (dilation 1): the weight rows of kernel row ``dy`` ((kh, kw, c) order) are the
    ``kw * C`` elements of ``xp`` from pixel ``p + dy * Wp`` on, where ``p`` is the output's
    pixel in the padded image, so row ``p`` of the input matrix is ``xp`` at ``p * C`` with a
    jump of ``Wp * C`` per kernel row: the MVMs read ``xp`` in place (a tile that spans two
    kernel rows is read as two sub-regions) and produce an output for every pixel ``p``, of
    which those with ``y < oh``, ``x < ow`` are kept. Otherwise: im2col of ``xp``."""
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    nb, c = x.shape[:2]
    sp = x.shape[2:]
    cout = y.shape[1]
    osp = y.shape[2:]
    k, s, d, pb, pe = _geometry(node)
    padded = tuple(n + a + b for n, a, b in zip(sp, pb, pe))
    bias = _bias(ctx, node)
    xl = x.permute((0,) + tuple(range(2, x.rank)) + (1,))
    if not any(pb + pe) and xl.is_contiguous() and ctx.tile_of(node.inputs[0]) is None:
        xp = View.of(xl.base, xl.shape, xl.offset)  # stored channels-last: read in place
    else:
        xp = ctx.tmp((nb,) + padded + (c,))
        if any(pb + pe):
            ctx.w.comment(f"pad before/after {list(pb)}/{list(pe)} with zeros, channels last")
            _zero_border(ctx, xp, 1, pb, pe, sp)
        else:
            ctx.w.comment("channels last")
        ctx.copy(_pad_slice(xp, 1, pb, sp), xl)
    per_image = math.prod(padded)
    budget = ctx.tuning.patch_elements
    shifted = (len(k) == 2 and s + d == (1, 1, 1, 1)
               and per_image <= ctx.tuning.shifted_waste * math.prod(osp)
               and per_image * max(c, cout) <= budget and _can_split(L, k[1] * c))
    if not shifted:
        xs = xp.strides
        window = View(xp.base, xp.offset, (nb,) + osp + k + (c,),
                      (xs[0],) + tuple(a * b for a, b in zip(s, xs[1:-1]))
                      + tuple(a * b for a, b in zip(d, xs[1:-1])) + (xs[-1],))
        _im2col_product(ctx, L, [(0, window)], y, bias)
        return
    (kh, kw), (oh, ow), wp = k, osp, padded[1]
    g_max = max(1, budget // (per_image * max(c, cout)))
    prod_all = ctx.tmp((min(g_max, nb) * per_image, cout))
    mark = ctx.scratch.top
    for b0 in range(0, nb, g_max):
        ctx.scratch.reset(mark)
        b1 = min(nb, b0 + g_max)
        g = b1 - b0
        rows = (g - 1) * per_image + (oh - 1) * wp + ow  # through the last kept pixel
        part = "" if g == nb else f" (images {b0}:{b1})"
        ctx.w.comment(f"shifted windows: {rows} pixels of {kh}x{kw}x{c}{part}")
        a = View(xp.base, xp.offset + b0 * per_image * c, (rows, L.plan.K), (c, 1))
        prod = prod_all.slice(0, 0, rows)
        imc_product(ctx, L, a, prod, out_global=True, kseg=(kw * c, wp * c))
        kept = View(prod.base, prod.offset, (g, cout, oh, ow),
                    (per_image * cout, 1, wp * cout, cout))
        dequantize(ctx, L, y.slice(0, b0, b1), kept, 1, bias)


def _can_split(L: ImcLayer, seg: int) -> bool:
    """Whether every tile of ``L`` can be read in place with kernel rows of ``seg`` inputs: a
    tile that spans two kernel rows becomes two MVMs on sub-regions of its rows, which is exact
    only with an ideal ADC (a real one would convert each part separately)."""
    if L.plan.precision.adc_bits == 0:
        return True
    return all(t.k0 // seg == (t.k1 - 1) // seg for t in L.plan.tiles)


def conv_chunks(nb: int, oh: int, row_elems: int, budget: int) -> list[tuple[int, int, int, int]]:
    """Cut a convolution's output into (image start, image stop, output-row start, stop) chunks
    whose im2col patch (``row_elems`` elements per output row) stays within ``budget``
    elements: whole images together where an image fits, bands of output rows where not. The
    program grows only for convolutions too large for one patch."""
    per_image = oh * row_elems
    if nb * per_image <= budget:
        return [(0, nb, 0, oh)]
    if per_image <= budget:
        g = budget // per_image
        return [(b, min(b + g, nb), 0, oh) for b in range(0, nb, g)]
    band = max(1, budget // row_elems)
    return [(b, b + 1, r, min(r + band, oh)) for b in range(nb) for r in range(0, oh, band)]
