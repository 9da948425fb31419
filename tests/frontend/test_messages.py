"""Refusals say the real cause, in the model's terms: the operand that is not a constant, the
training mode, the equation form; nodes as the model names them (an unnamed node by the tensor
it writes, never by a name imcc made up for it; a node canonicalization made, under the model's
node it came from); onnx.version_converter's failures in words, not its C++ assertions."""

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import imcc
from imcc.cli import cli


def _model(nodes, inputs, outputs, inits=(), opset=18):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _error(model) -> str:
    with pytest.raises(imcc.Error) as e:
        imcc.compile(model, "ideal", time_limit=0.1)
    msg = e.value.message
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


W = np.ones((2, 3, 3, 3), np.float32)


@pytest.mark.parametrize("nodes,inputs,inits,want,shape", [
    # a runtime weight too large to multiply tap by tap (smaller ones compile)
    ([helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up")],
     [_vi("x", [1, 1100, 4]), _vi("w", [1100, 1, 1])], [],
     "'up' (ConvTranspose: its weight ('w') is not a constant)", None),
    ([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
     [_vi("x", [2, 3]), _vi("t", [], TensorProto.BOOL)], [_const("r", np.float32(0.5))],
     "'drop' (Dropout: its training_mode input ('t') is not a constant)", None),
    ([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
     [_vi("x", [2, 3])], [_const("r", np.float32(0.5)), _const("t", np.bool_(True))],
     "'drop' (Dropout: training mode", None),
    ([helper.make_node("Einsum", ["x", "z"], ["y"], name="tr", equation="...i,...i->...i")],
     [_vi("x", [2, 3]), _vi("z", [1, 3])], [],
     "'tr' (Einsum: this equation is not supported (operands that broadcast a letter of size "
     "1 against a larger one))", None),
    ([helper.make_node("Range", ["s", "l", "d"], ["y"], name="ramp")],
     [_vi("l", [])], [_const("s", np.float32(0)), _const("d", np.float32(1))],
     "'ramp' (Range: its limit ('l') is not a constant: the output's length would depend on "
     "the data)", [5]),
    ([helper.make_node("ReduceL2", ["x", "a"], ["y"], name="norm", keepdims=0)],
     [_vi("x", [3, 3]), _vi("a", [1], TensorProto.INT64)], [],
     "'norm' (ReduceL2: its axes input ('a') is not a constant)", [3]),
])
def test_operators_canonicalization_could_not_rewrite_say_why(nodes, inputs, inits, want, shape):
    """(Where ONNX cannot infer the output's shape, the model declares it.)"""
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)]
    msg = _error(_model(nodes, inputs, outputs, inits))
    assert "1 unsupported node(s): " + want in msg


def test_unnamed_nodes_are_named_by_the_tensor_they_write():
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("RandomUniformLike", ["r"], ["y"])]
    msg = _error(_model(nodes, [_vi("x", [2, 3])], [_vi("y", [2, 3])]))
    assert "1 unsupported node(s): the RandomUniformLike node writing 'y';" in msg
    assert "RandomUniformLike_1" not in msg


@pytest.mark.parametrize("name,want", [
    ("up", "node 'up' (ConvTranspose, as Conv): its weight holds 1 NaN"),
    ("", "the ConvTranspose node writing 'y' (as Conv): its weight holds 1 NaN")])
def test_a_node_canonicalization_made_is_reported_as_the_models_node(name, want):
    """A 3-D ConvTranspose is rewritten as zero insertion + a 3-D Conv with a flipped weight
    (which is then refused: it holds a NaN): the message names the ConvTranspose, once, not the
    nodes or the weight imcc made from it."""
    w = np.ones((2, 3, 2, 2, 2), np.float32)
    w[1, 2, 0, 1, 1] = np.nan
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2, 2], name=name)
    msg = _error(_model([node], [_vi("x", [1, 2, 3, 3, 3])], [_vi("y", None)], [_const("w", w)]))
    assert msg.startswith(want)
    assert "_zeros" not in msg and "_interleave" not in msg and "_W" not in msg
    assert "ConvTranspose_0" not in msg


@pytest.mark.parametrize("node,shape,outputs,want", [
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], pads=[1, 0, 0, 0]),
     [1, 1, 2, 2], ["y"], "the MaxPool node writing 'y': its window 0 along spatial axis 0 "
     "covers only padding"),
])
def test_code_generation_names_unnamed_nodes_by_their_output(node, shape, outputs, want):
    m = _model([node], [_vi("x", shape)], [_vi(o, None) for o in outputs],
               [_const("s", np.ones(3, np.float32))])
    assert _error(m).startswith(want)


@pytest.mark.parametrize("node,opset,want", [
    (helper.make_node("Range", ["a", "b", "c"], ["y"], stash_type=0), 27,
     "the Range node writing 'y' (opset 27): attribute stash_type=0 of Range (new at opset 27) "
     "is not supported; imcc reads Range as of opset 21, as if stash_type were 1"),
    (helper.make_node("Cast", ["a"], ["y"], to=TensorProto.FLOAT, round_mode="nearest"), 24,
     "the Cast node writing 'y' (opset 24): attribute round_mode='nearest' of Cast (new at "
     "opset 24) is not supported"),
])
def test_a_newer_opsets_attribute_that_changes_the_meaning_is_refused(node, opset, want,
                                                                      tmp_path):
    """An operator version after opset 21 that added an attribute reads as its previous version
    only where the node leaves that attribute at its default."""
    m = _model([node], [_vi(x, []) for x in node.input], [_vi("y", None)], opset=opset)
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "m.imo")])
    assert r.exit_code == 2, r.output
    text = r.output.strip()
    assert "\n" not in text and want in text, text
    node.ClearField("attribute")
    node.attribute.extend([helper.make_attribute("to", TensorProto.FLOAT)] * (node.op_type ==
                                                                             "Cast"))
    onnx.save(_model([node], [_vi(x, []) for x in node.input], [_vi("y", None)], opset=opset),
              path)
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "m.imo")])
    assert "new at opset" not in r.output, r.output


def test_a_node_the_opset_converter_replaced_is_named_as_the_model_wrote_it():
    """An opset-9 Upsample becomes a Resize at opset 13; its non-constant scales are refused
    under the name the model uses."""
    nodes = [helper.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")]
    m = _model(nodes, [_vi("x", [1, 1, 2, 2]), _vi("s", [4])], [_vi("y", [1, 1, 4, 4])],
               opset=9)
    m.ir_version = 4
    msg = _error(m)
    assert "the Upsample node writing 'y' (as Resize: operand 2 (" in msg
