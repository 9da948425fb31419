"""Symbolic dimensions set by name (``--input-shape sequence_length=128``): every input that has
the dimension, or a sum of it (``past_sequence_length + sequence_length``, as Hugging Face's
exporter names a decoder's attention mask), takes the size; checked against onnxruntime on the
same model with the shapes given input by input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import imcc
from imcc.cli import cli
from imcc.frontend import batched_input_shapes
from imcc.frontend.dims import dim_size, dim_symbols


def _decoder_like() -> onnx.ModelProto:
    """``y = Concat(past, x) * mask`` and ``z = x + pos``: inputs named as a decoder's, with
    ``batch``, ``seq``, ``plen`` and ``plen + seq`` dimensions."""
    def vi(name, shape, ty=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, ty, shape)

    nodes = [helper.make_node("Concat", ["past", "x"], ["cat"], axis=1),
             helper.make_node("Unsqueeze", ["mask", "two"], ["m3"]),
             helper.make_node("Mul", ["cat", "m3"], ["y"]),
             helper.make_node("Add", ["x", "pos"], ["z"])]
    g = helper.make_graph(
        nodes, "dec",
        [vi("x", ["batch", "seq", 4]), vi("past", ["batch", "plen", 4]),
         vi("mask", ["batch", "plen + seq"]), vi("pos", ["batch", "seq", 4])],
        [vi("y", None), vi("z", None)],
        initializer=[helper.make_tensor("two", TensorProto.INT64, [1], [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_sizes_by_name_and_by_expression():
    sizes = {"seq": 3, "past": 5}
    assert dim_size("seq", sizes) == 3
    assert dim_size("past + seq", sizes) == 8
    assert dim_size("2*past - seq // 2", sizes) == 9
    assert dim_size("past + other", sizes) is None
    assert dim_symbols("past_sequence_length + sequence_length") == (
        "past_sequence_length", "sequence_length")
    assert dim_symbols("batch") == ("batch",)


@pytest.mark.parametrize("param", [
    "__import__('os').getcwd()", "seq ** 2", "-seq", "seq.real", "f(seq)", "seq if seq else 1",
    "'a' + seq", "1.5 * seq", "[seq][0]", "(" * 150 + "seq" + ")" * 150, "0seq", "seq + 1__"])
def test_anything_but_arithmetic_of_names_is_a_plain_name(param, recwarn):
    # parsed, never run: not an expression of names is no size, and names itself
    assert dim_size(param, {"seq": 3, "os": 1, "f": 1, "a": 1}) is None
    assert dim_symbols(param) == (param,)
    assert not recwarn.list  # Python's parser warns of some (an invalid decimal literal)


def test_shapes_from_names():
    m = _decoder_like()
    shapes = batched_input_shapes(m, {"seq": (3,), "plen": (5,)}, batch=2)
    assert shapes == {"x": (2, 3, 4), "past": (2, 5, 4), "mask": (2, 8), "pos": (2, 3, 4)}
    # an input's own shape wins; a named leading dimension sets the batch
    shapes = batched_input_shapes(m, {"seq": (3,), "plen": (5,), "pos": (1, 3, 4),
                                      "batch": (1,)}, batch=2)
    assert shapes == {"x": (1, 3, 4), "past": (1, 5, 4), "mask": (1, 8), "pos": (1, 3, 4)}


def test_a_dimension_that_comes_to_zero_or_past_int64_is_refused():
    from isa.diagnostics import OnnxImportError

    m = _decoder_like()
    m.graph.input[2].type.tensor_type.shape.dim[1].dim_param = "plen - seq"
    with pytest.raises(OnnxImportError, match="'plen - seq', comes to 0"):
        batched_input_shapes(m, {"seq": (3,), "plen": (3,)})
    m.graph.input[2].type.tensor_type.shape.dim[1].dim_param = "plen * 99999999999 * 99999999999"
    with pytest.raises(OnnxImportError, match="comes to 29999999999400000000003"):
        batched_input_shapes(m, {"seq": (3,), "plen": (3,)})


def test_compiled_model_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    m = _decoder_like()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 3, 4)), "past": rng.standard_normal((1, 5, 4)),
             "mask": (rng.random((1, 8)) > 0.3), "pos": rng.standard_normal((1, 3, 4))}
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    prog = imcc.compile(m, "ideal", input_shapes={"seq": 3, "plen": np.int64(5)})
    got = prog.run(feeds)
    for name, w in zip(("y", "z"), want):
        np.testing.assert_allclose(got[name], w, rtol=1e-6, atol=1e-6)


def test_command_line(tmp_path):
    p = tmp_path / "dec.onnx"
    onnx.save(_decoder_like(), p)
    r = CliRunner().invoke(cli, ["compile", str(p), "-q", "-o", str(tmp_path / "d.imo"),
                                 "--input-shape", "seq=3"])
    assert r.exit_code == 2 and "NAME=SIZE for plen" in r.output, r.output
    assert not (tmp_path / "d.imo").exists()
    r = CliRunner().invoke(cli, ["compile", str(p), "-q", "-o", str(tmp_path / "d.imo"),
                                 "--input-shape", "seq=3", "--input-shape", "plen=5"])
    assert r.exit_code == 0, r.output
    assert imcc.load(tmp_path / "d.imo").inputs[2].shape == (1, 8)
    # a name that is an input's is that input's whole shape
    r = CliRunner().invoke(cli, ["compile", str(p), "-q", "-o", str(tmp_path / "d.imo"),
                                 "--input-shape", "seq=3", "--input-shape", "past=5"])
    assert r.exit_code == 2 and "input 'past' has rank 3" in r.output, r.output


def test_a_decoder_with_past_compiled_by_dimension_names_matches_onnxruntime():
    """``imcc.models``' Llama decoder has the Hugging Face exporter's inputs: 2 + 2 x layers of
    them, with ``sequence_length``, ``past_sequence_length`` and their sum as the mask's length.
    Two names set them all."""
    ort = pytest.importorskip("onnxruntime")
    from imcc.models import build

    m = build("llama-tiny")
    rng = np.random.default_rng(0)
    past, seq = 4, 2
    feeds = {"input_ids": rng.integers(0, 100, (1, seq)),
             "attention_mask": np.ones((1, past + seq), np.int64),
             "position_ids": np.arange(past, past + seq)[None]}
    for i in m.graph.input:
        if i.name.startswith("past_key_values"):
            heads, dim = (d.dim_value for d in i.type.tensor_type.shape.dim[1::2])
            feeds[i.name] = rng.standard_normal((1, heads, past, dim)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    prog = imcc.compile(m, "ideal", input_shapes={"sequence_length": seq,
                                                  "past_sequence_length": past})
    got = prog.run(feeds)
    for o, w in zip(m.graph.output, want):
        np.testing.assert_allclose(got[o.name], w, rtol=1e-5, atol=1e-5)
