"""Operators whose weights or parameters are runtime tensors (graph inputs), computed on the
machine: their products are products of two activations (the dynamic unit) and their
elementwise parameters digital arithmetic. Against onnx's reference evaluator."""

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
from tests.compiler.helpers import rel_err

F = np.float32
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _model(nodes, inputs, outputs, opset=21):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                           for n, s in inputs],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                           for n in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _check(m, feeds, tol=1e-5):
    prog = imcc.compile(m, time_limit=0.1, workers=1)
    # nothing is bound: every input stays an input of the program
    assert {t.name for t in prog.inputs} == set(feeds)
    got = prog.run(feeds)
    want = ReferenceEvaluator(m).run(None, feeds)
    for o, w in zip(m.graph.output, want, strict=True):
        assert rel_err(got[o.name], w) <= tol, o.name
    return prog


@pytest.mark.parametrize("op, direction, extra", [
    ("RNN", "bidirectional", {}), ("GRU", "forward", {"linear_before_reset": 0}),
    ("GRU", "reverse", {"linear_before_reset": 1}), ("LSTM", "forward", {"peep": True}),
])
def test_recurrent_weights_given_at_run_time(op, direction, extra):
    rng = np.random.default_rng(0)
    T, B, In, H = 3, 2, 3, 4
    D, G = 2 if direction == "bidirectional" else 1, GATES[op]
    extra = dict(extra)
    peep = extra.pop("peep", False)
    shapes = {"x": (T, B, In), "W": (D, G * H, In), "R": (D, G * H, H), "B": (D, 2 * G * H),
              "h0": (D, B, H)}
    ins = ["x", "W", "R", "B", "", "h0"]
    if op == "LSTM":
        shapes["c0"] = (D, B, H)
        ins.append("c0")
    if peep:
        shapes["P"] = (D, 3 * H)
        ins.append("P")
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, ins, outs, hidden_size=H, direction=direction, **extra)
    m = _model([node], list(shapes.items()), outs, opset=14)
    feeds = {k: (rng.standard_normal(s) * 0.5).astype(F) for k, s in shapes.items()}
    _check(m, feeds)
