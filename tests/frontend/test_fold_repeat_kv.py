"""The fold-repeat-kv pass: grouped-query attention's repeated key and value heads are read once
by the products (batch broadcasting) instead of copied; the graph against onnx's reference,
the compiled program against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from .helpers import canonical_matches_original

B, KV, G, S, D = 1, 2, 3, 5, 8


def _attention(extra_reader: bool = False):
    """softmax(Q K^T) V with K and V of KV heads repeated G times (Unsqueeze/Expand/Reshape,
    as Llama's exporters write repeat_kv)."""
    i64 = lambda v: numpy_helper.from_array(np.array(v, np.int64))  # noqa: E731
    inits = []
    nodes = []
    for t in ("k", "v"):
        for name, v in ((f"{t}_ax", [2]), (f"{t}_to", [B, KV, G, S, D]),
                        (f"{t}_shape", [B, KV * G, S, D])):
            tp = i64(v)
            tp.name = name
            inits.append(tp)
        nodes += [helper.make_node("Unsqueeze", [t, f"{t}_ax"], [f"{t}_u"]),
                  helper.make_node("Expand", [f"{t}_u", f"{t}_to"], [f"{t}_e"]),
                  helper.make_node("Reshape", [f"{t}_e", f"{t}_shape"], [f"{t}_r"])]
    nodes += [helper.make_node("Transpose", ["k_r"], ["kt"], perm=[0, 1, 3, 2]),
              helper.make_node("MatMul", ["q", "kt"], ["s"]),
              helper.make_node("Softmax", ["s"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "v_r"], ["y"])]
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["k_e"], ["z"]))
        outs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    ins = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [B, KV * G, 1, D]),
           helper.make_tensor_value_info("k", TensorProto.FLOAT, [B, KV, S, D]),
           helper.make_tensor_value_info("v", TensorProto.FLOAT, [B, KV, S, D])]
    g = helper.make_graph(nodes, "gqa", ins, outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("extra_reader", [False, True])
def test_repeated_heads_are_read_once(extra_reader):
    g = canonical_matches_original(_attention(extra_reader))
    ops = [n.op_type for n in g.nodes]
    assert ops.count("Expand") == (1 if extra_reader else 0)
    mms = [n for n in g.nodes if n.op_type == "MatMul"]
    assert len(mms) == 2 and all(g.types[n.outputs[0]].rank == 5 for n in mms)


def test_compiled_grouped_attention_copies_no_head():
    import imcc

    model = _attention()
    rng = np.random.default_rng(2)
    feeds = {"q": rng.standard_normal((B, KV * G, 1, D)).astype(np.float32),
             "k": rng.standard_normal((B, KV, S, D)).astype(np.float32),
             "v": rng.standard_normal((B, KV, S, D)).astype(np.float32)}
    prog = imcc.compile(model, chip="ideal-signed")
    assert "vcopy" not in prog.asm
    y = prog.run(feeds)["y"]
    k, v = (np.repeat(feeds[t].astype(np.float64), G, axis=1) for t in "kv")
    s = feeds["q"].astype(np.float64) @ k.transpose(0, 1, 3, 2)
    p = np.exp(s - s.max(-1, keepdims=True))
    want = (p / p.sum(-1, keepdims=True)) @ v
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
