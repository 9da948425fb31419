"""Shared by the hardening tests: invoking the CLI and checking a clean failure."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from imcc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def imcc(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def assert_user_error(r, *needles, no_files=()):
    """Exit 2, a message with every needle, no traceback, none of ``no_files`` written."""
    assert r.exit_code == 2, (r.exit_code, r.output)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"crash: {r.exception!r}") from r.exception
    assert "Traceback" not in r.output, r.output
    assert "error:" in r.output.splitlines()[0] or "error:" in r.output, r.output
    for n in needles:
        assert n in r.output, (n, r.output)
    for f in no_files:
        assert not Path(f).exists(), f
        leftovers = [p for p in Path(f).parent.glob(f".{Path(f).name}.*")]
        assert not leftovers, leftovers
