"""docs/torch.md: every example runs (doctest), and the page names every public name of
imcc.torch."""

import doctest
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import imcc.torch as it  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "torch.md"


def test_page_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples read the bundled digits by relative path
    res = doctest.testfile(str(DOC), module_relative=False, verbose=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted >= 30


def test_page_names_every_public_name():
    text = DOC.read_text()
    for name in it.__all__:
        assert f"`{name}" in text or f"{name}`" in text or f"`{name}(" in text, name
