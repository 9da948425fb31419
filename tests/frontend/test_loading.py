"""Loading: malformed files each give one clear error line and exit status 2 through the CLI;
external data is read only from inside the model's folder; symbolic dims need --input-shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from imcc.cli import cli
from imcc.frontend import load_model, load_model_proto
from imcc.models import build
from isa.diagnostics import OnnxImportError

from .helpers import assert_matches, random_feeds, reference


def _stats(*args: str):
    return CliRunner().invoke(cli, ["stats", *args])


def _one_line_error(r, *needles: str) -> str:
    assert r.exit_code == 2, r.output
    text = r.output.strip()
    assert "Traceback" not in text
    assert "\n" not in text, text
    assert text.startswith("imcc: error:"), text
    for n in needles:
        assert n in text, text
    return text


def _tiny(nodes, inputs, outputs, inits=(), opset=17, domains=()):
    g = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    return m


def _fvi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _save(tmp_path: Path, model: onnx.ModelProto, name: str = "m.onnx") -> Path:
    p = tmp_path / name
    p.write_bytes(model.SerializeToString())
    return p


def test_truncated_protobuf(tmp_path):
    blob = build("lenet").SerializeToString()
    p = tmp_path / "cut.onnx"
    p.write_bytes(blob[: len(blob) // 3])
    _one_line_error(_stats(str(p)), "cut.onnx")


def test_not_an_onnx_file(tmp_path):
    p = tmp_path / "notes.onnx"
    p.write_text("these are my notes, not a model\n" * 20)
    _one_line_error(_stats(str(p)), "notes.onnx", "ONNX")
    q = tmp_path / "empty.onnx"
    q.write_bytes(b"")
    _one_line_error(_stats(str(q)), "not an ONNX model")


def test_missing_file(tmp_path):
    _one_line_error(_stats(str(tmp_path / "nope.onnx")), "cannot read")


def _external_model(tmp_path: Path, location: str = "weights.bin") -> Path:
    model = build("mlp", features=8, hidden=(8,), classes=3)
    p = tmp_path / "ext.onnx"
    onnx.save_model(model, p, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return p


def test_external_data_inside_folder_loads(tmp_path):
    (tmp_path / "data").mkdir()
    p = _external_model(tmp_path, "data/weights.bin")
    assert (tmp_path / "data" / "weights.bin").exists()
    model = build("mlp", features=8, hidden=(8,), classes=3)
    g = load_model(p)
    for t in model.graph.initializer:
        np.testing.assert_array_equal(g.constants[t.name], numpy_helper.to_array(t))
    r = _stats(str(p))
    assert r.exit_code == 0, r.output


def _large_external_model(tmp_path: Path, opset: int = 17) -> tuple[Path, onnx.ModelProto]:
    # Initializers above the loader's SMALL_TENSOR (4096 elements), of several element types,
    # and one small one: the large ones are read on import, straight into their arrays.
    rng = np.random.default_rng(5)
    n = 5000
    inits = [numpy_helper.from_array(rng.standard_normal((n, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(n).astype(np.float16), "h"),
             numpy_helper.from_array(rng.integers(-9, 9, n).astype(np.int32), "i"),
             numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "b")]
    nodes = [helper.make_node("Cast", ["h"], ["hf"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["i"], ["if"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["x", "hf"], ["xh"]),
             helper.make_node("Add", ["xh", "if"], ["xi"]),
             helper.make_node("Gemm", ["xi", "w", "b"], ["y"])]
    model = _tiny(nodes, [_fvi("x", [2, n])], [_fvi("y", [2, 3])], inits, opset=opset)
    p = tmp_path / "big.onnx"
    saved = onnx.ModelProto()
    saved.CopyFrom(model)  # saving with external data moves the copy's data out
    onnx.save_model(saved, p, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="big.bin", size_threshold=0)
    return p, model


@pytest.mark.parametrize("opset", [17, 11])
def test_large_external_initializers_are_read_into_arrays(tmp_path, opset):
    from imcc.frontend.external_data import load_external_data
    from imcc.frontend.loader import read_model_file

    p, model = _large_external_model(tmp_path, opset)
    m = read_model_file(p, external_data=False)
    deferred = load_external_data(m, tmp_path, str(p), defer=True)
    assert sorted(deferred) == ["h", "i", "w"]
    for t in m.graph.initializer:  # the protobuf never holds the large ones' bytes
        assert (t.name in deferred) == (t.data_location == TensorProto.EXTERNAL)
        assert not t.raw_data or t.name not in deferred
    g = load_model(p)  # opset 11 is converted: the converter is given the data itself
    for t in model.graph.initializer:
        got = g.constants[t.name]
        want = numpy_helper.to_array(t)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_external_data_length_that_does_not_fit_the_shape(tmp_path):
    p, _ = _large_external_model(tmp_path)
    m = onnx.load_model(p, load_external_data=False)
    for t in m.graph.initializer:
        if t.name == "w":
            for e in t.external_data:
                if e.key == "length":
                    e.value = str(int(e.value) - 4)
    p.write_bytes(m.SerializeToString())
    msg = _one_line_error(_stats(str(p)), "'w'", "do not belong together")
    assert "59996 bytes" in msg and "60000" in msg


def test_external_data_shortened_while_read(tmp_path):
    from imcc.frontend.external_data import ExternalData, read_external

    p, model = _large_external_model(tmp_path)
    t = next(t for t in onnx.load_model(p, load_external_data=False).graph.initializer
             if t.name == "w")
    size = (tmp_path / "big.bin").stat().st_size
    with pytest.raises(OnnxImportError, match="became shorter"):
        read_external(t, ExternalData(tmp_path / "big.bin", size - 100, 60000), "m")


def test_missing_external_data(tmp_path):
    p = _external_model(tmp_path)
    (tmp_path / "weights.bin").unlink()
    _one_line_error(_stats(str(p)), "weights.bin", "missing")


def test_truncated_external_data(tmp_path):
    p = _external_model(tmp_path)
    w = tmp_path / "weights.bin"
    w.write_bytes(w.read_bytes()[:10])
    _one_line_error(_stats(str(p)), "too short")


def _relocate(p: Path, location: str) -> None:
    m = onnx.load_model(p, load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    p.write_bytes(m.SerializeToString())


def test_external_data_escaping_the_folder_is_rejected(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    p = _external_model(inner)
    (tmp_path / "secret.bin").write_bytes((inner / "weights.bin").read_bytes())
    _relocate(p, "../secret.bin")
    _one_line_error(_stats(str(p)), "leaves the model's folder")
    _relocate(p, str(tmp_path / "secret.bin"))
    _one_line_error(_stats(str(p)), "absolute")


def test_external_data_symlink_escaping_is_rejected(tmp_path):
    inner = tmp_path / "model"
    inner.mkdir()
    p = _external_model(inner)
    (tmp_path / "secret.bin").write_bytes((inner / "weights.bin").read_bytes())
    (inner / "weights.bin").unlink()
    (inner / "weights.bin").symlink_to(tmp_path / "secret.bin")
    _one_line_error(_stats(str(p)), "leaves the model's folder")


def test_external_data_without_folder_in_memory():
    m = onnx.ModelProto()
    m.CopyFrom(build("mlp", features=4, hidden=(), classes=2))
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="w.bin")
    with pytest.raises(OnnxImportError, match="no model folder"):
        load_model_proto(m)


def test_cycle(tmp_path):
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second")]
    m = _tiny(nodes, [_fvi("x", [2])], [_fvi("b", [2])])
    _one_line_error(_stats(str(_save(tmp_path, m))), "cycle", "first", "second")


def test_unsorted_graph_is_accepted(tmp_path):
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="late"),
             helper.make_node("Neg", ["x"], ["a"], name="early")]
    m = _tiny(nodes, [_fvi("x", [3])], [_fvi("y", [3])])
    g = load_model(_save(tmp_path, m))
    assert [n.name for n in g.nodes] == ["early", "late"]


def test_unknown_op_domain(tmp_path):
    nodes = [helper.make_node("FancyOp", ["x"], ["y"], name="fancy", domain="com.example"),
             helper.make_node("Gelu2", ["y"], ["z"], name="fancier", domain="com.example")]
    m = _tiny(nodes, [_fvi("x", [2])], [_fvi("z", [2])], domains=["com.example"])
    text = _one_line_error(_stats(str(_save(tmp_path, m))), "unknown operator domain")
    assert "fancy" in text and "fancier" in text and "com.example.FancyOp" in text


def test_opset_beyond_what_onnx_knows(tmp_path):
    m = _tiny([helper.make_node("Relu", ["x"], ["y"])], [_fvi("x", [2])], [_fvi("y", [2])],
              opset=onnx.defs.onnx_opset_version() + 2)
    newest = onnx.defs.onnx_opset_version()
    _one_line_error(_stats(str(_save(tmp_path, m))),
                    f"outside the opsets imcc reads (13 to {newest})", "newer than the installed "
                    "onnx knows", "re-export")


@pytest.mark.parametrize("opset", [9, 11, 12, 22, 23, onnx.defs.onnx_opset_version()])
def test_opset_outside_range_is_converted(tmp_path, opset):
    """Older opsets are converted up; newer ones are read as they are (their Conv, MaxPool,
    Flatten, Gemm and Softmax only widened element types)."""
    rng = np.random.default_rng(opset)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 12)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((3, 1, 2, 2)).astype(np.float32), "k")]
    nodes = [helper.make_node("Conv", ["x", "k"], ["c"], group=3, pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    m = _tiny(nodes, [_fvi("x", [2, 3, 3, 3])], [_fvi("y", [2, 4])], inits, opset=opset)
    x = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    want = reference(_tiny(nodes, [_fvi("x", [2, 3, 3, 3])], [_fvi("y", [2, 4])], inits), {"x": x})
    r, out = _compile(tmp_path, m)
    assert r.exit_code == 0, r.output
    from isa.objfile import read_object
    from runtime.config import preset
    from runtime.machine import Machine

    got = Machine(preset("ideal"), read_object(out)).run({"x": x})["y"]
    np.testing.assert_allclose(got, want[0], rtol=1e-5, atol=1e-6)


def test_symbolic_dim_needs_input_shape(tmp_path):
    # A symbolic leading dim is the batch (1 by default); any other needs --input-shape.
    m = build("lenet", batch="N")
    assert _stats(str(_save(tmp_path, m))).exit_code == 0
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    p = _save(tmp_path, m)
    _one_line_error(_stats(str(p)), "'input' [N, 1, H, 28]", "NAME=SIZE for H",
                    "--input-shape input=1x1x1x28")
    r = _stats(str(p), "--input-shape", "input=2x1x28x28")
    assert r.exit_code == 0, r.output
    r = _stats(str(p), "--input-shape", "H=28")  # the dimension by its name
    assert r.exit_code == 0, r.output


def test_bad_input_shape_options(tmp_path):
    p = _save(tmp_path, build("lenet", batch="N"))
    _one_line_error(_stats(str(p), "--input-shape", "image=1x1x28x28"),
                    "'image'", "neither an input", "inputs: input", "symbolic dimensions: N")
    _one_line_error(_stats(str(p), "--input-shape", "N=2x3"), "give it one size")
    _one_line_error(_stats(str(p), "--input-shape", f"input=1x1x{2**70}x28"),
                    f"dimension 2 is {2**70}")
    _one_line_error(_stats(str(p), "--input-shape", "input=1xAx28"), "expected NAME=")
    _one_line_error(_stats(str(p), "--input-shape", "input=1x1x28"), "rank 3")
    _one_line_error(_stats(str(p), "--input-shape", "input=1x3x28x28"), "fixed to 1")


def test_inconsistent_shapes(tmp_path):
    m = _tiny([helper.make_node("Add", ["x", "w"], ["y"], name="add")],
              [_fvi("x", [2, 3]), _fvi("w", [4, 5])], [_fvi("y", [2, 3])])
    _one_line_error(_stats(str(_save(tmp_path, m))), "shape inference")


def test_data_dependent_shape(tmp_path):
    nodes = [helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
             helper.make_node("Cast", ["nz"], ["y"], name="cast", to=TensorProto.FLOAT)]
    m = _tiny(nodes, [_fvi("x", [4])], [_fvi("y", [1, "k"])])
    _one_line_error(_stats(str(_save(tmp_path, m))), "nonzero", "depends on input data")


def test_load_model_proto_leaves_its_argument_alone():
    m = build("lenet", batch="N")
    before = m.SerializeToString()
    load_model_proto(m, {"input": (2, 1, 28, 28)})
    assert m.SerializeToString() == before


def test_loaded_graph_equals_model():
    """The imported IR (explicit attributes, pads from auto_pad) computes the same function."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", auto_pad="SAME_LOWER",
                              strides=[2, 2]),
             helper.make_node("MaxPool", ["c"], ["y"], name="pool", auto_pad="SAME_UPPER",
                              kernel_shape=[3, 3], strides=[2, 2])]
    w = numpy_helper.from_array(np.random.default_rng(1).standard_normal((4, 3, 4, 4))
                                .astype(np.float32), "w")
    m = _tiny(nodes, [_fvi("x", [1, 3, 9, 9])], [_fvi("y", [1, 4, 3, 3])], inits=[w])
    g = load_model_proto(m)
    assert g.node("conv").attrs["auto_pad"] == "NOTSET"
    assert g.node("conv").attrs["pads"] == (2, 2, 1, 1)
    assert g.node("pool").attrs["pads"] == (1, 1, 1, 1)
    from imcc.ir import to_onnx

    feeds = random_feeds(m, {"x": (1, 3, 9, 9)})
    assert_matches(reference(m, feeds), reference(to_onnx(g), feeds))


