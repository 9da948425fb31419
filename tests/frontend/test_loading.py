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


@pytest.mark.parametrize("opset", [12, 22])
def test_opset_outside_range(tmp_path, opset):
    m = _tiny([helper.make_node("Relu", ["x"], ["y"])], [_fvi("x", [2])], [_fvi("y", [2])],
              opset=opset)
    _one_line_error(_stats(str(_save(tmp_path, m))), f"opset {opset}", "13 to 21")


def test_symbolic_dim_needs_input_shape(tmp_path):
    p = _save(tmp_path, build("lenet", batch="N"))
    _one_line_error(_stats(str(p)), "input 'input'", "--input-shape input=1x1x28x28")
    r = _stats(str(p), "--input-shape", "input=2x1x28x28")
    assert r.exit_code == 0, r.output


def test_bad_input_shape_options(tmp_path):
    p = _save(tmp_path, build("lenet", batch="N"))
    _one_line_error(_stats(str(p), "--input-shape", "image=1x1x28x28"),
                    "'image'", "not an input", "inputs: input")
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
