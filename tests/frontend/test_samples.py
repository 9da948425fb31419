"""The committed sample models are what samples/models/build_samples.py writes, and each one
loads, canonicalizes and partitions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from imcc.cli import cli
from imcc.frontend import load_model
from imcc.partition import partition
from imcc.passes import canonicalize

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "models"


def _script():
    spec = importlib.util.spec_from_file_location("build_samples", SAMPLES / "build_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


STEMS = [stem for stem, _ in _script().small_models()]


def test_samples_are_current():
    for stem, model in _script().small_models():
        assert (SAMPLES / f"{stem}.onnx").read_bytes() == model.SerializeToString(), stem


@pytest.mark.parametrize("stem", STEMS)
def test_sample_compiles_front_to_partition(stem):
    g = canonicalize(load_model(SAMPLES / f"{stem}.onnx"), verify_each=True)
    partition(g)
    r = CliRunner().invoke(cli, ["stats", str(SAMPLES / f"{stem}.onnx")])
    assert r.exit_code == 0, r.output
