"""Drift compensation (chip option ``drift_compensation``): reference reads after programming
and per inference, and the rescaled dequantization. Oracles: the same model read without drift,
onnxruntime, and the count of programmed tiles."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from imcc.compiler import CompileOptions, compile_model
from imcc.precision import precision_from_dict
from isa.diagnostics import ConfigError
from runtime.config import config_from_dict, preset
from runtime.machine import Machine

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"
DAY = 86400.0


@pytest.fixture(scope="module")
def data():
    return np.load(DIGITS / "test.npz", allow_pickle=False)


def _chip(base: str, mode: str, nu_std: float = 0.0, seed: int = 0, **fields):
    """``base`` with drift (nu = 0.05, t0 = 20 s) as its only nonideality."""
    c = preset(base)
    ni = dataclasses.replace(c.nonideal, program_noise=0.0, read_noise=0.0, stuck_on=0.0,
                             stuck_off=0.0, drift_nu=0.05, drift_nu_std=nu_std, drift_t0=20.0,
                             seed=seed)
    return dataclasses.replace(c, nonideal=ni, drift_compensation=mode, **fields)


def _compile(model: str, chip, x, precision=None, batch=None):
    prec = None if precision is None else precision_from_dict(precision, "p", chip.cell_bits)
    return compile_model(DIGITS / f"{model}.onnx", chip, calib={"input": x}, precision=prec,
                         options=CompileOptions(batch=batch or len(x)))


def _inputs(data, model: str, n: int = 32):
    return data["x_img"][:n] if model == "cnn" else data["x"][:n]


CASES = [  # (chip, its changes, model, precision file, batch)
    ("ideal-int8", {}, "cnn", None, 64),  # differential pairs of slices, replicated convs
    ("ideal-int8", {"signed": "offset"}, "mlp", None, None),  # a reference column per block
    ("ideal-int8", {"cell_bits": 4}, "mlp", {"default": {"slices": "arrays"}}, None),
    ("ideal", {}, "cnn", None, None),  # float cells
    ("ideal-signed", {}, "mlp", None, None),  # signed float cells: sums of magnitudes
]


@pytest.mark.parametrize("mode", ["global", "per-column"])
@pytest.mark.parametrize("base, changes, model, precision, batch", CASES)
def test_compensation_undoes_uniform_drift(base, changes, model, precision, batch, mode, data):
    """Every cell drifts by the same factor (nu_std = 0) on chips with ideal ADCs: the
    compensated outputs a day later are the undrifted ones up to float rounding, and without
    drift the compensation changes no bit of the uncompensated program's outputs."""
    x = _inputs(data, model, batch or 32)
    chip = _chip(base, mode, **changes)
    plain = _chip(base, "none", **changes)
    res = _compile(model, chip, x, precision, batch)
    want = Machine(plain, _compile(model, plain, x, precision, batch).obj).run(
        {"input": x})["logits"]
    m = Machine(chip, res.obj, time_s=DAY)
    for _ in range(2):  # the first run and a rerun (the references kept from programming)
        y = m.run({"input": x})["logits"]
        assert np.abs(y - want).max() <= 2e-5 * np.abs(want).max()
    np.testing.assert_array_equal(Machine(chip, res.obj).run({"input": x})["logits"], want)
    drifted = Machine(plain, _compile(model, plain, x, precision, batch).obj,
                      time_s=DAY).run({"input": x})["logits"]
    assert np.abs(drifted - want).max() > 0.3 * np.abs(want).max()  # what it compensates


def test_compensation_through_a_real_adc_is_limited_by_the_adc(data):
    """A PCM-like chip with 16-bit ADCs and uniform drift: compensated outputs within ADC
    rounding of the undrifted ones (a 70 % error without)."""
    x = _inputs(data, "cnn", 64)
    errs = {}
    for mode in ("none", "global"):
        chip = _chip("pcm", mode, adc_bits=16)
        res = _compile("cnn", chip, x)
        y0 = Machine(chip, res.obj).run({"input": x})["logits"]
        y1 = Machine(chip, res.obj, time_s=DAY).run({"input": x})["logits"]
        errs[mode] = np.abs(y1 - y0).max() / np.abs(y0).max()
    assert errs["global"] < 0.02 < 0.5 < errs["none"], errs


