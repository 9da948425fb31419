"""Weights out of memory while the compile does not read them: large constants the passes made
are spilled to a temporary file and mapped back (imcc/spill.py), and calibration runs the float
model in stages of about ``STAGE_BYTES`` of weights, giving each stage's weights back after it
(imcc/staged.py). The spilled arrays are the same bytes, the staged ranges those of onnx's
reference evaluator on the original model, and a compile with both forced on small weights
writes the object of a compile without them, byte for byte."""

import sys
from types import MappingProxyType

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc.calibrate
import imcc.mapper
import imcc.spill
import imcc.staged
from imcc.calibrate import activation_ranges
from imcc.compiler import CompileOptions, compile_model
from imcc.frontend.external_data import let_go, mapped
from imcc.ir import Graph, Node, TensorType
from imcc.mapper import canonical_graph, load_graph
from isa.objfile import write_object
from runtime.config import preset
from tests.compiler.helpers import reference_peaks


def _model(rng):
    """Conv + BatchNorm (folded into a new weight), a Gemm whose weight is transposed (fed as
    the array it views, the Gemm's transB flipped in the calibration model), and one MatMul
    weight read twice, with another weight between the two reads."""
    c, h = 8, 6
    w1 = rng.standard_normal((16, c, 3, 3)).astype(np.float32) * 0.4
    bn = [rng.uniform(0.5, 1.5, 16).astype(np.float32) for _ in range(4)]
    w2 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32) * 0.2
    wg = rng.standard_normal((80, 32 * h * h)).astype(np.float32) * 0.05
    wt = rng.standard_normal((80, 80)).astype(np.float32) * 0.2
    wm = rng.standard_normal((80, 80)).astype(np.float32) * 0.2
    wo = rng.standard_normal((80, 10)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["n1"]),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c2"], ["f"]),
             helper.make_node("Gemm", ["f", "wg"], ["g"], transB=1),
             helper.make_node("MatMul", ["g", "wt"], ["t1"]),
             helper.make_node("Tanh", ["t1"], ["t2"]),
             helper.make_node("MatMul", ["t2", "wm"], ["t3"]),
             helper.make_node("MatMul", ["t3", "wt"], ["t4"]),
             helper.make_node("Relu", ["t4"], ["t5"]),
             helper.make_node("MatMul", ["t5", "wo"], ["y"])]
    inits = [numpy_helper.from_array(v, k) for k, v in
             (("w1", w1), ("w2", w2), ("wg", wg), ("wt", wt), ("wm", wm), ("wo", wo),
              *zip(("s", "b", "m", "v"), bn))]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def small(monkeypatch):
    """Spill every constant of 1 KiB or more, and cut stages of at most 40 KB of weights."""
    monkeypatch.setattr(imcc.spill, "SPILL_BYTES", 0)
    monkeypatch.setattr(imcc.spill, "MIN_ARRAY", 1024)
    monkeypatch.setattr(imcc.staged, "STAGE_BYTES", 40_000)
    sessions = []
    real = imcc.staged.runner

    def counted(model, **kw):
        sessions.append(model)
        return real(model, **kw)

    monkeypatch.setattr(imcc.staged, "runner", counted)
    return sessions


def _graph(constants: dict) -> Graph:
    types = {k: TensorType(v.shape, v.dtype.name) for k, v in constants.items()}
    types |= {"x": TensorType((2,), "float32"), "y": TensorType((2,), "float32")}
    return Graph(name="g", nodes=(Node("r", "Relu", ("x",), ("y",)),), inputs=("x",),
                 outputs=("y",), types=types, constants=constants, opset=21)


@pytest.mark.skipif(not imcc.spill.can_let_go(), reason="spilling needs madvise (Linux)")
def test_spilled_constants_are_the_same_bytes_in_the_same_layout(small):
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((70, 90)).astype(np.float32)
    shared = rng.standard_normal(5000).astype(np.float32)
    consts = {"f32": f32, "t": rng.standard_normal((300, 200)).astype(np.float32).T,
              "f16": rng.standard_normal((40, 40)).astype(np.float16),
              "i8": rng.integers(-128, 128, (33, 77), dtype=np.int8),
              "b": rng.random((64, 64)) > 0.5, "a": shared, "a2": shared,
              "stand_in": np.broadcast_to(np.zeros((), np.float32), (500, 500)),
              "tiny": np.arange(10, dtype=np.float32)}
    g = _graph(consts)
    out = imcc.spill.spill(g)
    assert out is not g
    for k, v in consts.items():
        got = out.constants[k]
        assert got.dtype == v.dtype and got.shape == v.shape
        np.testing.assert_array_equal(got, v)
        assert mapped(got) == (k not in ("stand_in", "tiny")), k
        let_go(got)  # given back, read again from the file
        np.testing.assert_array_equal(got, v)
    assert out.constants["t"].flags.f_contiguous  # the transposed view stays a view
    assert np.shares_memory(out.constants["a"], out.constants["a2"])  # written once


