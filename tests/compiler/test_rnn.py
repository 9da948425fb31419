"""RNN, GRU and LSTM unrolled into IMC products and gate arithmetic, against onnxruntime (every
attribute combination it implements) and onnx's reference evaluator, on the ideal chip.

Metric: max |imcc - oracle| / max(1, max |oracle|) per output, at most 1e-5."""

import numpy as np
import onnx
import pytest
from onnx import helper

from isa.diagnostics import UnsupportedOpError
from tests.compiler.helpers import make_model, rel_err, run_compiled

F = np.float32
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _oracle(model, feeds, *, reference=False):
    """onnxruntime when installed (and not ``reference``), else onnx's reference evaluator."""
    try:
        if reference:
            raise ImportError
        import onnxruntime
    except ImportError:
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(model).run(None, feeds)
    s = onnxruntime.InferenceSession(model.SerializeToString(),
                                     providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def _model(op, *, T=5, B=2, In=3, H=4, direction="forward", layout=0, bias=True, init=False,
           peep=False, outputs=("Y", "Y_h", "Y_c"), seed=0, **attrs):
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = GATES[op]
    inits = {"W": rng.standard_normal((D, G * H, In)).astype(F) * 0.5,
             "R": rng.standard_normal((D, G * H, H)).astype(F) * 0.5}
    ins = ["x", "W", "R"]
    ins.append("B" if bias else "")
    if bias:
        inits["B"] = rng.standard_normal((D, 2 * G * H)).astype(F) * 0.3
    ins.append("")  # sequence_lens
    xshape = (B, T, In) if layout else (T, B, In)
    sshape = (B, D, H) if layout else (D, B, H)
    graph_in = [("x", F, xshape)]
    feeds = {"x": rng.standard_normal(xshape).astype(F)}
    if init:
        ins.append("h0")
        graph_in.append(("h0", F, sshape))
        feeds["h0"] = rng.standard_normal(sshape).astype(F) * 0.5
        if op == "LSTM":
            ins.append("c0")
            graph_in.append(("c0", F, sshape))
            feeds["c0"] = rng.standard_normal(sshape).astype(F) * 0.5
    elif peep:
        ins += ["", ""]
    if peep:
        ins.append("P")
        inits["P"] = rng.standard_normal((D, 3 * H)).astype(F) * 0.3
    while ins and not ins[-1]:
        ins.pop()
    names = {"RNN": ("Y", "Y_h"), "GRU": ("Y", "Y_h"), "LSTM": ("Y", "Y_h", "Y_c")}[op]
    outs = [o if o in outputs else "" for o in names]
    while outs and not outs[-1]:
        outs.pop()
    node = helper.make_node(op, ins, outs, hidden_size=H, direction=direction, layout=layout,
                            **attrs)
    m = make_model([node], graph_in, [(o, F, None) for o in outs if o], inits=inits, opset=14)
    return m, feeds


def _check(tmp_path, m, feeds, tol=1e-5, reference=False):
    want = _oracle(m, feeds, reference=reference)
    for priority in ("resource",):
        got, _ = run_compiled(m, feeds, tmp_path, priority=priority)
        for g, w in zip(got, want):
            assert rel_err(g.reshape(np.shape(w)), w) <= tol


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("init", [False, True])
def test_directions_and_initial_states(op, direction, init, tmp_path):
    m, feeds = _model(op, direction=direction, init=init)
    _check(tmp_path, m, feeds)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_batch_first_layout_and_no_bias(op, tmp_path):
    """layout = 1: onnxruntime refuses it, onnx's reference evaluator implements it."""
    m, feeds = _model(op, layout=1, bias=False, direction="bidirectional", init=True)
    _check(tmp_path, m, feeds, reference=True)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr, tmp_path):
    m, feeds = _model("GRU", linear_before_reset=lbr, init=True, direction="bidirectional")
    _check(tmp_path, m, feeds)


_ACT = {"Sigmoid": lambda v, a, b: 1 / (1 + np.exp(-v)), "Tanh": lambda v, a, b: np.tanh(v),
        "Relu": lambda v, a, b: np.maximum(v, 0),
        "HardSigmoid": lambda v, a, b: np.clip(a * v + b, 0, 1),
        "LeakyRelu": lambda v, a, b: np.where(v < 0, a * v, v)}


