"""``--set KEY=VALUE`` and ``--fit`` on compile, map, run, explore and chips, and the Python
interface's ``set=`` / ``fit=``. Oracles: chip files written here by editing a preset's text
(not by imcc), the compiler's own refusal of a chip one array or one MiB smaller, and the
machine's results on the hand-written chip."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli
from isa.objfile import read_object, to_bytes
from runtime.config import preset_text

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"
DATA = DIGITS / "test.npz"
LENET = ROOT / "samples" / "models" / "lenet.onnx"
FAST = ("--time-limit", "0.5")  # LeNet's packing: its optimum well within the budget
CNN = DIGITS / "cnn.onnx"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def chip_file(path: Path, preset: str, name: str, **fields) -> Path:
    """A chip file: the preset's own text with ``fields`` edited in place and a new name."""
    text = preset_text(preset)
    text = re.sub(r'^name = .*$', f'name = "{name}"', text, count=1, flags=re.MULTILINE)
    for key, value in fields.items():
        text, n = re.subn(rf"^{key} = [^#\n]*", f"{key} = {value}  ", text, count=1,
                          flags=re.MULTILINE)
        assert n == 1, key
    path.write_text(text)
    return path


def _one_error(r, needle: str):
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("imcc: error")]
    assert len(lines) == 1 and needle in lines[0], r.output
    assert "Traceback" not in r.output


def test_set_compiles_what_an_edited_chip_file_compiles(tmp_path):
    r = invoke("compile", CNN, "--chip", "rram", "--set", "adc_bits=6", "--set", "tiles=4",
               "--calib", f"{DATA}:x_img", "-o", tmp_path / "a.imo")
    assert r.exit_code == 0, r.output
    assert "chip rram+adc_bits=6+tiles=4: 4 tiles x 8 arrays" in r.output
    edited = chip_file(tmp_path / "c.toml", "rram", "mine", adc_bits=6, tiles=4)
    r = invoke("compile", CNN, "--config", edited, "--calib", f"{DATA}:x_img", "-o",
               tmp_path / "b.imo")
    assert r.exit_code == 0, r.output
    a, b = read_object(tmp_path / "a.imo"), read_object(tmp_path / "b.imo")
    assert a.chip[0] == "rram+adc_bits=6+tiles=4" and b.chip[0] == "mine"
    assert a.chip[1] == b.chip[1] and a.text == b.text and a.weights == b.weights
    # imcc run finds the chip from the object's record alone, and computes what the file does
    outs = []
    for obj, extra in (("a.imo", ()), ("b.imo", ("--config", edited))):
        r = invoke("run", tmp_path / obj, "--input", f"{DATA}:x_img", "--output",
                   tmp_path / f"{obj}.npz", *extra)
        assert r.exit_code == 0, r.output
        outs.append(np.load(tmp_path / f"{obj}.npz")["logits"])
    np.testing.assert_array_equal(*outs)


def test_run_set_changes_noise_not_the_program(tmp_path):
    obj = tmp_path / "n.imo"
    r = invoke("compile", CNN, "--chip", "rram", "--calib", f"{DATA}:x_img", "-o", obj)
    assert r.exit_code == 0, r.output
    quiet = chip_file(tmp_path / "q.toml", "rram", "quiet", program_noise=0, read_noise=0,
                      stuck_on=0, stuck_off=0)
    got = []
    for extra in (("--set", "noise_scale=0"), ("--config", quiet)):
        r = invoke("run", obj, "--input", f"{DATA}:x_img", "--output", tmp_path / "o.npz",
                   *extra)
        assert r.exit_code == 0, r.output
        got.append(np.load(tmp_path / "o.npz")["logits"])
    np.testing.assert_array_equal(*got)
    _one_error(invoke("run", obj, "--input", f"{DATA}:x_img", "--set", "adc_bits=4"),
               "program hash")
    _one_error(invoke("run", obj, "--set", "slices=arrays"), "compile setting")
    _one_error(invoke("run", obj, "--time", "1", "--set", "time=2"), "read time once")


