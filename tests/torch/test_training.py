"""train(): the chip's noise in the forward pass, the float layer's gradients in the backward
pass (straight through), the float weights as the trainable parameters, and input ranges
observed as a training loop runs; plus what a converted model keeps and gives back."""

import copy
import dataclasses
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import imcc.torch as it  # noqa: E402
from isa.diagnostics import ConfigError, InputError, ToolchainError  # noqa: E402
from imcc.torch.layers import _noisier  # noqa: E402
from runtime.config import NonIdeal, preset  # noqa: E402
from tests.torch.helpers import noise_free, small_net  # noqa: E402


def _grads(model, x, g):
    model.zero_grad()
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y * g).sum().backward()
    return y.detach(), x.grad, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv2d(4, 6, 3, padding=1, groups=2), (5, 4, 7, 7)),
    (nn.Conv1d(3, 5, 3, stride=2), (4, 3, 11)),
    (nn.Linear(20, 7), (3, 6, 20)),
])
def test_train_gradients_are_the_float_layers(layer, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    m = it.convert(layer, "rram").train()
    y_chip, gx, gp = _grads(m, x, torch.ones(1))
    g = torch.randn_like(y_chip)
    y_chip, gx, gp = _grads(m, x, g)
    y_float, fx, fp = _grads(layer, x, g)
    assert not torch.equal(y_chip, y_float)  # the forward pass is the chip's
    assert torch.allclose(y_chip, y_float, atol=0.5 * float(y_float.abs().max()))
    torch.testing.assert_close(gx, fx, rtol=0, atol=0)
    assert gp.keys() == fp.keys() == {"weight", "bias"}
    for k in gp:
        torch.testing.assert_close(gp[k], fp[k], rtol=0, atol=0)


def test_training_observes_the_input_range_and_sign():
    net = small_net()
    m = it.convert(net, "rram").train()
    x = torch.randn(4, 3, 8, 8)
    m(x)
    m(2 * x)
    assert m.conv1._input_amax == pytest.approx(float((2 * x).abs().max()))
    assert m.conv1.input_signed  # negative inputs seen
    assert not m.conv2.input_signed  # after a ReLU
    ranges = it.calibrate(m, x)  # the compiler's own numbers replace the observed ones
    assert ranges["/conv1/Conv"] == (pytest.approx(float(x.abs().max())), True)
    assert ranges["/conv2/Conv"][1] is False
    assert ranges["/dw/Conv"][1] is False  # nonnegative() proves it: the ReLU before it


def test_a_training_loop_updates_the_float_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    m = it.convert(net, "rram")
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.randn(64, 8)
    t = (x[:, :1] > 0).long().reshape(-1)
    before = m[0].weight.detach().clone()
    losses = []
    for _ in range(30):
        loss = nn.functional.cross_entropy(m(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert not torch.equal(before, m[0].weight)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert set(dict(m.named_parameters())) == set(dict(net.named_parameters()))


def test_state_dict_keeps_the_input_ranges_and_to_float_gives_the_plain_model():
    net = small_net()
    x = torch.randn(6, 3, 8, 8)
    m = it.convert(net, "ideal-int8")
    it.calibrate(m, x)
    m2 = it.convert(small_net(seed=1), "ideal-int8")
    m2.load_state_dict(m.state_dict())
    m.eval()
    m2.eval()
    with torch.no_grad():
        np.testing.assert_array_equal(m(x).numpy(), m2(x).numpy())
    f = it.to_float(m)
    assert not it.analog_layers(f) and type(f.conv1) is nn.Conv2d
    with torch.no_grad():
        np.testing.assert_array_equal(f(x).numpy(), net(x).numpy())
    c = copy.deepcopy(m)
    with torch.no_grad():
        np.testing.assert_array_equal(c(x).numpy(), m2(x).numpy())


def test_errors_are_one_line_toolchain_errors():
    net = small_net()
    m = it.convert(net, "rram").eval()
    with pytest.raises(InputError, match="no input range yet.*imcc.torch.calibrate"):
        m(torch.randn(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="unknown chip preset"):
        it.convert(net, "no-such-chip")
    with pytest.raises(ConfigError, match="already converted"):
        it.convert(m, "rram")
    with pytest.raises(ConfigError, match="dac_bits = 2 exceeds the chip's DAC"):
        it.convert(net, "rram", precision={"layer": [{"match": "/fc/*", "dac_bits": 2}]})
    with pytest.raises(ConfigError, match="seed"):
        it.set_seed(m, -1)
    with pytest.raises(ToolchainError):
        it.calibrate(nn.Linear(2, 2), torch.zeros(1, 2))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        it.convert(net, "rram", precision={"layer": [{"match": "/nothing/*", "adc_bits": 4}]})
    assert any("matches no IMC layer" in str(x.message) for x in w)


def test_train_noise_scales_the_injected_noise_and_leaves_eval_alone():
    torch.manual_seed(0)
    layer = nn.Linear(48, 16)
    x = torch.rand(32, 48)
    # an ideal ADC, whose rounding would otherwise swallow part of the smaller noise
    clean = it.convert(layer, noise_free("ideal-int8"))
    it.calibrate(clean, x)
    with torch.no_grad():
        want = clean.eval()(x)
    noisy = dataclasses.replace(preset("ideal-int8"), nonideal=NonIdeal(program_noise=0.02,
                                                                       read_noise=0.005))
    m = it.convert(layer, noisy)
    it.calibrate(m, x)

    def spread(scale):
        it.set_train_noise(m, scale)
        m.train()
        with torch.no_grad():
            return float(torch.stack([m(x) - want for _ in range(12)]).std())

    assert spread(0.0) == 0.0  # no noise: exactly the noise-free chip, in train() too
    s1, s3 = spread(1.0), spread(3.0)
    assert s1 > 0 and 2.5 < s3 / s1 < 3.5  # three times the noise amplitudes
    it.set_seed(m, 4)
    with torch.no_grad():
        a = m.eval()(x)
        it.set_train_noise(m, 1.0)
        it.set_seed(m, 4)
        b = m.eval()(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)  # eval() simulates the chip as it is
    with pytest.raises(ConfigError, match="scale"):
        it.set_train_noise(m, -1)
    ni = _noisier(preset("rram"), 2.0).nonideal  # stuck fractions scale too, capped at 1
    assert (ni.stuck_on, ni.stuck_off) == (0.002, 0.01)
    ni = _noisier(preset("rram"), 1000.0).nonideal
    assert ni.stuck_on + ni.stuck_off <= 1.0 and ni.stuck_on > 0.1
