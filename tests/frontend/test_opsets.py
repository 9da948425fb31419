"""Opsets after 21 are read natively: imcc.frontend.opsets' table of what each operator version
changed, checked against the ONNX changelog, and models at those opsets compiled and compared
with onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from imcc.frontend.evaluate import evaluate
from imcc.frontend.opsets import BASE_OPSET, MAX_OPSET, changes, newer_defaults
from imcc.ir import Node
from tests.compiler.helpers import make_model, reference, run_compiled

F = np.float32


@pytest.mark.parametrize("op,version,added", [
    # the ONNX changelog: opset 22 widened the element types of these
    ("GlobalMaxPool", 22, ()), ("Celu", 28, ()), ("Mod", 28, ()), ("MaxPool", 22, ()),
    # and these added an attribute whose default is the old behaviour
    ("Cast", 24, ("round_mode",)), ("Range", 27, ("stash_type",)),
    ("SpaceToDepth", 28, ("mode",)), ("DequantizeLinear", 23, ("output_dtype",)),
])
def test_changes_name_what_each_version_changed(op, version, added):
    assert dict(changes()[op])[version] == added


def test_operators_introduced_after_21_are_not_versions_of_an_older_one():
    for op in ("Attention", "RMSNormalization", "RotaryEmbedding", "Swish", "CumProd"):
        assert op not in changes()
    assert all(v > BASE_OPSET for versions in changes().values() for v, _ in versions)


def test_an_attribute_at_its_default_is_dropped_for_the_reference_evaluator():
    """onnx's reference CastLike refuses the round_mode its own schema (opset 24) defaults."""
    assert newer_defaults("CastLike", 25) == {"round_mode": "up"}
    assert newer_defaults("CastLike", 23) == {} and newer_defaults("Relu", MAX_OPSET) == {}
    node = Node("c", "CastLike", ("x", "like"), ("y",),
                {"saturate": 1, "round_mode": "up"})
    feeds = {"x": np.array([1.5, -2.0], F), "like": np.zeros(2, np.int32)}
    got = evaluate([node], feeds, ["y"], 25)["y"]
    assert got.dtype == np.int32 and got.tolist() == [1, -2]


def _compare(model, feeds, tmp_path):
    want = reference(model, feeds)
    got, _ = run_compiled(model, feeds, tmp_path)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("opset", [22, MAX_OPSET])
def test_operators_whose_newer_versions_widened_types(opset, tmp_path):
    rng = np.random.default_rng(opset)
    nodes = [helper.make_node("Celu", ["x"], ["c"], alpha=0.5),
             helper.make_node("GlobalMaxPool", ["c"], ["g"]),
             helper.make_node("Mod", ["x", "m"], ["r"])]
    m = make_model(nodes, [("x", F, (1, 3, 2, 2))], [("g", F, None), ("r", F, None)],
                   {"m": np.array([0.7, -1.3, 2.0], F).reshape(1, 3, 1, 1)}, opset=opset)
    _compare(m, {"x": 3 * rng.standard_normal((1, 3, 2, 2)).astype(F)}, tmp_path)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_space_to_depth_mode_of_opset_28(mode, tmp_path):
    node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode=mode)
    m = make_model([node], [("x", F, (1, 2, 4, 4))], [("y", F, None)], opset=28)
    _compare(m, {"x": np.arange(32, dtype=F).reshape(1, 2, 4, 4)}, tmp_path)


def test_every_operator_version_imcc_reads_is_in_onnx():
    """MAX_OPSET is the newest the installed onnx knows, and the table covers each of its
    versions after 21 of every operator older than that."""
    assert MAX_OPSET == onnx.defs.onnx_opset_version()
    for op in ("GlobalMaxPool", "Cast", "Reshape"):
        latest = onnx.defs.get_schema(op, MAX_OPSET, "").since_version
        assert latest <= BASE_OPSET or latest == changes()[op][-1][0]


def test_a_model_proto_at_a_newer_opset_keeps_that_opset():
    from imcc.frontend import load_model_proto

    m = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", F, (2,))],
                   [("y", F, None)], opset=24)
    assert load_model_proto(m).opset == 24


@pytest.mark.parametrize("slope_as_input", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4), (1, 3, 2, 5)])
def test_prelu_of_opset_6_applies_its_slope_per_channel(slope_as_input, shape, tmp_path):
    """Before opset 7 a slope of the channel count applies along axis 1 (PRelu-6); the model
    is converted up with that meaning kept (numpy's per-channel formula as the oracle)."""
    x = np.random.default_rng(3).standard_normal(shape).astype(F)
    slope = np.array([0.1, -2.0, 0.5], F)
    g = helper.make_graph(
        [helper.make_node("PRelu", ["x", "s"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)]
        + ([helper.make_tensor_value_info("s", onnx.TensorProto.FLOAT, [3])]
           if slope_as_input else []),
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)],
        initializer=[] if slope_as_input else [onnx.numpy_helper.from_array(slope, "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
    m.ir_version = 3 if not slope_as_input else 4
    if not slope_as_input:  # IR 3: an initializer is also a graph input
        m.graph.input.append(helper.make_tensor_value_info("s", onnx.TensorProto.FLOAT, [3]))
    feeds = {"x": x, "s": slope} if slope_as_input else {"x": x}
    got, _ = run_compiled(m, feeds, tmp_path)
    per_channel = slope.reshape((1, 3) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(got[0], np.where(x < 0, x * per_channel, x), rtol=1e-6)


def test_ir3_model_whose_initializer_is_not_an_input(tmp_path):
    """IR 3 listed every initializer among the graph inputs; PyTorch's exporters of its time
    did not always (onnx's checker refuses such a model as it is): imcc reads it."""
    w = np.arange(6, dtype=F).reshape(2, 3)
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, (2, 3))],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, (2, 3))],
                          initializer=[onnx.numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    m.ir_version = 3
    with pytest.raises(onnx.checker.ValidationError, match="not in graph input"):
        onnx.checker.check_model(m)
    x = np.random.default_rng(4).standard_normal((2, 3)).astype(F)
    got, _ = run_compiled(m, {"x": x}, tmp_path)
    np.testing.assert_array_equal(got[0], x + w)


def test_ir3_model_the_converter_gives_an_initializer(tmp_path):
    """Opset 6's Pad keeps its pads in an attribute; onnx.version_converter makes them an
    initializer of the converted model and leaves it at IR 3 without listing it."""
    g = helper.make_graph([helper.make_node("Pad", ["x"], ["y"], pads=[0, 1, 0, 2])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, (2, 3))],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, (2, 6))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 6)])
    m.ir_version = 3
    x = np.random.default_rng(5).standard_normal((2, 3)).astype(F)
    got, _ = run_compiled(m, {"x": x}, tmp_path)
    np.testing.assert_array_equal(got[0], np.pad(x, ((0, 0), (1, 2))))
