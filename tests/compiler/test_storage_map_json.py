"""The storage map's JSON bytes are json.dumps(map, sort_keys=True, indent=1) and a newline,
written by imcc.storagemap's own encoder: the same bytes on compiled models and on values
json writes in special ways."""

import json
from pathlib import Path

import pytest

from imcc import storagemap
from imcc.compiler import CompileOptions, compile_model
from runtime.config import preset

ROOT = Path(__file__).resolve().parents[2]


def _json(v) -> bytes:
    return (json.dumps(v, sort_keys=True, indent=1) + "\n").encode()


@pytest.mark.parametrize("model,chip,priority", [("lenet", "ideal-int8", "efficiency"),
                                                 ("tiny_gpt2", "ideal", "resource")])
def test_a_compiled_models_map(model, chip, priority):
    res = compile_model(ROOT / "samples" / "models" / f"{model}.onnx", preset(chip),
                        options=CompileOptions(priority=priority))
    assert storagemap.to_json(res.storage_map) == _json(res.storage_map)
    assert res.obj.map_json == _json(json.loads(res.obj.map_json))


@pytest.mark.parametrize("value", [
    {"b": [1, 2.5, {"c": None, "d": True}], "a": {}, "f": [], "g": "\u00e9\n\"x\u2603",
     "h": (1, 2), "nan": float("nan"), "inf": float("inf"), "ninf": -float("inf"),
     "tiny": 1e-300, "negzero": -0.0, "big": 10**30, "nest": [[], [[]], {}], "no": False,
     "Z": 1, "é": 2},
    {1: "x"}, {"a": {2: 3}}, {"a": [1, {"b": 1.5}]}, [1, 2], "s", 3, 0.1, [], {}])
def test_values_json_writes_in_special_ways(value):
    assert storagemap.to_json(value) == _json(value)
