"""Every builder model: the canonicalized IR (through to_onnx) computes what the original model
computes, under onnx.reference.ReferenceEvaluator (tolerance in helpers.py), with the verifier
run after every pass, and the result is in normal form and partitions without error."""

from __future__ import annotations

import pytest

from imcc.models import MODELS, build

from .helpers import canonical_matches_original, check_normal_form

SMALL = {
    "mlp": {},
    "lenet": {},
    "alexnet": dict(image=64, width=0.125, hidden=32, classes=10),
    "vgg16": dict(image=32, width=0.0625, hidden=32, classes=10),
    "resnet_basic_block": {},
    "resnet_bottleneck_block": {},
    "resnet18": dict(image=32, width=8, classes=10),
    "resnet50": dict(image=32, width=8, classes=10, depths=(1, 2, 1, 1)),
    "depthwise_separable": {},
    "mobilenet_v2": dict(image=32, width=0.25, classes=10),
    "dense_block": {},
    "densenet121": dict(image=32, growth=4, blocks=(2, 3, 2, 2), init_features=8, classes=10),
    "encoder_layer": dict(seq=8),
    "bert-base": dict(seq=8, layers=2, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16),
    "gpt2": dict(seq=8, layers=2, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16),
    "gpt2-medium": dict(seq=6, layers=1, hidden=16, heads=2, ffn=32, vocab=50, max_pos=8),
    "llama-tiny": {},
    "qwen2-tiny": {},
    "gpt2-past-tiny": {},
    "tinyllama-1.1b": dict(layers=1, hidden=32, heads=4, kv_heads=2, intermediate=48, vocab=50),
    "qwen2-0.5b": dict(layers=1, hidden=32, heads=4, kv_heads=1, intermediate=48, vocab=50),
    "gpt2-past": dict(layers=1, hidden=32, heads=2, intermediate=64, vocab=50),
}


def test_every_builder_has_a_small_configuration():
    assert set(SMALL) == set(MODELS)


def _shapes(name, model):
    """Decoders with past: a prefill of 3 tokens in a context of 8 (their lengths are symbols
    that must agree: past + sequence = the mask's length)."""
    from imcc.models import llama

    if name not in llama.NAMES:
        return None
    from imcc.llm import decoder_interface, step_shapes

    return step_shapes(decoder_interface(model), 8, 3)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_builder_canonical_form_matches_reference(name):
    model = build(name, **SMALL[name])
    check_normal_form(canonical_matches_original(model, _shapes(name, model)))


VARIANTS = [
    ("lenet", dict(batch="N", opset=13)),
    ("lenet", dict(opset=21, seed=3)),
    ("resnet_bottleneck_block", dict(opset=18, batch=3)),
    ("mobilenet_v2", dict(image=32, width=0.25, classes=10, opset=13)),
    ("bert-base", dict(seq=8, layers=1, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16,
                       layernorm="decomposed", opset=13, batch="batch")),
    ("bert-base", dict(seq=8, layers=1, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16,
                       gelu="op", opset=20)),
    ("gpt2", dict(seq=8, layers=1, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16,
                  layernorm="fused", gelu="erf", opset=18)),
    ("gpt2", dict(seq="sequence", layers=1, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16,
                  opset=21, lm_head=False)),
    ("encoder_layer", dict(seq=4, batch="N", opset=17, layernorm="decomposed")),
]


@pytest.mark.parametrize("name,kw", VARIANTS, ids=lambda v: str(v))
def test_builder_variants(name, kw):
    """Opsets 13..21, symbolic dims (given static shapes at load), both layer norm forms and
    every GELU form. Below opset 14 BatchNormalization is checked against onnxruntime (see
    helpers.onnxruntime_run)."""
    model = build(name, **kw)
    has_bn = any(n.op_type == "BatchNormalization" for n in model.graph.node)
    oracle = "onnxruntime" if has_bn and kw.get("opset", 17) < 14 else "reference"
    check_normal_form(canonical_matches_original(model, oracle=oracle))


def test_shape_only_weights_have_same_structure():
    random = build("resnet_basic_block")
    shape = build("resnet_basic_block", weights="shape")
    assert sum(len(t.raw_data) for t in shape.graph.initializer) < 1000
    kinds = [n.op_type for n in random.graph.node]
    assert [n.op_type for n in shape.graph.node if n.op_type != "ConstantOfShape"] == kinds


def test_builds_are_deterministic():
    a = build("lenet", seed=5).SerializeToString()
    assert a == build("lenet", seed=5).SerializeToString()
    assert a != build("lenet", seed=6).SerializeToString()