def test_spill_leaves_the_graph_where_it_does_not_pay_or_cannot_write(small, monkeypatch):
    g = _graph({"w": np.ones((100, 100), np.float32)})
    monkeypatch.setattr(imcc.spill, "SPILL_BYTES", 40_001)
    assert imcc.spill.spill(g) is g  # 40,000 bytes: below the threshold
    monkeypatch.setattr(imcc.spill, "SPILL_BYTES", 0)

    def no_space():
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(imcc.spill.tempfile, "TemporaryFile", no_space)
    assert imcc.spill.spill(g) is g


@pytest.mark.parametrize("engine", ["onnxruntime", "onnx evaluator"])
@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_staged_ranges_are_the_reference_evaluators(small, method, engine, monkeypatch):
    if engine != "onnxruntime":  # the core install, without onnxruntime
        monkeypatch.setitem(sys.modules, "onnxruntime", None)
    rng = np.random.default_rng(1)
    model = _model(rng)
    graph = canonical_graph(load_graph(model, CompileOptions()))
    wanted = [n.inputs[0] for n in graph.nodes if n.op_type in ("Conv", "MatMul", "Gemm")]
    assert len(wanted) == 7
    x = rng.standard_normal((5, 8, 6, 6)).astype(np.float32)
    got = activation_ranges(graph, wanted, {"x": x}, method=method, percentile=100.0)
    assert len(small) >= 3  # cut into stages, one session each
    inputs = [set(i.name for i in m.graph.input) for m in small]
    assert all("x" not in names for names in inputs[1:])  # later stages read earlier ones
    assert sum("wt" in names for names in inputs) == 2  # the shared weight, in two stages
    assert set(wanted) == {"x", "r1", "f", "g", "t2", "t3", "t5"}  # the model's own names
    want = reference_peaks(model, x, wanted, batch=1)
    for t, v in want.items():
        assert got[t] == pytest.approx(v, rel=1e-6), t


def test_a_model_with_subgraphs_runs_whole():
    then = helper.make_graph([helper.make_node("Identity", ["a"], ["o1"])], "then", [],
                             [helper.make_tensor_value_info("o1", TensorProto.FLOAT, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["a"], ["o2"])], "else", [],
                              [helper.make_tensor_value_info("o2", TensorProto.FLOAT, [2])])
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["a"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2]),
              helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 2]),
              helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert imcc.staged._stages(model, {"w": np.ones((2, 2), np.float32)}, ["y"]) is None


def _object_bytes(model, tmp_path, name) -> bytes:
    rng = np.random.default_rng(7)
    calib = {"x": rng.standard_normal((4, 8, 6, 6)).astype(np.float32)}
    res = compile_model(model, preset("ideal-int8"), calib=calib,
                        options=CompileOptions(priority="resource"))
    write_object(res.obj, tmp_path / name)
    return (tmp_path / name).read_bytes()


@pytest.mark.skipif(not imcc.spill.can_let_go(), reason="spilling needs madvise (Linux)")
def test_a_compile_with_spilled_weights_and_staged_calibration_is_the_same(tmp_path,
                                                                            monkeypatch):
    model = _model(np.random.default_rng(2))
    plain = _object_bytes(model, tmp_path, "plain.imo")
    spilled = []
    real = imcc.spill.spill

    def spill(graph):
        out = real(graph)
        spilled.extend(k for k, v in out.constants.items() if mapped(v))
        return out

    monkeypatch.setattr(imcc.mapper, "spill", spill)
    monkeypatch.setattr(imcc.spill, "SPILL_BYTES", 0)
    monkeypatch.setattr(imcc.spill, "MIN_ARRAY", 1024)
    monkeypatch.setattr(imcc.staged, "STAGE_BYTES", 40_000)
    assert _object_bytes(model, tmp_path, "staged.imo") == plain
    assert len(spilled) >= 4  # the folded conv weight among them


