"""Models whose batch is fixed (``torch.onnx.export`` fixes it at the example's batch, here 1)
go through every command and the Python interface with no shape option: the program is compiled
for the model's batch and runs loop over chunks of it. The oracle is onnxruntime on the model
itself (imcc.reference, which feeds a fixed-batch model chunk by chunk) and numpy's argmax."""

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"
DATA = DIGITS / "test.npz"
CALIB = 100  # explore's --calib-samples: the first 100 calibrate, the next EVAL are evaluated
EVAL = 150


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _torch_model(folder: Path, dynamo: bool) -> Path:
    """A small CNN trained for a moment on the digits, exported from a batch of one."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 10))
    d = np.load(DATA)
    x, y = torch.from_numpy(d["x_img"]), torch.from_numpy(d["y"])
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    path = folder / f"cnn-{'dynamo' if dynamo else 'ts'}.onnx"
    kw = {"dynamo": True} if dynamo else {"dynamo": False, "input_names": ["x"],
                                          "output_names": ["logits"]}
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(path), **kw)
    if dynamo:
        onnx.save(onnx.load(str(path)), str(path))  # one file: no external data beside it
    return path


def _helper_model(folder: Path) -> Path:
    """samples/digits/cnn.onnx with its symbolic batch replaced by 1 (onnx.helper's view)."""
    m = onnx.load(str(DIGITS / "cnn.onnx"))
    for vi in [*m.graph.input, *m.graph.output]:
        vi.type.tensor_type.shape.dim[0].Clear()
        vi.type.tensor_type.shape.dim[0].dim_value = 1
    path = folder / "cnn-fixed.onnx"
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module", params=["torchscript", "dynamo", "helper"])
def fixed_model(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "helper":
        return _helper_model(folder)
    return _torch_model(folder, request.param == "dynamo")


def _input(model: Path) -> str:
    return onnx.load(str(model), load_external_data=False).graph.input[0].name


def test_the_model_really_fixes_its_batch(fixed_model):
    dim = onnx.load(str(fixed_model)).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.HasField("dim_value") and dim.dim_value == 1


def test_compile_run_map_explore_with_no_shape_option(fixed_model, tmp_path):
    d = np.load(DATA)
    x, y = d["x_img"], d["y"]
    np.save(tmp_path / "calib.npy", x[:CALIB])
    np.save(tmp_path / "eval.npy", x[CALIB:CALIB + EVAL])
    np.save(tmp_path / "labels.npy", y[CALIB:CALIB + EVAL])
    obj = tmp_path / "m.imo"
    r = invoke("compile", fixed_model, "--chip", "rram", "--priority", "resource",
               "--calib", tmp_path / "calib.npy", "-o", obj)
    assert r.exit_code == 0, r.output
    prog = imcc.load(obj)
    assert prog.inputs[0].shape == (1, 1, 8, 8)  # compiled for the model's batch

    r = invoke("run", obj, "--input", tmp_path / "eval.npy", "--labels",
               tmp_path / "labels.npy", "--compare", fixed_model, "--output", tmp_path / "o.npz")
    assert r.exit_code == 0, r.output
    got = np.load(tmp_path / "o.npz")
    out = got[next(iter(got.files))]
    assert out.shape == (EVAL, 10)
    run_acc = float(re.search(r"IMC ([\d.]+) %", r.output).group(1))
    want = y[CALIB:CALIB + EVAL]
    assert run_acc == pytest.approx(100 * float((out.argmax(1) == want).mean()), abs=0.006)

    # the float model's accuracy, chunk by chunk through onnxruntime (rram's noise costs some)
    from imcc.reference import evaluate

    ref, _ = evaluate(fixed_model, {_input(fixed_model): x[CALIB:CALIB + EVAL]})
    float_acc = 100 * float((next(iter(ref.values())).argmax(1) == want).mean())
    assert float_acc > 80
    assert f"float model {float_acc:.2f} %" in r.output

    r = invoke("map", fixed_model, "--chip", "rram")
    assert r.exit_code == 0, r.output
    assert "arrays used" in r.output

    stem = tmp_path / "ex"
    r = invoke("explore", fixed_model, "--data", DATA, "--input-key", "x_img", "--label-key",
               "y", "--chip", "rram", "--sweep", "adc_bits=8", "--seeds", "1", "--workers", "1",
               "--calib-samples", CALIB, "--limit", EVAL, "-o", stem)
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.strip().startswith("8 "))
    explore_acc = float(row.split()[2])
    # explore's chip is rram with adc_bits 8 (the preset's own): the same program and draws
    assert explore_acc == pytest.approx(run_acc, abs=0.006), (r.output, run_acc)


def test_python_interface_runs_any_number_of_samples(fixed_model):
    x = np.load(DATA)["x_img"]
    prog = imcc.compile(str(fixed_model), "ideal", batch=16)
    assert prog.inputs[0].shape[0] == 1
    assert any("fixes its batch at 1" in w for w in prog.report["warnings"])
    name = prog.inputs[0].name
    out = prog.run({name: x[:37]})
    (got,) = out.values()
    from imcc.reference import evaluate

    ref, _ = evaluate(fixed_model, {_input(fixed_model): x[:37]})
    want = next(iter(ref.values()))
    assert got.shape == want.shape == (37, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert prog.cost.runs == 37
