"""Every small builder model (samples/models: MLP, LeNet with BN, ResNet basic and bottleneck
blocks, depthwise-separable block, DenseNet concat block, transformer encoder layer with a mask,
tiny BERT and GPT-2) compiled for the ideal chip in both priorities (and for the ideal chip
with signed float cells), run on the reference machine, and compared with onnx's reference
evaluator.

Metric: max |imcc - reference| / max(1, max |reference|) per output, at most 1e-4."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from imcc.compiler import CompileOptions, compile_model
from runtime.config import preset
from runtime.machine import Machine

MODELS = sorted((Path(__file__).resolve().parents[2] / "samples" / "models").glob("*.onnx"))


def _feeds(model: onnx.ModelProto, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in i.type.tensor_type.shape.dim]
        if i.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            hi = 2 if "mask" in i.name else 50
            feeds[i.name] = rng.integers(0, hi, dims).astype(np.int64)
            if "mask" in i.name:
                feeds[i.name][..., 0] = 1  # at least one visible token per row
        else:
            feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def test_all_builders_are_here():
    names = {p.stem for p in MODELS}
    assert {"mlp", "lenet", "resnet_basic_block", "resnet_bottleneck_block",
            "depthwise_separable", "dense_block", "encoder_layer"} <= names


@pytest.mark.parametrize("chip_name,priority", [("ideal", "efficiency"), ("ideal", "resource"),
                                                ("ideal-signed", "efficiency")])
@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_builder_matches_reference(path, chip_name, priority):
    model = onnx.load(path)
    feeds = _feeds(model)
    chip = preset(chip_name)
    res = compile_model(path, chip, options=CompileOptions(priority=priority))
    out = Machine(chip, res.obj).run({k: v.astype(np.float32) for k, v in feeds.items()})
    ref = ReferenceEvaluator(model).run(None, feeds)
    for o, want in zip(model.graph.output, ref):
        want = np.asarray(want, dtype=np.float64)
        got = out[o.name].astype(np.float64).reshape(want.shape)
        err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
        assert err <= 1e-4, (o.name, err)
