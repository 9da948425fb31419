"""samples/digits/weights9.toml: on the rram and pcm presets, 9-bit weights fill the slices that
8-bit weights leave half used, at the same columns, conversions and energy (docs/torch.md)."""

from pathlib import Path

import numpy as np
import pytest

import imcc
from imcc.quant import SliceSpec, quantize, slice_blocks

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"


@pytest.mark.parametrize("chip", ["rram", "pcm"])
def test_nine_bit_weights_cost_what_eight_bit_weights_cost(chip):
    x = np.load(DIGITS / "test.npz")["x_img"][:8]
    eight = imcc.compile(DIGITS / "cnn.onnx", chip, calib=x, time_limit=0.5)
    nine = imcc.compile(DIGITS / "cnn.onnx", chip, calib=x, time_limit=0.5,
                        precision=DIGITS / "weights9.toml")
    for key in ("tiles", "arrays_used", "weight_bytes"):
        assert eight.report[key] == nine.report[key], key
    e8, e9 = eight.report["estimate"], nine.report["estimate"]
    assert e8["counts"] == e9["counts"] and e8["energy_pj"] == e9["energy_pj"]


@pytest.mark.parametrize("cell_bits", [2, 4])
def test_nine_bit_weights_use_the_top_slice_whole(cell_bits):
    w = np.linspace(-1, 1, 512, dtype=np.float32).reshape(-1, 1)
    tops = {}
    for bits in (8, 9):
        spec = SliceSpec(bits, cell_bits, "differential")
        blocks = slice_blocks(quantize(w, bits).values, spec)
        assert spec.blocks == 8 // cell_bits * 2  # the same columns either way
        tops[bits] = int(blocks[-2:].max())  # the top slice, both polarities
    assert tops[9] == 2**cell_bits - 1 and tops[8] == 2 ** (cell_bits - 1) - 1
