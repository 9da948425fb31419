"""``imcc pack`` end to end: output, JSON schema checked by the grid painter, bad input."""

import json

import pytest
from click.testing import CliRunner

from imcc.cli import cli
from tests.packing.brute import min_bins, paint

PROBLEM = {"bin": [6, 5], "items": [[3, 5], [3, 5], {"id": "a", "w": 2, "h": 2, "group": "g"},
                                    {"id": "b", "w": 2, "h": 3, "group": "g"}, [4, 2]]}


def _run(tmp_path, doc, *args):
    src = tmp_path / "rects.json"
    src.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return CliRunner().invoke(cli, ["pack", str(src), *args])


@pytest.mark.parametrize("priority", ["resource", "efficiency"])
def test_pack_writes_a_valid_optimal_packing(tmp_path, priority):
    out = tmp_path / "out.json"
    r = _run(tmp_path, PROBLEM, "--priority", priority, "--json", str(out), "--time-limit", "1")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["format"] == "imcc-packing/1" and doc["priority"] == priority
    items = [(it["w"], it["h"], 0 if it["group"] else -1) for it in doc["items"]]
    where = [(it["bin"], it["x"], it["y"]) for it in doc["items"]]
    assert [it["id"] for it in doc["items"]] == [0, 1, "a", "b", 4]
    assert paint(items, where, 6, 5, rows_rule=priority == "efficiency") == []
    opt = min_bins(items, 6, 5, rows_rule=priority == "efficiency")
    assert doc["bins_used"] == opt and doc["lower_bound"] <= opt
    assert f"bins used:   {opt}" in r.output and "lower bound:" in r.output


def test_same_input_same_bytes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    for out in (a, b):
        assert _run(tmp_path, PROBLEM, "--json", str(out), "--seed", "4").exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def test_no_cpsat(tmp_path):
    out = tmp_path / "out.json"
    r = _run(tmp_path, PROBLEM, "--no-cpsat", "--json", str(out))
    assert r.exit_code == 0 and json.loads(out.read_text())["cpsat"] is False


@pytest.mark.parametrize("doc, message", [
    ("{\"bin\": [6, 5],\n \"items\": [[1, 2] [3, 4]]}", "rects.json:2:19: error: not valid JSON"),
    ({"items": []}, "missing key 'bin'"),
    ({"bin": [6, 5]}, "missing key 'items'"),
    ({"bin": [6, 0], "items": []}, "\"bin\" must be [W, H] with positive integers"),
    ({"bin": [6, 5], "items": [[7, 1]]}, "item 0 (id 0) is 7x1, larger than the 6x5 bin"),
    ({"bin": [6, 5], "items": [[0, 1]]}, "item 0: width must be a positive integer, got 0"),
    ({"bin": [6, 5], "items": [[1, 2.5]]}, "item 0: height must be a positive integer"),
    ({"bin": [6, 5], "items": [[1, 2, 3]]}, "item 0: expected [w, h]"),
    ({"bin": [6, 5], "items": [{"w": 1}]}, "item 0: missing key 'h'"),
    ({"bin": [6, 5], "items": [{"w": 1, "h": 1, "colour": 2}]}, "unknown key 'colour'"),
    ({"bin": [6, 5], "items": [{"id": 1, "w": 1, "h": 1}, [1, 1]]}, "the same id 1"),
    ({"bin": [6, 5], "items": [{"w": 1, "h": 1, "group": 3}]}, "group must be a string"),
    ([1, 2], "expected an object"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, doc, message):
    out = tmp_path / "out.json"
    r = _run(tmp_path, doc, "--json", str(out))
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert "Traceback" not in r.output
    assert not out.exists()
    first = r.output.strip().splitlines()[0]
    assert "error:" in first


def test_missing_file(tmp_path):
    r = CliRunner().invoke(cli, ["pack", str(tmp_path / "nope.json")])
    assert r.exit_code == 2 and "cannot read" in r.output and len(r.output.splitlines()) == 1
