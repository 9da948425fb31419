"""The storage map's JSON bytes are json.dumps(map, sort_keys=True, indent=1) and a newline,
except that each element of its long lists (entries, arrays, layers) is one line as
json.dumps(element, sort_keys=True) writes it: the same bytes on compiled models and on values
json writes in special ways."""

import json
from pathlib import Path

import pytest

from imcc import storagemap
from imcc.compiler import CompileOptions, compile_model
from isa.hostlimits import MadeJson
from runtime.config import preset

ROOT = Path(__file__).resolve().parents[2]


def _json(v) -> bytes:
    """The oracle: json's indented text with each row list written in place of a marker."""
    rows = {k: x for k, x in v.items() if k in storagemap.ROWS and type(x) is list and x} \
        if type(v) is dict and all(type(k) is str for k in v) else {}
    text = json.dumps({k: f"@@{k}@@" if k in rows else x for k, x in v.items()} if rows else v,
                      sort_keys=True, indent=1)
    for k, x in rows.items():
        lines = ",\n".join("  " + json.dumps(e, sort_keys=True) for e in x)
        text = text.replace(json.dumps(f"@@{k}@@"), "[\n" + lines + "\n ]")
    return (text + "\n").encode()


@pytest.mark.parametrize("model,chip,priority", [("lenet", "ideal-int8", "efficiency"),
                                                 ("tiny_gpt2", "ideal", "resource")])
def test_a_compiled_models_map(model, chip, priority):
    res = compile_model(ROOT / "samples" / "models" / f"{model}.onnx", preset(chip),
                        options=CompileOptions(priority=priority))
    text = storagemap.to_json(res.storage_map)
    assert text == _json(res.storage_map)
    assert res.obj.map_json == _json(json.loads(res.obj.map_json))
    assert json.loads(text) == json.loads(json.dumps(res.storage_map))
    # one line per entry
    assert text.count(b"\n") > len(res.storage_map["entries"]) > 0
    # the assembler's .map takes the encoder's own bytes without parsing them again: valid JSON
    assert isinstance(text, MadeJson) and isinstance(res.obj.map_json, MadeJson)


@pytest.mark.parametrize("value", [
    {"b": [1, 2.5, {"c": None, "d": True}], "a": {}, "f": [], "g": "\u00e9\n\"x\u2603",
     "h": (1, 2), "nan": float("nan"), "inf": float("inf"), "ninf": -float("inf"),
     "tiny": 1e-300, "negzero": -0.0, "big": 10**30, "nest": [[], [[]], {}], "no": False,
     "Z": 1, "é": 2},
    {1: "x"}, {"a": {2: 3}}, {"a": [1, {"b": 1.5}]}, [1, 2], "s", 3, 0.1, [], {},
    {"entries": [{"b": [1, 2], "a": "x\n"}, {}], "arrays": [], "layers": [[1], "s"], "z": 1},
    {"entries": {"a": 1}, "arrays": [float("nan")]}])
def test_values_json_writes_in_special_ways(value):
    assert storagemap.to_json(value) == _json(value)
