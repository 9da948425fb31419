"""Matrix division: each IMC layer's weights become K x N matrices cut into array-sized tiles.

- Gemm / MatMul with a constant weight: one matrix ``B`` [K, N].
- Conv (any spatial rank): per group ``g`` the matrix ``W[g]`` reshaped to
  [Cin/g * prod(kernel), Cout/g] (``kh * kw`` below for a 2-D kernel; a 3-D one adds ``kd`` in
  front). An ungrouped conv's rows are in the order (kh, kw, channel): a kernel row's
  ``kw * Cin`` inputs then lie side by side in a channels-last image, so the code generator
  reads them in place (shifted windows) instead of copying an im2col patch. Small groups
  (depthwise convs above all) are merged *block-diagonally* into super-blocks that fit one
  array: one MVM then serves many groups, at the price of the zero cells off the diagonal. A
  grouped conv's patch is block after block, each block's rows in the order (kh, kw, group,
  channel): a kernel position's inputs are then the block's channels side by side, copied in
  runs from a channels-last image. A group too large for that is its own block, as the issue
  asks ("grouped convs become independent blocks").

Cuts: rows are cut into chunks of at most ``rows`` (max-size plus remainder, not balanced: full
tiles fill whole arrays and the small remainders pack together, while balanced cuts such as
2 x 150 rows on 256-row arrays could never share an array). Columns: each weight column takes
``blocks = slices x polarities`` physical columns (plus one reference column per block for the
offset scheme); with ``slices = "columns"`` the blocks of a tile sit side by side in one array,
with ``"arrays"`` each block is its own rectangle (one slice per array, the seed's example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imcc.precision import LayerPrecision
from imcc.quant import LevelsView, SliceSpec, quantize, slice_blocks
from isa.diagnostics import ConfigError


@dataclass(frozen=True)
class MatrixBlock:
    """One matrix to map. Row ``k`` of the block is input element ``k_offset + k`` of the
    layer's input vector (patch); column ``n`` is output channel ``n_offset + n``."""

    layer: str
    index: int
    k_offset: int
    n_offset: int
    K: int
    N: int
    groups: int = 1  # groups merged block-diagonally (K = groups * Kg, N = groups * Ng)


@dataclass(frozen=True)
class Tile:
    """A rectangle for the packer: rows ``k0:k1`` and columns ``n0:n1`` of a block, holding
    slice-blocks ``parts`` side by side (each ``n1 - n0`` columns, plus a reference column when
    ``ref``)."""

    id: str
    layer: str
    block: int
    k0: int
    k1: int
    n0: int
    n1: int
    parts: tuple[int, ...]
    ref: bool = False

    @property
    def h(self) -> int:
        return self.k1 - self.k0

    @property
    def part_width(self) -> int:
        return self.n1 - self.n0 + (1 if self.ref else 0)

    @property
    def w(self) -> int:
        return len(self.parts) * self.part_width


@dataclass(frozen=True)
class LayerPlan:
    """How one IMC layer is divided."""

    layer: str
    op: str
    K: int  # input vector length of the whole layer (Cin * prod(kernel) for a conv)
    N: int  # outputs (Cout)
    groups: int
    precision: LayerPrecision
    blocks: tuple[MatrixBlock, ...]
    tiles: tuple[Tile, ...]

    @property
    def cells(self) -> int:
        return sum(t.h * t.w for t in self.tiles)


def group_matrix(w4: np.ndarray, groups: int, g0: int, count: int) -> np.ndarray:
    """Block-diagonal [count*Kg, count*Ng] matrix of conv groups ``g0 .. g0+count-1`` (``w4``
    [Cout, Cin/g, *kernel], any spatial rank), its rows in the order (kernel position, group,
    channel): a kernel position's ``count * Cin/g`` inputs are the block's channels side by
    side, as in a channels-last image."""
    cout, cin_g = w4.shape[:2]
    kern = tuple(w4.shape[2:])
    ns = len(kern)
    ng = cout // groups
    taps = int(np.prod(kern, dtype=np.int64))
    out = np.zeros((taps, count, cin_g, count, ng), dtype=w4.dtype)
    for i in range(count):
        g = g0 + i
        wg = w4[g * ng : (g + 1) * ng].transpose(tuple(range(2, 2 + ns)) + (1, 0))
        out[:, i, :, i, :] = wg.reshape(taps, cin_g, ng)
    return out.reshape(taps * count * cin_g, count * ng)


