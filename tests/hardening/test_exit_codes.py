"""The exit-status contract of ``imcc`` (0 ok, 1 internal error, 2 bad input or environment,
130 interrupted): one line each, the traceback only with ``--debug``, no partial output."""

import pytest

import imcc.commands.asm as asm_cmd
from tests.hardening.helpers import SAMPLES, assert_user_error, imcc

DOT = SAMPLES / "asm" / "dot.s"


def _raising(exc):
    def f(*a, **k):
        raise exc
    return f


def test_success_is_zero(tmp_path):
    r = imcc("asm", DOT, "-o", tmp_path / "d.imo")
    assert r.exit_code == 0 and (tmp_path / "d.imo").exists()


def test_internal_error_is_one_line_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.setattr(asm_cmd, "assemble_file", _raising(RuntimeError("boom\nsecond line")))
    r = imcc("asm", DOT, "-o", tmp_path / "d.imo")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert lines[0] == "imcc: internal error: RuntimeError: boom"
    assert "--debug" in lines[1] and "report" in lines[1]
    assert "Traceback" not in r.output and len(lines) == 2
    assert not (tmp_path / "d.imo").exists()


def test_debug_lets_the_traceback_through(tmp_path, monkeypatch):
    monkeypatch.setattr(asm_cmd, "assemble_file", _raising(RuntimeError("boom")))
    r = imcc("--debug", "asm", DOT, "-o", tmp_path / "d.imo")
    assert r.exit_code == 1
    assert isinstance(r.exception, RuntimeError) and str(r.exception) == "boom"
    assert "internal error" not in r.output


def test_debug_does_not_change_user_errors(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text("addi x1, x0, 5000\n")
    r = imcc("--debug", "asm", bad, "-o", tmp_path / "b.imo")
    assert_user_error(r, "bad.s:1:14", no_files=[tmp_path / "b.imo"])


def test_interrupt_is_130_without_output(tmp_path, monkeypatch):
    monkeypatch.setattr(asm_cmd, "assemble_file", _raising(KeyboardInterrupt()))
    r = imcc("asm", DOT, "-o", tmp_path / "d.imo")
    assert r.exit_code == 130 and r.output.strip() == "imcc: interrupted"
    assert not (tmp_path / "d.imo").exists()


def test_out_of_memory_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setattr(asm_cmd, "assemble_file", _raising(MemoryError()))
    assert_user_error(imcc("asm", DOT, "-o", tmp_path / "d.imo"), "out of memory",
                      "--max-elements", no_files=[tmp_path / "d.imo"])


def test_file_system_refusal_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setattr(asm_cmd, "assemble_file",
                        _raising(PermissionError(13, "Permission denied", "/some/file")))
    assert_user_error(imcc("asm", DOT, "-o", tmp_path / "d.imo"),
                      "imcc: error: /some/file: Permission denied")


def test_output_into_a_missing_folder(tmp_path):
    out = tmp_path / "no" / "such" / "d.imo"
    assert_user_error(imcc("asm", DOT, "-o", out), f"cannot write {out}", "folder exists")


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_limit_in_the_environment(tmp_path, value):
    r = imcc("asm", DOT, "-o", tmp_path / "d.imo", env={"IMCC_MAX_ELEMENTS": value})
    assert_user_error(r, f"IMCC_MAX_ELEMENTS={value!r} is not a positive integer",
                      no_files=[tmp_path / "d.imo"])


def test_bad_limit_option_is_a_usage_error(tmp_path):
    r = imcc("--max-elements", "0", "asm", DOT, "-o", tmp_path / "d.imo")
    assert r.exit_code == 2 and "--max-elements" in r.output and "Traceback" not in r.output


def test_a_closed_pipe_ends_quietly_with_141():
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "imcc", "isa"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader leaves (as `head` does) before imcc writes anything
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == b""
