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


def capped(*args, cwd=None, seconds: float = 60, mib: int = 2048, env=None):
    """``python -m imcc ARGS`` in a subprocess under an address-space cap of ``mib`` MiB and a
    time limit: an input that makes imcc hang or allocate without bound fails the test instead
    of the machine. Returns the CompletedProcess (``returncode``, ``stdout``, ``stderr``)."""
    import os
    import resource
    import subprocess
    import sys

    def limit():
        cap = mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    try:
        return subprocess.run([sys.executable, "-m", "imcc", *map(str, args)], cwd=cwd,
                              check=False, capture_output=True, text=True, timeout=seconds,
                              preexec_fn=limit, env=full_env, errors="replace")
    except subprocess.TimeoutExpired:
        raise AssertionError(f"imcc {' '.join(map(str, args))} ran past {seconds} s") from None


def assert_clean_failure(p, *needles, no_files=()):
    """A subprocess result (from :func:`capped`): exit 2, one error line first on stderr and
    nothing but its caret, source and hint lines after it, every needle in it, no traceback,
    no warning, none of ``no_files`` (nor a temporary of one) left."""
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.splitlines()
    assert lines and "error:" in lines[0], p.stderr
    assert "Traceback" not in p.stderr and "warning" not in p.stderr.lower(), p.stderr
    assert "out of memory" not in p.stderr, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    for f in no_files:
        assert not Path(f).exists(), f
        assert not list(Path(f).parent.glob(f".{Path(f).name}.*")), f
