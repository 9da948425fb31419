"""``imcc run`` through click's test runner."""

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from imcc.cli import cli
from isa.assembler import assemble
from isa.objfile import write_object
from runtime.config import preset

ASM = Path(__file__).resolve().parents[2] / "samples" / "asm"
LAYER = """
.input "x", x, [2, 3]
.output "y", y, [2, 2]
    cfgi xbh, 3
    cfgi xbw, 2
    li x5, W
    wprog x5
    cfgi vl, 2
    cfgi xs, 3
    cfgi ys, 2
    li x6, x
    li x7, y
    mvm x7, x6
    halt
.data
x: .zero 24
y: .zero 16
.weights
W: .u8 1, 2, 3, 0, 1, 2
"""
W = np.array([[1, 2], [3, 0], [1, 2]], np.float32)


def imcc(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_run_a_sample_prints_outputs_and_cost(tmp_path):
    out = tmp_path / "y.npz"
    r = imcc("run", ASM / "dot.s", "--output", out)
    assert r.exit_code == 0, r.output
    assert "y: float32[2x3] =" in r.output and "[[11., 13., 15.]," in r.output
    assert "cost on chip 'ideal' (1 run)" in r.output and "latency" in r.output
    with np.load(out) as z:
        assert z["y"].tolist() == [[11, 13, 15], [22, 26, 30]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npz"]


def test_stats_and_trace():
    r = imcc("run", ASM / "batch_loop.s", "--stats", "--trace", 3)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("0x00000000  cfgi xbarr, 1") and "xbarr=0x1" in lines[0]
    assert lines[3].startswith("y: float32[4x2]")
    assert "hottest instructions:" in r.output and "<loop" in r.output
    assert "energy (pJ)   adc " in r.output


def test_batched_inputs_and_object_files(tmp_path):
    src = tmp_path / "layer.s"
    src.write_text(LAYER)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = imcc("run", src, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert r.exit_code == 0, r.output
    assert "y: float32[5x2]" in r.output and "(3 runs)" in r.output
    with np.load(tmp_path / "y.npz") as z:
        np.testing.assert_allclose(z["y"], x @ W, rtol=1e-6)
    obj = tmp_path / "layer.imo"
    write_object(assemble(LAYER).obj, obj)
    np.savez(tmp_path / "in.npz", x=x[:2])
    r = imcc("run", obj, "--input", tmp_path / "in.npz")  # no chip record: the ideal chip
    assert r.exit_code == 0 and "y: float32[2x2]" in r.output, r.output
    # the program leaves ibits = 0 (an ideal DAC), which a chip with real DACs refuses
    r = imcc("run", obj, "--input", tmp_path / "in.npz", "--chip", "rram")
    assert r.exit_code == 2 and "ibits = 0 asks for an ideal DAC" in r.output


def test_chip_records_choose_or_refuse_a_chip(tmp_path):
    rram = preset("rram")
    body = LAYER.replace("    cfgi vl, 2", "    cfgi ibits, 8\n    cfgi adcb, 8\n    cfgi vl, 2")
    obj = tmp_path / "p.imo"
    write_object(assemble(f'.chip "rram", "{rram.program_hash}"\n' + body).obj, obj)
    x = tmp_path / "x.npy"
    np.save(x, np.ones((2, 3), np.float32))
    r = imcc("run", obj, "--input", f"x={x}")
    assert r.exit_code == 0 and "cost on chip 'rram'" in r.output, r.output
    r = imcc("run", obj, "--input", f"x={x}", "--chip", "ideal")
    assert r.exit_code == 2 and "built for chip 'rram'" in r.output
    cfg = tmp_path / "rram.json"
    cfg.write_text(json.dumps(rram.to_dict()))
    r = imcc("run", obj, "--input", f"x={x}", "--config", cfg)
    assert r.exit_code == 0, r.output
    write_object(assemble('.chip "mine", "0123456789abcdef"\n' + body).obj, obj)
    r = imcc("run", obj, "--input", f"x={x}")
    assert r.exit_code == 2 and "--config FILE" in r.output
    r = imcc("run", obj, "--config", cfg, "--chip", "rram")
    assert r.exit_code == 2 and "not both" in r.output


def test_user_errors_exit_2_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text("    li x1, 2\n    lw x2, 0(x1)\n    halt\n")
    out = tmp_path / "o.npz"
    r = imcc("run", bad, "--output", out)
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "bad.s:2:5: error: trap at pc 0x4 (lw x2, 0(x1)): misaligned" in r.output
    assert not out.exists()
    src = tmp_path / "layer.s"
    src.write_text(LAYER)
    for args, message in [
        (("--input", "x=missing.npy"), "no such file 'missing.npy'"),
        (("--input", f"x={bad}"), "cannot read"),
        ((), "input 'x' ([2, 3]) was not given"),
        (("--chip", "nope"), "unknown chip preset 'nope'"),
    ]:
        r = imcc("run", src, *args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    r = imcc("run", tmp_path / "none.imo")
    assert r.exit_code == 2 and "cannot read object file" in r.output


def test_hostile_data_files_exit_2_without_a_traceback(tmp_path):
    src = tmp_path / "layer.s"
    src.write_text(LAYER)
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 6, dtype=object).reshape(2, 3),
             allow_pickle=True)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 not a zip archive")
    np.savez(tmp_path / "text.npz", x=np.full((2, 3), "a"))
    for spec, message in [
        (f"x={tmp_path / 'obj.npz'}:x", "holds Python objects (saved with pickles)"),
        (f"{tmp_path / 'obj.npz'}", "holds Python objects (saved with pickles)"),
        (f"x={tmp_path / 'obj.npy'}", "holds Python objects (saved with pickles)"),
        (f"x={tmp_path / 'zip.npz'}", "cannot read"),
        (f"x={tmp_path / 'text.npz'}", "expected numbers"),
    ]:
        r = imcc("run", src, "--input", spec)
        assert r.exit_code == 2 and "Traceback" not in r.output, (spec, r.output)
        assert message in r.output, (spec, r.output)


def test_chips_lists_the_presets_and_prints_one_as_a_chip_file(tmp_path):
    from runtime.config import load_config, preset, preset_names

    r = imcc("chips")
    assert r.exit_code == 0, r.output
    for name in preset_names():
        assert f"{name} " in r.output and preset(name).program_hash in r.output
    r = imcc("chips", "rram")
    assert r.exit_code == 0, r.output
    f = tmp_path / "mine.toml"
    f.write_text(r.output)
    assert load_config(f).hash == preset("rram").hash
    r = imcc("chips", "rrm")
    assert r.exit_code == 2 and "did you mean 'rram'" in r.output


def test_labels_for_a_program_without_outputs(tmp_path):
    src = tmp_path / "h.s"
    src.write_text("    halt\n")
    np.save(tmp_path / "y.npy", np.arange(3))
    r = imcc("run", src, "--labels", tmp_path / "y.npy")
    assert r.exit_code == 2 and "declares no .output" in r.output


def test_backend_cupy_without_cupy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)  # as on a machine without it
    r = imcc("run", ASM / "dot.s", "--backend", "cupy", "--output", tmp_path / "y.npz")
    assert r.exit_code == 2
    assert "needs CuPy" in r.output and "Traceback" not in r.output
    assert not list(tmp_path.iterdir())
