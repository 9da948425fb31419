"""Grouped regions: the cells of a grouped or depthwise convolution's super-block are
block-diagonal, and a product with them can skip the zero cells off the diagonal.

The code generator lays out a grouped convolution's super-block with rows in the order (kernel
tap, group, channel) and columns in the order (column block, group, output channel)
(docs/compiler.md): row ``r`` belongs to group ``(r mod G*nr) div nr`` and column ``c`` to group
``(c mod G*nc) div nc``. :func:`find_groups` recognizes that pattern in a region's cells (every
nonzero cell's row and column in the same group), and :class:`Groups` holds the diagonal blocks
for ``X @ G`` as ``B`` products of the groups' rows and columns only, batched in one ``matmul``:
the inputs are copied into a block-major layout (a strided copy, no gather) and the outputs
back.

The products are the same as the full one's, term for term less the zero cells. The crossbar
uses them in the bit-serial loop on exact integer cells without read noise
(:func:`runtime.bitserial.cycles_exact`): every partial sum is an exact integer there, float32
sums are exact in any order, and the result is bit-identical
(tests/runtime/test_crossbar_groups.py); the block-major copy of the inputs is made once per
MVM and serves all its DAC cycles. Not used: on float cells, whose full product BLAS sums in
an order of its own that the smaller products do not reproduce (measured: outputs differ in the
last bits); for the single product of a lossless integer MVM, where the copy in and out costs
more than the zero cells (measured 0.6x on MobileNetV2's 252 x 56 depthwise regions); and where
the zero cells are not zero (programming noise, stuck cells) or decide the result (read noise
depends on every row's input).

A depthwise region (one input row per tap and group, one output column per group and column
block) is also a :class:`Diagonal`: its product is the diagonal of every tap, ``Y[:, c, g] =
sum_a X[:, a, g] * D[c, a, g]``, one ``einsum`` per column block over all groups at once, read
straight from the inputs (no copy in or out). The lossless integer MVM uses it
(:class:`runtime.crossbar.ExactKernel`): its partial sums are exact integers below ``2**24``, so
any summation order gives the full product's bits. Measured on MobileNetV2's 252 x 28 regions
(one thread): 1.6x to 2.4x faster than the full product at 49 to 3,136 vectors, 1.3x to 5x with
two column blocks; slower where each group has several input channels or output channels per
column block (0.02x to 0.3x: einsum's inner loop then runs over a few elements), and with fewer
than :data:`MIN_DIAGONAL_GROUPS` groups, so those keep the full product. Float cells keep it too
(see above).
"""

from __future__ import annotations

import math

import numpy as np

#: Regions whose cells are at least this dense are never grouped (no zero cells to skip).
MAX_DENSITY = 0.5
#: Smallest output width of one batched block: narrower products run far below BLAS's speed.
MIN_BLOCK_COLUMNS = 8