def _numpy_oracle(op, m, feeds, acts, params=None, clip=None, lbr=0, input_forget=0):
    """One forward direction, layout 0, written from the ONNX operator definitions in float64:
    returns (Y [T, 1, B, H], Y_h [1, B, H], Y_c [1, B, H] or None)."""
    w = {t.name: onnx.numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    W, R = w["W"][0], w["R"][0]
    G = GATES[op]
    H = R.shape[1]
    Bb = w.get("B", np.zeros((1, 2 * G * H)))[0]
    wb, rb = Bb[:G * H], Bb[G * H:]
    P = w.get("P", np.zeros((1, 3 * H)))[0]
    params = params or [(None, None)] * len(acts)
    fn = [lambda v, k=k: _ACT[acts[k]](v if clip is None else np.clip(v, -clip, clip),
                                        *params[k]) for k in range(len(acts))]
    x = feeds["x"].astype(np.float64)
    h = feeds["h0"][0].astype(np.float64) if "h0" in feeds else np.zeros((x.shape[1], H))
    c = feeds["c0"][0].astype(np.float64) if "c0" in feeds else np.zeros((x.shape[1], H))
    ys = []
    for t in range(x.shape[0]):
        gx = x[t] @ W.T + wb
        gh = h @ R.T + rb
        if op == "RNN":
            h = fn[0](gx + gh)
        elif op == "GRU":
            z = fn[0](gx[:, :H] + gh[:, :H])
            r = fn[0](gx[:, H:2 * H] + gh[:, H:2 * H])
            if lbr:
                hh = fn[1](gx[:, 2 * H:] + r * gh[:, 2 * H:])
            else:
                hh = fn[1](gx[:, 2 * H:] + (r * h) @ R[2 * H:].T + rb[2 * H:])
            h = (1 - z) * hh + z * h
        else:
            g = gx + gh
            i = fn[0](g[:, :H] + P[:H] * c)
            f = 1 - i if input_forget else fn[0](g[:, 2 * H:3 * H] + P[2 * H:] * c)
            c = f * c + i * fn[1](g[:, 3 * H:])
            o = fn[0](g[:, H:2 * H] + P[H:2 * H] * c)
            h = o * _ACT[acts[2]](c, *params[2])
        ys.append(h)
    return np.stack(ys)[:, None], h[None], (c[None] if op == "LSTM" else None)


def test_lstm_peepholes_and_clip(tmp_path):
    """Checked against the numpy recurrence (onnx's reference evaluator ignores peepholes and
    clip) and onnxruntime when installed."""
    m, feeds = _model("LSTM", peep=True, clip=0.7, init=True)
    want = _numpy_oracle("LSTM", m, feeds, ["Sigmoid", "Tanh", "Tanh"], clip=0.7)
    got, _ = run_compiled(m, feeds, tmp_path)
    for g, w in zip(got, want):
        assert rel_err(g.reshape(w.shape), w) <= 1e-5
    if _has_ort():
        _check(tmp_path, m, feeds)


def test_lstm_zero_start_with_peepholes_and_one_output(tmp_path):
    m, feeds = _model("LSTM", peep=True, outputs=("Y_h",))
    got, _ = run_compiled(m, feeds, tmp_path)
    want = _numpy_oracle("LSTM", m, feeds, ["Sigmoid", "Tanh", "Tanh"])[1]
    assert rel_err(got[0].reshape(want.shape), want) <= 1e-5


def test_lstm_input_forget(tmp_path):
    """Coupled gates (f = 1 - i), which onnxruntime does not implement."""
    m, feeds = _model("LSTM", input_forget=1, init=True, T=4)
    want = _numpy_oracle("LSTM", m, feeds, ["Sigmoid", "Tanh", "Tanh"], input_forget=1)
    got, _ = run_compiled(m, feeds, tmp_path)
    for g, w in zip(got, want):
        assert rel_err(g.reshape(w.shape), w) <= 1e-5


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_against_the_definition(lbr, tmp_path):
    m, feeds = _model("GRU", linear_before_reset=lbr, init=True)
    want = _numpy_oracle("GRU", m, feeds, ["Sigmoid", "Tanh"], lbr=lbr)
    got, _ = run_compiled(m, feeds, tmp_path)
    for g, w in zip(got, want):
        assert rel_err(g.reshape(w.shape), w) <= 1e-5


def test_custom_activations(tmp_path):
    """Activation functions with alpha/beta (onnx's reference evaluator knows only the
    defaults): the numpy recurrence, and onnxruntime when installed."""
    m, feeds = _model("RNN", activations=["Relu"], init=True)
    want = _numpy_oracle("RNN", m, feeds, ["Relu"])
    got, _ = run_compiled(m, feeds, tmp_path)
    assert rel_err(got[0].reshape(want[0].shape), want[0]) <= 1e-5
    m, feeds = _model("GRU", activations=["HardSigmoid", "LeakyRelu"],
                      activation_alpha=[0.3, 0.05], activation_beta=[0.4], init=True)
    want = _numpy_oracle("GRU", m, feeds, ["HardSigmoid", "LeakyRelu"],
                         params=[(0.3, 0.4), (0.05, None)])
    got, _ = run_compiled(m, feeds, tmp_path)
    for g, w in zip(got, want):
        assert rel_err(g.reshape(w.shape), w) <= 1e-5
    if _has_ort():
        _check(tmp_path, m, feeds)


def _has_ort() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def test_partial_sequences_are_refused(tmp_path):
    """(Runtime weights compile: tests/compiler/test_runtime_weights.py.)"""
    m, feeds = _model("GRU")
    node = m.graph.node[0]
    node.input.extend([""] * (5 - len(node.input)))
    node.input[4] = "lens"
    m.graph.initializer.append(onnx.numpy_helper.from_array(np.array([5, 3], np.int32), "lens"))
    with pytest.raises(UnsupportedOpError, match="sequence_lens other than the full length"):
        run_compiled(m, feeds, tmp_path)
