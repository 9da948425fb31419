"""docs/frontend.md stays in step with the code: passes, builders, categories (the operator
table: tests/frontend/test_opdefs.py)."""

from __future__ import annotations

import re
from pathlib import Path

from imcc.models import MODELS
from imcc.partition import CATEGORIES
from imcc.passes import PASSES, pipeline

DOC = (Path(__file__).resolve().parents[2] / "docs" / "frontend.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    nxt = DOC.find("\n#", start + len(title))
    return DOC[start: nxt if nxt > 0 else None]


def test_passes_documented_in_order():
    table = _section("## Canonicalization")
    names = re.findall(r"^\| `([a-z0-9-]+)` \|", table, flags=re.M)
    assert names == [p.name for p in pipeline()]
    assert set(names) == set(PASSES)


def test_builders_and_categories_documented():
    for name in MODELS:
        assert f"`{name}`" in DOC, name
    assert all(f'"{c}"' in DOC for c in CATEGORIES)
