"""The engine compiles once per compile key and runs every noise level and seed on that
program. That is sound only if the device model does not change what the compiler emits: compile
for a noisy chip and for the same chip without noise and compare every part of the object."""

import dataclasses
import json

import numpy as np

from imcc.compiler import CompileOptions, compile_model
from imcc.explore.evaluate import Point, Study, compile_key
from imcc.explore.data import make_dataset
from runtime.config import preset

from .helpers import DIGITS, chip, digits


def test_device_model_does_not_change_the_program():
    x, _ = digits("x_img")
    noisy = chip("pcm", name="pcm", nonideal={"seed": 5, "stuck_on": 0.01})
    clean = chip("pcm", name="pcm", nonideal={k: 0.0 for k in (
        "program_noise", "read_noise", "stuck_on", "stuck_off", "drift_nu", "drift_nu_std")})
    assert noisy.hash != clean.hash and noisy.program_hash == clean.program_hash
    opts = CompileOptions(batch=32, workers=1)
    a = compile_model(DIGITS / "cnn.onnx", noisy, calib={"input": x[:50]}, options=opts).obj
    b = compile_model(DIGITS / "cnn.onnx", clean, calib={"input": x[:50]}, options=opts).obj
    for f in dataclasses.fields(a):
        assert getattr(a, f.name) == getattr(b, f.name), f.name
    ma, mb = json.loads(a.map_json), json.loads(b.map_json)
    ma["chip"].pop("hash"), mb["chip"].pop("hash")
    assert ma == mb


def test_compile_key_ignores_noise_and_time_but_not_precision():
    x, y = digits("x")
    data = make_dataset(DIGITS / "linear.onnx", {"input": x[:120]}, y[:120], calib=100)
    st = Study.make(DIGITS / "linear.onnx", preset("rram"), None, CompileOptions(), None, data)

    def key(*ov):
        return compile_key(st, Point(tuple(ov)))

    assert key() == key(("noise", 0.1)) == key(("noise_scale", 0.0)) == key(("time", 1e4))
    assert key() == key(("nonideal.drift_nu", 0.05))
    assert len({key(), key(("adc_bits", 6)), key(("weight_bits", 6)), key(("cell_bits", 1)),
                key(("cost.read_ns", 50.0))}) == 5
    assert np.isfinite(data.float_score()["accuracy"])
