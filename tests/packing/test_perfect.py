"""The near-perfect search (imcc.packing.perfect): its decoder's layouts are valid (independent
grid painter) and its waste is the bins' empty cells; it finds the k-bin packing of rects cut
from k full bins; it is deterministic; it stays off the row rule."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imcc.packing import Rect
from imcc.packing.effort import Effort
from imcc.packing.perfect import budget_share, perfect_search, skyline_fill, worth_trying
from imcc.packing.problem import make_instance
from tests.packing.brute import paint


def _cut(W, H, k, pieces, rng):
    """Rects from cutting each of ``k`` W x H bins by random guillotine cuts (a known perfect
    packing into k bins), shuffled."""
    out = []
    for _ in range(k):
        parts = [(W, H)]
        while len(parts) < pieces:
            parts.sort(key=lambda p: -p[0] * p[1])
            w, h = parts.pop(0)
            if w == 1 and h == 1:
                parts.append((w, h))
                break
            if (w >= h and w > 1) or h == 1:
                c = rng.randint(1, w - 1)
                parts += [(c, h), (w - c, h)]
            else:
                c = rng.randint(1, h - 1)
                parts += [(w, c), (w, h - c)]
        out += parts
    rng.shuffle(out)
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 12), st.integers(4, 12), st.integers(1, 3),
       st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12)), min_size=1, max_size=14),
       st.sampled_from(["order", "first", "flat", "tail"]), st.randoms(use_true_random=False))
def test_decoder_places_validly_and_counts_waste(W, H, k, sizes, rule, rnd):
    sizes = [(min(w, W), min(h, H)) for w, h in sizes]
    inst = make_instance([Rect(i, w, h) for i, (w, h) in enumerate(sizes)], W, H, "resource")
    order = list(range(len(sizes)))
    rnd.shuffle(order)
    waste, layout, _ = skyline_fill(inst, order, k, rule, k * W * H)
    assert layout is not None and len(layout) == k
    placed = [(i, b, x, y) for b, content in enumerate(layout) for i, x, y in content]
    assert len({i for i, _, _, _ in placed}) == len(placed)
    items = [(sizes[i][0], sizes[i][1], -1) for i, _, _, _ in placed]
    assert paint(items, [(b, x, y) for _, b, x, y in placed], W, H, rows_rule=False) == []
    area = sum(sizes[i][0] * sizes[i][1] for i, _, _, _ in placed)
    assert waste == k * W * H - area
    # a lower limit stops the decode once passed, never before
    cut, lay, _ = skyline_fill(inst, order, k, rule, waste - 1)
    assert lay is None and cut > waste - 1


@pytest.mark.parametrize("seed", range(4))
def test_finds_the_perfect_packing_of_cut_bins(seed):
    rng = random.Random(seed)
    W, H, k = 40, 30, 2
    sizes = _cut(W, H, k, 9, rng)
    rects = [Rect(i, w, h) for i, (w, h) in enumerate(sizes)]
    inst = make_instance(rects, W, H, "resource")
    items = list(range(inst.n))
    assert worth_trying(inst, items, k)
    effort = Effort(5.0)
    layout = perfect_search(inst, items, k, effort, effort.limit, seed=seed)
    assert layout is not None and len(layout) == k
    where = {i: (b, x, y) for b, content in enumerate(layout) for i, x, y in content}
    assert sorted(where) == items
    assert paint([(w, h, -1) for w, h in sizes], [where[i] for i in items], W, H,
                 rows_rule=False) == []
    again = perfect_search(inst, items, k, Effort(5.0), effort.limit, seed=seed)
    assert again == layout


def test_gives_up_within_budget_when_the_area_does_not_fit():
    inst = make_instance([Rect(i, 6, 6) for i in range(3)], 10, 10, "resource")
    effort = Effort(1.0)
    assert perfect_search(inst, [0, 1, 2], 1, effort, effort.limit) is None
    assert not worth_trying(inst, [0, 1, 2], 1)          # 108 cells in a 100-cell bin
    # two 6x6 and a 6x4 fill 96 % of one bin, yet no two of them sit side by side
    inst = make_instance([Rect(0, 6, 6), Rect(1, 6, 6), Rect(2, 4, 6)], 10, 10, "resource")
    effort = Effort(0.2)
    assert perfect_search(inst, [0, 1, 2], 1, effort, effort.limit) is None
    assert effort.spent >= effort.limit


def test_not_under_the_row_rule_with_groups():
    rects = [Rect(0, 5, 10, "a"), Rect(1, 5, 10, "a")]
    assert worth_trying(make_instance(rects, 10, 10, "resource"), [0, 1], 1)
    assert not worth_trying(make_instance(rects, 10, 10, "efficiency"), [0, 1], 1)


@pytest.mark.parametrize("seed", [0, 3])
def test_finds_two_bins_of_cut_rects_with_some_taken_away(seed):
    # 2 x 16 rects cut from two 100x100 bins, the smallest taken away up to 300 cells (98.5 %
    # full, like the bpp2d puzzles); the search packs the rest into 2 bins
    rng = random.Random(seed)
    sizes = sorted(_cut(100, 100, 2, 16, rng), key=lambda s: s[0] * s[1])
    removed = 0
    while removed + sizes[0][0] * sizes[0][1] <= 300:
        removed += sizes[0][0] * sizes[0][1]
        sizes.pop(0)
    rects = [Rect(i, w, h) for i, (w, h) in enumerate(sizes)]
    inst = make_instance(rects, 100, 100, "resource")
    items = list(range(inst.n))
    assert worth_trying(inst, items, 2)
    effort = Effort(2.0)
    layout = perfect_search(inst, items, 2, effort, effort.limit, seed=0)
    assert layout is not None and len(layout) == 2
    where = {i: (b, x, y) for b, content in enumerate(layout) for i, x, y in content}
    assert sorted(where) == items
    assert paint([(w, h, -1) for w, h in sizes], [where[i] for i in items], 100, 100,
                 rows_rule=False) == []


def test_worth_trying_only_when_nearly_full_and_few():
    # two rects filling 91 to 100 of the 100 cells of a 100x1 bin: 92 % is enough, and from
    # 96 % on the search gets half of the budget left instead of a quarter
    for cells, share in {91: 0.0, 92: 0.25, 95: 0.25, 96: 0.5, 100: 0.5}.items():
        inst = make_instance([Rect(0, 50, 1), Rect(1, cells - 50, 1)], 100, 1, "resource")
        assert worth_trying(inst, [0, 1], 1) is (share > 0)
        assert budget_share(inst, [0, 1], 1) == share
    many = make_instance([Rect(i, 1, 1) for i in range(301)], 301, 1, "resource")
    assert worth_trying(many, list(range(300)), 1) is True    # 300 rects, 99.7 % full
    assert worth_trying(many, list(range(301)), 1) is False   # 301 rects: too many
