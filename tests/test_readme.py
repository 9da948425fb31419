"""The README starts with the two set-up commands; CI runs the second verbatim; the files the
first one names exist."""

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
    assert "pip install -e '.[test]'" in second and second.endswith("pytest -q")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci


def test_first_command_names_existing_files():
    first = _commands()[0]
    for tok in shlex.split(first.replace("&&", " ")):
        if tok.startswith("samples/"):
            path = tok.split(":")[0]
            assert (ROOT / path).exists(), path
