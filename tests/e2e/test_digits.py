"""The product's main job on the bundled sample: compile the digit classifiers for an 8-bit chip
(8-bit weights and inputs, an ADC that is lossless for its array height), run the held-back test
split on the reference machine, and compare top-1 accuracy with the float model's (onnx's
reference evaluator)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from imcc.compiler import CompileOptions, compile_model
from runtime.config import config_from_dict, preset
from runtime.machine import Machine, run_batched

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"


def _chip_lossless_adc():
    # 8-bit cells hold a whole 7-bit magnitude; bit-serial 1-bit DAC; the ADC needs
    # log2(256 rows * 255 levels) + 1 sign bit = 17 bits to be lossless for a full array.
    d = preset("ideal-int8").to_dict()
    d.update(name="int8-adc17", dac_bits=1, adc_bits=17)
    return config_from_dict(d, "test")


@pytest.mark.parametrize("model,key", [("mlp", "x"), ("cnn", "x_img")])
@pytest.mark.parametrize("priority", ["efficiency", "resource"])
def test_accuracy_within_half_a_point_of_float(model, key, priority):
    data = np.load(DIGITS / "test.npz")
    x, y = data[key].astype(np.float32), data["y"]
    chip = _chip_lossless_adc()
    res = compile_model(DIGITS / f"{model}.onnx", chip, calib={"input": x[:100]},
                        options=CompileOptions(batch=64, priority=priority))
    out = run_batched(Machine(chip, res.obj), {"input": x})["logits"]
    ref = ReferenceEvaluator(onnx.load(DIGITS / f"{model}.onnx")).run(None, {"input": x})[0]
    acc_imc = float((out.argmax(1) == y).mean())
    acc_float = float((ref.argmax(1) == y).mean())
    assert acc_float > 0.95
    assert acc_imc >= acc_float - 0.005, (acc_imc, acc_float)
