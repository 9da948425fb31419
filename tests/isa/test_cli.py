"""The asm/disasm/isa commands through click's test runner: outputs, exit codes, no partial files."""

from pathlib import Path

from click.testing import CliRunner

from imcc import __version__
from imcc.cli import cli
from isa.gen_docs import render
from isa.objfile import read_object, to_bytes
from isa.spec import INSTRUCTIONS

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "asm"


def test_version():
    r = CliRunner().invoke(cli, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_asm_then_disasm_to_file(tmp_path):
    out = tmp_path / "dot.imo"
    r = CliRunner().invoke(cli, ["asm", str(SAMPLES / "dot.s"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists()
    r = CliRunner().invoke(cli, ["disasm", str(out), "-o", str(tmp_path / "back.s")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["asm", str(tmp_path / "back.s"), "-o", str(tmp_path / "b.imo")])
    assert r.exit_code == 0, r.output
    assert to_bytes(read_object(tmp_path / "b.imo")) == to_bytes(read_object(out))


def test_asm_error_exit_2_no_traceback_no_output(tmp_path):
    src = tmp_path / "bad.s"
    src.write_text("addi x1, x0, 99999\n")
    out = tmp_path / "bad.imo"
    r = CliRunner().invoke(cli, ["asm", str(src), "-o", str(out)])
    assert r.exit_code == 2
    assert "bad.s:1:14: error:" in r.output and "Traceback" not in r.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary left behind either


def test_disasm_of_garbage_is_exit_2(tmp_path):
    f = tmp_path / "x.imo"
    f.write_bytes(b"garbage" * 10)
    r = CliRunner().invoke(cli, ["disasm", str(f)])
    assert r.exit_code == 2 and "not an imcc object file" in r.output


def test_missing_source_is_exit_2(tmp_path):
    r = CliRunner().invoke(cli, ["asm", str(tmp_path / "nope.s")])
    assert r.exit_code == 2 and "cannot read" in r.output


def test_isa_lists_every_instruction():
    r = CliRunner().invoke(cli, ["isa"])
    assert r.exit_code == 0
    names = {line.split()[0] for line in r.output.splitlines()}
    assert names == {s.mnemonic for s in INSTRUCTIONS}
    r = CliRunner().invoke(cli, ["isa", "--markdown"])
    assert r.output.strip() == render().strip()


def test_python_dash_m():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "imcc", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout
