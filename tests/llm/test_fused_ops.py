"""Fused vector instructions against numpy and against the chains of instructions they stand
for, and the fusion that writes them."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort

from tests.runtime.helpers import covers, machine

_N = 515  # elements: more than one kernel loop step, an odd tail

_UNARY = f"""
.input "x", x, [{_N}]
.output "y", y, [{_N}]
    cfgi n5, {_N}
    cfgi sd5, 1
    cfgi sa5, 1
    li x5, y
    li x6, x
    {{op}} x5, x6
    halt
.data
x:  .zero {4 * _N}
y:  .zero {4 * _N}
"""

# the tanh GELU as GPT-2's graph writes it, one vector instruction a node (vfma: Mul then Add)
_CHAIN = f"""
.input "x", x, [{_N}]
.output "y", y, [{_N}]
    cfgi n5, {_N}
    cfgi sd5, 1
    cfgi sa5, 1
    cfgi sb5, 0
    cfgi sc5, 1
    li x6, x
    li x5, t
    li x7, three
    vpow x5, x6, x7
    li x7, cube
    vfma x5, x5, x7, x6
    li x7, scale
    vmul x5, x5, x7
    vtanh x5, x5
    li x7, one
    vadd x5, x5, x7
    li x8, h
    li x7, half
    vmul x8, x6, x7
    cfgi sb5, 1
    li x9, y
    vmul x9, x8, x5
    halt
.data
three: .float 3.0
cube:  .float {float(np.float32(0.044715))!r}
scale: .float {float(np.float32(math.sqrt(2 / math.pi)))!r}
one:   .float 1.0
half:  .float 0.5
x:  .zero {4 * _N}
t:  .zero {4 * _N}
h:  .zero {4 * _N}
y:  .zero {4 * _N}
"""


_ROWS, _WIDTH = 5, 103

_RMS = f"""
.input "x", x, [{_ROWS}, {_WIDTH}]
.output "y", y, [{_ROWS}, {_WIDTH}]
    li x9, {{eps}}
    csrw eps, x9
    cfgi n4, {_ROWS}
    cfgi n5, {_WIDTH}
    cfgi sd4, {_WIDTH}
    cfgi sa4, {_WIDTH}
    cfgi sd5, 1
    cfgi sa5, 1
    cfgi nred, 1
    li x5, y
    li x6, x
    {{body}}
    halt
.data
x:  .zero {4 * _ROWS * _WIDTH}
y:  .zero {4 * _ROWS * _WIDTH}
m:  .zero {4 * _ROWS}
epsv: .float {{epsf}}
onev: .float 1.0
"""

# RMSNorm as a Llama export writes it, one instruction a node: x * x into y, the row means,
# + eps, sqrt, 1 / that, x times it
_RMS_CHAIN = f"""cfgi sb4, {_WIDTH}
    cfgi sb5, 1
    vmul x5, x6, x6
    cfgi sd4, 1
    li x7, m
    vrmean x7, x5
    cfgi n5, 1
    cfgi sa4, 1
    cfgi sb4, 0
    cfgi sb5, 0
    li x8, epsv
    vadd x7, x7, x8
    vsqrt x7, x7
    cfgi sa4, 0
    cfgi sa5, 0
    cfgi sb4, 1
    li x8, onev
    vdiv x7, x8, x7
    cfgi n5, {_WIDTH}
    cfgi sd4, {_WIDTH}
    cfgi sa4, {_WIDTH}
    cfgi sa5, 1
    vmul x5, x6, x7"""


def _inputs(seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(_N).astype(np.float32) * 4
    x[:8] = [0.0, -0.0, 1e-30, -1e-30, 30.0, -30.0, 3e12, -3e12]
    return x


@covers("vgelut")
def test_vgelut_is_the_chain_of_seven_instructions_bit_for_bit():
    x = _inputs()
    fused = machine(_UNARY.format(op="vgelut")).run({"x": x})["y"]
    chain = machine(_CHAIN).run({"x": x})["y"]
    np.testing.assert_array_equal(fused, chain)


@covers("vgelut")
def test_vgelut_against_the_formula_in_float64():
    x = _inputs(1)
    got = machine(_UNARY.format(op="vgelut")).run({"x": x})["y"].astype(np.float64)
    v = x.astype(np.float64)
    want = 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    # float32's tanh near -1 leaves 1 + tanh an absolute error of an ulp of 1 (times x / 2)
    assert np.all(np.abs(got - want) <= 2e-6 * np.abs(want) + 2e-7 * np.abs(v))


def test_gpt2s_gelu_fuses_to_one_instruction_with_the_same_logits():
    """The builder's GELU (eight nodes) is one vgelut a layer; the logits are bit for bit those
    of the program without the fusion, and within onnxruntime's at 1e-5."""
    import imcc
    import imcc.passes as passes
    from imcc.models import build

    m = build("gpt2", layers=2, hidden=64, heads=2, ffn=256, vocab=50, max_pos=16, seq=4)
    ids = np.array([[3, 1, 4, 1]], np.int64)
    fused = imcc.compile(m, "ideal")
    assert fused.asm.count("vgelut ") == 2 and "vtanh " not in fused.asm
    keep = passes.PASSES["fuse-gelu"]
    try:
        passes.PASSES["fuse-gelu"] = passes.Pass("fuse-gelu", lambda g: g)
        plain = imcc.compile(m, "ideal")
    finally:
        passes.PASSES["fuse-gelu"] = keep
    assert "vgelut " not in plain.asm and plain.asm.count("vtanh ") == 2
    name = m.graph.input[0].name
    a, b = fused.run({name: ids}), plain.run({name: ids})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {name: ids})[0]
    got = a[m.graph.output[0].name]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def _rms(body: str, eps: float, x: np.ndarray) -> np.ndarray:
    e = np.float32(eps)
    src = _RMS.format(eps=int(e.view(np.uint32)), epsf=repr(float(e)), body=body)
    return machine(src).run({"x": x})["y"]


