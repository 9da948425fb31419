"""Same inputs and options, same bytes: objects, assembly, storage maps and pictures from two
compiles in separate processes (different hash seeds, and different ``workers``, which
docs/packing.md documents as giving the same answer for every value), and packing results
across runs and worker counts."""

import os
import subprocess
import sys

from tests.hardening.helpers import SAMPLES, imcc


def _compile(out_dir, seed: str, workers: str):
    out_dir.mkdir()
    env = dict(os.environ, PYTHONHASHSEED=seed)
    r = subprocess.run(
        [sys.executable, "-m", "imcc", "compile",
         str(SAMPLES / "models" / "resnet_basic_block.onnx"),
         "-o", str(out_dir / "m.imo"), "-S", "--map", str(out_dir / "map.json"),
         "--svg", str(out_dir / "map.svg"), "--chip", "ideal-int8", "--time-limit", "1",
         "--workers", workers, "--no-estimate", "-q"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return {p.name: p.read_bytes() for p in sorted(out_dir.iterdir())}


def test_compile_outputs_are_byte_identical(tmp_path):
    a = _compile(tmp_path / "a", "1", "2")
    b = _compile(tmp_path / "b", "2", "3")
    assert {"m.imo", "m.s", "map.json", "map.svg"} <= set(a)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_assembly_and_disassembly_are_deterministic(tmp_path):
    src = SAMPLES / "asm" / "two_tiles.s"
    outs = []
    for k in range(2):
        obj = tmp_path / f"o{k}.imo"
        lst = tmp_path / f"l{k}.s"
        assert imcc("asm", src, "-o", obj).exit_code == 0
        assert imcc("disasm", obj, "-o", lst).exit_code == 0
        outs.append((obj.read_bytes(), lst.read_text().replace(f"l{k}", "L")))
    assert outs[0] == outs[1]


def test_packing_is_deterministic_across_runs_and_workers(tmp_path):
    problem = tmp_path / "p.json"
    problem.write_text('{"bin": [10, 10], "items": [[6, 4], [5, 5], [4, 6], [3, 7], [7, 3], '
                       '[2, 9], [9, 2], [5, 4], [4, 5], [3, 3], [6, 6]]}')
    docs = []
    for workers in ("2", "2", "1", "4"):
        out = tmp_path / f"r{len(docs)}.json"
        r = imcc("pack", problem, "--workers", workers, "--time-limit", "1", "--json", out)
        assert r.exit_code == 0, r.output
        docs.append(out.read_bytes())
    assert docs[0] == docs[1] == docs[2] == docs[3]