class Groups:
    """A region's cells as ``B`` diagonal blocks of ``gs`` groups each: block ``b`` multiplies
    the rows and columns of groups ``b*gs .. (b+1)*gs - 1``. ``cells`` is ``(B, K, N)`` with
    ``K = A * gs * nr`` rows (tap-major) and ``N = C * gs * nc`` columns (column block major)."""

    __slots__ = ("a", "b", "c", "cells", "h", "w")

    def __init__(self, g: np.ndarray, a: int, c: int, blocks: int):
        self.h, self.w = g.shape
        self.a, self.c, self.b = a, c, blocks
        rows = np.arange(self.h).reshape(a, blocks, -1)  # block b: rows[:, b], tap-major
        cols = np.arange(self.w).reshape(c, blocks, -1)
        self.cells = np.stack([g[np.ix_(rows[:, k].ravel(), cols[:, k].ravel())]
                               for k in range(blocks)])

    def gather(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``x`` (``vl x h``) in block-major layout, ``(B, vl, K)``, into ``out``."""
        vl = x.shape[0]
        src = x.reshape(vl, self.a, self.b, -1).transpose(2, 0, 1, 3)
        out.reshape(self.b, vl, self.a, -1)[...] = src
        return out

    def scatter(self, yb: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The block-major outputs ``yb`` (``(B, vl, N)``) as ``vl x w``, into ``out`` (any
        float dtype; converted on the way)."""
        vl = yb.shape[1]
        dst = out.reshape(vl, self.c, self.b, -1).transpose(2, 0, 1, 3)
        dst[...] = yb.reshape(self.b, vl, self.c, -1)
        return out

    def shape(self, vl: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """The block-major shapes of ``vl`` input and output vectors."""
        k, n = self.cells.shape[1:]
        return (self.b, vl, k), (self.b, vl, n)


#: Fewest groups of a :class:`Diagonal`: its einsum costs about ten times BLAS's time per
#: product term, and the full product spends ``groups`` terms on each of its one. Measured
#: (9 taps, one thread; full product's time over the einsum's at 49, 196 and 3,136 vectors):
#: 8 groups 0.35x to 0.58x, 16 groups 0.67x to 1.11x, 20 groups 1.12x to 1.64x, 28 groups
#: 1.55x to 3.97x.
MIN_DIAGONAL_GROUPS = 20


class Diagonal:
    """A depthwise region's cells ``g`` (``h x w``, ``h = A * G`` rows in the order (tap,
    group), ``w = C * G`` columns in the order (column block, group), every nonzero cell's row
    and column in the same group) as their diagonals ``cells`` (``C x A x G``)."""

    __slots__ = ("a", "c", "cells", "groups")

    def __init__(self, g: np.ndarray, groups: int):
        h, w = g.shape
        self.a, self.c, self.groups = h // groups, w // groups, groups
        g4 = g.reshape(self.a, groups, self.c, groups)
        self.cells = np.ascontiguousarray(np.einsum("agcg->cag", g4))

    def product(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``x @ g`` (``x`` any ``vl x h`` view whose elements are contiguous in a row) into
        ``out`` (float32 ``vl x w``, or None for a new array), summed over the taps in an
        order of einsum's: the full product's bits where every partial sum is exact."""
        n = x.shape[0]
        if out is None:
            out = np.empty((n, self.c * self.groups), np.float32)
        x3, o3 = x.reshape(n, self.a, self.groups), out.reshape(n, self.c, self.groups)
        for k in range(self.c):
            np.einsum("nag,ag->ng", x3, self.cells[k], out=o3[:, k])
        return out


def find_diagonal(g: np.ndarray) -> Diagonal | None:
    """The :class:`Diagonal` of region cells ``g``, or None where they are not depthwise (at
    least :data:`MIN_DIAGONAL_GROUPS` groups, the most that fit, and every nonzero cell on a
    tap's diagonal)."""
    h, w = g.shape
    nz = g != 0
    if min(h, w) < MIN_DIAGONAL_GROUPS or nz.mean() >= MAX_DENSITY:
        return None
    r, c = np.nonzero(nz)
    for groups in _divisors(math.gcd(h, w))[::-1]:
        if groups < MIN_DIAGONAL_GROUPS:
            break
        if np.array_equal(r % groups, c % groups):
            return Diagonal(g, groups)
    return None


def find_groups(g: np.ndarray) -> Groups | None:
    """The :class:`Groups` of region cells ``g`` (``h x w``), or None where the nonzero cells
    do not follow the grouped layout of the module docstring with at least two blocks. The
    layout is searched for (the most groups first: every ``G`` dividing ``h`` and ``w``, every
    ``nr`` and ``nc``), so any region whose nonzero cells fit one is grouped, whatever made it."""
    h, w = g.shape
    nz = g != 0
    if h < 2 or w < 2 or nz.mean() >= MAX_DENSITY:
        return None
    r, c = np.nonzero(nz)
    rs, cs = r[:: max(1, r.size // 64)], c[:: max(1, c.size // 64)]  # a sample sieves first
    for groups in _divisors(math.gcd(h, w))[::-1]:
        if groups < 2:
            break
        for nr in _divisors(h // groups):
            for nc in _divisors(w // groups):
                if _same_groups(rs, cs, groups, nr, nc) and _same_groups(r, c, groups, nr, nc):
                    return _blocks(g, groups, h // (groups * nr), w // (groups * nc), nc)
    return None


def _same_groups(r: np.ndarray, c: np.ndarray, groups: int, nr: int, nc: int) -> bool:
    """Every cell ``(r[k], c[k])`` has its row and its column in the same group."""
    return bool(np.array_equal((r % (groups * nr)) // nr, (c % (groups * nc)) // nc))


def _blocks(g: np.ndarray, groups: int, a: int, c: int, nc: int) -> Groups | None:
    """:class:`Groups` of ``groups`` groups in blocks of the fewest groups whose products are
    at least :data:`MIN_BLOCK_COLUMNS` wide; None where that is one block."""
    gs = next(d for d in _divisors(groups) if d * nc * c >= MIN_BLOCK_COLUMNS or d == groups)
    return None if gs == groups else Groups(g, a, c, groups // gs)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
