"""The array-module crossbar backend (``--backend cupy``) against the int64 oracle and the numpy
reference backend. It runs with numpy as its array module everywhere, and with CuPy too where
CuPy finds a GPU."""

import numpy as np
import pytest

from isa.diagnostics import ConfigError
from runtime.crossbar import NumpyCrossbar, Precision
from runtime.xpcrossbar import ArrayCrossbar, make_crossbar
from tests.runtime.helpers import chip
from tests.runtime.test_crossbar import NOISY, oracle


def _cupy_or_none():
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except (ImportError, RuntimeError, OSError):  # no CuPy, no driver, no GPU
        return None


_CUPY = _cupy_or_none()


@pytest.fixture(params=["numpy", "cupy"] if _CUPY is not None else ["numpy"])
def xp(request):
    """The array module: numpy everywhere, CuPy too where it finds a GPU."""
    return np if request.param == "numpy" else _CUPY


def _pair(cfg, xp, **kw):
    stack = kw.pop("stack_elements", None)
    ref = NumpyCrossbar(cfg, **kw)
    dev = ArrayCrossbar(cfg, xp, **kw) if stack is None else \
        ArrayCrossbar(cfg, xp, stack_elements=stack, **kw)
    return ref, dev


def _overlapping(rng, vl, h, xs, scale):
    flat = (rng.standard_normal((vl - 1) * xs + h) * scale).astype(np.float32)
    return np.lib.stride_tricks.as_strided(flat, (vl, h), (4 * xs, 4))


