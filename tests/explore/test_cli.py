"""``imcc explore`` end to end through click: files written, the table, rerun, and user errors
(exit 2 with one line, no traceback, no files)."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imcc.cli import cli

from .helpers import DIGITS

DATA = str(DIGITS / "test.npz")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_sweep_writes_results_table_and_plots(tmp_path):
    stem = tmp_path / "lin"
    args = ["explore", DIGITS / "linear.onnx", "--data", DATA, "--input-key", "x",
            "--label-key", "y", "--chip", "ideal-int8", "--sweep", "adc_bits=4,6,8",
            "--sweep", "cell_bits=2,8", "--seeds", "1", "--workers", "1", "--limit", "150",
            "-o", stem]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    assert "explored 6 points x 1 seeds on 150 samples (6 evaluated now" in r.output
    assert "float model:" in r.output
    rows = list(csv.DictReader((tmp_path / "lin.csv").open()))
    assert [(r["adc_bits"], r["cell_bits"]) for r in rows] == \
        [(a, c) for a in ("4", "6", "8") for c in ("2", "8")]
    assert any(r["pareto"] == "1" for r in rows)
    acc = {(r["adc_bits"], r["cell_bits"]): float(r["accuracy_mean"]) for r in rows}
    energy = {(r["adc_bits"], r["cell_bits"]): float(r["energy_pj"]) for r in rows}
    assert acc[("4", "2")] < acc[("8", "2")]  # a 4-bit ADC loses accuracy
    assert energy[("4", "8")] < energy[("8", "8")]  # ... and saves energy
    assert energy[("8", "8")] < energy[("8", "2")]  # fewer slices, fewer conversions
    svg = (tmp_path / "lin.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<circle") >= 6 and "Pareto front" in svg
    assert len((tmp_path / "lin.jsonl").read_text().splitlines()) == 6
    r = invoke(*args)
    assert "(0 evaluated now, 6 from" in r.output


def test_no_labels_scores_the_output_error(tmp_path):
    r = invoke("explore", DIGITS / "linear.onnx", "--data", f"{DATA}:x", "--chip", "rram",
               "--sweep", "noise=0,0.1", "--seeds", "2", "--workers", "1", "--limit", "100",
               "-o", tmp_path / "e")
    assert r.exit_code == 0, r.output
    assert "rel. error" in r.output and "float model" not in r.output
    rows = list(csv.DictReader((tmp_path / "e.csv").open()))
    assert rows[0]["accuracy_mean"] == ""
    assert float(rows[0]["rel_error_mean"]) < float(rows[1]["rel_error_mean"])


@pytest.mark.parametrize("args,msg", [
    (["--sweep", "adc_bits"], "expected NAME=VALUES"),
    (["--sweep", "adc_bits=4..x"], "is not a number"),
    (["--sweep", "bogus=1,2"], "unknown parameter 'bogus'"),
    (["--sweep", "adc_bit=4"], "did you mean 'adc_bits'"),
    (["--sweep", "adc_bits=4", "--sweep", "adc_bits=5"], "given twice"),
    (["--set", "noise=0,1"], "one value"),
    (["--color-by", "noise"], "not a swept parameter"),
    (["--auto"], "--target-accuracy-drop"),
    (["--auto", "--target-accuracy-drop", "1", "--sweep", "adc_bits=4,5"], "not --sweep"),
    (["--target-error", "0.1"], "go with --auto"),
    (["--chip", "nope"], "unknown chip preset"),
    (["--calib-samples", "539"], "--calib-samples 539"),
    (["--labels", f"{DATA}:x"], "expected integer class indices"),
    (["--backend", "dask"], "dask"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, args, msg):
    r = invoke("explore", DIGITS / "linear.onnx", "--data", DATA, "--input-key", "x",
               "--workers", "1", "-o", tmp_path / "x", *args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) <= 2 and msg in lines[0], r.output  # one line (and maybe a hint)
    assert "Traceback" not in r.output
    assert not list(Path(tmp_path).iterdir())


def test_bad_data_spec(tmp_path):
    r = invoke("explore", DIGITS / "linear.onnx", "--data", DATA, "--workers", "1",
               "-o", tmp_path / "x")
    assert r.exit_code == 2 and "Traceback" not in r.output
    r = invoke("explore", DIGITS / "linear.onnx", "--data", DATA, "--input-key", "nope",
               "--workers", "1", "-o", tmp_path / "x")
    assert r.exit_code == 2 and "nope" in r.output


def test_results_file_of_another_kind_is_refused(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps({"hello": 1}) + "\n")
    r = invoke("explore", DIGITS / "linear.onnx", "--data", DATA, "--input-key", "x",
               "--workers", "1", "-o", tmp_path / "x")
    assert r.exit_code == 2 and "not an imcc explore record" in r.output
