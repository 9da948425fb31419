"""The reference packers the benchmarks compare against are valid packings."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcc.packing import Rect
from imcc.packing.baselines import finite_first_fit, one_per_bin, skyline
from tests.packing.brute import min_bins, paint

small = st.integers(3, 8).flatmap(lambda W: st.integers(3, 8).flatmap(lambda H: st.tuples(
    st.just(W), st.just(H),
    st.lists(st.tuples(st.integers(1, W), st.integers(1, H)), min_size=1, max_size=7))))


@settings(max_examples=40, deadline=None)
@given(small, st.sampled_from([one_per_bin, skyline, finite_first_fit]))
def test_baselines_are_valid(case, packer):
    W, H, items = case
    rects = [Rect(i, w, h) for i, (w, h) in enumerate(items)]
    n, placements = packer(rects, W, H)
    assert [p.id for p in placements] == [r.id for r in rects]
    assert paint([(w, h, -1) for w, h in items], [(p.bin, p.x, p.y) for p in placements],
                 W, H, rows_rule=False) == []
    assert {p.bin for p in placements} == set(range(n))
    assert n >= min_bins([(w, h, -1) for w, h in items], W, H, rows_rule=False)


def test_finite_first_fit_by_hand():
    # by height: a (6), b (4), c (4), d (3). Level 0 (height 6) takes a and b side by side
    # and is then full; c opens level 1 at y = 6, which it fills; the bin's height is used up
    # (6 + 4), so d opens a second bin
    rects = [Rect("a", 6, 6), Rect("b", 4, 4), Rect("c", 10, 4), Rect("d", 6, 3)]
    n, pl = finite_first_fit(rects, 10, 10)
    where = {p.id: (p.bin, p.x, p.y) for p in pl}
    assert n == 2
    assert where["a"] == (0, 0, 0) and where["b"] == (0, 6, 0)
    assert where["c"] == (0, 0, 6) and where["d"] == (1, 0, 0)


def test_skyline_by_hand():
    rects = [Rect("a", 6, 6), Rect("b", 4, 4), Rect("c", 4, 2)]
    n, pl = skyline(rects, 10, 10)
    where = {p.id: (p.bin, p.x, p.y) for p in pl}
    assert n == 1 and where == {"a": (0, 0, 0), "b": (0, 6, 0), "c": (0, 6, 4)}


def test_one_per_bin_rejects_oversized():
    from isa.diagnostics import ConfigError
    with pytest.raises(ConfigError):
        one_per_bin([Rect(0, 11, 1)], 10, 10)
