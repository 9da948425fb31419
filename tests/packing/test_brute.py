"""The test oracles themselves, on cases worked out by hand."""

from tests.packing.brute import bin_feasible, min_bins, paint


def test_bin_feasible_by_hand():
    # four 2x2 squares tile a 4x4 bin exactly; a fifth does not fit
    assert bin_feasible([(2, 2, -1)] * 4, 4, 4, False)
    assert not bin_feasible([(2, 2, -1)] * 5, 4, 4, False)
    # area fits (8 <= 9) but two 2x2 squares cannot both sit in a 3x3 bin
    assert not bin_feasible([(2, 2, -1), (2, 2, -1)], 3, 3, False)
    # an exact fit: 3x1 along the bottom, 2x2 and 1x2 above it
    assert bin_feasible([(3, 1, -1), (1, 2, -1), (2, 2, -1)], 3, 3, False)


def test_row_rule_by_hand():
    # two 1x2 rects side by side fit a 2x2 bin, but not if they may not share rows
    assert bin_feasible([(1, 2, -1), (1, 2, -1)], 2, 2, True)
    assert bin_feasible([(1, 2, 0), (1, 2, 1)], 2, 2, True)
    assert not bin_feasible([(1, 2, 0), (1, 2, 0)], 2, 2, True)
    assert bin_feasible([(1, 1, 0), (1, 1, 0)], 2, 2, True)  # stacked


def test_min_bins_by_hand():
    assert min_bins([(2, 2, -1)] * 5, 4, 4, False) == 2
    assert min_bins([(3, 3, -1)] * 3, 4, 4, False) == 3
    assert min_bins([(1, 2, 0)] * 4, 2, 2, True) == 4
    assert min_bins([(1, 2, 0)] * 4, 2, 2, False) == 2


def test_paint_finds_faults():
    items = [(2, 2, 0), (2, 2, 0)]
    assert paint(items, [(0, 0, 0), (0, 2, 0)], 4, 4, False) == []
    assert paint(items, [(0, 0, 0), (0, 1, 1)], 4, 4, False) == ["cells covered twice"]
    assert paint(items, [(0, 0, 0), (0, 3, 0)], 4, 4, False) == ["item 1 out of its bin"]
    assert paint(items, [(0, 0, 0), (0, 2, 0)], 4, 4, True) == ["group rows shared"]
