"""A converted model in eval() with the device noise off gives the interpreter's outputs for
the same chip and calibration: bit for bit where the chip's cells are integer levels (the
compiler's tiling, quantization, ADC steps and the machine's accumulation order reproduced),
to float32 rounding on the float chip. Small arrays (40 x 48) cut every layer into several
K-tiles and column ranges; precision files exercise lossy ADCs, the offset scheme and one
array per slice."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import imcc.torch as it  # noqa: E402
from tests.torch.helpers import PACK_TIME, interpreter, noise_free, small_net  # noqa: E402

GEOMETRY = {"rows": 40, "cols": 48}

CASES = {
    "ideal-int8": None,
    "rram": {"layer": [{"match": "/conv1/*", "adc_bits": 4, "input_bits": 6},
                       {"match": "/head/*", "signed": "offset", "weight_bits": 4},
                       {"match": "/g2/*", "slices": "arrays", "adc_bits": 5}]},
    "pcm": {"default": {"slices": "arrays", "signed": "offset", "adc_bits": 5},
            "layer": [{"match": "/conv1/*", "adc_bits": 3, "dac_bits": 2},
                      {"match": "/fc/*", "slices": "columns", "signed": "differential"}]},
}


def _data():
    g = torch.Generator().manual_seed(1)
    calib = torch.randn(12, 3, 8, 8, generator=g)
    test = 1.3 * torch.randn(6, 3, 8, 8, generator=g)  # beyond the calibrated range too
    return calib, test


@pytest.mark.parametrize("name", list(CASES))
def test_noise_free_integer_chips_are_bit_exact(name):
    net = small_net()
    chip = noise_free(name, **GEOMETRY)
    calib, test = _data()
    m = it.convert(net, chip, precision=CASES[name])
    it.calibrate(m, calib)
    m.eval()
    with torch.no_grad():
        got = m(test).numpy()
    (want,) = interpreter(net, test[:2], chip, calib, test, precision=CASES[name])
    assert np.abs(want).max() > 0
    np.testing.assert_array_equal(got, want)


def test_ideal_float_chip_agrees_to_float_rounding():
    net = small_net()
    calib, test = _data()
    m = it.convert(net, "ideal")
    it.calibrate(m, calib)
    m.eval()
    with torch.no_grad():
        got = m(test).numpy()
        flt = net(test).numpy()
    (want,) = interpreter(net, test[:2], noise_free("ideal"), calib, test)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-6 * scale
    assert np.abs(got - flt).max() <= 1e-6 * scale  # the float chip computes the float model


def test_compile_of_a_converted_model_is_the_interpreters_program():
    """imcc.torch.compile exports the trained float weights and compiles them with the
    converted model's chip and precision: its outputs are the oracle's."""
    net = small_net()
    chip = noise_free("rram", **GEOMETRY)
    calib, test = _data()
    m = it.convert(net, chip, precision=CASES["rram"])
    prog = it.compile(m, test[:2], calib=calib, priority="resource", time_limit=PACK_TIME)
    got = prog.run(test.numpy())["output"]
    (want,) = interpreter(net, test[:2], chip, calib, test, precision=CASES["rram"])
    np.testing.assert_array_equal(got, want)
    assert [t.name for t in prog.inputs] == ["x"]


def test_the_adc_rule_in_torch_is_the_machines():
    """imcc.torch.chip.adc_codes against runtime.converters.adc_codes (the rule the reference
    machine and the CUDA kernel apply): ties at every half code, both clip ends, per-column
    steps, in float32 and float64."""
    from imcc.torch.chip import adc_codes as torch_codes
    from runtime.converters import adc_codes

    rng = np.random.default_rng(5)
    down = 2.0 ** -rng.integers(0, 4, 16)
    ties = (np.arange(-300, 300)[:, None] + 0.5) / down  # I * down = k + 0.5 exactly
    for dtype in (np.float32, np.float64):
        cur = np.concatenate([ties, rng.uniform(-2000, 2000, (600, 16))]).astype(dtype)
        for col, d in enumerate(down):
            want = adc_codes(cur[:, col].copy(), float(d), -128.0, 127.0)
            got = torch_codes(torch.from_numpy(cur), torch.from_numpy(down.astype(dtype)),
                              -128.0, 127.0)[:, col].numpy()
            np.testing.assert_array_equal(got, want)
