"""Progress of long work: one status line on stderr, rewritten in place, on a terminal only
(``\\r`` + erase-line), cleared at the end; nothing when stderr is not a terminal or with
``-q``. The commands run in a subprocess whose stderr is a pseudo-terminal (the kernel's pty,
not imcc's idea of one)."""

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from imcc.cli import cli
from imcc.commands._progress import CLEAR, Progress

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"
DATA = DIGITS / "test.npz"
TTY = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def run_on_pty(*args, cwd) -> tuple[int, str, str]:
    """``imcc ARGS`` with stderr on a pty and stdout on a pipe: (status, stdout, stderr)."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.Popen([sys.executable, "-m", "imcc", *map(str, args)], cwd=cwd,
                         stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                         env=env)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            err += chunk
        elif p.poll() is not None:
            break
    out = p.stdout.read().decode()
    p.wait()
    os.close(master)
    return p.returncode, out, err.decode(errors="replace")


@TTY
def test_compile_shows_numbered_stages_on_a_terminal_and_clears_the_line(tmp_path):
    rc, out, err = run_on_pty("compile", DIGITS / "cnn.onnx", "--chip", "ideal-int8", "--calib",
                              f"{DATA}:x_img", "-o", tmp_path / "c.imo", cwd=tmp_path)
    assert rc == 0, err
    assert "compiled" in out and "\r" not in out  # stdout is untouched
    for stage in ("[1/8] loading", "[2/8] canonicalizing", "[3/8] packing 3 tiles",
                  "[4/8] calibrating", "[5/8] quantizing", "[6/8] generating code",
                  "[7/8] assembling", "[8/8] estimating"):
        assert f"compile: {stage}" in err, err
    # one line: every update starts with \r and erases it, no line feed; cleared at the end
    assert "\n" not in err and err.startswith(CLEAR) and err.endswith(CLEAR)
    assert all(part.startswith("compile: ") for part in err.split(CLEAR) if part)


@TTY
def test_quiet_and_pipes_show_nothing(tmp_path):
    rc, out, err = run_on_pty("compile", DIGITS / "cnn.onnx", "-q", "-o", tmp_path / "c.imo",
                              cwd=tmp_path)
    assert rc == 0 and out == "" and err == "", (out, err)
    # stderr a pipe, not a terminal: the messages only, no status line
    p = subprocess.run([sys.executable, "-m", "imcc", "compile", str(DIGITS / "cnn.onnx"),
                        "-o", str(tmp_path / "d.imo")], capture_output=True, text=True)
    assert p.returncode == 0 and "\r" not in p.stderr and "\x1b" not in p.stderr
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "d.imo"), "--input",
                                 f"{DATA}:x_img"])
    assert r.exit_code == 0 and "\r" not in r.output


@TTY
def test_run_counts_batches_with_the_time_left(tmp_path):
    rc, out, err = run_on_pty("compile", DIGITS / "cnn.onnx", "--chip", "ideal-int8", "-q",
                              "-o", tmp_path / "c.imo", cwd=tmp_path)
    assert rc == 0, err
    import numpy as np

    np.save(tmp_path / "x.npy", np.load(DATA)["x_img"][:60])
    rc, out, err = run_on_pty("run", tmp_path / "c.imo", "--input", tmp_path / "x.npy",
                              "--compare", DIGITS / "cnn.onnx", cwd=tmp_path)
    assert rc == 0, err
    assert "run: running 60 samples in 60 batches of 1" in err
    assert "1/60 batches (1 %)" in err and "60/60 batches (100 %)" in err
    assert " left" in err and "running the float model cnn.onnx" in err
    assert err.endswith(CLEAR) and "max relative error" in out
    rc, out, err = run_on_pty("run", tmp_path / "c.imo", "--input", tmp_path / "x.npy", "-q",
                              cwd=tmp_path)
    assert rc == 0 and out == "" and err == ""


@TTY
def test_explore_counts_evaluations(tmp_path):
    rc, out, err = run_on_pty(
        "explore", DIGITS / "linear.onnx", "--data", DATA, "--input-key", "x", "--label-key",
        "y", "--chip", "ideal-int8", "--sweep", "adc_bits=4,6,8", "--seeds", "1", "--workers",
        "1", "--limit", "60", "-o", tmp_path / "e", cwd=tmp_path)
    assert rc == 0, err
    assert "explore: 3 points x 1 seeds" in err
    for k in (1, 2, 3):
        assert f"{k}/3 evaluations" in err, err
    assert "1/3 compiled" in err and " left" in err and err.endswith(CLEAR)
    assert "explored 3 points" in out


class FakeTerminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_time_left_is_the_rate_so_far_times_the_work_left():
    now = [100.0]
    term = FakeTerminal()
    p = Progress("explore", stream=term, interval=0, clock=lambda: now[0])
    p.stage("24 points x 1 seeds")
    now[0] = 110.0
    p.count(4, 24, "evaluations")  # 4 in 10 s: 20 left take 50 s
    assert p.line() == "explore: 24 points x 1 seeds 4/24 evaluations (16 %), 50 s left [10 s]"
    now[0] = 130.0
    p.count(12, 24, "evaluations")  # 12 in 30 s
    assert "12/24 evaluations (50 %), 30 s left [30 s]" in p.line()
    p.count(24, 24, "evaluations")
    assert "left" not in p.line()
    p.close()
    assert term.text.endswith(CLEAR) and term.text.count(CLEAR) == 5  # 4 draws, 1 clear


def test_stages_are_numbered_and_the_packers_messages_are_details():
    term = FakeTerminal()
    p = Progress("compile", stream=term, interval=0, stages=("loading", "packing", "assembling"),
                 clock=lambda: 0.0)
    p.stage("loading")
    assert p.line() == "compile: [1/3] loading [0.0 s]"
    p.stage("packing 54 tiles onto arrays")
    p.stage("CP-SAT: 11 bins")
    assert p.line() == "compile: [2/3] packing 54 tiles onto arrays: CP-SAT: 11 bins [0.0 s]"
    p.stage("assembling")
    assert p.line() == "compile: [3/3] assembling [0.0 s]"
    p.close()


def test_disabled_progress_writes_nothing():
    term = FakeTerminal()
    with Progress("run", stream=term, quiet=True) as p:
        p.stage("running")
        p.count(1, 2)
    assert term.text == ""
