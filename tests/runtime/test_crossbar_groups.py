"""Grouped regions (runtime/blocks.py): the diagonal blocks only, the same bits as the full
product; the full product where the zero cells are not zero or do not decide the result."""

import numpy as np
import pytest

from runtime.blocks import Groups, find_groups
from runtime.crossbar import NumpyCrossbar, Precision
from tests.runtime.helpers import chip


def grouped_cells(rng, taps, groups, cin, blocks, cout, top, *, signed=False):
    """A grouped convolution's super-block as the code generator lays it out: rows (tap, group,
    input channel), columns (column block, group, output channel); random levels in the
    diagonal blocks (some zero), zero elsewhere."""
    h, w = taps * groups * cin, blocks * groups * cout
    row_group = (np.arange(h) // cin) % groups
    col_group = (np.arange(w) // cout) % groups
    lo = -top if signed else 0
    g = rng.integers(lo, top + 1, (h, w)) * (row_group[:, None] == col_group[None, :])
    return g.astype(np.float32)


def _pair(cfg, g, **kw):
    """The same cells on a crossbar that groups and on one that never does."""
    out = []
    for grouped in (True, False):
        xb = NumpyCrossbar(cfg, grouped=grouped, **kw)
        xb.program(1, 3, 5, g)
        out.append(xb)
    return out


def _same_bits(a, b):
    assert a.dtype == b.dtype == np.float32
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _oracle(x, g, p):
    """docs/machine.md's MVM in int64 arithmetic (integer cells, quantized inputs)."""
    lo, hi = p.input_range
    q = np.clip(np.rint(x / np.float32(p.iscale)), lo, hi).astype(np.int64)
    mag, sign = np.abs(q), np.sign(q)
    y = np.zeros((len(x), g.shape[1]), np.int64)
    for c in range(p.cycles):
        i = (sign * ((mag >> (c * p.dacb)) & ((1 << p.dacb) - 1))) @ g.astype(np.int64)
        if p.adcb:
            clo, chi = p.adc_range
            i = np.clip(np.rint(i / 2**p.adcsh), clo, chi).astype(np.int64) * 2**p.adcsh
        y += i << (c * p.dacb)
    return y


@pytest.mark.parametrize("taps,groups,cin,blocks,cout", [(9, 28, 1, 2, 1), (9, 8, 2, 1, 3),
                                                         (4, 6, 3, 2, 2), (1, 16, 4, 2, 4)])
@pytest.mark.parametrize("isgn", [0, 1])
@pytest.mark.parametrize("adc", ["lossless", "adc8"])
def test_integer_cells_give_the_bits_of_the_full_product(taps, groups, cin, blocks, cout, isgn,
                                                         adc, monkeypatch):
    # The bit-serial loop multiplies the diagonal blocks; a lossless MVM's one product is the
    # full one (the copies in and out of block-major layout would cost more than they save).
    rng = np.random.default_rng(groups * 100 + cin * 10 + isgn)
    g = grouped_cells(rng, taps, groups, cin, blocks, cout, 255)
    h, w = g.shape
    cfg = chip("ideal-int8", dac_bits=8, adc_bits=8 if adc == "adc8" else 0)
    p = Precision(8, isgn, 0.25, 1 if adc == "adc8" else 8, 8 if adc == "adc8" else 0, 2)
    vl = 300  # above the chunk and row-skipping thresholds of the bit-serial loop
    x = (rng.standard_normal((vl, h)) * 20).astype(np.float32)
    if not isgn:
        x = np.abs(x)
    fast, full = _pair(cfg, g)
    assert isinstance(fast._grouped((1, 3, 5, h, w, None), g), Groups)
    used = []
    monkeypatch.setattr(Groups, "gather", lambda self, *a, inner=Groups.gather:
                        used.append(1) or inner(self, *a))
    y = fast.mvm(1, 3, 5, h, w, x, p)
    assert bool(used) == (adc == "adc8")
    _same_bits(y, full.mvm(1, 3, 5, h, w, x, p))
    assert np.array_equal(y, _oracle(x, g, p).astype(np.float32))


@pytest.mark.parametrize("preset_name", ["ideal", "ideal-signed"])
def test_float_cells_keep_the_full_product(preset_name, monkeypatch):
    # BLAS sums a float product's terms in an order of its own: only the full product gives
    # today's bits, so float cells are never grouped (the blocks would differ in the last bits).
    rng = np.random.default_rng(7)
    signed = preset_name == "ideal-signed"
    g = grouped_cells(rng, 9, 28, 1, 1 if signed else 2, 1, 1000, signed=signed) / 7
    h, w = g.shape
    x = rng.standard_normal((500, h)).astype(np.float32)
    fast, full = _pair(chip(preset_name), g)
    monkeypatch.setattr(Groups, "gather", None)  # any use of the blocks fails
    p = Precision(0, 0, 1.0, 1, 0, 0)
    _same_bits(fast.mvm(1, 3, 5, h, w, x, p), full.mvm(1, 3, 5, h, w, x, p))
    if not signed:  # the differential pair combined (sablk = 2), as the code generator asks
        coef = np.array([1.0, -1.0])
        _same_bits(fast.mvm_combined(1, 3, 5, h, w, x, p, coef),
                   full.mvm_combined(1, 3, 5, h, w, x, p, coef))


def test_combined_integer_cells_give_the_bits_of_the_full_product():
    rng = np.random.default_rng(8)
    g = grouped_cells(rng, 9, 28, 1, 2, 1, 255)
    h, w = g.shape
    x = (rng.standard_normal((200, h)) * 40).astype(np.float32)
    fast, full = _pair(chip("ideal-int8", dac_bits=8), g)
    p, coef = Precision(8, 1, 0.5, 8, 0, 0), np.array([1.0, -1.0])
    y = fast.mvm_combined(1, 3, 5, h, w, x, p, coef)
    _same_bits(y, full.mvm_combined(1, 3, 5, h, w, x, p, coef))
    expect = _oracle(x, g, p)
    assert np.array_equal(y, (expect[:, : w // 2] - expect[:, w // 2 :]).astype(np.float32))


@pytest.mark.parametrize("nonideal", [{"read_noise": 0.05}, {"program_noise": 0.02}])
def test_noisy_chips_keep_the_full_product(nonideal):
    # Read noise depends on every row's input and programming noise leaves the zero cells
    # nonzero: the full product runs, and both crossbars draw and compute the same.
    rng = np.random.default_rng(3)
    g = grouped_cells(rng, 9, 16, 1, 2, 1, 255)
    h, w = g.shape
    x = np.abs(rng.standard_normal((64, h)) * 20).astype(np.float32)
    cfg = chip("ideal-int8", dac_bits=8, adc_bits=8, nonideal=nonideal)
    fast, full = _pair(cfg, g, seed=11)
    p = Precision(8, 0, 0.25, 1, 8, 2)
    _same_bits(fast.mvm(1, 3, 5, h, w, x, p), full.mvm(1, 3, 5, h, w, x, p))
    if "program_noise" in nonideal:
        assert find_groups(fast.cells(1)[3 : 3 + h, 5 : 5 + w]) is None


def _block_product(groups, x):
    xs, _ = groups.shape(len(x))
    yb = np.matmul(groups.gather(x, np.empty(xs, np.float32)), groups.cells)
    return groups.scatter(yb, np.empty((len(x), groups.w), np.float32))


def test_only_block_diagonal_cells_are_grouped():
    rng = np.random.default_rng(4)
    g = grouped_cells(rng, 9, 28, 1, 2, 1, 255)
    x = rng.integers(-9, 10, (5, g.shape[0])).astype(np.float32)
    groups = find_groups(g)
    assert isinstance(groups, Groups) and groups.b > 1
    assert np.array_equal(_block_product(groups, x), x @ g)
    g[3, 40] = 1  # off the 28 groups' blocks, inside the blocks of 2 groups of 14
    coarse = find_groups(g)
    assert coarse.b == 2
    assert np.array_equal(_block_product(coarse, x), x @ g)
    g[0, -1] = 1  # row 0 is in the first group and the last column in the last, for any count
    assert find_groups(g) is None
    assert find_groups(rng.integers(1, 9, (64, 64)).astype(np.float32)) is None  # dense
