"""Generation with decoders PyTorch exports: a Llama-architecture module (RMSNorm, rotary
embeddings, grouped-query attention, SwiGLU) with a KV cache, through the dynamo exporter at
opset 18 and the TorchScript exporter at opset 17, lengths symbolic; greedy tokens on the
machine against onnxruntime's own cached generation of the same file."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")

import imcc  # noqa: E402
from tests.llm.test_generate import ort_generate  # noqa: E402


class _RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(d) + 0.5)

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)


def _rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat([-b, a], -1)


class _Layer(torch.nn.Module):
    def __init__(self, d, heads, kv_heads, ffn):
        super().__init__()
        self.h, self.kv, self.dh = heads, kv_heads, d // heads
        self.q_proj = torch.nn.Linear(d, d, bias=False)
        self.k_proj = torch.nn.Linear(d, kv_heads * self.dh, bias=False)
        self.v_proj = torch.nn.Linear(d, kv_heads * self.dh, bias=False)
        self.o_proj = torch.nn.Linear(d, d, bias=False)
        self.gate_proj = torch.nn.Linear(d, ffn, bias=False)
        self.up_proj = torch.nn.Linear(d, ffn, bias=False)
        self.down_proj = torch.nn.Linear(ffn, d, bias=False)
        self.norm1, self.norm2 = _RMSNorm(d), _RMSNorm(d)

    def forward(self, x, cos, sin, past_k, past_v, mask):
        b, s, d = x.shape
        h = self.norm1(x)
        q = self.q_proj(h).view(b, s, self.h, self.dh).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kv, self.dh).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kv, self.dh).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        kr = k.repeat_interleave(self.h // self.kv, 1)
        vr = v.repeat_interleave(self.h // self.kv, 1)
        att = torch.softmax(q @ kr.transpose(-1, -2) / math.sqrt(self.dh) + mask, -1) @ vr
        x = x + self.o_proj(att.transpose(1, 2).reshape(b, s, d))
        h = self.norm2(x)
        mlp = self.down_proj(torch.nn.functional.silu(self.gate_proj(h)) * self.up_proj(h))
        return x + mlp, k, v


class _Llama(torch.nn.Module):
    def __init__(self, vocab=96, d=64, heads=4, kv_heads=2, ffn=128, layers=2):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, d)
        self.layers = torch.nn.ModuleList(_Layer(d, heads, kv_heads, ffn) for _ in range(layers))
        self.norm = _RMSNorm(d)
        self.lm_head = torch.nn.Linear(d, vocab, bias=False)
        dh = d // heads
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, dh, 2).float() / dh))

    def forward(self, input_ids, attention_mask, position_ids, *past):
        x = self.embed(input_ids)
        s, t = input_ids.shape[1], attention_mask.shape[1]
        freqs = position_ids[..., None].float() * self.inv_freq
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        allowed = (torch.arange(t)[None] <= torch.arange(t - s, t)[:, None])[None, None] \
            & attention_mask[:, None, None, :].bool()
        mask = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)
        presents = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, past[2 * i], past[2 * i + 1], mask)
            presents += [k, v]
        return (self.lm_head(self.norm(x)), *presents)


def _export(tmp_path, dynamo: bool):
    torch.manual_seed(0)
    model = _Llama().eval()
    names = ["input_ids", "attention_mask", "position_ids"] + \
        [f"past_key_values.{i}.{k}" for i in range(2) for k in ("key", "value")]
    outs = ["logits"] + [f"present.{i}.{k}" for i in range(2) for k in ("key", "value")]
    args = (torch.tensor([[5, 6]]), torch.ones(1, 9, dtype=torch.long), torch.tensor([[7, 8]]),
            *[torch.randn(1, 2, 7, 16) for _ in range(4)])
    path = tmp_path / "model.onnx"
    if dynamo:
        auto = torch.export.Dim.AUTO
        shapes = {"input_ids": {1: auto}, "attention_mask": {1: auto},
                  "position_ids": {1: auto}, "past": tuple({2: auto} for _ in range(4))}
        torch.onnx.export(model, args, str(path), dynamo=True, opset_version=18,
                          input_names=names, output_names=outs, dynamic_shapes=shapes)
    else:
        axes = {"input_ids": {1: "seq"}, "attention_mask": {1: "total"},
                "position_ids": {1: "seq"}}
        axes.update({n: {2: "past"} for n in names[3:]})
        axes.update({n: {2: "total"} for n in outs[1:]})
        torch.onnx.export(model, args, str(path), dynamo=False, opset_version=17,
                          input_names=names, output_names=outs, dynamic_axes=axes)
    return path


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo-opset18", "torchscript-opset17"])
def test_generation_from_a_pytorch_export_equals_onnxruntime(tmp_path, dynamo):
    import onnx

    path = _export(tmp_path, dynamo)
    model = onnx.load(path)
    opset = {o.domain: o.version for o in model.opset_import}[""]
    assert opset == (18 if dynamo else 17)
    dims = model.graph.input[3].type.tensor_type.shape.dim
    assert dims[2].dim_param  # the past length is symbolic
    prompt = [3, 14, 15, 92]
    gen = imcc.generate(tmp_path, prompt, 8)  # the folder holding model.onnx
    tokens, logits = ort_generate(model, prompt, 8)
    assert gen.tokens == tokens
    np.testing.assert_allclose(gen.logits, logits, rtol=1e-3, atol=1e-4 * np.abs(logits).max())
