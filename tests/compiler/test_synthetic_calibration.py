"""Calibration without samples: integer inputs that index a table (token ids into an embedding,
through casts and reshapes) are drawn over its rows, other integers are 1 (an attention mask
that masks nothing) and booleans true. With all-zero ids and masks, a text model's activation
ranges were those of one token with every position masked, and a quantizing chip's outputs far
from the float model's (checked here against onnxruntime)."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc
from imcc.compiler import CompileOptions, _synthetic_samples
from imcc.mapper import canonical_graph, load_graph

VOCAB, SEQ, DIM = 50, 6, 16


def _text_model(rng):
    """``y = (emb[ids] * mask[..., None]) @ w``, ids reshaped and cast on the way (int32 ->
    int64), the mask int64, and a flag input."""
    emb = (rng.standard_normal((VOCAB, DIM)) * np.linspace(0.1, 3, VOCAB)[:, None]).astype(np.float32)
    w = rng.standard_normal((DIM, 8)).astype(np.float32)
    nodes = [helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64),
             helper.make_node("Reshape", ["ids64", "shape"], ["ids2"]),
             helper.make_node("Gather", ["emb", "ids2"], ["e"]),
             helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", ["maskf", "last"], ["m3"]),
             helper.make_node("Mul", ["e", "m3"], ["em"]),
             helper.make_node("Cast", ["flag"], ["flagf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["em", "flagf"], ["ef"]),
             helper.make_node("MatMul", ["ef", "w"], ["y"])]
    g = helper.make_graph(
        nodes, "text",
        [helper.make_tensor_value_info("ids", TensorProto.INT32, [1, SEQ]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, [1, SEQ]),
         helper.make_tensor_value_info("flag", TensorProto.BOOL, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SEQ, 8])],
        [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(w, "w"),
         numpy_helper.from_array(np.array([1, SEQ], np.int64), "shape"),
         numpy_helper.from_array(np.array([2], np.int64), "last")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_samples_follow_what_each_integer_input_does():
    graph = canonical_graph(load_graph(_text_model(np.random.default_rng(0)), CompileOptions()))
    s = _synthetic_samples(graph, 8, seed=0)
    assert s["ids"].dtype == np.int32 and s["ids"].shape == (8, SEQ)
    assert s["ids"].min() >= 0 and s["ids"].max() < VOCAB and len(np.unique(s["ids"])) > 10
    np.testing.assert_array_equal(s["mask"], np.ones((8, SEQ), np.int64))
    assert s["flag"].dtype == bool and s["flag"].all()


def test_a_quantizing_chip_without_samples_stays_near_the_float_model():
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    m = _text_model(rng)
    feeds = {"ids": rng.integers(0, VOCAB, (1, SEQ)).astype(np.int32),
             "mask": np.ones((1, SEQ), np.int64), "flag": np.array([True])}
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    prog = imcc.compile(m, "ideal-int8")
    assert any("no calibration data" in w for w in prog.report["warnings"])
    got = prog.run(feeds)["y"]
    # 8-bit inputs over the embedding's whole range: the error of one quantization step
    assert np.abs(got - want).max() <= 0.02 * np.abs(want).max()
