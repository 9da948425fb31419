"""A crossbar layer's integer levels are made tile by tile (:class:`imcc.quant.LevelsView`), never
whole: each block read is the levels of the whole-array formula ``clip(rint(W / scale))`` (a
plain numpy computation in float32), and the cells of every tile are those of the eager levels."""

import numpy as np
import pytest

from imcc.precision import LayerPrecision
from imcc.quant import LevelsView, quantize
from imcc.tiling import divide_layer, quantize_layer, tile_cells


def _reference_levels(W, w_bits):
    qmax = (1 << (w_bits - 1)) - 1
    amax = np.abs(W).max(axis=0)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    return np.clip(np.rint(W / scale).astype(np.float32), -qmax, qmax), scale


@pytest.mark.parametrize("w_bits", [4, 8, 12])
def test_blocks_read_are_the_whole_array_levels(w_bits):
    rng = np.random.default_rng(w_bits)
    W = (rng.standard_normal((300, 70)) * rng.uniform(0.1, 3, 70)).astype(np.float32)
    W[:, 5] = 0  # a column of zeros: scale 1
    want, scale = _reference_levels(W, w_bits)
    q = quantize(W, w_bits, lazy=True)
    assert isinstance(q.values, LevelsView)
    np.testing.assert_array_equal(q.scale, scale)
    for rows, cols in [(slice(0, 128), slice(0, 32)), (slice(128, 300), slice(32, 70)),
                       (slice(0, 300), slice(0, 70)), (slice(7, 9), slice(60, 61))]:
        got = q.values[rows, cols]
        assert got.dtype == (np.int8 if w_bits <= 8 else np.int16)
        np.testing.assert_array_equal(got, want[rows, cols])
        assert q.values[rows, cols] is got  # the last block is kept for the tile's next part


@pytest.mark.parametrize("scheme,cell_bits", [("differential", 2), ("offset", 4),
                                               ("differential", 8)])
def test_every_tiles_cells_are_the_eager_levels_cells(scheme, cell_bits):
    rng = np.random.default_rng(cell_bits)
    W = rng.standard_normal((200, 90)).astype(np.float32)
    prec = LayerPrecision(weight_bits=8, cell_bits=cell_bits, input_bits=8, dac_bits=8,
                          adc_bits=0, signed=scheme, slices="parts")
    plan = divide_layer("fc", "MatMul", W.shape, 1, prec, 64, 64)
    lazy = quantize_layer(plan, W)
    assert isinstance(lazy.values[0], LevelsView)  # no whole-layer levels
    eager = quantize(W, 8)
    assert not isinstance(eager.values, LevelsView)
    eager_lw = type(lazy)(eager.scale, (eager.values,), lazy.spec)
    assert len(plan.tiles) > 4
    for t in plan.tiles:
        np.testing.assert_array_equal(tile_cells(t, lazy), tile_cells(t, eager_lw))
