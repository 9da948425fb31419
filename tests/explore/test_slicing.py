"""Bit-slicing with digital shift-and-add is exact when the chip is lossless: a Gemm compiled
with 1..8 bits per cell gives the same outputs as with 8 bits per cell (one slice, unsliced),
and both equal an integer numpy oracle written from the quantization rules of docs/machine.md
and imcc/quant.py (symmetric per-output-column weights, one input step per layer)."""

import numpy as np
import pytest

from imcc.compiler import CompileOptions, compile_model
from imcc.precision import PrecisionConfig
from runtime.machine import Machine

from .helpers import chip, gemm_model

K, N, B = 40, 12, 16


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rng = np.random.default_rng(7)
    W = rng.standard_normal((K, N)).astype(np.float32)
    W[:, 3] *= 0.01  # a column with a very different scale
    b = rng.standard_normal(N).astype(np.float32)
    x = rng.standard_normal((B, K)).astype(np.float32)
    calib = rng.standard_normal((64, K)).astype(np.float32)
    path = gemm_model(tmp_path_factory.mktemp("slice") / "gemm.onnx", W, b)
    return path, W, b, x, calib


def oracle(W, b, x, calib, w_bits=8, in_bits=8):
    """Integer product of the quantized input and weights, then dequantized (float32)."""
    qx = (1 << (in_bits - 1)) - 1  # the input is signed (a graph input)
    step = np.float32(np.abs(calib).max() / qx)
    q = np.clip(np.rint(x / step), -qx, qx).astype(np.int64)
    qw = (1 << (w_bits - 1)) - 1
    scale = (np.abs(W).max(axis=0) / qw).astype(np.float32)
    wq = np.clip(np.rint(W / scale), -qw, qw).astype(np.int64)
    acc = q @ wq  # exact integers
    return acc, (acc * (np.float64(step) * scale.astype(np.float64)) + b).astype(np.float32)


def run(path, chip_cfg, x, calib, **prec):
    pc = PrecisionConfig(default=tuple(sorted(prec.items())))
    res = compile_model(path, chip_cfg, precision=pc, calib={"input": calib},
                        options=CompileOptions(batch=B, workers=1))
    return Machine(chip_cfg, res.obj).run({"input": x})["y"]


@pytest.mark.parametrize("scheme", ["differential", "offset"])
@pytest.mark.parametrize("dac_bits", [1, 8])
def test_every_cell_width_equals_unsliced_and_the_integer_oracle(setup, scheme, dac_bits):
    path, W, b, x, calib = setup
    c = chip("ideal-int8", name="lossless", dac_bits=8)  # 8-bit cells, ideal ADC, no noise
    acc, want = oracle(W, b, x, calib)
    unsliced = run(path, c, x, calib, cell_bits=8, dac_bits=dac_bits, signed=scheme)
    # The dequantized oracle is float; the machine's float32 vfma may differ in the last bit.
    tol = 4 * np.finfo(np.float32).eps * (np.abs(want) + np.abs(b)).max()
    np.testing.assert_allclose(unsliced, want, rtol=0, atol=tol)
    assert np.abs(acc).max() > 1000  # the product exercises many bits of every slice
    for cell_bits in range(1, 9):
        got = run(path, c, x, calib, cell_bits=cell_bits, dac_bits=dac_bits, signed=scheme)
        np.testing.assert_array_equal(got, unsliced, err_msg=f"cell_bits={cell_bits}")


def test_a_finite_adc_wide_enough_is_lossless_too(setup):
    path, W, b, x, calib = setup
    # 2-bit cells, 1-bit DAC: a column current is at most 3 * 40 = 120 levels per cycle, so a
    # 9-bit signed ADC never rounds or clips.
    c = chip("ideal-int8", name="adc9", cell_bits=2, dac_bits=1, adc_bits=9)
    got = run(path, c, x, calib, cell_bits=2, dac_bits=1, adc_bits=9)
    ref = run(path, chip("ideal-int8", name="lossless"), x, calib, cell_bits=8, dac_bits=1)
    np.testing.assert_array_equal(got, ref)
    # ... and a 4-bit ADC is not (the test above would catch a converter that did nothing).
    c4 = chip("ideal-int8", name="adc4", cell_bits=2, dac_bits=1, adc_bits=4)
    assert not np.array_equal(run(path, c4, x, calib, cell_bits=2, dac_bits=1, adc_bits=4), ref)
