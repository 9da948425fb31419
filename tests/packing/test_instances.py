"""Problem files: imcc JSON, benchmark JSON (one instance or a collection), 2BP text of the
Berkey-Wang / Martello-Vigo classes, 2DPackLib text; and ``imcc pack`` on files of several
instances."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imcc.cli import cli
from imcc.packing.instances import read_instances
from isa.diagnostics import ConfigError
from tests.packing.brute import min_bins

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "bpp2d" / \
    "instances_cl01_10.json"

TWO_BP = """\
    1          PROBLEM CLASS
    4    1    1    N. OF ITEMS, RELATIVE AND ABSOLUTE N. OF INSTANCE
   10   10         HBIN,WBIN
    3    6         H(I),W(I),I=1,...,N
    7    4
   10    5
    2    9
    2          PROBLEM CLASS
    2    2   12    N. OF ITEMS, RELATIVE AND ABSOLUTE N. OF INSTANCE
    5    8         HBIN,WBIN
    5    8         H(I),W(I),I=1,...,N
    1    1
"""


def test_two_bp_text_reads_height_first_and_several_instances():
    a, b = read_instances(TWO_BP, "c.2bp")
    assert (a.name, a.cls, a.n, a.index, a.W, a.H) == ("cl01_004_01", 1, 4, 1, 10, 10)
    assert [(r.w, r.h) for r in a.rects] == [(6, 3), (4, 7), (5, 10), (9, 2)]
    assert (b.name, b.W, b.H) == ("cl02_002_02", 8, 5)
    assert [(r.w, r.h) for r in b.rects] == [(8, 5), (1, 1)]


def test_packlib_text_with_demands():
    (ins,) = read_instances("3\n10 8\n1 5 4 2\n2 10 4\n3 3 3 3\n", "x.ins2D")
    assert (ins.name, ins.W, ins.H) == ("x", 10, 8)
    assert sorted((r.w, r.h) for r in ins.rects) == [(3, 3)] * 3 + [(5, 4)] * 2 + [(10, 4)]
    assert len({r.id for r in ins.rects}) == 6


def test_json_forms_agree():
    items = [[3, 5], [3, 5], [4, 2]]
    forms = [{"bin": [6, 5], "items": items},
             {"name": "t", "bin": {"W": 6, "H": 5}, "items": items},
             {"instances": [{"name": "t", "class": 3, "n": 3, "index": 1,
                             "bin": {"W": 6, "H": 5}, "items": items}]}]
    got = [read_instances(json.dumps(f), "t.json")[0] for f in forms]
    for ins in got:
        assert (ins.W, ins.H, [(r.w, r.h) for r in ins.rects]) == (6, 5, [tuple(i) for i in items])
    assert got[2].cls == 3 and got[2].index == 1


@pytest.mark.skipif(not SHARED.is_file(), reason="../shared/benchmarks/bpp2d not present")
def test_shared_collection_written_as_two_bp_reads_back_the_same():
    doc = json.loads(SHARED.read_text())
    picked = [d for d in doc["instances"] if d["index"] == 1][:12]
    lines = []
    for d in picked:  # the 2BP layout, written here from the benchmark JSON
        lines += [f"{d['class']} PROBLEM CLASS", f"{d['n']} {d['index']} {d['index']}",
                  f"{d['bin']['H']} {d['bin']['W']} HBIN,WBIN"]
        lines += [f"{h} {w}" for w, h in d["items"]]
    from_text = read_instances("\n".join(lines) + "\n", "all.2bp")
    from_json = {i.name: i for i in read_instances(SHARED.read_text(), str(SHARED))}
    assert len(from_text) == len(picked)
    for ins in from_text:
        ref = from_json[ins.name]
        assert (ins.W, ins.H, ins.cls, ins.n) == (ref.W, ref.H, ref.cls, ref.n)
        assert [(r.w, r.h) for r in ins.rects] == [(r.w, r.h) for r in ref.rects]


@pytest.mark.parametrize("text,message", [
    ("", "too short"),
    ("hello\n1 2\n", "c.txt:1: expected numbers"),
    ("1\n4 1 1\n10 10\n3 6\n", "declares 4 items but 1 item lines follow"),
    ("1\n1 1 1\n10 10\n3 16\n", "c.txt:4: item 0 is 16x3, larger than the 10x10 bin"),
    ("1\n1 1 1\n0 10\n3 6\n", "the bin is 10x0"),
    ("2\n10 8\n1 5 4\n", "declares 2 item types but 1 item lines follow"),
    ("1\n10 8\n1 5 4\n2 1 1\n", "more item lines than the 1 declared"),
    ("2\n10 8\n1 5 4\n1 2 2\n", "item id 1 appears on two lines"),
    ("1\n10 8\n1 5 4 0\n", "demand 0 must be >= 1"),
    ("1 2 3\n4\n5 6\n", "neither a 2BP file"),
    ('{"instances": []}', "non-empty list"),
    ('{"instances": [{"bin": {"W": 0, "H": 2}, "items": []}]}', "\"bin\" must be"),
])
def test_bad_text_is_one_error_naming_the_line(text, message):
    with pytest.raises(ConfigError) as e:
        read_instances(text, "c.txt")
    assert message in str(e.value)


def test_pack_a_file_of_several_instances(tmp_path):
    src = tmp_path / "c.2bp"
    src.write_text(TWO_BP)
    r = CliRunner().invoke(cli, ["pack", str(src), "--time-limit", "1"])
    assert r.exit_code == 0, r.output
    rows = {ln.split()[0]: ln.split() for ln in r.output.splitlines()[2:]}
    for ins in read_instances(TWO_BP, "c.2bp"):
        best = min_bins([(x.w, x.h, -1) for x in ins.rects], ins.W, ins.H, False)  # brute force
        assert int(rows[ins.name][3]) == best
    assert int(rows["total"][1]) == sum(int(rows[n][3]) for n in rows if n != "total")
    r = CliRunner().invoke(cli, ["pack", str(src), "--instance", "cl02_002_02", "--json",
                                 str(tmp_path / "p.json")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "p.json").read_text())["bins_used"] == 2
    r = CliRunner().invoke(cli, ["pack", str(src), "--json", str(tmp_path / "q.json")])
    assert r.exit_code == 2 and "--instance NAME" in r.output
    r = CliRunner().invoke(cli, ["pack", str(src), "--instance", "cl02_002_01"])
    assert r.exit_code == 2 and "did you mean 'cl02_002_02'" in r.output
