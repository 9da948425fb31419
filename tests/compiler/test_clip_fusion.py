"""Clip by constant bounds is one ``vclip`` where that gives the bits of ``vmax`` then ``vmin``
(imcc/codegen/elementwise.py): bounds without a zero, or bounds without ``-0.0`` on an input
that cannot hold ``-0.0`` (a convolution's or Gemm's output with a bias, an Add of a constant,
HardSigmoid's sum). Each case runs against the same model lowered with ``vmax`` and ``vmin``
(the fusion switched off), bit for bit, and against onnx's reference evaluator; a Clip that
cannot be proven so keeps the two instructions, and its result keeps their signed zeros."""

import numpy as np
import pytest

import imcc.codegen.elementwise as ew
from tests.compiler.helpers import helper, make_model, reference, rel_err, run_compiled
from tests.compiler.test_free_movement import node_ops

F = np.float32
R = np.random.default_rng(17)


def _conv_relu6(bias: np.ndarray):
    """Conv (bias) -> Clip(0, 6) -> depthwise Conv (bias) -> Clip(0, 6), as MobileNetV2."""
    c = len(bias)
    inits = {"w1": R.standard_normal((c, 3, 3, 3)).astype(F), "b1": bias,
             "w2": R.standard_normal((c, 1, 3, 3)).astype(F), "b2": R.standard_normal(c).astype(F),
             "lo": np.array(0.0, F), "hi": np.array(6.0, F)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["t1"], pads=[1, 1, 1, 1], name="c1"),
             helper.make_node("Clip", ["t1", "lo", "hi"], ["r1"], name="clip1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["t2"], group=c, pads=[1, 1, 1, 1],
                              name="c2"),
             helper.make_node("Clip", ["t2", "lo", "hi"], ["y"], name="clip2")]
    m = make_model(nodes, [("x", F, (1, 3, 8, 8))], [("y", F, None)], inits=inits)
    x = (R.standard_normal((1, 3, 8, 8)) * 3).astype(F)
    x[0, :, :2] = 0.0  # outputs equal to the bias, some zero
    return m, {"x": x}


def _both(model, feeds, tmp_path, monkeypatch, **kw):
    """Outputs and per-node mnemonics with the fusion, then without it."""
    fused, res = run_compiled(model, feeds, tmp_path, **kw)
    ops = node_ops(res.asm)
    with monkeypatch.context() as mp:
        mp.setattr(ew, "_clip_in_one", lambda *a: False)
        mp.setattr(ew, "_has_negative_zero", lambda v: True)  # HardSigmoid's rule
        plain, res2 = run_compiled(model, feeds, tmp_path, **kw)
    return fused, ops, plain, node_ops(res2.asm)


def _same_bits(a, b):
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u, F).view(np.uint32),
                                      np.asarray(v, F).view(np.uint32))


@pytest.mark.parametrize("chip", ["ideal", "ideal-signed", "ideal-int8", "rram"])
def test_relu6_after_a_biased_conv_is_one_vclip(chip, tmp_path, monkeypatch):
    # rram: device noise in every MVM (the same draws in both runs), no proof needed beyond the
    # bias: whatever the products, a sum with a bias that is not -0.0 is not -0.0
    bias = R.standard_normal(6).astype(F)
    bias[1] = 0.0  # +0.0: x + 0.0 is never -0.0 either
    model, feeds = _conv_relu6(bias)
    kw = {"chip": chip} | ({"calib": feeds} if chip in ("ideal-int8", "rram") else {})
    fused, ops, plain, ops2 = _both(model, feeds, tmp_path, monkeypatch, **kw)
    assert ops["clip1"] == ops["clip2"] == ["vclip"]
    assert ops2["clip1"] == ops2["clip2"] == ["vmax", "vmin"]
    _same_bits(fused, plain)
    if chip != "rram":
        assert rel_err(fused[0], reference(model, feeds)[0]) <= (0.1 if "int8" in chip else 1e-5)


def test_a_bias_with_negative_zero_keeps_vmax_and_vmin(tmp_path):
    bias = R.standard_normal(4).astype(F)
    bias[2] = -0.0
    model, feeds = _conv_relu6(bias)
    _, res = run_compiled(model, feeds, tmp_path, chip="ideal-signed")
    ops = node_ops(res.asm)
    assert ops["clip1"] == ["vmax", "vmin"] and ops["clip2"] == ["vclip"]


def test_clip_of_an_input_keeps_vmax_and_vmin_and_their_zeros(tmp_path, monkeypatch):
    # x may be -0.0: vmax(-0.0, 0.0) gives 0.0 (the bound), which vclip would not
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="clip"),
             helper.make_node("Clip", ["x", "lo2", "hi"], ["z"], name="clip_nonzero"),
             helper.make_node("Add", ["x", "k"], ["s"], name="add"),
             helper.make_node("Clip", ["s", "lo", "hi"], ["u"], name="clip_add")]
    inits = {"lo": np.array(0.0, F), "hi": np.array(6.0, F), "lo2": np.array(-1.5, F),
             "k": np.array([0.5, 0.0, -2.0], F)}
    m = make_model(nodes, [("x", F, (4, 3))], [("y", F, None), ("z", F, None), ("u", F, None)],
                   inits=inits)
    x = np.array([[-0.0, 0.0, 3.0], [7.0, -0.0, -0.5], [-1.5, 2.0, -0.0], [np.nan, 6.0, -9.0]], F)
    fused, ops, plain, _ = _both(m, {"x": x}, tmp_path, monkeypatch, chip="ideal")
    assert ops["clip"] == ["vmax", "vmin"]
    assert ops["clip_nonzero"] == ops["clip_add"] == ["vclip"]
    _same_bits(fused, plain)
    y = fused[0]
    assert not np.signbit(y[x == 0]).any()  # the bound's +0.0, as vmax gives it
    np.testing.assert_array_equal(np.nan_to_num(y), np.nan_to_num(np.clip(x, 0, 6)))


def test_hard_sigmoid_and_swish_clip_in_one(tmp_path, monkeypatch):
    nodes = [helper.make_node("HardSigmoid", ["x"], ["y"], name="hs", alpha=0.3, beta=0.4),
             helper.make_node("HardSwish", ["x"], ["z"], name="hw")]
    m = make_model(nodes, [("x", F, (5, 7))], [("y", F, None), ("z", F, None)])
    x = (R.standard_normal((5, 7)) * 4).astype(F)
    x[0, :3] = [-0.0, 0.0, -4.0 / 3.0]  # beta + alpha * x = 0 exactly for the last
    fused, ops, plain, ops2 = _both(m, {"x": x}, tmp_path, monkeypatch, chip="ideal")
    assert ops["hs"] == ["vfma", "vclip"] and ops2["hs"] == ["vfma", "vmax", "vmin"]
    _same_bits(fused, plain)
    for g, w in zip(fused, reference(m, {"x": x})):
        assert rel_err(g, w) <= 1e-6