def _blocks(layer: str, op: str, shape: tuple[int, ...], groups: int, rows: int,
            cols_per_weight: int) -> list[MatrixBlock]:
    if op != "Conv":
        K, N = shape
        return [MatrixBlock(layer, 0, 0, 0, K, N)]
    cout = shape[0]
    kg = math.prod(shape[1:])  # Cin/g * prod(kernel)
    ng = cout // groups
    if groups == 1:
        return [MatrixBlock(layer, 0, 0, 0, kg, ng)]
    # Merge groups while the block-diagonal matrix still fits one array.
    per = max(1, min(rows // kg if kg <= rows else 1, max(1, cols_per_weight // ng), groups))
    if kg > rows // 2 or ng > cols_per_weight // 2:
        per = 1
    out = []
    for i, g0 in enumerate(range(0, groups, per)):
        c = min(per, groups - g0)
        out.append(MatrixBlock(layer, i, g0 * kg, g0 * ng, c * kg, c * ng, c))
    return out


def divide_layer(layer: str, op: str, weight_shape: tuple[int, ...], groups: int,
                 prec: LayerPrecision, rows: int, cols: int) -> LayerPlan:
    """Cut one layer into tiles for ``rows x cols`` arrays."""
    spec = prec.slice_spec
    ref = spec.scheme == "offset"
    parts = spec.blocks
    per_array = parts if prec.slices == "columns" else 1
    n_cols = cols // per_array - (1 if ref else 0)  # weight columns per tile
    if n_cols < 1:
        raise ConfigError(
            f"layer {layer!r}: {parts} slice blocks of one weight column do not fit a "
            f"{cols}-column array; use fewer weight bits, more bits per cell, or slices = \"arrays\"")
    blocks = _blocks(layer, op, tuple(weight_shape), groups, rows, cols // per_array)
    tiles = []
    for b in blocks:
        for i, k0 in enumerate(range(0, b.K, rows)):
            k1 = min(b.K, k0 + rows)
            for j, n0 in enumerate(range(0, b.N, n_cols)):
                n1 = min(b.N, n0 + n_cols)
                base = f"{layer}:b{b.index}:k{i}:n{j}"
                if prec.slices == "columns":
                    tiles.append(Tile(base, layer, b.index, k0, k1, n0, n1, tuple(range(parts)), ref))
                else:
                    for p in range(parts):
                        tiles.append(Tile(f"{base}:p{p}", layer, b.index, k0, k1, n0, n1, (p,), ref))
    if op == "Conv":
        K = groups * math.prod(weight_shape[1:])
        N = weight_shape[0]
    else:
        K, N = weight_shape
    return LayerPlan(layer, op, K, N, groups, prec, tuple(blocks), tuple(tiles))


@dataclass(frozen=True)
class LayerWeights:
    """A layer's quantized weights: per-output-channel scales and, per block, the quantized
    ``[K, N]`` matrix (the narrowest integers that hold its levels, or a
    :class:`~imcc.quant.LevelsView` that makes them tile by tile; float32 on the float path).
    Cell values are sliced from it tile by tile (:func:`tile_cells`), so a layer's slices never
    exist all at once."""

    scale: np.ndarray  # float32 [N]: real weight = integer value * scale
    values: tuple[np.ndarray | LevelsView, ...]  # one per MatrixBlock, read by 2-D slices
    spec: SliceSpec


def quantize_layer(plan: LayerPlan, w: np.ndarray) -> LayerWeights:
    """Quantize ``w`` (Gemm/MatMul [K, N]; Conv [Cout, Cin/g, *kernel]) per output channel and
    slice every block of ``plan`` onto cell values."""
    spec = plan.precision.slice_spec
    pct = plan.precision.weight_percentile if plan.precision.weight_scale == "percentile" \
        else None
    given = np.asarray(plan.precision.weight_scales, dtype=np.float32) \
        if plan.precision.weight_scale == "qdq" else None
    if plan.op == "Conv":
        cout = w.shape[0]
        # rows (kernel position, channel) | (channel, kernel position)
        rows = w.transpose((0,) + tuple(range(2, w.ndim)) + (1,)) if plan.groups == 1 else w
        q = quantize(rows.reshape(cout, -1).T, spec.w_bits, pct, given)
        if plan.groups == 1:  # the [K, N] matrix is the one block
            mats = [q.values]
        else:
            values4 = q.values.T.reshape(w.shape)
            mats = [group_matrix(values4, plan.groups, b.n_offset // (cout // plan.groups),
                                 b.groups) for b in plan.blocks]
    else:  # the levels are made tile by tile (a view of ``w``, not a copy)
        q = quantize(w, spec.w_bits, pct, given, lazy=True)
        mats = [q.values]
    return LayerWeights(q.scale, tuple(mats), spec)


def tile_cells(tile: Tile, weights: LayerWeights, out: np.ndarray | None = None) -> np.ndarray:
    """The cell values of ``tile`` ([h, w]): its parts side by side, each the tile's rows and
    columns of one slice-block (plus the block's reference column, if any: the slices of a
    weight 0, whose recombined value is the offset). ``out``: a C-contiguous [h, w] array (of
    a type that holds the levels) to write them into, and return; by default a new one."""
    sub = weights.values[tile.block][tile.k0 : tile.k1, tile.n0 : tile.n1]
    spec, n, pw = weights.spec, tile.n1 - tile.n0, tile.part_width
    if out is None:
        out = np.empty((tile.h, tile.w), np.float32 if spec.is_float else np.uint16)
    assert out.shape == (tile.h, tile.w) and out.flags.c_contiguous
    parts = out.reshape(tile.h, len(tile.parts), pw).transpose(1, 0, 2)  # [part, h, pw]
    slice_blocks(sub, spec, tile.parts, out=parts[:, :, :n])
    if tile.ref:
        slice_blocks(np.zeros((tile.h, 1), sub.dtype), spec, tile.parts, out=parts[:, :, n:])
    return out