@covers("vrmsnorm")
def test_vrmsnorm_is_the_chain_of_six_instructions_bit_for_bit():
    rng = np.random.default_rng(2)
    for eps in (1e-6, 1e-5, 0.25):
        x = (rng.standard_normal((_ROWS, _WIDTH)) * rng.uniform(0.01, 30, (_ROWS, 1)))
        x = x.astype(np.float32)
        x[0] = 0.0  # the mean is 0: eps alone
        np.testing.assert_array_equal(_rms("vrmsnorm x5, x6", eps, x), _rms(_RMS_CHAIN, eps, x))


@covers("vrmsnorm")
def test_vrmsnorm_against_the_formula_in_float64():
    x = np.random.default_rng(3).standard_normal((_ROWS, _WIDTH)).astype(np.float32) * 3
    got = _rms("vrmsnorm x5, x6", 1e-5, x)
    v = x.astype(np.float64)
    want = v / np.sqrt((v * v).mean(axis=1, keepdims=True) + float(np.float32(1e-5)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_llamas_rms_norm_fuses_to_two_instructions_with_the_same_logits():
    """The builder's RMS norms (seven nodes) are one vrmsnorm and one vmul each; the logits are
    bit for bit those of the program without the fusion, and within onnxruntime's."""
    import imcc
    import imcc.passes as passes
    from imcc.models import build

    m = build("llama-tiny", batch=1)
    shapes = {"input_ids": [1, 4], "attention_mask": [1, 7], "position_ids": [1, 4]}
    shapes.update({i.name: [1, 2, 3, 16] for i in m.graph.input if i.name.startswith("past")})
    rng = np.random.default_rng(4)
    feed = {"input_ids": np.array([[5, 9, 2, 7]]), "attention_mask": np.ones((1, 7), np.int64),
            "position_ids": np.arange(3, 7)[None]}
    feed.update({i.name: rng.standard_normal((1, 2, 3, 16)).astype(np.float32)
                 for i in m.graph.input if i.name.startswith("past")})
    fused = imcc.compile(m, "ideal", input_shapes=shapes)
    assert fused.asm.count("vrmsnorm ") == 2 * 2 + 1 and "vrmean " not in fused.asm
    keep = passes.PASSES["fuse-rmsnorm"]
    try:
        passes.PASSES["fuse-rmsnorm"] = passes.Pass("fuse-rmsnorm", lambda g: g)
        plain = imcc.compile(m, "ideal", input_shapes=shapes)
    finally:
        passes.PASSES["fuse-rmsnorm"] = keep
    assert "vrmsnorm " not in plain.asm
    a, b = fused.run(feed), plain.run(feed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(["logits"], feed)[0]
    np.testing.assert_allclose(a["logits"], want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
