"""Decoders with a KV cache, as the Hugging Face ONNX exporter writes them ("decoder with past").

Inputs ``input_ids`` ``[batch_size, sequence_length]`` (int64), ``attention_mask``
``[batch_size, past_sequence_length + sequence_length]`` (int64, 1 for a token that may be
attended to), ``position_ids`` ``[batch_size, sequence_length]`` (int64) and, per layer ``N``,
``past_key_values.N.key`` / ``.value`` ``[batch_size, kv_heads, past_sequence_length,
head_dim]``; outputs ``logits`` ``[batch_size, sequence_length, vocab]`` and
``present.N.key`` / ``.value`` (the past with this call's keys and values appended along the
sequence axis). Every length is symbolic, so one graph serves the prefill (the prompt with an
empty past) and every decode step (one token with the cache so far).

Two families:

* ``llama`` (``llama-tiny``, ``tinyllama-1.1b``) and ``qwen2`` (``qwen2-tiny``, ``qwen2-0.5b``):
  RMSNorm, rotary position embeddings (``rotate_half`` form), grouped-query attention
  (``repeat_kv``: Unsqueeze / Expand / Reshape of the key and value heads), a SwiGLU MLP
  (``down(silu(gate(x)) * up(x))``); Qwen2 adds biases to the query, key and value projections
  and ties the LM head to the token embedding.
* ``gpt2-past`` (``gpt2-past-tiny``): GPT-2 with learned position embeddings read by
  ``position_ids``, a fused ``c_attn`` projection split into query, key and value, tanh GELU and
  an LM head tied to the token embedding.

The attention mask is one additive bias ``[batch, 1, sequence, past + sequence]`` shared by the
layers: ``0`` where the key is at or before the query's position (the query of row ``i`` sits
at ``past + i``) and the mask allows it, the float32 minimum elsewhere, as the exporters apply
``finfo(float32).min``.

>>> from imcc.models import build
>>> m = build("llama-tiny")
>>> [i.name for i in m.graph.input][:4]
['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key']
>>> [o.name for o in m.graph.output][:2]
['logits', 'present.0.key']
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

from imcc.models.builder import (
    Dim,
    GraphBuilder,
    dim_of,
    gelu,
    layernorm,
    linear,
    shape_of,
    unsqueeze,
)

NAMES = ("llama-tiny", "tinyllama-1.1b", "qwen2-tiny", "qwen2-0.5b", "gpt2-past-tiny",
         "gpt2-past")

_PRESETS = {
    "llama-tiny": dict(arch="llama", layers=2, hidden=64, heads=4, kv_heads=2,
                       intermediate=128, vocab=128, rope_theta=10000.0, eps=1e-5,
                       qkv_bias=False, tied=False),
    "tinyllama-1.1b": dict(arch="llama", layers=22, hidden=2048, heads=32, kv_heads=4,
                           intermediate=5632, vocab=32000, rope_theta=10000.0, eps=1e-5,
                           qkv_bias=False, tied=False),
    "qwen2-tiny": dict(arch="llama", layers=2, hidden=64, heads=4, kv_heads=1,
                       intermediate=160, vocab=128, rope_theta=1000000.0, eps=1e-6,
                       qkv_bias=True, tied=True),
    "qwen2-0.5b": dict(arch="llama", layers=24, hidden=896, heads=14, kv_heads=2,
                       intermediate=4864, vocab=151936, rope_theta=1000000.0, eps=1e-6,
                       qkv_bias=True, tied=True),
    "gpt2-past-tiny": dict(arch="gpt2", layers=2, hidden=64, heads=4, kv_heads=4,
                           intermediate=256, vocab=128, max_pos=256, eps=1e-5),
    "gpt2-past": dict(arch="gpt2", layers=12, hidden=768, heads=12, kv_heads=12,
                      intermediate=3072, vocab=50257, max_pos=1024, eps=1e-5),
}

#: The symbolic dimensions of the exporter's graphs.
BATCH, SEQ, PAST = "batch_size", "sequence_length", "past_sequence_length"
TOTAL = "past_sequence_length + sequence_length"

_MIN = float(np.finfo(np.float32).min)


def config(name: str, **overrides) -> dict:
    """The preset ``name`` with ``overrides`` (``layers``, ``hidden``, ``heads``,
    ``kv_heads``, ``intermediate``, ``vocab``, ...) applied and checked."""
    if name not in _PRESETS:
        raise ValueError(f"unknown decoder {name!r}; choose from {', '.join(NAMES)}")
    p = dict(_PRESETS[name])
    for k, v in overrides.items():
        if k not in p:
            raise ValueError(f"{name}: unknown knob {k!r}; choose from {', '.join(sorted(p))}")
        if v is not None:
            p[k] = v
    if p["arch"] == "gpt2":
        p["kv_heads"] = p["heads"]
    if p["hidden"] % p["heads"] or p["heads"] % p["kv_heads"]:
        raise ValueError(f"hidden {p['hidden']}, heads {p['heads']}, kv_heads {p['kv_heads']}: "
                         "hidden must be a multiple of heads, heads of kv_heads")
    if (p["hidden"] // p["heads"]) % 2:
        raise ValueError("the head dimension must be even (rotary embeddings rotate halves)")
    return p


def _io(b: GraphBuilder, p: dict, batch: Dim):
    dh = p["hidden"] // p["heads"]
    ids = b.input("input_ids", [batch, SEQ], TensorProto.INT64)
    mask = b.input("attention_mask", [batch, TOTAL], TensorProto.INT64)
    pos = b.input("position_ids", [batch, SEQ], TensorProto.INT64)
    past = [(b.input(f"past_key_values.{i}.key", [batch, p["kv_heads"], PAST, dh]),
             b.input(f"past_key_values.{i}.value", [batch, p["kv_heads"], PAST, dh]))
            for i in range(p["layers"])]
    return ids, mask, pos, past


def _mask_bias(b: GraphBuilder, ids: str, mask: str, name: str = "model/mask") -> str:
    """The additive bias [B, 1, S, T]: 0 where key ``j <= past + i`` and ``mask[b, j]``, the
    float32 minimum elsewhere (T = past + S taken from the attention mask)."""
    s = dim_of(b, ids, 1, f"{name}_s")
    t = dim_of(b, mask, 1, f"{name}_t")
    past = b.node("Sub", [t, s], name=f"/{name}/Sub")
    qpos = b.node("Range", [past, t, b.const(np.int64(1))], name=f"/{name}/Range")
    kpos = b.node("Range", [b.const(np.int64(0)), t, b.const(np.int64(1))],
                  name=f"/{name}/Range_1")
    future = b.node("Less", [unsqueeze(b, qpos, [1], name=f"{name}_q"),
                             unsqueeze(b, kpos, [0], name=f"{name}_k")], name=f"/{name}/Less")
    causal = b.node("Not", [future], name=f"/{name}/Not")                     # [S, T]
    pad = b.node("Cast", [unsqueeze(b, mask, [1, 2], name=f"{name}_pad")], name=f"/{name}/Cast",
                 to=TensorProto.BOOL)                                          # [B, 1, 1, T]
    allowed = b.node("And", [unsqueeze(b, causal, [0, 1], name=f"{name}_causal"), pad],
                     name=f"/{name}/And")                                      # [B, 1, S, T]
    return b.node("Where", [allowed, b.const(np.float32(0.0)), b.const(np.float32(_MIN))],
                  name=f"/{name}/Where")


def _heads(b: GraphBuilder, x: str, heads: int, dh: int, name: str) -> str:
    """[B, S, heads * dh] -> [B, heads, S, dh]."""
    bsz, s = dim_of(b, x, 0, f"{name}_b"), dim_of(b, x, 1, f"{name}_s")
    r = b.node("Reshape", [x, shape_of(b, [bsz, s, heads, dh], f"{name}_shape")],
               name=f"/{name}/Reshape")
    return b.node("Transpose", [r], name=f"/{name}/Transpose", perm=[0, 2, 1, 3])


def _merge(b: GraphBuilder, ctx: str, like: str, d: int, name: str) -> str:
    """[B, H, S, dh] -> [B, S, H * dh] (batch and length taken from ``like``)."""
    t = b.node("Transpose", [ctx], name=f"/{name}/Transpose", perm=[0, 2, 1, 3])
    bsz, s = dim_of(b, like, 0, f"{name}_b"), dim_of(b, like, 1, f"{name}_s")
    return b.node("Reshape", [t, shape_of(b, [bsz, s, d], f"{name}_shape")],
                  name=f"/{name}/Reshape")


def _repeat_kv(b: GraphBuilder, x: str, n_rep: int, name: str) -> str:
    """``repeat_kv``: [B, Hkv, T, dh] -> Unsqueeze(2) -> Expand [B, Hkv, n_rep, T, dh] ->
    Reshape [B, Hkv * n_rep, T, dh]."""
    if n_rep == 1:
        return x
    bsz, hkv = dim_of(b, x, 0, f"{name}_b"), dim_of(b, x, 1, f"{name}_h")
    t, dh = dim_of(b, x, 2, f"{name}_t"), dim_of(b, x, 3, f"{name}_d")
    e = b.node("Expand", [unsqueeze(b, x, [2], name=name),
                          shape_of(b, [bsz, hkv, n_rep, t, dh], f"{name}_expand")],
               name=f"/{name}/Expand")
    h = b.node("Mul", [hkv, b.const(np.int64(n_rep))], name=f"/{name}/Mul")
    return b.node("Reshape", [e, shape_of(b, [bsz, h, t, dh], f"{name}_shape")],
                  name=f"/{name}/Reshape")


def _rmsnorm(b: GraphBuilder, x: str, d: int, eps: float, name: str) -> str:
    """``w * x * rsqrt(mean(x**2) + eps)`` as exported: Pow, ReduceMean, Add, Sqrt, Div, Mul."""
    sq = b.node("Pow", [x, b.const(np.float32(2.0))], name=f"/{name}/Pow")
    if b.opset >= 18:
        var = b.node("ReduceMean", [sq, b.i64(-1)], name=f"/{name}/ReduceMean", keepdims=1)
    else:
        var = b.node("ReduceMean", [sq], name=f"/{name}/ReduceMean", axes=[-1], keepdims=1)
    r = b.node("Sqrt", [b.node("Add", [var, b.const(np.float32(eps))], name=f"/{name}/Add")],
               name=f"/{name}/Sqrt")
    inv = b.node("Div", [b.const(np.float32(1.0)), r], name=f"/{name}/Div")
    y = b.node("Mul", [x, inv], name=f"/{name}/Mul")
    return b.node("Mul", [b.weight(f"{name}.weight", (d,), "scale"), y], name=f"/{name}/Mul_1")


def _rotary(b: GraphBuilder, pos: str, dh: int, theta: float, name: str = "model/rotary"):
    """cos and sin [B, 1, S, dh] of ``position_ids`` (``emb = cat(freqs, freqs)``)."""
    inv = (1.0 / theta ** (np.arange(0, dh, 2, dtype=np.float64) / dh)).astype(np.float32)
    p = b.node("Cast", [unsqueeze(b, pos, [2], name=f"{name}_pos")], name=f"/{name}/Cast",
               to=TensorProto.FLOAT)                                          # [B, S, 1]
    freqs = b.node("Mul", [p, b.const(inv, name="model.rotary_emb.inv_freq")],
                   name=f"/{name}/Mul")                                    # [B, S, dh/2]
    emb = b.node("Concat", [freqs, freqs], name=f"/{name}/Concat", axis=-1)
    cos = unsqueeze(b, b.node("Cos", [emb], name=f"/{name}/Cos"), [1], name=f"{name}_cos")
    sin = unsqueeze(b, b.node("Sin", [emb], name=f"/{name}/Sin"), [1], name=f"{name}_sin")
    return cos, sin


def _apply_rotary(b: GraphBuilder, x: str, cos: str, sin: str, dh: int, name: str) -> str:
    """``x * cos + rotate_half(x) * sin`` with
    ``rotate_half(x) = cat(-x[..., dh/2:], x[..., :dh/2])``."""
    half = dh // 2
    x1 = b.node("Slice", [x, b.i64(0), b.i64(half), b.i64(-1), b.i64(1)], name=f"/{name}/Slice")
    x2 = b.node("Slice", [x, b.i64(half), b.i64(dh), b.i64(-1), b.i64(1)],
                name=f"/{name}/Slice_1")
    rot = b.node("Concat", [b.node("Neg", [x2], name=f"/{name}/Neg"), x1], name=f"/{name}/Concat",
                 axis=-1)
    return b.node("Add", [b.node("Mul", [x, cos], name=f"/{name}/Mul"),
                          b.node("Mul", [rot, sin], name=f"/{name}/Mul_1")], name=f"/{name}/Add")


def _attend(b: GraphBuilder, q: str, k: str, v: str, bias: str, dh: int, name: str) -> str:
    """softmax(q k^T / sqrt(dh) + bias) v for [B, H, S, dh] queries and [B, H, T, dh] keys."""
    kt = b.node("Transpose", [k], name=f"/{name}/Transpose_k", perm=[0, 1, 3, 2])
    s = b.node("MatMul", [q, kt], name=f"/{name}/MatMul")
    s = b.node("Mul", [s, b.const(np.float32(1.0 / math.sqrt(dh)))], name=f"/{name}/Mul")
    s = b.node("Add", [s, bias], name=f"/{name}/Add")
    pr = b.node("Softmax", [s], name=f"/{name}/Softmax", axis=-1)
    return b.node("MatMul", [pr, v], name=f"/{name}/MatMul_1")


def _llama(b: GraphBuilder, p: dict, batch: Dim) -> None:
    d, v, h, hkv = p["hidden"], p["vocab"], p["heads"], p["kv_heads"]
    dh = d // h
    ids, mask, pos, past = _io(b, p, batch)
    emb = b.weight("model.embed_tokens.weight", (v, d), "normal")
    x = b.node("Gather", [emb, ids], name="/model/embed_tokens/Gather")
    bias = _mask_bias(b, ids, mask)
    cos, sin = _rotary(b, pos, dh, p["rope_theta"])
    presents = []
    for i in range(p["layers"]):
        n = f"model.layers.{i}"
        hn = _rmsnorm(b, x, d, p["eps"], f"{n}.input_layernorm")
        bias_qkv = p["qkv_bias"]
        q = linear(b, hn, d, h * dh, name=f"{n}.self_attn.q_proj", bias=bias_qkv)
        k = linear(b, hn, d, hkv * dh, name=f"{n}.self_attn.k_proj", bias=bias_qkv)
        val = linear(b, hn, d, hkv * dh, name=f"{n}.self_attn.v_proj", bias=bias_qkv)
        q = _apply_rotary(b, _heads(b, q, h, dh, f"{n}.self_attn.q"), cos, sin, dh,
                          f"{n}.self_attn.q_rot")
        k = _apply_rotary(b, _heads(b, k, hkv, dh, f"{n}.self_attn.k"), cos, sin, dh,
                          f"{n}.self_attn.k_rot")
        val = _heads(b, val, hkv, dh, f"{n}.self_attn.v")
        k = b.node("Concat", [past[i][0], k], name=f"/{n}/self_attn/Concat", axis=2,
                   outputs=[f"present.{i}.key"])
        val = b.node("Concat", [past[i][1], val], name=f"/{n}/self_attn/Concat_1", axis=2,
                     outputs=[f"present.{i}.value"])
        presents.append((k, val))
        kr = _repeat_kv(b, k, h // hkv, f"{n}.self_attn.repeat_k")
        vr = _repeat_kv(b, val, h // hkv, f"{n}.self_attn.repeat_v")
        ctx = _attend(b, q, kr, vr, bias, dh, f"{n}.self_attn")
        o = linear(b, _merge(b, ctx, hn, d, f"{n}.self_attn.merge"), d, d,
                   name=f"{n}.self_attn.o_proj", bias=False)
        x = b.node("Add", [x, o], name=f"/{n}/Add")
        hn = _rmsnorm(b, x, d, p["eps"], f"{n}.post_attention_layernorm")
        gate = linear(b, hn, d, p["intermediate"], name=f"{n}.mlp.gate_proj", bias=False)
        up = linear(b, hn, d, p["intermediate"], name=f"{n}.mlp.up_proj", bias=False)
        act = b.node("Mul", [gate, b.node("Sigmoid", [gate], name=f"/{n}/mlp/act_fn/Sigmoid")],
                     name=f"/{n}/mlp/act_fn/Mul")
        down = linear(b, b.node("Mul", [act, up], name=f"/{n}/mlp/Mul"), p["intermediate"], d,
                      name=f"{n}.mlp.down_proj", bias=False)
        x = b.node("Add", [x, down], name=f"/{n}/Add_1")
    x = _rmsnorm(b, x, d, p["eps"], "model.norm")
    if p["tied"]:
        w = b.node("Transpose", [emb], name="/lm_head/Transpose", perm=[1, 0])
    else:
        w = b.weight("lm_head.weight_t", (d, v), fan_in=d)
    logits = b.node("MatMul", [x, w], name="/lm_head/MatMul")
    _outputs(b, p, batch, logits, presents)


def _gpt2(b: GraphBuilder, p: dict, batch: Dim) -> None:
    d, v, h = p["hidden"], p["vocab"], p["heads"]
    dh = d // h
    ids, mask, pos, past = _io(b, p, batch)
    wte = b.weight("transformer.wte.weight", (v, d), "normal")
    x = b.node("Add", [b.node("Gather", [wte, ids], name="/transformer/wte/Gather"),
                       b.node("Gather", [b.weight("transformer.wpe.weight", (p["max_pos"], d),
                                                  "normal"), pos],
                              name="/transformer/wpe/Gather")], name="/transformer/Add")
    bias = _mask_bias(b, ids, mask, name="transformer/mask")
    presents = []
    for i in range(p["layers"]):
        n = f"transformer.h.{i}"
        hn = layernorm(b, x, d, "decomposed", f"{n}.ln_1", eps=p["eps"])
        qkv = linear(b, hn, d, 3 * d, name=f"{n}.attn.c_attn")
        q, k, val = b.node("Split", [qkv, b.i64(d, d, d)], name=f"/{n}/attn/Split", axis=2,
                           outputs=3)
        q = _heads(b, q, h, dh, f"{n}.attn.q")
        k = b.node("Concat", [past[i][0], _heads(b, k, h, dh, f"{n}.attn.k")],
                   name=f"/{n}/attn/Concat", axis=2, outputs=[f"present.{i}.key"])
        val = b.node("Concat", [past[i][1], _heads(b, val, h, dh, f"{n}.attn.v")],
                     name=f"/{n}/attn/Concat_1", axis=2, outputs=[f"present.{i}.value"])
        presents.append((k, val))
        ctx = _attend(b, q, k, val, bias, dh, f"{n}.attn")
        a = linear(b, _merge(b, ctx, hn, d, f"{n}.attn.merge"), d, d, name=f"{n}.attn.c_proj")
        x = b.node("Add", [a, x], name=f"/{n}/Add")
        hn = layernorm(b, x, d, "decomposed", f"{n}.ln_2", eps=p["eps"])
        m = linear(b, gelu(b, linear(b, hn, d, p["intermediate"], name=f"{n}.mlp.c_fc"), "tanh",
                           f"{n}.mlp.act"), p["intermediate"], d, name=f"{n}.mlp.c_proj")
        x = b.node("Add", [m, x], name=f"/{n}/Add_1")
    x = layernorm(b, x, d, "decomposed", "transformer.ln_f", eps=p["eps"])
    w = b.node("Transpose", [wte], name="/lm_head/Transpose", perm=[1, 0])
    _outputs(b, p, batch, b.node("MatMul", [x, w], name="/lm_head/MatMul"), presents)


def _outputs(b: GraphBuilder, p: dict, batch: Dim, logits: str, presents) -> None:
    dh = p["hidden"] // p["heads"]
    b.output(logits, "logits", [batch, SEQ, p["vocab"]])
    for i, (k, val) in enumerate(presents):
        for t in (k, val):
            b.outputs.append(onnx.helper.make_tensor_value_info(
                t, TensorProto.FLOAT, [batch, p["kv_heads"], TOTAL, dh]))


def build(name: str = "llama-tiny", *, batch: Dim = BATCH, layers: int | None = None,
          hidden: int | None = None, heads: int | None = None, kv_heads: int | None = None,
          intermediate: int | None = None, vocab: int | None = None, opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """A decoder with past (module docstring): ``llama-tiny``, ``tinyllama-1.1b``,
    ``qwen2-tiny``, ``qwen2-0.5b``, ``gpt2-past-tiny`` or ``gpt2-past``, every size overridable.
    ``batch`` is symbolic (``batch_size``) unless given; the lengths are always symbolic."""
    p = config(name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
               intermediate=intermediate, vocab=vocab)
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    (_gpt2 if p["arch"] == "gpt2" else _llama)(b, p, batch)
    return b.model()