def test_fit_grows_arrays_per_tile_to_the_smallest_chip_that_holds_the_model(tmp_path):
    base = ("--chip", "rram", "--priority", "resource", "--set", "tiles=2", "--set",
            "arrays_per_tile=1")
    r = invoke("compile", LENET, *base, *FAST, "-o", tmp_path / "too-small.imo")
    _one_error(r, "the model needs 11 arrays")
    assert "--fit grows the chip to fit (2 tiles x 6 arrays holds it)" in r.output
    r = invoke("compile", LENET, *base, *FAST, "--fit", "-o", tmp_path / "fit.imo")
    assert r.exit_code == 0, r.output
    assert "chip rram+arrays_per_tile=6+tiles=2: 2 tiles x 6 arrays" in r.output
    assert "grown from 2 x 1 arrays" in r.output
    # the same chip written by hand compiles to the identical object; one array less per tile
    # does not hold the model
    name = "rram+arrays_per_tile=6+tiles=2"
    six = chip_file(tmp_path / "six.toml", "rram", name, tiles=2, arrays_per_tile=6)
    r = invoke("compile", LENET, "--config", six, "--priority", "resource", *FAST, "-o",
               tmp_path / "six.imo")
    assert r.exit_code == 0, r.output
    assert to_bytes(read_object(tmp_path / "six.imo")) == \
        to_bytes(read_object(tmp_path / "fit.imo"))
    five = chip_file(tmp_path / "five.toml", "rram", "five", tiles=2, arrays_per_tile=5)
    _one_error(invoke("compile", LENET, "--config", five, "--priority", "resource", *FAST),
               "needs 11 arrays")
    r = invoke("run", tmp_path / "fit.imo")  # no chip named: found from the record
    assert r.exit_code == 2 and "input" in r.output and "was not given" in r.output


