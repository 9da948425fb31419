"""The hardware-aware training flow of samples/digits/train_hwa.py, end to end on a small budget:
train in PyTorch, fold the BatchNorms, convert for a chip, fine-tune with its noise, compile,
run on the reference machine, and explore the exported model like any other. Trained on the
bundled test split (the sample's own training images need scikit-learn)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner

import imcc
import imcc.torch as itorch
from imcc.cli import cli
from runtime.config import NonIdeal, preset

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"
sys.path.insert(0, str(DIGITS))
import train_hwa as hwa


@pytest.fixture(scope="module")
def data():
    with np.load(DIGITS / "test.npz", allow_pickle=False) as d:
        x, y = d["x_img"], d["y"]
    return x[:400], y[:400], x[400:], y[400:]


@pytest.fixture(scope="module")
def model(data):
    x, y, _, _ = data
    torch.manual_seed(0)
    net = hwa.fit(hwa.build_cnn(), torch.tensor(x), torch.tensor(y), epochs=8, lr=1e-2)
    return net


def test_folding_the_batchnorms_keeps_the_outputs(model, data):
    folded = hwa.fold_batchnorms(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.tensor(data[2])
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x), rtol=1e-5, atol=1e-5)


def test_convert_finetune_compile_run(model, data, tmp_path):
    x, y, xs, ys = data
    float_model = hwa.fold_batchnorms(model)
    steps = []
    tuned = hwa.hardware_aware(float_model, "rram", torch.tensor(x), torch.tensor(y), epochs=2,
                               lr=1e-3, log=steps.append)
    assert steps == ["epoch 1/2", "epoch 2/2"]
    assert itorch.analog_layers(tuned) and not tuned.training
    changed = [not torch.equal(a, b) for a, b in zip(tuned.parameters(),
                                                      float_model.parameters())]
    assert any(changed)  # fine-tuning moved the float weights

    # On the chip without its noise the program and the simulation agree bit for bit (rram
    # is integer-exact), so the flow hands the compiler exactly what was trained.
    clean = dataclasses.replace(preset("rram"), nonideal=NonIdeal())
    sim = itorch.convert(itorch.to_float(tuned), clean)
    itorch.calibrate(sim, torch.tensor(x))
    prog = itorch.compile(sim, torch.tensor(xs[:16]), chip=clean, calib=x)
    got = next(iter(prog.run(xs).values()))
    with torch.no_grad():
        want = sim.eval()(torch.tensor(xs)).numpy()
    np.testing.assert_array_equal(got, want)

    # The noisy chip, over seeds: a program of the fine-tuned model, run like any other.
    noisy = itorch.compile(tuned, torch.tensor(xs[:16]), chip="rram", calib=x)
    acc = hwa.chip_accuracy(noisy, xs, ys, seeds=2)[0.0]
    assert acc.shape == (2,) and (acc > 0.5).all()
    assert isinstance(noisy, imcc.Program) and noisy.cost is not None

    # The exported model is an ordinary ONNX file: imcc explore takes it (its batch is 1).
    path = tmp_path / "cnn_hwa.onnx"
    path.write_bytes(itorch.export_onnx(tuned, torch.tensor(xs[:1])).SerializeToString())
    np.savez(tmp_path / "d.npz", x=xs, y=ys)
    r = CliRunner().invoke(cli, ["explore", str(path), "--data", str(tmp_path / "d.npz"),
                                 "--input-key", "x", "--label-key", "y", "--chip", "rram",
                                 "--sweep", "adc_bits=6,8", "--seeds", "1", "-o",
                                 str(tmp_path / "ex")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "ex.jsonl").read_text().splitlines()]
    assert len(rows) == 2