def _compile(tmp_path: Path, model: onnx.ModelProto):
    out = tmp_path / "m.imo"
    r = CliRunner().invoke(cli, ["compile", str(_save(tmp_path, model)), "-o", str(out)])
    return r, out


W333 = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")


@pytest.mark.parametrize("x_shape,inits,attrs,needle", [
    ([1, 5, 8, 8], [W333], {}, "the input has 5 channels but the weight [4, 3, 3, 3] expects 3"),
    ([1, 6, 8, 8], [W333], {"group": 4}, "group=4 does not divide the input's 6 channels"),
    ([1, 3, 8, 8], [W333, numpy_helper.from_array(np.ones(3, np.float32), "b")], {},
     "bias of shape [3] for 4 output channels"),
])
def test_conv_operands_that_onnx_inference_lets_through(tmp_path, x_shape, inits, attrs, needle):
    ins = ["x", "w"] + (["b"] if len(inits) > 1 else [])
    m = _tiny([helper.make_node("Conv", ins, ["y"], **attrs)], [_fvi("x", x_shape)],
              [_fvi("y", None)], inits)
    r, out = _compile(tmp_path, m)
    _one_line_error(r, needle)
    assert not out.exists()


def test_graph_without_outputs(tmp_path):
    m = _tiny([helper.make_node("Relu", ["x"], ["y"])], [_fvi("x", [1, 3])], [])
    r, out = _compile(tmp_path, m)
    _one_line_error(r, "no outputs")
    assert not out.exists()