def test_stages_cut_by_weight_bytes_and_a_weight_transpose_joins_its_reader(monkeypatch):
    monkeypatch.setattr(imcc.staged, "STAGE_BYTES", 100)
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4, 4])
          for n in ("x", "w1", "w2", "w3", "w4")]
    g = helper.make_graph(
        [helper.make_node("Transpose", ["w3"], ["w3t"]),
         helper.make_node("Transpose", ["w4"], ["w4t"]),
         helper.make_node("MatMul", ["x", "w1"], ["a"]),
         helper.make_node("MatMul", ["a", "w2"], ["b"]),
         helper.make_node("MatMul", ["b", "w3t"], ["c"]),
         helper.make_node("Relu", ["b"], ["unused"])],
        "g", vi, [helper.make_tensor_value_info("c", TensorProto.FLOAT, [4, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    weights = {w: np.ones((4, 4), np.float32) for w in ("w1", "w2", "w3", "w4")}  # 64 bytes
    groups = imcc.staged._stages(model, weights, ["c", "w4t"])
    ops = [[(n.op_type, n.output[0]) for n in stage] for stage in groups]
    # w1 and w2 make 128 bytes: two stages; w3's transpose runs in the stage of its reader;
    # w4's, wanted and read by none, in the first; the Relu no output needs is left out
    assert ops == [[("Transpose", "w4t"), ("MatMul", "a")],
                   [("MatMul", "b")],
                   [("Transpose", "w3t"), ("MatMul", "c")]]


@pytest.mark.skipif(not imcc.spill.can_let_go(), reason="spilling needs madvise (Linux)")
@pytest.mark.parametrize("name", ["mobilenet_v2", "bert-base", "llama-tiny"])
def test_models_compile_the_same_with_every_weight_a_stage_of_its_own(name, tmp_path,
                                                                       monkeypatch):
    """Residual and dense CNN blocks, attention with masks and integer ids, grouped-query
    attention with rotary positions: many tensors cross each cut."""
    from imcc.models import build
    from imcc.models.suite import BY_NAME

    model = BY_NAME[name].model("small", batch=1) if name in BY_NAME else build(name, batch=1)
    shapes = {"sequence_length": (4,), "past_sequence_length": (3,)} if name in (
        "llama-tiny",) else {}  # the decoder's symbolic lengths

    def compiled(path):
        res = compile_model(model, preset("ideal-int8"), options=CompileOptions(
            priority="resource", input_shapes=MappingProxyType(shapes)))
        write_object(res.obj, path)
        return path.read_bytes()

    monkeypatch.setattr(imcc.calibrate, "_LARGE", 16)  # the small models' weights are fed
    plain = compiled(tmp_path / "plain.imo")
    monkeypatch.setattr(imcc.spill, "SPILL_BYTES", 0)
    monkeypatch.setattr(imcc.spill, "MIN_ARRAY", 64)
    monkeypatch.setattr(imcc.staged, "STAGE_BYTES", 1)
    sessions = []
    real = imcc.staged.runner
    monkeypatch.setattr(imcc.staged, "runner",
                        lambda m, **kw: sessions.append(m) or real(m, **kw))
    assert compiled(tmp_path / "staged.imo") == plain
    assert len(sessions) > 4  # a stage for each weight fed to the calibration model


def test_a_calibration_model_onnxruntime_refuses_runs_in_the_evaluator_and_says_so(
        monkeypatch):
    onnxruntime = pytest.importorskip("onnxruntime")

    def refuse(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : no kernel\nsecond line")

    rng = np.random.default_rng(1)
    model = _model(rng)
    calib = {"x": rng.standard_normal((3, 8, 6, 6)).astype(np.float32)}
    plain = compile_model(model, preset("ideal-int8"), calib=calib)
    assert not [w for w in plain.report["warnings"] if "calibration model" in w]
    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    res = compile_model(model, preset("ideal-int8"), calib=calib)
    notes = [w for w in res.report["warnings"] if "calibration model" in w]
    assert notes == ["calibration: onnxruntime cannot run the calibration model "
                     "([ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : no kernel); onnx's reference "
                     "evaluator ran it instead, more slowly"]
    graph = canonical_graph(load_graph(model, CompileOptions()))
    wanted = [n.inputs[0] for n in graph.nodes if n.op_type in ("Conv", "MatMul", "Gemm")]
    want = reference_peaks(model, calib["x"], wanted, batch=1)
    got = activation_ranges(graph, wanted, calib)  # the evaluator's, with onnxruntime refused
    assert got == pytest.approx(want, rel=1e-6)
