"""Tests marked ``slow`` (full-size models) run only when asked for: ``pytest -m slow``.

Without a ``-m`` expression that names ``slow``, they are skipped, so ``pytest -q`` (what CI
runs) stays fast; the CI-size tests in this folder are not marked and always run.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="full-size model: run with pytest -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)