def test_output_without_shape_gets_the_inferred_one(tmp_path):
    m = _tiny([helper.make_node("Gemm", ["x", "g"], ["y"])], [_fvi("x", [2, 3])],
              [_fvi("y", None)], [numpy_helper.from_array(np.ones((3, 5), np.float32), "g")])
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(m)  # what the checker alone says of it
    g = load_model_proto(m)
    assert g.types["y"].shape == (2, 5)


def test_output_without_shape_that_inference_cannot_type_names_the_reason(tmp_path):
    m = _tiny([helper.make_node("Gemm", ["x", "g"], ["y"])], [_fvi("x", [1, 7])],
              [_fvi("y", None)], [numpy_helper.from_array(np.ones((5, 3), np.float32), "g")])
    r, _ = _compile(tmp_path, m)
    _one_line_error(r, "shape inference fails", "Gemm")


def test_constant_output_is_copied_out(tmp_path):
    from runtime.config import preset
    from runtime.machine import Machine
    from isa.objfile import read_object

    g = np.arange(15, dtype=np.float32).reshape(3, 5)
    m = _tiny([helper.make_node("Relu", ["x"], ["y"])], [_fvi("x", [1, 3])],
              [_fvi("y", [1, 3]), _fvi("g", [3, 5])], [numpy_helper.from_array(g, "g")])
    r, out = _compile(tmp_path, m)
    assert r.exit_code == 0, r.output
    x = np.array([[-1, 2, -3]], np.float32)
    got = Machine(preset("ideal"), read_object(out)).run({"x": x})
    want = reference(m, {"x": x})
    np.testing.assert_array_equal(got["y"], want[0])
    np.testing.assert_array_equal(got["g"], want[1])


