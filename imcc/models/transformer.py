"""Transformers as PyTorch/Hugging Face export them: a BERT encoder layer, BERT and GPT-2.

The graphs keep the exporter's patterns: token embeddings by ``Gather``, position ids from
``Range`` (GPT-2) or ``CumSum`` over ``ConstantOfShape`` (BERT), head splitting by ``Reshape`` with
shapes from ``Shape -> Gather -> Unsqueeze -> Concat`` chains, attention masks with
``Unsqueeze/Cast/Sub/Mul/Expand`` (BERT's padding mask input) and ``Slice/Where`` (GPT-2's causal
mask buffer), Erf- or tanh-based GELU, and layer norms either fused (``LayerNormalization``) or
decomposed (``ReduceMean/Sub/Pow/Sqrt/Div``). GPT-2's LM head reuses the token embedding
(``MatMul`` with ``Transpose(wte)``).

Sizes: ``bert-base`` is BERT-base (109.5 M parameters with the pooler), ``gpt2`` GPT-2 small
(124.4 M) and ``gpt2-medium`` the 354.8 M-parameter model of the seed's Table I.
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

NAMES = ("encoder_layer", "bert-base", "gpt2", "gpt2-medium")
_PRESETS = {
    "bert-base": dict(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_pos=512),
    "gpt2": dict(layers=12, hidden=768, heads=12, ffn=3072, vocab=50257,
                 max_pos=1024),
    "gpt2-medium": dict(layers=24, hidden=1024, heads=16, ffn=4096, vocab=50257, max_pos=1024),
    "encoder_layer": dict(layers=1, hidden=64, heads=4, ffn=256, vocab=0, max_pos=0),
}


def _split_heads(b: GraphBuilder, x: str, heads: int, dh: int, perm, name: str) -> str:
    """[B, T, D] -> Reshape [B, T, H, dh] (shape from the input's own Shape) -> Transpose."""
    bsz, t = dim_of(b, x, 0, f"{name}_b"), dim_of(b, x, 1, f"{name}_t")
    r = b.node("Reshape", [x, shape_of(b, [bsz, t, heads, dh], f"{name}_shape")],
               name=f"/{name}/Reshape")
    return b.node("Transpose", [r], name=f"/{name}/Transpose", perm=list(perm))


def _merge_heads(b: GraphBuilder, ctx: str, x: str, d: int, name: str) -> str:
    """[B, H, T, dh] -> Transpose [B, T, H, dh] -> Reshape [B, T, D]."""
    t = b.node("Transpose", [ctx], name=f"/{name}/Transpose", perm=[0, 2, 1, 3])
    bsz, tl = dim_of(b, x, 0, f"{name}_b"), dim_of(b, x, 1, f"{name}_t")
    return b.node("Reshape", [t, shape_of(b, [bsz, tl, d], f"{name}_shape")],
                  name=f"/{name}/Reshape")


def attention(b: GraphBuilder, x: str, d: int, heads: int, name: str, *, mask: str | None = None,
              causal: str | None = None, fused_qkv: bool = False) -> str:
    """Multi-head self-attention. ``mask`` is an additive [B, 1, T, T] mask; ``causal`` a bool
    [1, 1, P, P] buffer sliced to [1, 1, T, T] and applied with Where."""
    dh = d // heads
    if fused_qkv:
        qkv = linear(b, x, d, 3 * d, name=f"{name}.c_attn")
        q, k, v = b.node("Split", [qkv, b.i64(d, d, d)], name=f"/{name}/Split", axis=2,
                         outputs=3)
    else:
        q = linear(b, x, d, d, name=f"{name}.query")
        k = linear(b, x, d, d, name=f"{name}.key")
        v = linear(b, x, d, d, name=f"{name}.value")
    q = _split_heads(b, q, heads, dh, (0, 2, 1, 3), f"{name}_q")
    kt = _split_heads(b, k, heads, dh, (0, 2, 3, 1), f"{name}_k")
    v = _split_heads(b, v, heads, dh, (0, 2, 1, 3), f"{name}_v")
    s = b.node("MatMul", [q, kt], name=f"/{name}/MatMul")
    s = b.node("Div", [s, b.const(np.float32(math.sqrt(dh)))], name=f"/{name}/Div")
    if mask is not None:
        s = b.node("Add", [s, mask], name=f"/{name}/Add")
    if causal is not None:
        t = dim_of(b, x, 1, f"{name}_causal_t")
        tu = unsqueeze(b, t, [0], name=f"{name}_causal_tu")
        ends = b.node("Concat", [tu, tu], name=f"/{name}/causal/Concat", axis=0)
        m = b.node("Slice", [causal, b.i64(0, 0), ends, b.i64(2, 3)], name=f"/{name}/Slice")
        s = b.node("Where", [m, s, b.const(np.float32(np.finfo(np.float32).min))],
                   name=f"/{name}/Where")
    p = b.node("Softmax", [s], name=f"/{name}/Softmax", axis=-1)
    ctx = b.node("MatMul", [p, v], name=f"/{name}/MatMul_1")
    out = _merge_heads(b, ctx, x, d, f"{name}_merge")
    return linear(b, out, d, d, name=f"{name}.{'c_proj' if fused_qkv else 'output.dense'}")


def bert_layer(b, x, d, heads, ffn, mask, ln, act, name):
    """Post-LN encoder layer: LN(x + Attn(x)), then LN(h + FFN(h))."""
    a = attention(b, x, d, heads, f"{name}.attention", mask=mask)
    h = layernorm(b, b.node("Add", [a, x], name=f"/{name}/attention/Add"), d, ln,
                  f"{name}.attention.LayerNorm", eps=1e-12)
    f = linear(b, gelu(b, linear(b, h, d, ffn, name=f"{name}.intermediate.dense"), act,
                       f"{name}.intermediate.gelu"), ffn, d, name=f"{name}.output.dense")
    return layernorm(b, b.node("Add", [f, h], name=f"/{name}/output/Add"), d, ln,
                     f"{name}.output.LayerNorm", eps=1e-12)


def gpt2_block(b, x, d, heads, ffn, causal, ln, act, name):
    """Pre-LN decoder block: x + Attn(LN(x)), then h + MLP(LN(h))."""
    a = attention(b, layernorm(b, x, d, ln, f"{name}.ln_1"), d, heads, f"{name}.attn",
                  causal=causal, fused_qkv=True)
    h = b.node("Add", [a, x], name=f"/{name}/Add")
    m = linear(b, gelu(b, linear(b, layernorm(b, h, d, ln, f"{name}.ln_2"), d, ffn,
                                 name=f"{name}.mlp.c_fc"), act, f"{name}.mlp.act"),
               ffn, d, name=f"{name}.mlp.c_proj")
    return b.node("Add", [m, h], name=f"/{name}/Add_1")


def _padding_mask(b: GraphBuilder, mask: str, name: str = "extended_mask") -> str:
    """(1 - mask[:, None, None, :]) * -10000, expanded to [B, 1, T, T]."""
    m = b.node("Cast", [unsqueeze(b, mask, [1, 2], name=name)], name=f"/{name}/Cast",
               to=TensorProto.FLOAT)
    m = b.node("Sub", [b.const(np.float32(1.0)), m], name=f"/{name}/Sub")
    m = b.node("Mul", [m, b.const(np.float32(-10000.0))], name=f"/{name}/Mul")
    bsz, t = dim_of(b, mask, 0, f"{name}_b"), dim_of(b, mask, 1, f"{name}_t")
    return b.node("Expand", [m, shape_of(b, [bsz, 1, t, t], f"{name}_shape")],
                  name=f"/{name}/Expand")


def _bert(b, p, batch, seq, ln, act):
    d, v = p["hidden"], p["vocab"]
    ids = b.input("input_ids", [batch, seq], TensorProto.INT64)
    mask = b.input("attention_mask", [batch, seq], TensorProto.INT64)
    tok = b.node("Gather", [b.weight("embeddings.word_embeddings.weight", (v, d), "normal"), ids],
                 name="/embeddings/word_embeddings/Gather")
    ones = b.node("ConstantOfShape", [b.node("Shape", [ids], name="/embeddings/Shape")],
                  name="/embeddings/ConstantOfShape",
                  value=onnx.helper.make_tensor("value", TensorProto.INT64, [1], [1]))
    pos = b.node("Sub", [b.node("CumSum", [ones, b.const(np.int64(1))],
                                name="/embeddings/CumSum"), b.const(np.int64(1))],
                 name="/embeddings/Sub")
    pe = b.node("Gather", [b.weight("embeddings.position_embeddings.weight",
                                    (p["max_pos"], d), "normal"), pos],
                name="/embeddings/position_embeddings/Gather")
    zeros = b.node("ConstantOfShape", [b.node("Shape", [ids], name="/embeddings/Shape_1")],
                   name="/embeddings/ConstantOfShape_1",
                   value=onnx.helper.make_tensor("value", TensorProto.INT64, [1], [0]))
    te = b.node("Gather", [b.weight("embeddings.token_type_embeddings.weight", (2, d), "normal"),
                           zeros], name="/embeddings/token_type_embeddings/Gather")
    h = b.node("Add", [b.node("Add", [tok, te], name="/embeddings/Add"), pe],
               name="/embeddings/Add_1")
    h = layernorm(b, h, d, ln, "embeddings.LayerNorm", eps=1e-12)
    ext = _padding_mask(b, mask)
    for i in range(p["layers"]):
        h = bert_layer(b, h, d, p["heads"], p["ffn"], ext, ln, act, f"encoder.layer.{i}")
    first = b.node("Gather", [h, b.const(np.int64(0))], name="/pooler/Gather", axis=1)
    w = b.weight("pooler.dense.weight", (d, d), fan_in=d)
    pooled = b.node("Gemm", [first, w, b.weight("pooler.dense.bias", (d,), "bias")],
                    name="/pooler/dense/Gemm", transB=1)
    pooled = b.node("Tanh", [pooled], name="/pooler/activation/Tanh")
    b.output(h, "last_hidden_state", [batch, seq, d])
    b.output(pooled, "pooler_output", [batch, d])


def _gpt2(b, p, batch, seq, ln, act, lm_head):
    d, v = p["hidden"], p["vocab"]
    ids = b.input("input_ids", [batch, seq], TensorProto.INT64)
    wte = b.weight("transformer.wte.weight", (v, d), "normal")
    tok = b.node("Gather", [wte, ids], name="/transformer/wte/Gather")
    t = dim_of(b, ids, 1, "transformer_len")
    pos = b.node("Range", [b.const(np.int64(0)), t, b.const(np.int64(1))],
                 name="/transformer/Range")
    pos = unsqueeze(b, pos, [0], name="transformer_pos")
    pe = b.node("Gather", [b.weight("transformer.wpe.weight", (p["max_pos"], d), "normal"), pos],
                name="/transformer/wpe/Gather")
    h = b.node("Add", [tok, pe], name="/transformer/Add")
    npos = p["max_pos"]
    causal = b.const(np.tril(np.ones((npos, npos), bool)).reshape(1, 1, npos, npos),
                     name="transformer.h.attn.bias")
    for i in range(p["layers"]):
        h = gpt2_block(b, h, d, p["heads"], p["ffn"], causal, ln, act, f"transformer.h.{i}")
    h = layernorm(b, h, d, ln, "transformer.ln_f")
    if lm_head:
        wt = b.node("Transpose", [wte], name="/lm_head/Transpose", perm=[1, 0])
        logits = b.node("MatMul", [h, wt], name="/lm_head/MatMul")
        b.output(logits, "logits", [batch, seq, v])
    else:
        b.output(h, "last_hidden_state", [batch, seq, d])


def _encoder_layer(b, p, batch, seq, ln, act):
    d = p["hidden"]
    x = b.input("hidden_states", [batch, seq, d])
    mask = b.input("attention_mask", [batch, seq], TensorProto.INT64)
    h = bert_layer(b, x, d, p["heads"], p["ffn"], _padding_mask(b, mask), ln, act, "layer")
    b.output(h, "output", [batch, seq, d])


def build(name: str = "bert-base", *, batch: Dim = 1, seq: Dim = 128, layers: int | None = None,
          hidden: int | None = None, heads: int | None = None, ffn: int | None = None,
          vocab: int | None = None, max_pos: int | None = None, layernorm: str | None = None,
          gelu: str | None = None, lm_head: bool = True, opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """``encoder_layer``, ``bert-base``, ``gpt2`` or ``gpt2-medium``; every size can be
    overridden (``layers``, ``hidden``, ``heads``, ``ffn``, ``vocab``, ``max_pos``).
    ``layernorm``: ``fused`` (default for BERT and the encoder layer) or ``decomposed``
    (default for GPT-2); ``gelu``: ``erf`` (BERT), ``tanh`` (GPT-2) or ``op`` (opset >= 20)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown transformer {name!r}; choose from {', '.join(NAMES)}")
    p = dict(_PRESETS[name])
    for k, val in (("layers", layers), ("hidden", hidden), ("heads", heads), ("ffn", ffn),
                   ("vocab", vocab), ("max_pos", max_pos)):
        if val is not None:
            p[k] = val
    if p["hidden"] % p["heads"]:
        raise ValueError(f"hidden {p['hidden']} is not a multiple of heads {p['heads']}")
    gpt = name.startswith("gpt2")
    ln = layernorm or ("decomposed" if gpt or opset < 17 else "fused")
    act = gelu or ("tanh" if gpt else "erf")
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    if gpt:
        _gpt2(b, p, batch, seq, ln, act, lm_head)
    elif name == "bert-base":
        _bert(b, p, batch, seq, ln, act)
    else:
        _encoder_layer(b, p, batch, seq, ln, act)
    return b.model()
