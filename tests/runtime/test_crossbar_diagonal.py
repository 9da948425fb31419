"""Depthwise regions (runtime/blocks.py, Diagonal): a lossless integer MVM multiplies the taps'
diagonals only and gives the full product's bits; every other chip and layout keeps the full
product."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from runtime.blocks import MIN_DIAGONAL_GROUPS, Diagonal, find_diagonal
from runtime.crossbar import NumpyCrossbar, Precision
from tests.runtime.helpers import chip
from tests.runtime.test_crossbar_groups import _oracle, _pair, _same_bits, grouped_cells


@pytest.fixture
def diagonal_calls(monkeypatch):
    """The group counts of the products :class:`Diagonal` computed, one per product."""
    calls = []
    inner = Diagonal.product
    monkeypatch.setattr(Diagonal, "product", lambda self, x, out: calls.append(self.groups)
                        or inner(self, x, out))
    return calls


@pytest.mark.parametrize("taps,groups,blocks", [(9, 28, 1), (9, 28, 2), (9, 20, 1), (4, 24, 2),
                                                (1, 32, 1)])
@pytest.mark.parametrize("isgn", [0, 1])
def test_depthwise_integer_cells_give_the_bits_of_the_full_product(taps, groups, blocks, isgn,
                                                                   diagonal_calls):
    rng = np.random.default_rng(taps * 100 + groups + isgn)
    g = grouped_cells(rng, taps, groups, 1, blocks, 1, 255)
    h, w = g.shape
    x = (rng.standard_normal((300, h)) * 30).astype(np.float32)
    if not isgn:
        x = np.abs(x)
    fast, full = _pair(chip("ideal-int8", dac_bits=8), g)
    p = Precision(8, isgn, 0.25, 8, 0, 0)
    y = fast.mvm(1, 3, 5, h, w, x, p)
    assert diagonal_calls, "the depthwise region took the full product"
    n = len(diagonal_calls)
    _same_bits(y, full.mvm(1, 3, 5, h, w, x, p))
    assert len(diagonal_calls) == n  # grouped=False: the full product
    assert np.array_equal(y, _oracle(x, g, p).astype(np.float32))


def test_combined_depthwise_pairs_give_the_bits_of_the_full_product(diagonal_calls):
    # the differential pair combined by the mvm (sablk = 2): the combined cells are depthwise
    rng = np.random.default_rng(5)
    g = grouped_cells(rng, 9, 24, 1, 2, 1, 255)
    h, w = g.shape
    x = (rng.standard_normal((77, h)) * 40).astype(np.float32)
    fast, full = _pair(chip("ideal-int8", dac_bits=8), g)
    p, coef = Precision(8, 1, 0.5, 8, 0, 0), np.array([1.0, -1.0])
    y = fast.mvm_combined(1, 3, 5, h, w, x, p, coef)
    assert diagonal_calls
    _same_bits(y, full.mvm_combined(1, 3, 5, h, w, x, p, coef))
    expect = _oracle(x, g, p)
    assert np.array_equal(y, (expect[:, : w // 2] - expect[:, w // 2 :]).astype(np.float32))


@pytest.mark.parametrize("cells", ["multiplier", "two channels", "few groups", "float64 sums"])
def test_other_regions_keep_the_full_product(cells, diagonal_calls):
    rng = np.random.default_rng(6)
    layout = {"multiplier": (9, 28, 1, 1, 2), "two channels": (4, 28, 2, 1, 1),
              "few groups": (9, MIN_DIAGONAL_GROUPS - 4, 1, 1, 1)}.get(cells, (9, 28, 1, 1, 1))
    wide = cells == "float64 sums"  # 11-bit cells, 12-bit inputs: sums past 2**24
    top = 2047 if wide else 255
    g = grouped_cells(rng, *layout, top)
    h, w = g.shape
    x = np.abs(rng.standard_normal((50, h)) * 60).astype(np.float32)
    cfg = chip("ideal-int8", dac_bits=12, input_bits=12, cell_bits=11) if wide else \
        chip("ideal-int8", dac_bits=8)
    fast, full = _pair(cfg, g)
    p = Precision(12, 0, 0.01, 12, 0, 0) if wide else Precision(8, 0, 0.25, 8, 0, 0)
    y = fast.mvm(1, 3, 5, h, w, x, p)
    assert not diagonal_calls
    _same_bits(y, full.mvm(1, 3, 5, h, w, x, p))
    assert np.array_equal(y, _oracle(x, g, p).astype(np.float32))


@pytest.mark.parametrize("case", ["read_noise", "program_noise", "adc8", "ideal", "ideal-signed"])
def test_noisy_lossy_and_float_chips_keep_the_full_product(case, diagonal_calls):
    # noise reaches the zero cells (programming) or depends on every row (read); a real ADC
    # runs the bit-serial loop; float32 sums of float cells depend on the order BLAS sums in
    rng = np.random.default_rng(9)
    float_cells = case.startswith("ideal")
    g = grouped_cells(rng, 9, 28, 1, 1, 1, 1000 if float_cells else 255,
                      signed=case == "ideal-signed")
    if float_cells:
        g = g / np.float32(7)
    h, w = g.shape
    x = np.abs(rng.standard_normal((64, h)) * 20).astype(np.float32)
    if float_cells:
        cfg, p = chip(case), Precision(0, 0, 1.0, 1, 0, 0)
    else:
        nonideal = {case: 0.05} if case.endswith("noise") else {}
        cfg = chip("ideal-int8", dac_bits=8, adc_bits=8 if case == "adc8" else 0,
                   nonideal=nonideal)
        p = Precision(8, 0, 0.25, 1 if case == "adc8" else 8, 8 if case == "adc8" else 0, 2)
    fast, full = _pair(cfg, g, seed=11)
    _same_bits(fast.mvm(1, 3, 5, h, w, x, p), full.mvm(1, 3, 5, h, w, x, p))
    assert not diagonal_calls


def test_only_depthwise_cells_are_diagonal():
    rng = np.random.default_rng(4)
    g = grouped_cells(rng, 9, 28, 1, 2, 1, 255)
    d = find_diagonal(g)
    assert d is not None and (d.a, d.c, d.groups) == (9, 2, 28)
    x = rng.integers(-9, 10, (5, g.shape[0])).astype(np.float32)
    assert np.array_equal(d.product(x, None), x @ g)
    g[0, -1] = 1  # row 0 is group 0's, the last column group 27's
    assert find_diagonal(g) is None
    assert find_diagonal(rng.integers(1, 9, (64, 64)).astype(np.float32)) is None  # dense


def _grouped_model(channels: int, multiplier: int, group_channels: int) -> onnx.ModelProto:
    """x [2, C, 9, 9] -> depthwise 3x3 conv (C groups, pads 1) -> a conv of C // group_channels
    groups with ``multiplier`` outputs per group -> y."""
    rng = np.random.default_rng(channels)
    c2 = channels // group_channels * multiplier
    inits = [helper.make_tensor("W1", TensorProto.FLOAT, [channels, 1, 3, 3],
                                rng.standard_normal(channels * 9).astype(np.float32)),
             helper.make_tensor("W2", TensorProto.FLOAT, [c2, group_channels, 3, 3],
                                rng.standard_normal(c2 * group_channels * 9)
                                .astype(np.float32))]
    nodes = [helper.make_node("Conv", ["x", "W1"], ["h"], group=channels, pads=[1, 1, 1, 1],
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "W2"], ["y"], group=channels // group_channels,
                              kernel_shape=[3, 3])]
    graph = helper.make_graph(
        nodes, "grouped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, channels, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("channels,multiplier,group_channels", [(48, 2, 1), (40, 1, 2)])
def test_a_compiled_grouped_model_gives_the_same_bits(channels, multiplier, group_channels,
                                                      diagonal_calls):
    # 48 depthwise channels on 256-row arrays: super-blocks of 28 and 20 groups (ragged), then a
    # conv with a channel multiplier; 40 channels: 28 + 12 groups (12 too few for the
    # diagonals), then a grouped conv of two channels per group
    from imcc.compiler import CompileOptions, compile_model
    from runtime.machine import Machine

    cfg = chip("ideal-int8")
    x = np.random.default_rng(1).standard_normal((2, channels, 9, 9)).astype(np.float32)
    res = compile_model(_grouped_model(channels, multiplier, group_channels), cfg,
                        calib={"x": x}, options=CompileOptions(batch=2))
    fast = Machine(cfg, res.obj, crossbar=NumpyCrossbar(cfg)).run({"x": x})["y"]
    assert set(diagonal_calls) == ({28, 20} if channels == 48 else {28})
    n = len(diagonal_calls)
    full = Machine(cfg, res.obj, crossbar=NumpyCrossbar(cfg, grouped=False)).run({"x": x})["y"]
    assert len(diagonal_calls) == n
    _same_bits(fast, full)
    assert np.abs(full).max() > 0