def test_fit_grows_the_global_memory(tmp_path):
    args = (CNN, "--chip", "ideal-int8", "--batch", "256", "--set", "global_mib=1",
            "--no-estimate")
    _one_error(invoke("compile", *args), "MiB of global memory")
    r = invoke("compile", *args, "--fit", "-o", tmp_path / "fit.imo", "--json",
               tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    need = rep["memory_bytes"]
    mib = -(-need // 2**20)
    assert rep["chip_size"]["global_mib"] == mib and rep["chip"]["name"] == \
        f"ideal-int8+global_mib={mib}"
    exact = chip_file(tmp_path / "m.toml", "ideal-int8", rep["chip"]["name"], global_mib=mib)
    r = invoke("compile", CNN, "--config", exact, "--batch", "256", "--no-estimate", "-o",
               tmp_path / "exact.imo")
    assert r.exit_code == 0, r.output
    assert to_bytes(read_object(tmp_path / "exact.imo")) == \
        to_bytes(read_object(tmp_path / "fit.imo"))
    less = chip_file(tmp_path / "l.toml", "ideal-int8", "less", global_mib=mib - 1)
    _one_error(invoke("compile", CNN, "--config", less, "--batch", "256", "--no-estimate"),
               "global memory")


def test_map_reports_the_smallest_chip_per_priority(tmp_path):
    r = invoke("map", LENET, "--chip", "rram", *FAST)
    assert r.exit_code == 0, r.output
    found = re.findall(r"(\w+) priority: +(\d+) tiles x (\d+) arrays? \((\d+) arrays needed",
                       r.output)
    assert sorted(f[0] for f in found) == ["efficiency", "resource"]
    for prio, tiles, apt, need in found:
        tiles, apt, need = int(tiles), int(apt), int(need)
        # the need is what a compile under that priority packs one copy of every tile into
        prog = imcc.compile(str(LENET), "rram", priority=prio, time_limit=0.5)
        assert need == prog.storage_map["arrays_one_copy"]
        assert tiles == 16 and apt == -(-need // 16)
        # a chip of that size holds the model; one array per tile fewer does not
        fit = chip_file(tmp_path / f"{prio}.toml", "rram", prio, arrays_per_tile=apt)
        assert invoke("map", LENET, "--config", fit, "--priority", prio, *FAST).exit_code == 0
        less = chip_file(tmp_path / f"{prio}-.toml", "rram", prio, tiles=need - 1,
                         arrays_per_tile=1)
        _one_error(invoke("map", LENET, "--config", less, "--priority", prio, *FAST),
                   f"needs {need} arrays")


def test_chips_set_and_fit_print_a_chip_file_that_loads_back(tmp_path):
    r = invoke("chips", "pcm", "--set", "adc_bits=6", "--set", "read_noise=0")
    assert r.exit_code == 0, r.output
    (tmp_path / "p.toml").write_text(r.output)
    from runtime.config import load_config, preset

    got = load_config(tmp_path / "p.toml")
    want = chip_file(tmp_path / "w.toml", "pcm", got.name, adc_bits=6, read_noise=0)
    assert got.hash == load_config(want).hash
    assert got.name == "pcm+adc_bits=6+nonideal.read_noise=0"
    r = invoke("chips", "rram", "--set", "tiles=1", "--fit", LENET, "--priority", "resource")
    assert r.exit_code == 0, r.output  # 1 x 8 arrays grown to the 11 LeNet needs
    assert "arrays_per_tile = 11\n" in r.output and "tiles = 1\n" in r.output
    assert preset("rram").arrays_per_tile == 8  # the preset itself is unchanged
    _one_error(invoke("chips", "--set", "tiles=2"), "name it")
    _one_error(invoke("chips", "rram", "--set", "time=1"), "run setting")
    _one_error(invoke("chips", "rram", "--set", "tiles=999"), "tiles = 999: must be <= 128")


def test_set_errors_are_one_line(tmp_path):
    _one_error(invoke("compile", CNN, "--set", "adc_bit=6"), "did you mean 'adc_bits'")
    _one_error(invoke("compile", CNN, "--set", "adc_bits=4,6"), "one value")
    _one_error(invoke("compile", CNN, "--set", "time=3"), "run setting")
    _one_error(invoke("compile", CNN, "--set", "tiles=1", "--set", "tiles=2"), "set twice")
    _one_error(invoke("map", CNN, "--set", "rows=0"), "rows = 0: must be >= 1")


def test_python_interface_set_and_fit(tmp_path):
    prog = imcc.compile(str(LENET), "rram", priority="resource", time_limit=0.5,
                        set={"tiles": 2, "arrays_per_tile": 1}, fit=True)
    assert (prog.chip.tiles, prog.chip.arrays_per_tile) == (2, 6)
    r = invoke("compile", LENET, "--chip", "rram", "--priority", "resource", "--set", "tiles=2",
               "--set", "arrays_per_tile=1", "--fit", *FAST, "-o", tmp_path / "c.imo")
    assert r.exit_code == 0, r.output
    assert prog.to_bytes() == to_bytes(read_object(tmp_path / "c.imo"))
    with pytest.raises(imcc.Error, match="did you mean 'adc_bits'"):
        imcc.compile(str(LENET), "rram", set={"adc_bit": 6})  # before any work
    with pytest.raises(imcc.Error, match="the model needs 11 arrays"):  # no fit
        imcc.compile(str(LENET), "rram", priority="resource", time_limit=0.5,
                     set={"tiles": 2, "arrays_per_tile": 1})
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    prog.save(tmp_path / "p.imo")
    quiet = chip_file(tmp_path / "q.toml", "rram", "q", tiles=2, arrays_per_tile=6,
                      program_noise=0, read_noise=0, stuck_on=0, stuck_off=0)
    (a,) = imcc.load(tmp_path / "p.imo", set={"noise_scale": 0}).run(x).values()
    (b,) = imcc.load(tmp_path / "p.imo").run(x).values()  # the recorded chip: rram's noise
    (c,) = imcc.load(tmp_path / "p.imo", chip=str(quiet)).run(x).values()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_explore_fit(tmp_path):
    small = ("--set", "tiles=1", "--set", "arrays_per_tile=2", "--set", "rows=32", "--set",
             "cols=32")
    args = ("explore", CNN, "--data", DATA, "--input-key", "x_img", "--label-key", "y",
            "--chip", "rram", "--sweep", "cell_bits=1,2", *small, "--seeds", "1",
            "--workers", "1", "--limit", "40")
    r = invoke(*args, "-o", tmp_path / "a")
    assert r.exit_code == 1 and "every point failed" in r.output
    r = invoke(*args, "--fit", "-o", tmp_path / "b")
    assert r.exit_code == 0, r.output
    rows = {line.split()[0]: line.split() for line in r.output.splitlines() if "nJ" in line}
    for bits in ("1", "2"):
        want = imcc.compile(str(CNN), "rram", priority="resource", fit=True, set={
            "tiles": 1, "arrays_per_tile": 2, "rows": 32, "cols": 32, "cell_bits": int(bits)})
        arrays = [w for w in rows[bits] if w.isdigit()][-1]
        assert int(arrays) == want.report["arrays_used"] > 2
