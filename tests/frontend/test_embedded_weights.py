"""Large weights inside the .onnx file are left there when it is parsed and read like external
data (imcc/frontend/embedded.py): the same arrays as onnx's own reader, the same compiled
object as a whole parse, and the ordinary errors for a damaged file."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from imcc.compiler import CompileOptions, compile_model
from imcc.frontend import embedded, load_model
from imcc.frontend.loader import read_model_file
from isa.diagnostics import OnnxImportError
from isa.objfile import to_bytes
from runtime.config import preset


def _model(tmp_path, dtype=np.float32):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((96, 64)).astype(dtype)  # 6,144 elements: left in the file
    w2 = rng.standard_normal((64, 10)).astype(dtype)  # 640: parsed with the model
    b = rng.standard_normal(10).astype(dtype)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
         helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Gemm", ["r", "w2", "b"], ["y"], name="fc")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 96])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
         numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    return path, {"w1": w1, "w2": w2, "b": b}


@pytest.fixture
def scan_all(monkeypatch):
    monkeypatch.setattr(embedded, "SCAN_BYTES", 0)


def test_large_initializers_stay_in_the_file(tmp_path, scan_all):
    path, weights = _model(tmp_path)
    m = read_model_file(path, external_data=False)
    inits = {t.name: t for t in m.graph.initializer}
    w1 = inits["w1"]
    assert w1.data_location == TensorProto.EXTERNAL and not w1.raw_data
    info = {e.key: e.value for e in w1.external_data}
    assert info["location"] == "m.onnx"
    raw = path.read_bytes()[int(info["offset"]):][:int(info["length"])]
    assert raw == weights["w1"].tobytes()
    assert inits["w2"].data_location == TensorProto.DEFAULT  # small: parsed as it is
    full = read_model_file(path)  # external data loaded: what onnx.load gives
    ref = onnx.load(path)
    for t, r in zip(full.graph.initializer, ref.graph.initializer):
        np.testing.assert_array_equal(numpy_helper.to_array(t), numpy_helper.to_array(r))
    graph = load_model(path)
    for k, v in weights.items():
        np.testing.assert_array_equal(graph.constants[k], v)


def test_compiled_object_is_the_same_as_from_a_whole_parse(tmp_path, monkeypatch):
    path, _ = _model(tmp_path)
    whole = compile_model(path, preset("ideal"), options=CompileOptions(priority="resource"))
    monkeypatch.setattr(embedded, "SCAN_BYTES", 0)
    left = compile_model(path, preset("ideal"), options=CompileOptions(priority="resource"))
    assert to_bytes(left.obj) == to_bytes(whole.obj) and left.asm == whole.asm


def test_a_truncated_file_gives_the_ordinary_error(tmp_path, scan_all):
    path, _ = _model(tmp_path)
    blob = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(OnnxImportError, match="not a readable ONNX model"):
        read_model_file(tmp_path / "cut.onnx")


def test_data_that_does_not_match_its_shape_is_parsed_whole_and_refused(tmp_path, scan_all):
    path, _ = _model(tmp_path)
    m = onnx.load(path)
    t = next(t for t in m.graph.initializer if t.name == "w1")
    t.raw_data = t.raw_data[:-4]  # one element short
    onnx.save(m, path)
    m2 = read_model_file(path, external_data=False)
    assert next(t for t in m2.graph.initializer if t.name == "w1").data_location == \
        TensorProto.DEFAULT
    with pytest.raises(OnnxImportError, match="initializer 'w1'"):
        load_model(path)
