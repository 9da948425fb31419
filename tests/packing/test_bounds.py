"""Lower bounds: hand-checked values, the dual-feasible property checked by dynamic
programming, and never above the brute-force optimum."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imcc.packing import Rect, lower_bounds
from imcc.packing.bounds import dff_table, l2_bound
from tests.packing.brute import min_bins


def test_l2_by_hand():
    assert l2_bound([6, 6, 6, 4, 4, 4], 10) == 3       # three 6+4 bins
    assert l2_bound([6, 6, 6, 6], 10) == 4             # nothing pairs with a 6 but a 4
    assert l2_bound([5, 5, 5, 5], 10) == 2
    assert l2_bound([7, 7, 3, 3, 3], 10) == 3          # area says 3 too: 23/10
    assert l2_bound([8, 8, 3, 3], 10) == 3             # area says 3 (22/10); the 3s cannot
    assert l2_bound([8, 8, 8, 3, 3], 10) == 4          # join an 8: L2 sees it, area (30) not


def test_named_bounds_by_hand():
    five = [Rect(i, 6, 6) for i in range(5)]
    b = lower_bounds(five, 10, 10)
    assert b["area"] == 2 and b["large_items"] == 5 and b["incompatible"] == 5
    # wide rects stack: three 6x4 rects (w > W/2) need 2 bins of height 10, area says 1
    wide = [Rect(i, 6, 4) for i in range(3)]
    b = lower_bounds(wide, 10, 10)
    assert b["area"] == 1 and b["large_items"] == 2
    # under the row rule, one group's rects stack even when narrow
    rows = [Rect(i, 2, 6, "g") for i in range(3)]
    assert lower_bounds(rows, 10, 10, priority="efficiency")["rows"] == 3
    assert "rows" not in lower_bounds(rows, 10, 10)
    # three full-height rects of one group each need a bin under the row rule, and two
    # full-width rects fit beside none of them: 3 + 1 bins, though the area says 2
    mixed = [Rect(i, 1, 4, "a") for i in range(3)] + [Rect(9 + i, 4, 2) for i in range(2)]
    b = lower_bounds(mixed, 4, 4, priority="efficiency")
    assert b["area"] == 2 and b["incompatible"] == 4
    assert min_bins([(1, 4, 0)] * 3 + [(4, 2, -1)] * 2, 4, 4, rows_rule=True) == 4
    assert lower_bounds([], 10, 10) == {"area": 0, "large_items": 0, "incompatible": 0,
                                        "dff": 0}


def _knapsack_max(values: list[int], cap: int) -> int:
    """Max total value of a multiset of sizes 1..cap with total size <= cap."""
    best = [0] * (cap + 1)
    for c in range(1, cap + 1):
        best[c] = max([best[c - 1]] + [best[c - s] + values[s - 1] for s in range(1, c + 1)])
    return best[cap]


def test_every_dff_is_dual_feasible():
    for cap in range(2, 25):
        table, fcap = dff_table(cap, list(range(1, cap + 1)))
        for row, top in zip(table, fcap):
            assert np.all(row >= 0)
            assert _knapsack_max([int(v) for v in row], cap) <= top, (cap, row, top)


small = st.integers(3, 6).flatmap(lambda W: st.integers(3, 6).flatmap(lambda H: st.tuples(
    st.just(W), st.just(H),
    st.lists(st.tuples(st.integers(1, W), st.integers(1, H), st.sampled_from([None, "a", "b"])),
             min_size=1, max_size=7))))


@settings(max_examples=60, deadline=None)
@given(small)
def test_bounds_never_above_optimum(case):
    W, H, items = case
    rects = [Rect(i, w, h, g) for i, (w, h, g) in enumerate(items)]
    plain = [(w, h, -1 if g is None else ord(g)) for w, h, g in items]
    opt = min_bins(plain, W, H, rows_rule=False)
    assert max(lower_bounds(rects, W, H).values()) <= opt
    opt_eff = min_bins(plain, W, H, rows_rule=True)
    assert max(lower_bounds(rects, W, H, priority="efficiency").values()) <= opt_eff
