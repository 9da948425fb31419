"""imcc compile / map / run through click's test runner: what they print, what they write, and
user errors (exit 2, one message, no traceback, no files left behind)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import helper

from imcc.cli import cli
from isa.objfile import read_object, to_bytes

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_compile_run_main_job(tmp_path):
    obj = tmp_path / "cnn.imo"
    r = invoke("compile", DIGITS / "cnn.onnx", "--chip", "ideal-int8", "--calib",
               f"{DIGITS / 'test.npz'}:x_img", "-o", obj, "-S", "--map", tmp_path / "m.json",
               "--svg", tmp_path / "m.svg", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    for needle in ("partition:", "arrays used", "lower bound", "cost model", "/conv1/Conv"):
        assert needle in r.output
    for f in ("cnn.imo", "cnn.s", "cnn.data.bin", "cnn.weights.bin", "cnn.map.json", "m.json",
              "m.svg", "r.json"):
        assert (tmp_path / f).exists(), f
    assert (tmp_path / "m.svg").read_text().startswith("<svg")
    # the -S text re-assembles to the identical object
    r = invoke("asm", tmp_path / "cnn.s", "-o", tmp_path / "again.imo")
    assert r.exit_code == 0, r.output
    assert to_bytes(read_object(tmp_path / "again.imo")) == to_bytes(read_object(obj))
    r = invoke("run", obj, "--input", f"input={DIGITS / 'test.npz'}:x_img", "--labels",
               f"{DIGITS / 'test.npz'}:y", "--compare", DIGITS / "cnn.onnx", "--output",
               tmp_path / "out.npz")
    assert r.exit_code == 0, r.output
    assert "top-1 accuracy: IMC" in r.output and "float model" in r.output
    assert "max relative error" in r.output
    out = np.load(tmp_path / "out.npz")["logits"]
    y = np.load(DIGITS / "test.npz")["y"]
    assert out.shape == (len(y), 10) and (out.argmax(1) == y).mean() > 0.95


def test_map_prints_summary_and_writes_files(tmp_path):
    r = invoke("map", ROOT / "samples" / "models" / "lenet.onnx", "--chip", "rram",
               "--priority", "resource", "--json", tmp_path / "m.json")
    assert r.exit_code == 0, r.output
    assert "arrays used" in r.output and "/fc1/Gemm" in r.output
    import json

    m = json.loads((tmp_path / "m.json").read_text())
    assert m["schema"] == "imcc.storage-map/1" and m["arrays_used"] >= m["lower_bound"]


def _assert_user_error(r, tmp_path, *needles):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.output.startswith("imcc: error:") or ": error:" in r.output.splitlines()[0]
    for n in needles:
        assert n in r.output, r.output
    leftovers = [p.name for p in tmp_path.iterdir() if p.suffix in (".imo", ".s", ".bin", ".tmp")]
    assert not leftovers


def test_not_onnx(tmp_path):
    f = tmp_path / "x.onnx"
    f.write_bytes(b"not a model at all")
    _assert_user_error(invoke("compile", f, "-o", tmp_path / "x.imo"), tmp_path)


def test_unsupported_ops_listed_together(tmp_path):
    nodes = [helper.make_node("Bernoulli", ["a"], ["d"], name="det1"),
             helper.make_node("RandomUniformLike", ["a"], ["n"], name="nz1"),
             helper.make_node("Relu", ["a"], ["y"], name="ok")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", 1, [3, 3])],
                          [helper.make_tensor_value_info(o, t, s) for o, t, s in
                           (("d", 1, [3, 3]), ("n", 1, [3, 3]), ("y", 1, [3, 3]))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, tmp_path / "u.onnx")
    r = invoke("compile", tmp_path / "u.onnx", "-o", tmp_path / "u.imo")
    _assert_user_error(r, tmp_path, "det1", "nz1")


def test_model_too_big_for_chip(tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text('name = "small"\ntiles = 1\narrays_per_tile = 1\nrows = 16\ncols = 16\n'
                   'weight_bits = 0\ninput_bits = 0\nadc_bits = 0\n')
    r = invoke("compile", DIGITS / "mlp.onnx", "--config", cfg, "-o", tmp_path / "m.imo")
    _assert_user_error(r, tmp_path, "arrays", "short by")


@pytest.mark.parametrize("args,needle", [
    (["--calib", "missing.npz:x"], "no such file"),
    (["--input-shape", "input=1xZ"], "input-shape"),
    (["--chip", "nochip"], "unknown chip preset"),
])
def test_bad_options(tmp_path, args, needle):
    r = invoke("compile", DIGITS / "cnn.onnx", "-o", tmp_path / "c.imo", *args)
    _assert_user_error(r, tmp_path, needle)


def test_run_with_wrong_labels_count(tmp_path):
    obj = tmp_path / "l.imo"
    assert invoke("compile", DIGITS / "linear.onnx", "-o", obj, "-q").exit_code == 0
    np.save(tmp_path / "y.npy", np.zeros(3, dtype=np.int64))
    np.save(tmp_path / "x.npy", np.zeros((5, 64), dtype=np.float32))
    r = invoke("run", obj, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy")
    assert r.exit_code == 2 and "3 labels for 5 outputs" in r.output


def test_labels_score_a_model_that_ends_in_argmax(tmp_path):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["s"]),
         helper.make_node("ArgMax", ["s"], ["cls"], axis=1, keepdims=0)], "argmax",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [20, 6])],
        [helper.make_tensor_value_info("cls", onnx.TensorProto.INT64, [20])],
        [onnx.numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, tmp_path / "m.onnx")
    x = rng.standard_normal((20, 6)).astype(np.float32)
    truth = (x.astype(np.float64) @ w).argmax(axis=1)
    y = truth.copy()
    y[:5] = (y[:5] + 1) % 4  # five wrong labels: 75 %
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert invoke("compile", tmp_path / "m.onnx", "-o", tmp_path / "m.imo").exit_code == 0
    r = invoke("run", tmp_path / "m.imo", "--input", f"x={tmp_path / 'd.npz'}:x", "--labels",
               f"{tmp_path / 'd.npz'}:y", "--output", tmp_path / "out.npz")
    assert r.exit_code == 0, r.output
    assert "top-1 accuracy: IMC 75.00 %" in r.output
    assert "cls: int64[20]" in r.output  # the printed outputs name their element type
    out = np.load(tmp_path / "out.npz")["cls"]
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, truth)


def test_compare_with_inputs_whose_first_dim_is_not_the_batch(tmp_path):
    """A recurrent model's initial state [layers x directions, B, H] beside x [B, T, I]: the
    float model runs once on the inputs as given (they match its declared shapes), not in
    chunks of a guessed batch; a model that cannot take the inputs is one error line."""
    from onnx import numpy_helper

    rng = np.random.default_rng(3)
    g = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
         helper.make_node("GRU", ["xt", "W", "R", "", "", "h"], ["", "hn"], hidden_size=4)],
        "gru", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 5, 3]),
                helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, [1, 2, 4])],
        [helper.make_tensor_value_info("hn", onnx.TensorProto.FLOAT, [1, 2, 4])],
        [numpy_helper.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), "W"),
         numpy_helper.from_array(rng.standard_normal((1, 12, 4)).astype(np.float32), "R")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(m, tmp_path / "gru.onnx")
    np.savez(tmp_path / "in.npz", x=rng.standard_normal((2, 5, 3)).astype(np.float32),
             h=rng.standard_normal((1, 2, 4)).astype(np.float32))
    obj = tmp_path / "gru.imo"
    assert invoke("compile", tmp_path / "gru.onnx", "-o", obj, "-q").exit_code == 0
    r = invoke("run", obj, "--input", tmp_path / "in.npz", "--compare", tmp_path / "gru.onnx")
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.output.splitlines() if ln.strip().startswith("hn: max abs"))
    assert float(line.split("max relative error ")[1].split()[0]) < 1e-5
    other = tmp_path / "other.onnx"
    g2 = helper.make_graph([helper.make_node("Relu", ["x"], ["hn"])], "o",
                           [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [7]),
                            helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, [7])],
                           [helper.make_tensor_value_info("hn", onnx.TensorProto.FLOAT, [7])])
    onnx.save(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 17)]), other)
    r = invoke("run", obj, "--input", tmp_path / "in.npz", "--compare", other)
    # onnxruntime refuses the inputs; onnx's reference evaluator runs and returns another shape
    assert r.exit_code == 2, r.output
    assert ("cannot run the model on these inputs" in r.output
            or "output 'hn' of" in r.output and "has shape [2, 5, 3]" in r.output), r.output
    assert "Traceback" not in r.output
