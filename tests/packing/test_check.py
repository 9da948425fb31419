"""check_packing finds every kind of fault, and accepts valid packings."""

from imcc.packing import Placement, Rect, check_packing

RECTS = [Rect("a", 2, 2, "g"), Rect("b", 2, 2, "g"), Rect("c", 4, 2)]


def test_valid_packing_has_no_violations():
    ok = [Placement("a", 0, 0, 0), Placement("b", 0, 2, 2), Placement("c", 1, 0, 0)]
    assert check_packing(RECTS, 4, 4, ok) == []
    assert check_packing(RECTS, 4, 4, ok, bins_used=2) == []


def test_overlap_and_bounds():
    bad = [Placement("a", 0, 0, 0), Placement("b", 0, 1, 1), Placement("c", 0, 1, 3)]
    errs = check_packing(RECTS, 4, 4, bad)
    assert "rects 'a' and 'b' overlap in bin 0" in errs
    assert any("'c'" in e and "sticks out" in e for e in errs)


def test_missing_duplicate_unknown():
    errs = check_packing(RECTS, 4, 4, [Placement("a", 0, 0, 0), Placement("a", 1, 0, 0),
                                       Placement("z", 0, 0, 0)])
    assert "rect 'a' is placed more than once" in errs
    assert "placement of unknown rect 'z'" in errs
    assert "rect 'b' is not placed" in errs and "rect 'c' is not placed" in errs


def test_bin_numbers():
    errs = check_packing(RECTS[:1], 4, 4, [Placement("a", 3, 0, 0)], bins_used=2)
    assert errs == ["rect 'a' is in bin 3, outside 0..1"]
    assert check_packing(RECTS[:1], 4, 4, [Placement("a", -1, 0, 0)]) != []


def test_group_rows_only_under_efficiency():
    side_by_side = [Placement("a", 0, 0, 0), Placement("b", 0, 2, 1), Placement("c", 1, 0, 0)]
    assert check_packing(RECTS, 4, 4, side_by_side) == []
    errs = check_packing(RECTS, 4, 4, side_by_side, priority="efficiency")
    assert errs == ["rects 'a' and 'b' of group 'g' share rows in bin 0"]
    stacked = [Placement("a", 0, 0, 0), Placement("b", 0, 2, 2), Placement("c", 1, 0, 0)]
    assert check_packing(RECTS, 4, 4, stacked, priority="efficiency") == []


def test_touching_is_not_overlapping():
    rects = [Rect(i, 1, 1) for i in range(4)]
    grid = [Placement(i, 0, i % 2, i // 2) for i in range(4)]
    assert check_packing(rects, 2, 2, grid) == []
