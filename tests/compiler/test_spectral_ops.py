"""DFT and STFT (imcc/passes/composite_spectral.py) compiled for the ideal chip and run on the
reference machine, against numpy's float64 FFT (forward, inverse, one-sided, the inverse of a
one-sided spectrum; padded, truncated; real and complex signals; any axis) and onnx's
reference evaluator."""

import numpy as np
import pytest

from tests.compiler.helpers import helper, make_model, reference, run_compiled

F = np.float32
R = np.random.default_rng(17)


def _complex(a: np.ndarray) -> np.ndarray:
    return a[..., 0] + 1j * a[..., 1] if a.shape[-1] == 2 else a[..., 0]


def _close(got, want):
    """Within float32 sums of the signal's size: relative to the output's largest value."""
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * scale)


def _dft_oracle(x, length, axis, inverse, onesided):
    s = _complex(x.astype(np.float64))
    if inverse and onesided:
        return np.fft.irfft(s, n=length, axis=axis)[..., None]
    y = np.fft.ifft(s, n=length, axis=axis) if inverse else np.fft.fft(s, n=length, axis=axis)
    if onesided and not inverse:
        y = np.take(y, np.arange(length // 2 + 1), axis=axis)
    return np.stack([y.real, y.imag], -1)


#: (parts, inverse, onesided): a one-sided forward transform takes a real signal (onnx's
#: checker), the inverse of a one-sided spectrum complex bins.
KINDS = [(1, 0, 0), (2, 0, 0), (1, 0, 1), (1, 1, 0), (2, 1, 0), (2, 1, 1)]


@pytest.mark.parametrize("parts,inverse,onesided", KINDS)
@pytest.mark.parametrize("n,length", [(8, None), (7, None), (6, 9), (10, 7)])
def test_dft_against_numpy(parts, inverse, onesided, n, length, tmp_path):
    x = R.standard_normal((2, n, 3, parts)).astype(F)
    inputs, inits, ins = [("x", F, x.shape)], {}, ["x", "", "axis"]
    if length is not None:
        ins[1] = "len"
        inits["len"] = np.array(length, np.int64)
    inits["axis"] = np.array(1, np.int64)
    node = helper.make_node("DFT", ins, ["y"], inverse=inverse, onesided=onesided)
    m = make_model([node], inputs, [("y", F, None)], inits=inits, opset=20)
    got, _ = run_compiled(m, {"x": x}, tmp_path)
    size = length or (2 * (n - 1) if inverse and onesided else n)
    want = _dft_oracle(x, size, 1, inverse, onesided)
    _close(got[0], want)
    np.testing.assert_allclose(got[0], reference(m, {"x": x})[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("axis", [0, 2, -2])
def test_dft_axes_and_opset17_attribute(axis, tmp_path):
    x = R.standard_normal((4, 5, 6, 2)).astype(F)
    node = helper.make_node("DFT", ["x"], ["y"], axis=axis)
    m = make_model([node], [("x", F, x.shape)], [("y", F, None)], opset=17)
    got, _ = run_compiled(m, {"x": x}, tmp_path)
    _close(got[0], _dft_oracle(x, x.shape[axis % 4], axis % 4, False, False))


def test_backend_inverse_dft_case_is_exact(tmp_path):
    """onnx's test_dft_inverse: the inverse DFT of 0 .. 99 along an axis of 10. Its expected
    values come from numpy's float32 FFT; the machine's match the exact transform (float64)
    more closely than those do, and those miss it by more than the runner's atol of 1e-7
    (expected_failures.EXPECTED_MISMATCHES)."""
    x = np.arange(100, dtype=np.complex64).reshape(10, 10)
    expected = np.fft.ifft(x, axis=0)  # what the case stores (complex64 arithmetic)
    exact = np.fft.ifft(x.astype(np.complex128), axis=0)
    xin = np.stack((x.real, x.imag), axis=2).astype(F).reshape(1, 10, 10, 2)
    node = helper.make_node("DFT", ["x"], ["y"], inverse=1, axis=1)
    m = make_model([node], [("x", F, xin.shape)], [("y", F, None)], opset=19)
    got, _ = run_compiled(m, {"x": xin}, tmp_path)
    got = _complex(got[0][0])
    assert np.abs(got - exact).max() < 1e-5
    assert np.abs(expected.imag - exact.imag).max() > 1e-7  # the stored values' rounding
    assert np.abs(got.imag - exact.imag).max() < np.abs(expected.imag - exact.imag).max()


def _stft_oracle(x, step, window, frame, onesided):
    s = _complex(x.astype(np.float64))
    frames = 1 + (s.shape[1] - frame) // step
    cut = np.stack([s[:, f * step : f * step + frame] for f in range(frames)], 1)
    y = np.fft.fft(cut * window, axis=2)
    if onesided:
        y = y[:, :, : frame // 2 + 1]
    return np.stack([y.real, y.imag], -1)


@pytest.mark.parametrize("window", ["none", "constant", "runtime"])
@pytest.mark.parametrize("parts,onesided", [(1, 1), (1, 0), (2, 0)])
def test_stft_against_numpy(window, parts, onesided, tmp_path):
    x = R.standard_normal((2, 30, parts)).astype(F)
    step, frame = 4, 8
    w = np.hanning(frame).astype(F)
    ins, inputs, inits, feeds = ["x", "step", "", "frame"], [("x", F, x.shape)], {}, {"x": x}
    inits["step"], inits["frame"] = np.array(step, np.int64), np.array(frame, np.int64)
    if window == "constant":
        ins[2] = "w"
        inits["w"] = w
    elif window == "runtime":
        ins[2] = "w"
        inputs.append(("w", F, (frame,)))
        feeds["w"] = w
    node = helper.make_node("STFT", ins, ["y"], onesided=onesided)
    m = make_model([node], inputs, [("y", F, None)], inits=inits, opset=17)
    got, _ = run_compiled(m, feeds, tmp_path)
    want = _stft_oracle(x, step, w if window != "none" else 1.0, frame, onesided)
    _close(got[0], want)


def test_dft_length_fed_at_run_time_is_refused_with_the_input_to_bind(tmp_path):
    import imcc

    node = helper.make_node("DFT", ["x", "len"], ["y"], axis=1)
    m = make_model([node], [("x", F, (1, 8, 1)), ("len", np.int64, ())],
                   [("y", F, (1, 8, 2))], opset=17)
    with pytest.raises(imcc.Error, match="dft_length"):
        imcc.compile(m.SerializeToString(), "ideal")


def test_pytorch_spectrogram_export(tmp_path):
    """``torch.stft`` and ``torch.fft.rfft`` exported by PyTorch's dynamo exporter (STFT and
    DFT nodes), against PyTorch's own values."""
    torch = pytest.importorskip("torch")
    import imcc

    class Spectra(torch.nn.Module):
        def forward(self, x):
            s = torch.stft(x, 16, hop_length=4, window=torch.hann_window(16),
                           return_complex=True, center=False)
            return s.abs(), torch.view_as_real(torch.fft.rfft(x, dim=-1))

    x = torch.randn(2, 64)
    path = tmp_path / "spectra.onnx"
    torch.onnx.export(Spectra(), (x,), dynamo=True).save(path)
    want = [t.numpy() for t in Spectra()(x)]
    got = imcc.compile(path, "ideal").run(x.numpy())
    for g, w in zip(got.values(), want):
        _close(g, w)
