"""With device noise on, an analog layer's errors (chip output minus the noise-free output)
have the interpreter's mean and standard deviation over many seeds, within 5 %: rram
(programming noise, read noise, stuck cells) and pcm read a day after programming (drift, with
each drift compensation). Seeds and modes: eval() is reproducible per seed and read time and
differs between seeds; train() draws a fresh chip at every step."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import imcc.torch as it  # noqa: E402
from runtime.config import ChipConfig, preset  # noqa: E402
from tests.torch.helpers import interpreter, noise_free  # noqa: E402

SEEDS = 32
DAY = 86400.0
HAS_COMPENSATION = any(f.name == "drift_compensation" for f in dataclasses.fields(ChipConfig))


def _layer():
    """300 inputs (two K-tiles of 256 rows) onto 64 outputs; weights mostly positive and
    inputs non-negative, so the errors have a mean well away from 0 as well as a spread."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(300, 64))
    with torch.no_grad():
        net[0].weight.copy_(torch.rand(64, 300) * 0.1 - 0.02)
    x = torch.relu(torch.randn(16, 300, generator=torch.Generator().manual_seed(2)))
    return net, x


def _errors(chip, time: float):
    net, x = _layer()
    clean = dataclasses.replace(chip, nonideal=noise_free(chip.name).nonideal)
    m = it.convert(net, chip)
    it.calibrate(m, x)
    m.eval()
    it.set_time(m, time)
    m0 = it.convert(net, clean)
    it.calibrate(m0, x)
    with torch.no_grad():
        y0 = m0.eval()(x).numpy()
        ours = []
        for s in range(SEEDS):
            it.set_seed(m, s)
            ours.append(m(x).numpy() - y0)
    (ref0,) = interpreter(net, x, clean, x, x)
    np.testing.assert_array_equal(ref0, y0)  # the noise-free outputs agree bit for bit
    theirs = [y - ref0 for y in interpreter(net, x, chip, x, x, seeds=range(SEEDS), time=time)]
    return np.array(ours), np.array(theirs)


def _check(ours, theirs, *, mean=True):
    assert theirs.std() > 0
    assert abs(ours.std() / theirs.std() - 1) <= 0.05, (ours.std(), theirs.std())
    if not mean:  # zero-mean noise: no mean to compare
        assert abs(ours.mean() - theirs.mean()) <= 0.05 * theirs.std()
        return
    assert abs(theirs.mean()) > 0.1 * theirs.std()  # a mean worth comparing
    assert abs(ours.mean() / theirs.mean() - 1) <= 0.05, (ours.mean(), theirs.mean())


def _only(name: str, **device):
    """The preset with only the device effects ``device`` (the others off)."""
    return dataclasses.replace(preset(name), nonideal=dataclasses.replace(
        noise_free(name).nonideal, **device))


@pytest.mark.parametrize("chip, mean", [
    (preset("rram"), True),
    (_only("pcm", stuck_on=0.002, stuck_off=0.01), False),
    (_only("pcm", program_noise=0.03), True),
    (_only("pcm", read_noise=0.15), False),  # one 8-bit cycle: the noise outgrows the ADC step
], ids=["rram", "stuck-cells", "programming-noise", "read-noise"])
def test_device_noise_errors_match_the_interpreter(chip, mean):
    """The rram preset, and each device effect alone (on pcm's one-cycle converters)."""
    _check(*_errors(chip, 0.0), mean=mean)


@pytest.mark.parametrize("mode", ["preset", "none", "per-column"])
def test_pcm_drift_errors_match_the_interpreter(mode):
    chip = preset("pcm")
    if mode != "preset":
        if not HAS_COMPENSATION:
            pytest.skip("this chip model has no drift compensation option")
        chip = dataclasses.replace(chip, drift_compensation=mode)
    _check(*_errors(chip, DAY))


def test_drift_compensation_restores_the_scale():
    """Without compensation a day of drift shrinks the outputs; the global compensation's
    factor undoes most of the shrinkage (the least-squares gain from the outputs at time 0 to
    those a day later)."""
    if not HAS_COMPENSATION:
        pytest.skip("this chip model has no drift compensation option")
    base = dataclasses.replace(preset("pcm"), nonideal=dataclasses.replace(
        preset("pcm").nonideal, program_noise=0.0, read_noise=0.0))
    gains = {}
    for mode in ("none", "global"):
        net, x = _layer()
        m = it.convert(net, dataclasses.replace(base, drift_compensation=mode))
        it.calibrate(m, x)
        m.eval()
        with torch.no_grad():
            y0 = m(x).numpy()
            it.set_time(m, DAY)
            y = m(x).numpy()
            gains[mode] = float((y * y0).sum() / (y0 * y0).sum())  # least-squares gain
    assert gains["none"] < 0.8  # (1 day / 20 s) ** -0.05 = 0.66
    # most of it (the coarse ADC's rounding of the shrunk currents leaves a few per cent,
    # in the interpreter as here)
    assert abs(gains["global"] - 1) < 0.25 * abs(gains["none"] - 1), gains


def test_eval_is_reproducible_per_seed_and_time():
    net, x = _layer()
    m = it.convert(net, "pcm")
    it.calibrate(m, x)
    m.eval()

    def run(seed, time):
        it.set_seed(m, seed)
        it.set_time(m, time)
        with torch.no_grad():
            return m(x).numpy(), m(x).numpy()

    a1, a2 = run(3, DAY)
    b1, b2 = run(3, DAY)
    np.testing.assert_array_equal(a1, b1)  # the same chip and the same reads again
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)  # read noise: every forward pass reads anew
    c1, _ = run(4, DAY)
    d1, _ = run(3, 60.0)
    assert not np.array_equal(a1, c1) and not np.array_equal(a1, d1)


def test_train_mode_draws_a_fresh_chip_every_step():
    net, x = _layer()
    chip = dataclasses.replace(preset("rram"), nonideal=dataclasses.replace(
        preset("rram").nonideal, read_noise=0.0))  # programming noise and stuck cells only
    m = it.convert(net, chip)
    it.calibrate(m, x)
    m.train()
    with torch.no_grad():
        outs = [m(x).numpy() for _ in range(3)]
    assert not np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[1], outs[2])
    torch.manual_seed(5)  # torch's generator decides the draws
    with torch.no_grad():
        a = m(x).numpy()
    torch.manual_seed(5)
    with torch.no_grad():
        b = m(x).numpy()
    np.testing.assert_array_equal(a, b)
    m.eval()
    with torch.no_grad():  # eval keeps the chip of its seed
        np.testing.assert_array_equal(m(x).numpy(), m(x).numpy())
