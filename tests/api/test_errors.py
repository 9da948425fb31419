"""Every mistake a caller of the Python interface can make raises imcc.Error with one
diagnostic; where the command line can make the same mistake, str(error) is exactly what
`imcc` prints for it (and it exits with status 2)."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import imcc
from imcc.cli import cli
from isa.diagnostics import (
    ConfigError,
    InputError,
    MachineTrap,
    ObjectFileError,
    OnnxImportError,
    OutputError,
    ToolchainError,
    render,
)

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "samples" / "digits" / "cnn.onnx"
X = np.load(ROOT / "samples" / "digits" / "test.npz")["x_img"]


def cli_error(*args) -> str:
    """What `imcc ARGS` prints for a user error (exit status 2, no traceback)."""
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    return r.stderr.rstrip("\n")


def one_diagnostic(e: pytest.ExceptionInfo) -> str:
    """An imcc.Error whose str() is its rendering: a message line and at most a hint line."""
    err = e.value
    assert isinstance(err, imcc.Error) and isinstance(err, ToolchainError)
    text = str(err)
    assert text == render(err) and text.startswith("imcc: error: ")
    lines = text.splitlines()
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("    hint: "))
    return text


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory):
    """y = (a + b) @ W: a model and its program with two inputs of shape [1, 4]."""
    d = tmp_path_factory.mktemp("two")
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("MatMul", ["s", "W"], ["y"])],
        "two", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, d / "two.onnx")
    prog = imcc.compile(d / "two.onnx", "ideal")
    prog.save(d / "two.imo")
    a = np.ones((1, 4), np.float32)
    np.save(d / "a.npy", a)
    return d, prog, a, w


def test_error_is_the_toolchain_error():
    assert imcc.Error is ToolchainError


def test_unknown_chip_as_the_cli_says(tmp_path):
    with pytest.raises(ConfigError) as e:
        imcc.compile(CNN, "ideal-int9")
    text = one_diagnostic(e)
    assert "unknown chip preset 'ideal-int9'" in text and "did you mean 'ideal-int8'" in text
    assert text == cli_error("compile", CNN, "--chip", "ideal-int9", "-o", tmp_path / "x.imo")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("chip", [42, None, {"name": "ideal"}])
def test_bad_chip_object(chip):
    with pytest.raises(ConfigError) as e:
        imcc.compile(CNN, chip)
    assert "chip: expected a preset name, a chip file path or a runtime.config.ChipConfig" \
        in one_diagnostic(e)


def test_chip_file_errors_as_the_cli_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text("rows = -1\n")
    with pytest.raises(ConfigError) as e:
        imcc.compile(CNN, "bad.toml")
    assert one_diagnostic(e) == cli_error("compile", CNN, "--config", "bad.toml")


def test_non_onnx_bytes_as_the_cli_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("x.onnx").write_bytes(b"not a model at all")
    with pytest.raises(OnnxImportError) as e:
        imcc.compile(b"not a model at all", name="x.onnx")
    text = one_diagnostic(e)
    assert "x.onnx: not a readable ONNX model" in text
    assert text == cli_error("compile", "x.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.onnx"]


def test_missing_model_file_as_the_cli_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OnnxImportError) as e:
        imcc.compile("nothere.onnx")
    assert one_diagnostic(e) == cli_error("compile", "nothere.onnx")


@pytest.mark.parametrize("model", [42, ["cnn.onnx"], None])
def test_model_of_another_type(model):
    with pytest.raises(OnnxImportError) as e:
        imcc.compile(model)
    assert "model: expected a path, the bytes of an ONNX file or an onnx.ModelProto" \
        in one_diagnostic(e)


def test_unknown_keyword_arguments():
    with pytest.raises(ConfigError) as e:
        imcc.compile(CNN, prority="resource")
    assert one_diagnostic(e) == ("imcc: error: imcc.compile: unknown argument 'prority'\n"
                                 "    hint: did you mean 'priority'?")
    prog = imcc.compile(CNN)
    with pytest.raises(ConfigError) as e:
        prog.run(X[:1], sed=3)
    assert "Program.run: unknown argument 'sed'" in one_diagnostic(e)
    with pytest.raises(ConfigError) as e:
        imcc.load(ROOT / "samples" / "asm" / "dot.s", config="x.toml")
    assert "imcc.load: unknown argument 'config'" in one_diagnostic(e)


@pytest.mark.parametrize("kwargs, needle", [
    ({"priority": "fast"}, "priority = 'fast': must be one of efficiency, resource"),
    ({"dynamic": "gpu"}, "dynamic = 'gpu': must be one of sram, digital"),
    ({"calibration": "max"}, "calibration = 'max': must be one of minmax, percentile"),
    ({"percentile": 10}, "percentile = 10: must be a number in 50..100"),
    ({"time_limit": 0}, "time_limit = 0: must be a number >= 0.1"),
    ({"workers": 0}, "workers = 0: must be an integer >= 1"),
    ({"batch": 1.5}, "batch = 1.5: must be an integer >= 1"),
    ({"seed": "0"}, "seed = '0': must be an integer"),
    ({"input_shapes": {"input": (1, 0)}}, "input_shapes: 'input': (1, 0) is not a shape"),
    ({"input_shapes": [("input", 1)]}, "input_shapes: expected a dict"),
    ({"precision": 3}, "precision: expected a precision file path"),
    ({"precision": {"default": {"weight_bits": 1}}}, "precision: [default]: weight_bits = 1"),
    ({"progress": "yes"}, "progress: expected a function"),
    ({"name": 3}, "name: expected a str"),
])
def test_bad_compile_options(kwargs, needle):
    with pytest.raises(imcc.Error) as e:
        imcc.compile(CNN, **kwargs)
    assert needle in one_diagnostic(e)


def test_wrong_input_name():
    prog = imcc.compile(CNN)
    with pytest.raises(InputError) as e:
        prog.run({"image": X[:3]})
    assert one_diagnostic(e) == ("imcc: error: unknown input 'image'; the program declares "
                                 "'input' [1, 1, 8, 8]")
    with pytest.raises(InputError) as e:
        prog.run({"input": X[:3], "extra": X[:3]})
    assert "unknown input 'extra'" in one_diagnostic(e)
    assert prog.cost is None  # nothing ran
    assert prog.run({"input": X[:3]})["logits"].shape == (3, 10)


def test_wrong_shape_as_the_cli_says(tmp_path):
    prog = imcc.compile(CNN)
    prog.save(tmp_path / "cnn.imo")
    np.save(tmp_path / "flat.npy", X[:5, 0])
    with pytest.raises(InputError) as e:
        prog.run(X[:5, 0])
    text = one_diagnostic(e)
    assert "input 'input' has shape [5, 8, 8]; the program declares [1, 1, 8, 8]" in text
    assert text == cli_error("run", tmp_path / "cnn.imo", "--input", tmp_path / "flat.npy")
    with pytest.raises(InputError) as e:
        prog.run(X[:5].astype(object))
    assert "has dtype object; expected numbers" in one_diagnostic(e)


def test_missing_input_as_the_cli_says(two_inputs):
    d, prog, a, _ = two_inputs
    with pytest.raises(InputError) as e:
        prog.run({"a": a})
    text = one_diagnostic(e)
    assert text.startswith("imcc: error: input 'b' ([1, 4]) was not given")
    assert text == cli_error("run", d / "two.imo", "--input", f"a={d / 'a.npy'}")
    with pytest.raises(InputError) as e:
        prog.run(a)  # one array for a two-input program
    assert "one array given, and the program has 2 inputs ('a', 'b')" in one_diagnostic(e)


def test_run_with_both_inputs(two_inputs):
    _, prog, a, w = two_inputs
    b = np.arange(8, dtype=np.float32).reshape(2, 4)
    y = prog.run({"a": np.repeat(a, 2, 0), "b": b})["y"]
    np.testing.assert_allclose(y, (a + b) @ w, rtol=1e-5)


def test_calibration_data_errors_as_the_cli_says(two_inputs, tmp_path):
    d, _, a, _ = two_inputs
    with pytest.raises(InputError) as e:
        imcc.compile(d / "two.onnx", "ideal-int8", calib={"a": a})
    text = one_diagnostic(e)
    assert "calibration data: no samples for input 'b'" in text
    assert text == cli_error("compile", d / "two.onnx", "--chip", "ideal-int8", "--calib",
                             f"a={d / 'a.npy'}", "-o", tmp_path / "two.imo")
    with pytest.raises(InputError) as e:
        imcc.compile(d / "two.onnx", "ideal-int8", calib=a)
    assert "calib: one array given, and the model has 2 inputs (a, b)" in one_diagnostic(e)
    with pytest.raises(InputError) as e:
        imcc.compile(CNN, "ideal-int8", calib={"input": X[:, :, :4]})
    assert "calibration data for input 'input' has shape [539, 1, 4, 8]" in one_diagnostic(e)
    with pytest.raises(InputError) as e:
        imcc.compile(CNN, "ideal-int8", calib={"input": X, "x": X})
    assert "calibration data: the model has no input 'x'" in one_diagnostic(e)


def test_bad_run_options():
    prog = imcc.compile(CNN)
    for kwargs, needle in [({"seed": -1}, "seed = -1: must be an integer >= 0"),
                           ({"time": -2.0}, "time = -2.0: must be a number >= 0"),
                           ({"backend": "gpu"}, "backend = 'gpu': must be one of numpy, cupy"),
                           ({"max_steps": 0}, "max_steps = 0: must be an integer >= 1"),
                           ({"progress": 1}, "progress: expected a function")]:
        with pytest.raises(ConfigError) as e:
            prog.run(X[:1], **kwargs)
        assert needle in one_diagnostic(e)


def test_trap_as_the_cli_says_and_the_next_run_is_right(tmp_path):
    prog = imcc.compile(CNN, "ideal")
    prog.save(tmp_path / "cnn.imo")
    np.save(tmp_path / "x.npy", X[:2])
    with pytest.raises(MachineTrap) as e:
        prog.run(X[:2], max_steps=10)
    text = one_diagnostic(e)
    assert "step limit of 10 instructions reached" in text
    assert text == cli_error("run", tmp_path / "cnn.imo", "--input", tmp_path / "x.npy",
                             "--max-steps", "10")
    # the interrupted machine is not reused: the next run programs the arrays again
    fresh = imcc.compile(CNN, "ideal")
    assert np.array_equal(prog.run(X[:2])["logits"], fresh.run(X[:2])["logits"])
    assert prog.cost.cells_programmed == fresh.cost.cells_programmed > 0


def test_load_errors_as_the_cli_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ObjectFileError) as e:
        imcc.load("nothere.imo")
    assert one_diagnostic(e) == cli_error("run", "nothere.imo")
    Path("junk.imo").write_bytes(b"\x7fIMCOBJ\nshort")
    with pytest.raises(ObjectFileError) as e:
        imcc.load("junk.imo")
    assert one_diagnostic(e) == cli_error("run", "junk.imo")
    with pytest.raises(ObjectFileError):
        imcc.load(b"junk")
    with pytest.raises(ConfigError) as e:
        imcc.load(3)
    assert "load: expected a path or the bytes of an object file" in one_diagnostic(e)


def test_save_errors(tmp_path):
    prog = imcc.compile(CNN)
    with pytest.raises(OutputError) as e:
        prog.save(tmp_path / "no" / "such" / "dir" / "cnn.imo")
    assert "cannot write" in one_diagnostic(e)
    with pytest.raises(OutputError) as e:
        prog.save(tmp_path / "cnn.s")
    assert "save writes an object file, not assembly" in one_diagnostic(e)
    assert not list(tmp_path.iterdir())


def test_proto_with_external_data_not_loaded(tmp_path):
    onnx.save(onnx.load(CNN), tmp_path / "ext.onnx", save_as_external_data=True,
              location="ext.data", size_threshold=0)
    proto = onnx.load(tmp_path / "ext.onnx", load_external_data=False)
    with pytest.raises(OnnxImportError) as e:
        imcc.compile(proto)
    assert "keeps its data in external file 'ext.data', and no model folder is known" \
        in one_diagnostic(e)
    assert imcc.compile(tmp_path / "ext.onnx").run(X[:2])["logits"].shape == (2, 10)


def test_cli_labels_with_a_compare_model_of_other_outputs(tmp_path):
    """`imcc run --labels --compare M` where M does not have the program's output: the float
    accuracy is left out (it was a KeyError)."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["other"])], "flat",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("other", TensorProto.FLOAT, ["N", 64])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "flat.onnx")
    imcc.compile(CNN).save(tmp_path / "cnn.imo")
    np.save(tmp_path / "x.npy", X[:20])
    np.save(tmp_path / "y.npy", np.load(ROOT / "samples" / "digits" / "test.npz")["y"][:20])
    r = CliRunner().invoke(cli, [str(a) for a in (
        "run", tmp_path / "cnn.imo", "--input", tmp_path / "x.npy", "--labels",
        tmp_path / "y.npy", "--compare", tmp_path / "flat.onnx")])
    assert r.exit_code == 0, r.output
    assert f"logits: not an output of {tmp_path / 'flat.onnx'}" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("top-1 accuracy"))
    assert "float model" not in line and line.endswith("(20 samples)")
