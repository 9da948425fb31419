"""Output files: imcc never destroys an input or a file that is not regular, and the outputs of
a command land together or not at all, leaving no temporary behind (not even after SIGTERM;
after SIGKILL, the next write of the same output removes them)."""

import os
import signal
import subprocess
import sys

import pytest

from isa import outfiles
from isa.diagnostics import OutputError
from tests.hardening.helpers import ROOT, SAMPLES, assert_user_error, imcc

MLP = SAMPLES / "models" / "mlp.onnx"
FAST = ("--no-estimate", "-q", "--time-limit", "0.5", "--workers", "1")


def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


def _inputs(tmp_path):
    model = _copy(MLP, tmp_path / "m.onnx")
    source = tmp_path / "p.s"
    source.write_text('.text\nhalt\n.output "y", 0, [1]\n')
    assert imcc("asm", source, "-o", tmp_path / "p.imo").exit_code == 0
    problem = tmp_path / "prob.json"
    problem.write_text('{"bin": [4, 4], "items": [[2, 2], [2, 2]]}')
    return model, source, tmp_path / "p.imo", problem


CASES = {
    "compile -o MODEL": lambda m, s, o, p: ["compile", m, "-o", m, *FAST],
    "compile --map MODEL": lambda m, s, o, p: ["compile", m, "-o", m.with_suffix(".imo"),
                                               "--map", m, *FAST],
    "asm -o SOURCE": lambda m, s, o, p: ["asm", s, "-o", s],
    "disasm -o OBJECT": lambda m, s, o, p: ["disasm", o, "-o", o],
    "run --output PROGRAM": lambda m, s, o, p: ["run", o, "--output", o],
    "pack --json PROBLEM": lambda m, s, o, p: ["pack", p, "--json", p, "--time-limit", "0.1"],
}


@pytest.mark.parametrize("case", CASES)
def test_an_output_never_replaces_an_input(tmp_path, case):
    files = _inputs(tmp_path)
    before = {f: f.read_bytes() for f in tmp_path.iterdir()}
    r = imcc(*CASES[case](*files))
    assert_user_error(r, "it is an input of this command, and writing would replace it")
    assert {f: f.read_bytes() for f in tmp_path.iterdir()} == before


def test_an_input_reached_through_a_symlink_is_an_input_too(tmp_path):
    model = _copy(MLP, tmp_path / "m.onnx")
    (tmp_path / "link.imo").symlink_to(model)
    r = imcc("compile", model, "-o", tmp_path / "link.imo", *FAST)
    assert_user_error(r, "it is an input of this command")
    assert model.read_bytes() == MLP.read_bytes()


TWICE = {
    "-o m.s -S": lambda t: ["-o", t / "m.s", "-S"],
    "--map equal to -o": lambda t: ["-o", t / "m.imo", "--map", t / "m.imo"],
    "--json equal to -o": lambda t: ["-o", t / "m.imo", "--json", t / "m.imo"],
    "--svg equal to --map": lambda t: ["-o", t / "m.imo", "--map", t / "x", "--svg", t / "x"],
}


@pytest.mark.parametrize("case", TWICE)
def test_two_outputs_on_one_path(tmp_path, case):
    """The later silently replaced the earlier and the command exited 0."""
    (tmp_path / "in").mkdir()
    model = _copy(MLP, tmp_path / "in" / "m.onnx")
    r = imcc("compile", model, *TWICE[case](tmp_path), *FAST)
    assert_user_error(r, "two outputs of this command would be written to")
    assert os.listdir(tmp_path) == ["in"]


def test_an_output_that_is_not_a_regular_file_is_left_alone(tmp_path):
    """The rename replaced whatever was at the path: as root, ``compile -o /dev/full`` turned
    the device into a regular file. A pipe stands in for it here."""
    target = tmp_path / "out"
    os.mkfifo(target)
    r = imcc("compile", MLP, "-o", target, *FAST)
    assert_user_error(r, "it is a pipe, not a regular file")
    assert target.is_fifo()
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("path", ["/dev/full", "/dev/null", "/"])
def test_devices_and_folders_are_never_replaced(path):
    with pytest.raises(OutputError, match="not a regular file"):
        outfiles.check_targets([path])


def test_a_failed_rename_restores_the_outputs_already_renamed(tmp_path, monkeypatch):
    """When the second of three renames fails, the first output gets its old contents back and
    no temporary (nor backup) is left."""
    a, b, c = (tmp_path / n for n in "abc")
    a.write_bytes(b"old a")
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2 and str(dst) == str(b):
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(outfiles.os, "replace", replace)
    with pytest.raises(OutputError, match="cannot write .*b: Permission denied"):
        outfiles.write_files({a: b"new a", b: b"new b", c: b"new c"})
    assert a.read_bytes() == b"old a"
    assert sorted(os.listdir(tmp_path)) == ["a"]


_KILL_MID_WRITE = """
import os, signal, sys
from isa.outfiles import write_files

def pieces():
    yield b"first piece"
    os.kill(os.getpid(), signal.SIGTERM)
    yield b"never written"

write_files({sys.argv[1]: b"complete", sys.argv[2]: pieces()})
"""


def test_sigterm_during_a_write_leaves_nothing(tmp_path):
    a, b = tmp_path / "a.imo", tmp_path / "b.s"
    p = subprocess.run([sys.executable, "-c", _KILL_MID_WRITE, str(a), str(b)], cwd=ROOT,
                       check=False, capture_output=True, text=True, timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, p.stderr
    assert os.listdir(tmp_path) == []


def test_temporaries_of_a_killed_process_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f".m.imo.{dead.pid}-0badf00d.tmp"
    left.write_bytes(b"partial")
    ours = tmp_path / f".m.imo.{os.getpid()}-0badf00d.tmp"  # a live process's: kept
    ours.write_bytes(b"partial")
    assert imcc("compile", MLP, "-o", tmp_path / "m.imo", *FAST).exit_code == 0
    assert set(os.listdir(tmp_path)) == {"m.imo", ours.name}
