"""docs/python.md and the docstrings of the Python interface (imcc/api.py and the modules it
is split into): every example runs (doctest), every public name is documented with an example,
and the page names every public name."""

import doctest
import inspect
import re
from pathlib import Path

import pytest

import imcc
import imcc.api
import imcc.api_checks
import imcc.api_program

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "python.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_page_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name the bundled samples by relative path
    res = doctest.testfile(str(DOC), module_relative=False, optionflags=FLAGS, verbose=False)
    assert res.failed == 0
    assert res.attempted >= 40


def _docstring_tests():
    finder = doctest.DocTestFinder()
    tests = finder.find(imcc.api, "imcc.api")
    tests += finder.find(imcc.api_program, "imcc.api_program")
    tests += finder.find(imcc.api_checks, "imcc.api_checks")
    tests += finder.find(imcc.Error, "imcc.Error")
    return [t for t in tests if t.examples]


@pytest.mark.parametrize("test", _docstring_tests(), ids=lambda t: t.name)
def test_docstring_examples_run(test, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def _public():
    """Every public name of imcc/api.py: its exports and their public members."""
    for name in imcc.api.__all__:
        obj = getattr(imcc.api, name)
        yield name, obj
        if inspect.isclass(obj) and obj is not imcc.Error:
            for member, value in vars(obj).items():
                if not member.startswith("_") and (callable(value)
                                                   or isinstance(value, property)):
                    yield f"{name}.{member}", value


@pytest.mark.parametrize("name, obj", list(_public()), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_every_public_name_has_a_docstring_with_an_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, name


def test_package_exports_the_api_lazily():
    import subprocess
    import sys

    code = ("import sys, imcc; assert 'imcc.api' not in sys.modules; "
            "assert 'numpy' not in sys.modules; "
            "assert imcc.compile is imcc.api.compile and imcc.Error.__name__ == "
            "'ToolchainError'; print(sorted(set(imcc.api.__all__) & set(dir(imcc))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(sorted(imcc.api.__all__))
    with pytest.raises(AttributeError, match="no attribute 'compiler_options'"):
        imcc.compiler_options  # noqa: B018


def test_page_names_every_public_name():
    text = DOC.read_text()
    for name, _ in _public():
        if "." in name:
            owner, member = name.split(".")
            assert re.search(rf"`{owner}\.{member}\b|`{member}`|\| `{member}` \|", text), name
        else:
            assert f"`imcc.{name}" in text, name


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    text = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.+?)\n```", text, flags=re.S)
    digits = tmp_path / "samples" / "digits"
    digits.mkdir(parents=True)
    for f in ("cnn.onnx", "test.npz"):
        (digits / f).write_bytes((ROOT / "samples" / "digits" / f).read_bytes())
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102
    assert scope["logits"].shape == (539, 10)
    assert capsys.readouterr().out.startswith("cost on chip 'ideal-int8' (539 runs):")
    assert imcc.load(tmp_path / "cnn.imo").to_bytes() == scope["prog"].to_bytes()
