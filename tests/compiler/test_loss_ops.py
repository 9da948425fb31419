"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (imcc/passes/composite_loss.py) against
the operators' definitions written out element by element in numpy, on shapes, weights, ignored
targets and reductions of their own (the backend suite has its own cases); onnxruntime agrees
with that oracle on every case here (onnx's reference evaluator does not: its mean over ignored
targets without weights divides by the count of all targets)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import imcc

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(op, shape, weight, reduction, ignore, opset, log_prob=False):
    attrs = {"reduction": reduction}
    if ignore is not None:
        attrs["ignore_index"] = ignore
    ins = ["x", "t"] + (["w"] if weight else [])
    outs = ["y"] + (["lp"] if log_prob else [])
    node = helper.make_node(op, ins, outs, **attrs)
    inputs = [helper.make_tensor_value_info("x", F, shape),
              helper.make_tensor_value_info("t", I64, [shape[0], *shape[2:]])]
    if weight:
        inputs.append(helper.make_tensor_value_info("w", F, [shape[1]]))
    outputs = [helper.make_tensor_value_info("y", F, None)]
    if log_prob:
        outputs.append(helper.make_tensor_value_info("lp", F, shape))
    g = helper.make_graph([node], "loss", inputs, outputs)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _feeds(shape, weight, ignore, seed):
    rng = np.random.default_rng(seed)
    feeds = {"x": rng.standard_normal(shape).astype(np.float32),
             "t": rng.integers(0, shape[1], (shape[0], *shape[2:])).astype(np.int64)}
    if ignore is not None:  # some targets ignored, an index out of the class range among them
        feeds["t"].reshape(-1)[::3] = ignore
    if weight:
        feeds["w"] = rng.uniform(0.2, 2.0, shape[1]).astype(np.float32)
    return feeds


def _oracle(x, t, w, reduction, ignore, softmax):
    """The loss by its definition, one target at a time (float64)."""
    x = x.astype(np.float64)
    if softmax:
        x = x - x.max(axis=1, keepdims=True)
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    loss = np.zeros(t.shape)
    used = np.zeros(t.shape)
    for pos in np.ndindex(*t.shape):
        c = int(t[pos])
        if ignore is not None and c == ignore:
            continue
        used[pos] = 1.0 if w is None else w[c]
        loss[pos] = -x[(pos[0], c, *pos[1:])] * used[pos]
    if reduction == "none":
        out = loss
    elif reduction == "sum":
        out = loss.sum()
    else:
        out = loss.sum() / used.sum()
    return [np.float32(out)] + ([x.astype(np.float32)] if softmax else [])


def _check(model, feeds):
    prog = imcc.compile(model)
    got = prog.run(feeds)
    node = model.graph.node[0]
    attrs = {a.name: a for a in node.attribute}
    ignore = attrs["ignore_index"].i if "ignore_index" in attrs else None
    want = _oracle(feeds["x"], feeds["t"], feeds.get("w"), attrs["reduction"].s.decode(), ignore,
                   node.op_type == "SoftmaxCrossEntropyLoss")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    for name, o, r in zip(names, want, sess.run(None, feeds), strict=False):
        np.testing.assert_allclose(r, o, rtol=1e-5, atol=1e-6)  # the oracle is onnxruntime's
        assert got[name].shape == np.shape(o)
        np.testing.assert_allclose(got[name], o, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weight", [False, True])
@pytest.mark.parametrize("shape,ignore", [((5, 4), None), ((3, 6, 2, 3), None),
                                          ((4, 3, 5), -1), ((2, 4, 3, 2), 7), ((6, 5), 2)])
def test_nll_loss(shape, ignore, weight, reduction):
    model = _model("NegativeLogLikelihoodLoss", shape, weight, reduction, ignore, 21)
    _check(model, _feeds(shape, weight, ignore, len(shape) + (ignore or 0)))


@pytest.mark.parametrize("opset", [12, 13, 21])
@pytest.mark.parametrize("reduction,weight,ignore", [("mean", True, -5), ("none", False, None),
                                                     ("sum", True, None), ("mean", False, 1)])
def test_softmax_cross_entropy_loss(opset, reduction, weight, ignore):
    shape = (3, 4, 2, 3)  # before opset 13, LogSoftmax flattens: the expansion transposes
    model = _model("SoftmaxCrossEntropyLoss", shape, weight, reduction, ignore, opset,
                   log_prob=True)
    _check(model, _feeds(shape, weight, ignore, opset))
