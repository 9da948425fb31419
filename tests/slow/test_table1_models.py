"""The six models of the seed paper's Table I and MobileNetV2
(``imcc.models.suite``: AlexNet, VGG-16, ResNet-50, MobileNetV2, DenseNet-121, BERT-base with a
padding mask, GPT-2 medium with its causal mask; seeded random weights), compiled for the ideal
lossless chip (float32 cells, ideal converters) under both priorities, run on the reference
machine, and compared with an independent evaluator.

Metric, per model: ``max over outputs of max |imcc - ref| / max |ref|``, at most 1e-3.

* CI size (not marked, runs in ``pytest -q``): small versions of the same seven families
  (``SuiteModel.small``) against ``onnx.reference.ReferenceEvaluator``, a small CNN and a small
  transformer also compiled from a folder with external data.
* Full size (``pytest -m slow``; needs onnxruntime and about 12 GB of memory for GPT-2
  medium): every model saved with external data (``onnx.save(..., save_as_external_data=True)``)
  and compiled from its folder, against onnxruntime. About 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator

from imcc.compiler import CompileOptions, compile_model
from imcc.models.suite import BY_NAME, TABLE_I, chip_overrides, sample_inputs, save
from runtime.config import config_from_dict, preset
from runtime.machine import Machine

PRIORITIES = ("efficiency", "resource")
TOLERANCE = 1e-3


def _relative_error(got: dict, names: list[str], want: list) -> float:
    errs = []
    for name, w in zip(names, want):
        w = np.asarray(w, dtype=np.float64)
        g = got[name].astype(np.float64).reshape(w.shape)
        errs.append(float(np.abs(g - w).max() / max(np.abs(w).max(), 1e-30)))
    return max(errs)


def _run(path, chip, priority: str, feeds: dict) -> dict:
    res = compile_model(path, chip, options=CompileOptions(priority=priority))
    machine = Machine(chip, res.obj)
    return machine.run({k: v.astype(np.float32) for k, v in feeds.items()})


# ---- CI size ----------------------------------------------------------------------------------


@pytest.mark.parametrize("priority", PRIORITIES)
@pytest.mark.parametrize("name", [m.name for m in TABLE_I])
def test_small_family_matches_the_reference_evaluator(name, priority, tmp_path):
    model = BY_NAME[name].model("small", batch=1)
    feeds = sample_inputs(model, 1)
    want = ReferenceEvaluator(model).run(None, feeds)
    path = save(model, tmp_path, external=False)
    got = _run(path, preset("ideal"), priority, feeds)
    err = _relative_error(got, [o.name for o in model.graph.output], want)
    assert err <= TOLERANCE, (name, priority, err)


@pytest.mark.parametrize("name", ["resnet50", "bert-base"])
def test_small_family_compiles_from_external_data(name, tmp_path):
    model = BY_NAME[name].model("small", batch=1)
    feeds = sample_inputs(model, 1)
    want = ReferenceEvaluator(model).run(None, feeds)
    names = [o.name for o in model.graph.output]
    path = save(model, tmp_path)  # every initializer of 1 KiB or more in model.data
    assert (tmp_path / "model.data").stat().st_size > 0
    got = _run(path, preset("ideal"), "resource", feeds)
    assert _relative_error(got, names, want) <= TOLERANCE


# ---- full size --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[m.name for m in TABLE_I])
def full_size(request, tmp_path_factory):
    """One full-size model at a time: its folder (external data), inputs, and onnxruntime's
    outputs."""
    ort = pytest.importorskip("onnxruntime")
    m = BY_NAME[request.param]
    folder = tmp_path_factory.mktemp(m.name)
    model = m.model("full", batch=1)
    feeds = sample_inputs(model, 1)
    path = save(model, folder)
    del model
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    want = sess.run(None, feeds)
    del sess
    yield m, path, feeds, names, want
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("chip_name,priority", [("ideal", p) for p in PRIORITIES]
                         + [("ideal-signed", "resource")])
def test_full_size_model_matches_onnxruntime(full_size, chip_name, priority):
    m, path, feeds, names, want = full_size
    chip = config_from_dict(preset(chip_name).to_dict() | chip_overrides(m)
                            | {"name": f"{chip_name}-{m.name}"}, "test chip")
    got = _run(path, chip, priority, feeds)
    err = _relative_error(got, names, want)
    assert err <= TOLERANCE, (m.name, chip_name, priority, err)
