"""Tests marked ``fuzz`` (the long fuzz run) run only when asked for: ``pytest -m fuzz``.

Without a ``-m`` expression that names ``fuzz`` they are skipped, so ``pytest -q`` (what CI
runs) keeps to the bounded fuzzing of ``test_fuzz.py`` and the corpus."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "fuzz" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzz run: run with pytest -m fuzz")
    for item in items:
        if item.get_closest_marker("fuzz") is not None:
            item.add_marker(skip)