@pytest.mark.parametrize("seed", range(24))
def test_integer_cells_are_bit_identical_to_the_oracle_and_the_reference(seed, xp):
    """Random converter settings on integer cells: the stacked cycles give exactly the int64
    oracle and the numpy backend, for contiguous, strided and overlapping inputs, in one stack
    or in chunks of vectors."""
    rng = np.random.default_rng(1000 + seed)
    cell_bits = int(rng.integers(1, 12))
    ibits, isgn = int(rng.integers(2, 17)), int(rng.integers(0, 2))
    dacb = int(rng.integers(1, ibits + 1))
    adcb = int(rng.choice([0, int(rng.integers(1, 17))]))
    adcsh = int(rng.integers(0, 6)) if adcb else 0
    iscale = float(rng.choice([0.25, 0.7, 1.0, 3.0]))
    h, w, vl = int(rng.integers(1, 200)), int(rng.integers(1, 120)), int(rng.integers(2, 40))
    g = rng.integers(0, 2**cell_bits, (h, w)).astype(np.float32)
    layout = seed % 3
    scale = 2**ibits * iscale / 3
    if layout == 0:
        x = (rng.standard_normal((vl, h)) * scale).astype(np.float32)
    elif layout == 1:  # rows further apart than their length (an output's row stride)
        x = (rng.standard_normal((vl, h + 7)) * scale).astype(np.float32)[:, :h]
    else:
        x = _overlapping(rng, vl, h, max(1, h // 3), scale)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=24, adc_bits=16, input_bits=ibits)
    p = Precision(ibits, isgn, iscale, dacb, adcb, adcsh)
    want = oracle(np.ascontiguousarray(x), g, ibits, isgn, iscale, dacb, adcb, adcsh)
    stack = 3 * p.cycles * max(h, w) if seed % 2 else None  # chunks of 3 vectors
    ref, dev = _pair(cfg, xp, stack_elements=stack)
    for xb in (ref, dev):
        xb.program(2, 1, 3, g)
    got = dev.mvm(2, 1, 3, h, w, x, p)
    assert got.dtype == np.float32 and got.shape == (vl, w)
    assert np.array_equal(got, want.astype(np.float32)), (cell_bits, ibits, dacb, adcb, adcsh)
    assert np.array_equal(got, ref.mvm(2, 1, 3, h, w, x, p))


def test_the_output_is_written_into_out_and_the_input_only_read(xp):
    rng = np.random.default_rng(3)
    g = rng.integers(0, 256, (64, 16)).astype(np.float32)
    mem = rng.integers(0, 200, 40 * 64).astype(np.float32)
    x = mem.reshape(40, 64)[:, :50]  # strided rows
    before = mem.copy()
    ref, dev = _pair(chip("ideal-int8", adc_bits=8, dac_bits=1), xp)
    for xb in (ref, dev):
        xb.program(0, 0, 0, g)
    p = Precision(8, 0, 1.0, 1, 8, 4)
    out = np.full((40, 20), np.nan, np.float32)[:, :16]
    assert dev.mvm(0, 0, 0, 50, 16, x, p, out=out) is out
    assert np.array_equal(out, ref.mvm(0, 0, 0, 50, 16, x, p))
    assert np.array_equal(mem, before)


def test_reprogramming_replaces_the_cells_on_the_device(xp):
    ref, dev = _pair(chip("ideal-int8"), xp)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = Precision(8, 0, 1.0, 8, 0, 0)
    for k in range(3):
        g = np.full((4, 2), k + 1, np.float32)
        for xb in (ref, dev):
            xb.program(5, 0, 0, g)
        assert np.array_equal(dev.mvm(5, 0, 0, 4, 2, x, p), x.astype(np.int64) @ g.astype(int))


@pytest.mark.parametrize("preset_name", ["ideal", "ideal-signed"])
@pytest.mark.parametrize("overlap", [False, True])
def test_float_cells_and_an_ideal_dac_give_the_float_product(preset_name, overlap, xp):
    rng = np.random.default_rng(7)
    g = rng.random((90, 30)).astype(np.float32)
    if preset_name == "ideal-signed":
        g -= 0.5
    x = _overlapping(rng, 12, 90, 30, 1.0) if overlap else \
        rng.standard_normal((12, 90)).astype(np.float32)
    _, dev = _pair(chip(preset_name), xp)
    dev.program(4, 0, 0, g)
    y = dev.mvm(4, 0, 0, 90, 30, x, Precision(0, 0, 1.0, 1, 0, 0))
    np.testing.assert_allclose(y, np.ascontiguousarray(x).astype(np.float64) @ g,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("adcb,adcsh", [(0, 0), (6, 0), (8, 3)])
def test_float_cells_with_converters_agree_with_the_reference(adcb, adcsh, xp):
    """Float cells are not exact integers: the stacked product rounds differently from the
    reference's cycle loop, by float32 rounding only."""
    rng = np.random.default_rng(adcb + adcsh)
    g = (rng.random((70, 25)) * 3).astype(np.float32)
    x = (rng.standard_normal((9, 70)) * 40).astype(np.float32)
    cfg = chip("ideal", input_bits=8, dac_bits=2, adc_bits=adcb)
    p = Precision(8, 1, 1.0, 2, adcb, adcsh)
    ref, dev = _pair(cfg, xp)
    for xb in (ref, dev):
        xb.program(0, 0, 0, g)
    want = ref.mvm(0, 0, 0, 70, 25, x, p)
    got = dev.mvm(0, 0, 0, 70, 25, x, p)
    # an ADC code may round the other way where a current lies within rounding of a half step
    step = 2.0**adcsh * (1 << 6) if adcb else 0.0  # one LSB of the top cycle
    assert np.abs(got - want).max() <= max(step, 1e-4 * np.abs(want).max())
    if not adcb:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", sorted(NOISY))
@pytest.mark.parametrize("chunked", [False, True])
def test_nonidealities_match_the_reference_draw_for_draw(name, chunked, xp):
    """Programming noise, stuck cells and drift are the reference's own (programmed on the
    host); read noise is drawn from the same generator in the same order, also when the MVM is
    computed in chunks. Differences are float rounding."""
    rng = np.random.default_rng(42)
    g = rng.integers(0, 256, (64, 48)).astype(np.float32)
    x = rng.integers(0, 256, (30, 64)).astype(np.float32)
    cfg = chip("ideal-int8", nonideal={"seed": 7, **NOISY[name]})
    p = Precision(8, 0, 1.0, 1, 0, 0)
    stack = 4 * p.cycles * 64 if chunked else None
    ref, dev = _pair(cfg, xp, seed=2, time_s=1e4, stack_elements=stack)
    for xb in (ref, dev):
        xb.program(1, 0, 0, g)
    for _ in range(2):  # the generators advance alike
        want, got = ref.mvm(1, 0, 0, 64, 48, x, p), dev.mvm(1, 0, 0, 64, 48, x, p)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3 * np.abs(want).max())
        assert not np.array_equal(got, (x.astype(np.int64) @ g.astype(np.int64)))


def test_read_noise_with_an_ideal_dac_matches_the_reference(xp):
    rng = np.random.default_rng(8)
    g = rng.random((40, 10)).astype(np.float32)
    x = rng.standard_normal((6, 40)).astype(np.float32)
    ref, dev = _pair(chip("ideal", nonideal={"read_noise": 0.02}), xp, seed=5)
    for xb in (ref, dev):
        xb.program(0, 0, 0, g)
    p = Precision(0, 0, 1.0, 1, 0, 0)
    np.testing.assert_allclose(dev.mvm(0, 0, 0, 40, 10, x, p), ref.mvm(0, 0, 0, 40, 10, x, p),
                               rtol=1e-5, atol=1e-5)


def test_make_crossbar_names_the_backend_and_explains_a_missing_one(monkeypatch):
    cfg = chip("ideal")
    assert type(make_crossbar("numpy", cfg)) is NumpyCrossbar
    with pytest.raises(ConfigError, match="unknown crossbar backend 'torch'"):
        make_crossbar("torch", cfg)
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)  # import cupy fails
    with pytest.raises(ConfigError, match="needs CuPy") as e:
        make_crossbar("cupy", cfg)
    assert "--backend numpy" in e.value.hint


@pytest.mark.parametrize("adc_bits", [8, 0])
def test_a_compiled_cnn_runs_the_same_on_both_backends(adc_bits, xp):
    """The digit CNN compiled for a bit-serial chip with an 8-bit ADC (rounding and clipping
    ADC codes) and for an ideal ADC: the machine's outputs are the same bit for bit."""
    from pathlib import Path

    from imcc.compiler import CompileOptions, compile_model
    from runtime.config import config_from_dict, preset
    from runtime.machine import Machine

    digits = Path(__file__).resolve().parents[2] / "samples" / "digits"
    x = np.load(digits / "test.npz")["x_img"][:16].astype(np.float32)
    d = preset("ideal-int8").to_dict() | {"name": "bs", "dac_bits": 1, "adc_bits": adc_bits}
    cfg = config_from_dict(d, "test")
    res = compile_model(digits / "cnn.onnx", cfg, calib={"input": x},
                        options=CompileOptions(batch=16))
    # the differential pairs are recombined by the mvms (sablk): the reference multiplies by
    # the combined cells where that is exact, this backend converts the columns and combines
    assert "cfgi sablk, 2" in res.asm
    ref = Machine(cfg, res.obj).run({"input": x})["logits"]
    dev = Machine(cfg, res.obj, crossbar=ArrayCrossbar(cfg, xp)).run({"input": x})["logits"]
    assert np.array_equal(dev, ref)
    assert np.abs(ref).max() > 0
