"""The README starts with the two set-up commands; CI runs the second verbatim; the files the
first one names exist; its sample output is what the first command prints."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_two_commands_at_the_top():
    first, second = _commands()
    assert "pip install -e ." in first and "imcc compile" in first and "imcc run" in first
    assert "--labels" in first and "--compare" in first
    assert "pip install -e '.[test]'" in second and second.endswith("pytest -q -n auto")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci


def test_first_command_names_existing_files():
    first = _commands()[0]
    for tok in shlex.split(first.replace("&&", " ")):
        if tok.startswith("samples/"):
            path = tok.split(":")[0]
            assert (ROOT / path).exists(), path


# ---- the sample output ("What the first command prints") -------------------------------------


def _sample_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What the first command prints", 1)[1]
    (block,) = re.findall(r"```\n(.+?)\n```", section, flags=re.S)[:1]
    return block.splitlines()


def _matches(pattern: str, line: str) -> bool:
    """Whether ``line`` is ``pattern``, where each ``...`` in it stands for any text."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("..."))), line) is not None


def test_the_sample_matcher():
    assert _matches("a ... b", "a x y b") and _matches("a ...", "a ") and _matches("a", "a")
    assert not _matches("a ... b", "a x c") and not _matches("a", "ab")


def test_the_sample_output_is_what_the_first_command_prints(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from imcc.cli import cli

    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    printed = []
    for part in _commands()[0].split("&&"):
        args = shlex.split(part)
        if args[0] == "imcc":
            r = CliRunner().invoke(cli, args[1:])
            assert r.exit_code == 0, r.output
            printed += r.stdout.splitlines()
    want = _sample_block()
    bad = [(i, w, p) for i, (w, p) in enumerate(zip(want, printed)) if not _matches(w, p)]
    assert not bad and len(printed) == len(want), (bad[:3], len(printed), len(want))
