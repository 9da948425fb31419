"""The Python interface (imcc.compile, Program, imcc.load) against independent oracles:
onnxruntime and onnx's reference evaluator on the float model, labels, and the bytes the command
line writes."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

import imcc

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "samples" / "digits" / "cnn.onnx"
DATA = np.load(ROOT / "samples" / "digits" / "test.npz")
X, Y = DATA["x_img"], DATA["y"]


def _float(x):
    """The float model's logits (onnxruntime)."""
    return ort.InferenceSession(str(CNN), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]


@pytest.fixture(scope="module")
def int8():
    return imcc.compile(CNN, "ideal-int8", calib=X)


def test_path_bytes_and_proto_compile_to_the_same_object(tmp_path, monkeypatch):
    a = imcc.compile(str(CNN), "ideal-int8", calib={"input": X})
    b = imcc.compile(CNN.read_bytes(), "ideal-int8", calib=X, name="cnn.onnx")
    proto = onnx.load(CNN)
    before = proto.SerializeToString()
    c = imcc.compile(proto, "ideal-int8", calib=X, name="cnn.onnx")
    assert proto.SerializeToString() == before  # the caller's proto is left as it was
    assert a.to_bytes() == b.to_bytes() == c.to_bytes()
    # ... and the object the command line writes
    from click.testing import CliRunner

    from imcc.cli import cli

    monkeypatch.chdir(tmp_path)
    np.save("calib.npy", X)
    r = CliRunner().invoke(cli, ["compile", str(CNN), "--chip", "ideal-int8", "--calib",
                                 "calib.npy", "-o", "cnn.imo", "-q"])
    assert r.exit_code == 0, r.output
    assert Path("cnn.imo").read_bytes() == a.to_bytes()


def test_in_memory_model_leaves_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    prog = imcc.compile(CNN.read_bytes(), "ideal")
    assert list(tmp_path.iterdir()) == []
    assert prog.storage_map["model"] == "model.onnx"


def test_proto_with_external_data_loaded_into_memory(tmp_path):
    m = onnx.load(CNN)
    onnx.save(m, tmp_path / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=0)
    loaded = onnx.load(tmp_path / "ext.onnx")  # reads ext.data into the proto
    (tmp_path / "ext.data").unlink()
    got = imcc.compile(loaded, "ideal").run(X[:50])["logits"]
    np.testing.assert_allclose(got, _float(X[:50]), rtol=1e-4, atol=1e-4)


def test_ideal_chip_is_the_float_model():
    prog = imcc.compile(CNN, "ideal")
    got = prog.run(X)["logits"]
    np.testing.assert_allclose(got, _float(X), rtol=1e-4, atol=1e-4)
    ref = ReferenceEvaluator(str(CNN)).run(None, {"input": X[:20]})[0]
    np.testing.assert_allclose(got[:20], ref, rtol=1e-4, atol=1e-4)


def test_int8_chip_close_to_float_and_accurate(int8):
    got = int8.run({"input": X})["logits"]
    want = _float(X)
    assert got.shape == want.shape and got.dtype == np.float32
    # 8-bit weights and inputs: errors of a few quantization steps, same decisions
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert np.abs(got - want).max() > 0  # it is quantized, not the float path
    assert (got.argmax(1) == want.argmax(1)).mean() > 0.99
    assert (got.argmax(1) == Y).mean() > 0.95


def test_batch_not_a_multiple_of_the_compiled_batch():
    prog = imcc.compile(CNN, "ideal", batch=4)
    assert prog.inputs[0].shape == (4, 1, 8, 8)
    got = prog.run(X[:10])["logits"]
    assert got.shape == (10, 10)
    np.testing.assert_allclose(got, _float(X[:10]), rtol=1e-4, atol=1e-4)
    assert prog.cost.runs == 3  # 4 + 4 + 2 (zero-padded)


def test_cost_none_before_a_run_then_per_call(int8):
    prog = imcc.compile(CNN, "ideal-int8", calib=X)
    assert prog.cost is None
    prog.run(X[:5])
    first = prog.cost
    assert first.runs == 5 and first.mvms == 5 * 3  # three crossbar layers, one MVM each
    weights = sum(t.dims[0] * np.prod(t.dims[1:]) for t in onnx.load(CNN).graph.initializer
                  if len(t.dims) >= 2)
    assert first.cells_programmed >= weights > 0  # every weight in at least one cell
    prog.run(X[:2])  # same settings: the arrays stay programmed
    assert prog.cost.runs == 2 and prog.cost.cells_programmed == 0 and prog.cost.mvms == 6
    assert prog.cost.energy_pj < first.energy_pj
    prog.run(X[:2], seed=1)  # other settings: a fresh machine programs again
    assert prog.cost.cells_programmed == first.cells_programmed