def test_nonfinite_weights_are_refused(tmp_path):
    w = np.ones((3, 5), np.float32)
    w[1, 2] = np.nan
    m = _tiny([helper.make_node("Gemm", ["x", "g"], ["y"])], [_fvi("x", [1, 3])],
              [_fvi("y", [1, 5])], [numpy_helper.from_array(w, "g")])
    r, out = _compile(tmp_path, m)
    _one_line_error(r, "1 NaN or infinite value")
    assert not out.exists()


@pytest.mark.parametrize("shape", [[1, 0], [0, 3]])
def test_empty_input_dimension(shape, tmp_path):
    """A dimension the model fixes at 0 is an empty tensor, not a symbolic one (no
    --input-shape is asked for): the input is the constant of its shape, not an input of the
    program, and the output is empty."""
    import imcc

    m = _tiny([helper.make_node("Relu", ["x"], ["y"])], [_fvi("x", shape)], [_fvi("y", None)])
    assert _stats(str(_save(tmp_path, m))).exit_code == 0
    prog = imcc.compile(m, "ideal")
    assert prog.inputs == ()
    assert prog.run({})["y"].shape == tuple(shape)


def test_window_larger_than_the_input(tmp_path):
    m = _tiny([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[20, 20])],
              [_fvi("x", [1, 3, 8, 8])], [_fvi("y", None)])
    r, out = _compile(tmp_path, m)
    _one_line_error(r, "'y' would have shape [1, 3, -11, -11]")
    assert not out.exists()


