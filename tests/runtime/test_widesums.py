"""Float sums in float64 (runtime/widesums.py, ``accumulate="float64"``): each output is the
correctly rounded float32 sum of its products (the oracle: ``math.fsum`` of the exact float64
products, rounded once), whatever the region's width or the column's place in it."""

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc
import imcc.backend
from isa.diagnostics import ConfigError
from runtime.crossbar import NumpyCrossbar, Precision
from runtime.widesums import Float64Sums
from runtime.xpcrossbar import make_crossbar
from tests.runtime.helpers import chip

IDEAL = Precision(0, 1, 1.0, 1, 0, 0)  # ideal DAC and ADC: Y = X @ G


def _fsum(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The correctly rounded float32 sums ``x @ g`` (products of float32 values are exact in
    float64; ``fsum`` adds them exactly, rounding once)."""
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    return np.array([[math.fsum(x64[m] * g64[:, j]) for j in range(g.shape[1])]
                     for m in range(x.shape[0])], np.float64).astype(np.float32)


@pytest.mark.parametrize("vl,h,w", [(1, 256, 232), (2, 200, 24), (5, 37, 1000)])
def test_sums_are_correctly_rounded(vl, h, w):
    rng = np.random.default_rng(h)
    g = rng.standard_normal((h, w)).astype(np.float32)
    x = (rng.standard_normal((vl, h)) * 10.0 ** rng.integers(-3, 4, (vl, h))).astype(np.float32)
    xb = Float64Sums(chip("ideal", rows=256, cols=1024))
    xb.program(0, 0, 0, g)
    np.testing.assert_array_equal(xb.mvm(0, 0, 0, h, w, x, IDEAL), _fsum(x, g))


@pytest.mark.parametrize("w", [8, 24, 232, 1000])
def test_equal_columns_give_equal_outputs(w):
    """GoogLeNet's classifier: equal weights in every column, one input vector."""
    x = (np.arange(256, dtype=np.float32) / 7.0 + 1e3).reshape(1, 256)
    g = np.full((256, w), 0.02, np.float32)
    xb = Float64Sums(chip("ideal", cols=1024))
    xb.program(1, 0, 0, g)
    y = xb.mvm(1, 0, 0, 256, w, x, IDEAL)
    assert np.unique(y).size == 1 and y[0, 0] == _fsum(x, g[:, :1])[0, 0]


def test_combined_cells_and_reprogramming():
    """A differential pair's combined cells (mvm_combined), and new cells after the region is
    programmed again (the float64 copy of the old ones is dropped)."""
    rng = np.random.default_rng(1)
    xb = Float64Sums(chip("ideal"))
    x = rng.standard_normal((3, 64)).astype(np.float32)
    for _ in range(2):
        w = rng.standard_normal((64, 40)).astype(np.float32)
        xb.program(2, 0, 0, np.concatenate([np.maximum(w, 0), np.maximum(-w, 0)], axis=1))
        y = xb.mvm_combined(2, 0, 0, 64, 80, x, IDEAL, np.array([1.0, -1.0]))
        np.testing.assert_array_equal(y, _fsum(x, w))


def test_read_noise_is_the_reference_draw():
    """With read noise (no kernel: the currents and then the noise), the same draws as the
    float32 reference, added to the correctly rounded currents."""
    cfg = chip("ideal", nonideal={"read_noise": 0.01})
    rng = np.random.default_rng(2)
    g = rng.uniform(0, 1, (50, 30)).astype(np.float32)
    x = rng.standard_normal((4, 50)).astype(np.float32)
    wide, ref = Float64Sums(cfg, seed=3), NumpyCrossbar(cfg, seed=3)
    for xb in (wide, ref):
        xb.program(0, 0, 0, g)
    a, b = wide.mvm(0, 0, 0, 50, 30, x, IDEAL), ref.mvm(0, 0, 0, 50, 30, x, IDEAL)
    assert not np.array_equal(a, _fsum(x, g))  # noisy
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_make_crossbar_choices():
    assert type(make_crossbar("numpy", chip("ideal"), accumulate="float64")) is Float64Sums
    assert type(make_crossbar("numpy", chip("ideal"))) is NumpyCrossbar
    with pytest.raises(ConfigError, match="accumulate 'float16': the crossbar sums in float32 "
                                          "or float64"):
        make_crossbar("numpy", chip("ideal"), accumulate="float16")
    with pytest.raises(ConfigError, match="runs on the numpy backend"):
        make_crossbar("cupy", chip("ideal"), accumulate="float64")


def _classifier(w: int) -> onnx.ModelProto:
    """x[1, 256] @ W (0.02 everywhere) -> Softmax: equal logits, equal probabilities."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z"]),
             helper.make_node("Softmax", ["z"], ["y"], axis=1)]
    graph = helper.make_graph(
        nodes, "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w])],
        [numpy_helper.from_array(np.full((256, w), 0.02, np.float32), "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_program_run_and_the_backend_default():
    """Logits near 2e16 a float32 ulp apart would put the probability on a few columns (here,
    OpenBLAS's float32 sums gave 8 of the 1000 one ulp more: probabilities 0.125)."""
    x = (np.random.default_rng(0).uniform(0, 1, (1, 256)) * 1e17).astype(np.float32)
    model = _classifier(1000)
    prog = imcc.compile(model, "ideal")
    y = prog.run({"x": x}, accumulate="float64")["y"]
    np.testing.assert_array_equal(y, np.full((1, 1000), 1e-3, np.float32))
    (yb,) = imcc.backend.prepare(model).run([x])  # the backend sums in float64 by default
    np.testing.assert_array_equal(yb, y)
    with pytest.raises(ConfigError, match="accumulate 'x'"):
        prog.run({"x": x}, accumulate="x")


def test_imcc_run_accumulate(tmp_path):
    from click.testing import CliRunner

    from imcc.cli import cli

    x = (np.random.default_rng(0).uniform(0, 1, (1, 256)) * 1e17).astype(np.float32)
    onnx.save(_classifier(1000), tmp_path / "m.onnx")
    np.save(tmp_path / "x.npy", x)
    runner = CliRunner()
    r = runner.invoke(cli, ["compile", str(tmp_path / "m.onnx"), "--chip", "ideal", "-o",
                            str(tmp_path / "m.imo")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["run", str(tmp_path / "m.imo"), "--chip", "ideal", "--input",
                            f"x={tmp_path / 'x.npy'}", "--accumulate", "float64", "--output",
                            str(tmp_path / "y.npz"), "-q"])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npz")["y"],
                                  np.full((1, 1000), 1e-3, np.float32))