def test_report_is_what_compile_prints(int8):
    r = int8.report
    assert r["partition"] == {"digital": 5, "imc": 3} and r["imc_layers"] == 3
    assert r["chip"]["name"] == "ideal-int8" and r["chip"]["hash"] == int8.chip.program_hash
    est = r["estimate"]
    assert est["energy_pj"] > 0 and est["latency_ns"] > 0 and est["program_energy_pj"] > 0
    # one inference after programming costs what a second run on a machine costs
    prog = imcc.compile(CNN, "ideal-int8", calib=X)
    zero = np.zeros((1, 1, 8, 8), np.float32)
    prog.run(zero)
    prog.run(zero)
    assert prog.cost.energy_pj == pytest.approx(est["energy_pj"])
    assert prog.cost.latency_ns == pytest.approx(est["latency_ns"])


def test_inputs_outputs_asm(int8):
    assert int8.inputs == (imcc.TensorSpec("input", (1, 1, 8, 8), "float32"),)
    assert int8.outputs == (imcc.TensorSpec("logits", (1, 10), "float32"),)
    assert "mvm" in int8.asm


def test_save_load_round_trip(tmp_path, int8):
    path = tmp_path / "cnn.imo"
    int8.save(path)
    assert path.read_bytes() == int8.to_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["cnn.imo"]  # no temporary left
    again = imcc.load(path)
    assert again.chip.name == "ideal-int8" and again.asm is None and again.report is None
    assert again.storage_map == int8.storage_map
    fresh = imcc.compile(CNN, "ideal-int8", calib=X)
    want = fresh.run(X[:30])["logits"]
    got = again.run(X[:30])["logits"]
    assert np.array_equal(got, want)
    assert again.cost.energy_pj == fresh.cost.energy_pj
    assert imcc.load(path.read_bytes()).to_bytes() == int8.to_bytes()


def test_load_assembly():
    prog = imcc.load(ROOT / "samples" / "asm" / "dot.s")
    out = prog.run()
    assert out["y"].shape == (2, 3)
    assert "mvm" in prog.asm


def test_load_needs_chip_for_unknown_record(tmp_path):
    chip_file = tmp_path / "mine.toml"
    from runtime.config import preset_text

    chip_file.write_text(preset_text("ideal-int8").replace('name = "ideal-int8"',
                                                           'name = "mine"'))
    prog = imcc.compile(CNN, chip_file, calib=X)
    prog.save(tmp_path / "m.imo")
    with pytest.raises(imcc.Error, match="not a shipped preset"):
        imcc.load(tmp_path / "m.imo")
    again = imcc.load(tmp_path / "m.imo", chip=chip_file)
    assert np.array_equal(again.run(X[:3])["logits"], prog.run(X[:3])["logits"])
    with pytest.raises(imcc.Error, match="program hash"):
        imcc.load(tmp_path / "m.imo", chip="ideal")


def test_default_step_limit_is_the_machines():
    from imcc.commands import run
    from runtime.machine import DEFAULT_MAX_STEPS, DEFAULT_MAX_WORK

    assert imcc.api.DEFAULT_MAX_STEPS == run.DEFAULT_MAX_STEPS == DEFAULT_MAX_STEPS
    assert imcc.api.DEFAULT_MAX_WORK == run.DEFAULT_MAX_WORK == DEFAULT_MAX_WORK


def test_drift_time_and_seed_reach_the_machine():
    """On the pcm preset (drift, noise), time and seed change the outputs; the same settings on
    a fresh program give the same outputs (seeded, reproducible)."""
    x = X[:8]
    prog = imcc.compile(CNN, "pcm", calib=X)
    base = prog.run(x)["logits"]
    assert np.array_equal(imcc.compile(CNN, "pcm", calib=X).run(x)["logits"], base)
    assert not np.array_equal(prog.run(x, time=1e6)["logits"], base)
    assert not np.array_equal(prog.run(x, seed=5)["logits"], base)
    assert (base.argmax(1) == Y[:8]).mean() >= 0.5  # still a classifier