def test_empty_graph_output(tmp_path):
    """A Resize to size 0 gives an empty output (the machine declares it with a 0 dimension)."""
    import imcc

    scales = numpy_helper.from_array(np.array([1, 1, 0, 0], np.float32), "sc")
    m = _tiny([helper.make_node("Resize", ["x", "", "sc"], ["y"])], [_fvi("x", [1, 3, 8, 8])],
              [_fvi("y", None)], [scales])
    out = imcc.compile(m, "ideal").run({"x": np.ones((1, 3, 8, 8), np.float32)})["y"]
    assert out.shape == (1, 3, 0, 0) and out.dtype == np.float32


def test_constant_gather_index_out_of_range(tmp_path):
    idx = numpy_helper.from_array(np.array([1, 9], np.int64), "i")
    m = _tiny([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], [_fvi("x", [2, 4])],
              [_fvi("y", [2, 2])], [idx])
    _one_line_error(_compile(tmp_path, m)[0], "index 9 is out of range for axis 1 of size 4")


def test_operands_that_do_not_broadcast_name_the_node(tmp_path):
    s = numpy_helper.from_array(np.ones(5, np.float32), "s")
    m = _tiny([helper.make_node("LayerNormalization", ["x", "s"], ["y"], axis=-1, name="ln")],
              [_fvi("x", [1, 3, 8])], [_fvi("y", None)], [s])
    _one_line_error(_compile(tmp_path, m)[0], "node 'ln' (LayerNormalization)", "s [5]")


def test_names_with_line_breaks_and_quotes(tmp_path):
    xn, yn = "x\n;%", 'y"\\ \t\r'
    m = _tiny([helper.make_node("Relu", [xn], [yn], name="a\nb")], [_fvi(xn, [1, 3])],
              [_fvi(yn, None)])
    r, out = _compile(tmp_path, m)
    assert r.exit_code == 0, r.output
    from isa.objfile import read_object
    from runtime.config import preset
    from runtime.machine import Machine

    x = np.array([[-1, 2, -3]], np.float32)
    got = Machine(preset("ideal"), read_object(out)).run({xn: x})
    np.testing.assert_array_equal(got[yn], np.maximum(x, 0))


@pytest.mark.parametrize("field", [b"relu_node", b"Relu", b"hidden"])
def test_names_that_are_not_utf8(tmp_path, field):
    m = _tiny([helper.make_node("Relu", ["x"], ["hidden"], name="relu_node"),
               helper.make_node("Neg", ["hidden"], ["y"], name="neg_node")],
              [_fvi("x", [1, 3])], [_fvi("y", [1, 3])])
    blob = m.SerializeToString()
    assert field in blob
    bad = field[:1] + b"\xa0" + field[2:]  # same length: the protobuf stays well formed
    p = tmp_path / "m.onnx"
    p.write_bytes(blob.replace(field, bad))
    for cmd in ("compile", "stats"):
        r = CliRunner().invoke(cli, [cmd, str(p)] + (["-o", str(tmp_path / "o.imo")]
                                                     if cmd == "compile" else []))
        _one_line_error(r, "not valid UTF-8")
    assert not (tmp_path / "o.imo").exists()
