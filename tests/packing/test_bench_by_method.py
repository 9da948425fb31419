"""benchmarks/bench_packing.py's comparison with each published method: per method, the sum of
our bins and of the method's bins over the complete groups the benchmark file gives it a value
for, and the groups where we take fewer or more; checked on hand-made groups."""

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "bench_packing", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_packing.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def test_each_method_is_compared_on_the_complete_groups_it_reports():
    rows = {"cl01_020": {"instances": 10, "bins": 71},
            "cl03_080": {"instances": 10, "bins": 191},
            "cl04_060": {"instances": 10, "bins": 25},
            "cl05_020": {"instances": 3, "bins": 20}}  # incomplete: left out
    best = {"cl01_020": {"A": 71, "B": 72, "best_sum": 71},
            "cl03_080": {"A": 189, "B": 190, "best_sum": 189},
            "cl04_060": {"A": 25, "B": 23, "exact": 25, "best_sum": 23},
            "cl05_020": {"A": 1, "B": 1, "best_sum": 1}}
    lines = bench._by_method(rows, best).splitlines()
    # A: 71 + 191 + 25 = 287 against 71 + 189 + 25 = 285, more in cl03_080 only.
    # B: 287 against 72 + 190 + 23 = 285, fewer in cl01_020, more in cl03_080 and cl04_060.
    # exact: one group, 25 against 25.
    assert lines[1:] == [
        "  A            3 groups: ours 287, theirs 285 (+2); fewer in 0, more in 1",
        "  B            3 groups: ours 287, theirs 285 (+2); fewer in 1, more in 2",
        "  exact        1 groups: ours 25, theirs 25 (+0); fewer in 0, more in 0"]