def test_per_column_compensation_with_spread_exponents(data):
    """Drift exponents that differ from cell to cell (nu_std > 0): no scale makes the outputs
    exact, but one per column comes closer than none, and closer than one per layer."""
    x = _inputs(data, "mlp", 64)
    errs = {}
    for mode in ("none", "global", "per-column"):
        chip = _chip("ideal-int8", mode, nu_std=0.02)
        res = _compile("mlp", chip, x)
        y0 = Machine(chip, res.obj).run({"input": x})["logits"]
        y1 = Machine(chip, res.obj, time_s=DAY).run({"input": x})["logits"]
        errs[mode] = np.abs(y1 - y0).mean() / np.abs(y0).mean()
    assert errs["per-column"] < errs["global"] < 0.5 * errs["none"], errs


def test_the_reference_reads_are_real_mvms_counted_by_the_cost_model(data):
    """One reference read per programmed tile right after programming and one per inference:
    the MVM count grows by twice the wprog count on the first run, by it on every rerun."""
    x = _inputs(data, "cnn", 64)
    counts = {}
    for mode in ("none", "per-column"):
        chip = _chip("ideal-int8", mode)
        m = Machine(chip, _compile("cnn", chip, x).obj)
        m.run({"input": x})
        first = m.cost
        m.run({"input": x})
        counts[mode] = (first.mvms, m.cost.mvms - first.mvms, m.mnemonic_counts()["wprog"],
                        first.adc_conversions)
    tiles = counts["none"][2]
    assert tiles > 3 and counts["per-column"][2] == tiles  # replicas: more tiles than layers
    assert counts["per-column"][0] == counts["none"][0] + 2 * tiles
    assert counts["per-column"][1] == counts["none"][1] + tiles


def test_the_program_reads_the_tiles_before_and_after_rerun(data):
    x = _inputs(data, "mlp", 4)
    res = _compile("mlp", _chip("ideal-int8", "global"), x)
    setup, infer = res.asm.split("\ninfer:\n")
    assert setup.count("    wprog ") == 3 == setup.count("    mvm ")
    assert infer.startswith("    # drift compensation (global)")  # first after the label
    assert "\n.equ driftref," in res.asm
    none = _compile("mlp", _chip("ideal-int8", "none"), x)
    assert "driftref" not in none.asm and none.asm.split("\ninfer:\n")[0].count("    mvm ") == 0


def test_digits_cnn_on_pcm_keeps_its_accuracy_a_day_after_programming(data):
    """The pcm preset (programming and read noise, drift with spread exponents, 8-bit ADCs)
    compensates globally: a day after programming the CNN stays near 84 % top-1 over three
    seeds, where the same chip without compensation falls to about 40 %."""
    x, y = data["x_img"], data["y"]
    pcm = preset("pcm")
    assert pcm.drift_compensation == "global"
    acc = {}
    for mode in ("none", "global"):
        chip = dataclasses.replace(pcm, drift_compensation=mode)
        obj = _compile("cnn", chip, x).obj
        acc[mode] = [float((Machine(chip, obj, seed=s, time_s=DAY).run({"input": x})
                            ["logits"].argmax(1) == y).mean()) for s in range(3)]
    assert min(acc["global"]) > 0.75 and max(acc["none"]) < 0.6, acc
    assert np.mean(acc["global"]) > np.mean(acc["none"]) + 0.25, acc


def test_the_option_is_validated_and_part_of_the_program_hash():
    base = preset("ideal-int8").to_dict()
    with pytest.raises(ConfigError, match=r"chip.toml: drift_compensation = 'columns': must be "
                                          r"one of none, global, per-column"):
        config_from_dict(dict(base, drift_compensation="columns"), "chip.toml")
    hashes = {m: config_from_dict(dict(base, drift_compensation=m), "t").program_hash
              for m in ("none", "global", "per-column")}
    assert len(set(hashes.values())) == 3
    assert hashes["none"] == preset("ideal-int8").program_hash
    assert preset("ideal-int8").drift_compensation == "none"


def test_an_object_compiled_with_compensation_needs_a_chip_with_it(data):
    x = _inputs(data, "mlp", 4)
    obj = _compile("mlp", preset("pcm"), x).obj
    with pytest.raises(ConfigError, match="drift compensation"):
        Machine(dataclasses.replace(preset("pcm"), drift_compensation="none"), obj)
