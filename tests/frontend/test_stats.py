"""imcc stats: counts checked against hand-derived formulas, the JSON schema, the CLI, and the
seed paper's Table I on full-size builders (shape-only weights keep this fast)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from imcc.cli import cli
from imcc.frontend import load_model_proto
from imcc.models import build
from imcc.partition import CATEGORIES
from imcc.stats import SCHEMA_VERSION, model_stats


def _stats(name, **kw):
    return model_stats(load_model_proto(build(name, **kw)), name)


def test_lenet_counts_match_formulas():
    s = _stats("lenet")
    conv = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25
    linear = 400 * 120 + 120 * 84 + 84 * 10
    bn_elems = 6 * 28 * 28 + 16 * 10 * 10
    relu = bn_elems + 120 + 84
    pool_in = bn_elems
    assert s.macs == {"conv": conv, "linear": linear, "matmul": 0, "batchnorm": 2 * bn_elems,
                      "activation": relu, "pooling": pool_in, "normalization": 0, "other": 0}
    assert s.params == {"conv": 6 * 25 + 6 + 16 * 150 + 16,
                        "linear": 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10,
                        "matmul": 0, "batchnorm": 2 * (6 + 16), "activation": 0, "pooling": 0,
                        "normalization": 0, "other": 0}
    assert s.flops["conv"] == 2 * conv and s.flops["batchnorm"] == 2 * bn_elems


def test_attention_counts_match_formulas():
    t, d, h, f = 8, 32, 4, 64
    s = _stats("encoder_layer", seq=t, hidden=d, heads=h, ffn=f)
    assert s.macs["linear"] == t * (4 * d * d + 2 * d * f)
    assert s.macs["matmul"] == 2 * h * t * t * (d // h)
    assert s.macs["normalization"] == 5 * 2 * t * d
    assert s.params["linear"] == 4 * (d * d + d) + d * f + f + f * d + d
    assert s.params["normalization"] == 4 * d


def test_tied_and_generated_parameters_count_once():
    kw = dict(seq=4, layers=1, hidden=16, heads=2, ffn=32, vocab=40, max_pos=8)
    random, shape = _stats("gpt2", **kw), _stats("gpt2", weights="shape", **kw)
    d, v, p, f = 16, 40, 8, 32
    total = v * d + p * d + (4 * d + 3 * d * d + 3 * d + d * d + d + d * f + f + f * d + d) \
        + 2 * d
    assert sum(random.params.values()) == total
    assert shape.params == random.params and shape.macs == random.macs


def test_json_schema():
    doc = _stats("resnet_basic_block").to_json()
    assert doc["schema"] == SCHEMA_VERSION
    assert doc["categories"] == list(CATEGORIES)
    for key in ("macs", "flops", "params", "mac_share", "flop_share", "param_share"):
        assert list(doc[key]) == list(CATEGORIES)
    for key in ("mac_share", "flop_share", "param_share"):
        assert sum(doc[key].values()) == pytest.approx(100.0)
    assert doc["total"]["macs"] == sum(doc["macs"].values())
    layer = doc["layers"][0]
    assert set(layer) == {"name", "op_type", "class", "category", "macs", "flops", "params",
                          "output_shape"}
    assert sum(x["params"] for x in doc["layers"]) == doc["total"]["params"]
    assert {x["class"] for x in doc["layers"]} <= {"imc", "dynamic", "digital", "unsupported"}


def test_cli_outputs(tmp_path):
    p = tmp_path / "lenet.onnx"
    p.write_bytes(build("lenet", batch="N").SerializeToString())
    r = CliRunner().invoke(cli, ["stats", str(p), "--json", "--input-shape", "input=1x1x28x28"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["model"] == str(p) and doc["macs"]["conv"] == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150
    r = CliRunner().invoke(cli, ["stats", str(p), "--layers", "--input-shape", "input=1x1x28x28"])
    assert r.exit_code == 0, r.output
    assert "/conv1/Conv" in r.output and "/fc3/Gemm" in r.output and "conv" in r.output
    r = CliRunner().invoke(cli, ["stats", str(p), "--unit", "flops",
                                 "--input-shape", "input=1x1x28x28"])
    assert r.exit_code == 0 and "FLOPs" in r.output
    # A symbolic batch is 1 unless --batch says otherwise, as for imcc compile.
    conv = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150
    for args, n in (([], 1), (["--batch", "3"], 3)):
        r = CliRunner().invoke(cli, ["stats", str(p), "--json", *args])
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)["macs"]["conv"] == n * conv


# -- Table I ------------------------------------------------------------------------------------
# Zhou et al. 2023, Table I (image models at 3x224x224): per-class counts in MACs, and the
# convolution share the table prints. Parameters: torchvision's published counts.
TABLE_I = {
    "alexnet": dict(conv=0.66e9, linear=58.62e6, batchnorm=0, activation=0.49e6,
                    pooling=0.38e6 + 9.22e3, share=91.6, params=61_100_840),
    "vgg16": dict(conv=15.36e9, linear=123.63e6, batchnorm=0, activation=13.56e6,
                  pooling=6.12e6 + 25.09e3, share=99.1, params=138_357_544),
    "resnet50": dict(conv=4.09e9, linear=2.05e6, batchnorm=21.83e6, activation=6.32e6,
                     pooling=0.80e6 + 0.10e6, share=99.2, params=25_557_032),
    "densenet121": dict(conv=2.86e9, linear=1.02e6, batchnorm=31.3e6, activation=15.62e6,
                        pooling=0.80e6 + 0.70e6, share=98.2, params=7_978_856),
}


@pytest.mark.parametrize("name", sorted(TABLE_I))
def test_table_one_cnn_shares_within_one_point(name):
    ref = TABLE_I[name]
    s = _stats(name, weights="shape")
    doc = s.to_json()
    classes = ("conv", "linear", "batchnorm", "activation", "pooling")
    ref_total = sum(ref[c] for c in classes)
    for c in classes:
        assert abs(doc["mac_share"][c] - 100 * ref[c] / ref_total) < 1.0, c
    assert abs(doc["mac_share"]["conv"] - ref["share"]) < 1.0
    assert abs(s.macs["conv"] - ref["conv"]) / ref["conv"] < 0.015
    assert abs(s.macs["linear"] - ref["linear"]) / ref["linear"] < 0.005
    assert doc["total"]["params"] == ref["params"]


def test_table_one_bert_base():
    s = _stats("bert-base", weights="shape")
    flops = s.flops
    assert flops["linear"] == pytest.approx(21.74e9, rel=5e-4)
    assert flops["matmul"] == pytest.approx(603.98e6, rel=5e-4)
    assert flops["normalization"] == pytest.approx(12.29e6, rel=5e-4)
    assert abs(s.to_json()["flop_share"]["linear"] - 97.23) < 1.0
    assert sum(s.params.values()) == 109_482_240


def test_table_one_gpt2_medium():
    """Table I's GPT-2 has 354.82 M parameters: GPT-2 medium, LM head tied to the embedding.
    Its 77.31 G (83.91 %) covers the transformer blocks; the LM head's 13.18 G sits in the
    total only."""
    s = _stats("gpt2-medium", weights="shape")
    head = next(x for x in s.layers if x.name == "/lm_head/MatMul")
    blocks = s.flops["linear"] - head.flops
    assert blocks == pytest.approx(77.31e9, rel=5e-4)
    assert s.flops["matmul"] == pytest.approx(1.61e9, rel=5e-3)
    assert abs(100 * blocks / sum(s.flops.values()) - 83.91) < 1.0
    assert sum(s.params.values()) == 354_823_168


def test_mobilenet_v2_size():
    s = _stats("mobilenet_v2", weights="shape")
    assert sum(s.params.values()) == 3_504_872
    assert s.macs["conv"] + s.macs["linear"] == pytest.approx(300.8e6, rel=0.01)


@pytest.mark.parametrize("name,params,macs", [
    ("resnet18", 11_689_512, 1.814e9),   # torchvision: 11.7 M parameters, 1.81 GFLOPS
    ("gpt2", 124_439_808, None),          # Hugging Face GPT-2 small
])
def test_published_sizes(name, params, macs):
    s = _stats(name, weights="shape")
    assert sum(s.params.values()) == params
    if macs:
        assert s.macs["conv"] + s.macs["linear"] == pytest.approx(macs, rel=1e-3)
