"""Large inputs honour the effort budget: thousands of distinct rects (no two alike, so the
kinds of equal tiles do not help) cost work near-linear in their number, and ``pack`` spends
no more than its budget (plus the one first-fit build it always completes). Work is counted
in effort units, deterministic, so these tests time nothing."""

import random

from imcc.packing import Rect, check_packing, pack
from imcc.packing.construct import first_fit, order
from imcc.packing.effort import UNITS_PER_SECOND, Effort
from imcc.packing.problem import make_instance


def _distinct(n: int, seed: int = 1, side: int = 256) -> list[Rect]:
    rng = random.Random(seed)
    return [Rect(i, rng.randint(1, side), rng.randint(1, side)) for i in range(n)]


def _first_fit_units(n: int) -> int:
    inst = make_instance(_distinct(n), 256, 256, "resource")
    effort = Effort(1000.0)
    layout = first_fit(inst, order(inst, "area"), "bssf", effort)
    assert sorted(i for b in layout for i, _, _ in b) == list(range(n))
    return effort.spent


def test_first_fit_work_is_near_linear():
    # a scan of every open bin per rect would grow 16-fold from 1,500 to 6,000 rects
    # (bins grow with the rects); the fit index keeps it within a log factor of 4-fold
    small, large = _first_fit_units(1500), _first_fit_units(6000)
    assert large < 8 * small, (small, large)


def test_large_instance_stays_within_its_budget():
    rects = _distinct(3000)
    limit = 0.5
    res = pack(rects, 256, 256, time_limit=limit, workers=1)
    assert check_packing(rects, 256, 256, res.placements, bins_used=res.bins_used) == []
    spent = res.stats["effort_units"]
    assert 0.5 * limit * UNITS_PER_SECOND < spent <= 1.1 * limit * UNITS_PER_SECOND
    assert res.lower_bound <= res.bins_used <= 1.02 * res.lower_bound + 1


def test_ranked_candidates_match_a_stable_sort():
    from imcc.packing.improve import _ranked

    rng = random.Random(4)
    for big in (False, True):
        cands = []
        for k in range(400):
            scale = 1 << 70 if big else 1
            gain = (rng.randint(-3, 3) * scale, rng.randint(-2, 2))
            cands.append((gain, rng.choice([0.25, 0.5, 0.75]), k, (k,), ()))
        expect = sorted(cands, key=lambda c: (c[0], c[1]), reverse=True)
        assert _ranked(list(cands)) == expect


def test_lonely_rects_found_in_linear_time_match_all_pairs():
    # every pair of rects over half the bin in both sides clashes: the old all-pairs test
    # looked at every pair of kinds; the answer is checked against all pairs on small cases
    from imcc.packing.solver import _lonely

    rng = random.Random(2)
    for _ in range(300):
        W, H = rng.randint(2, 9), rng.randint(2, 9)
        rects = [Rect(i, rng.randint(1, W), rng.randint(1, H), rng.choice([None, "a", "b"]))
                 for i in range(rng.randint(1, 7))]
        for priority in ("resource", "efficiency"):
            inst = make_instance(rects, W, H, priority)
            pairs = {a for a in range(inst.n)
                     if not any(inst.hs[a] + inst.hs[b] <= H or (
                         inst.ws[a] + inst.ws[b] <= W and not inst.conflict(a, b))
                                for b in range(inst.n) if b != a)}
            assert _lonely(inst) == pairs
    big = _distinct(3000)
    big = [Rect(r.id, 128 + (r.w + 1) // 2, 128 + (r.h + 1) // 2) for r in big]
    res = pack(big, 256, 256, time_limit=0.5)
    assert res.bins_used == 3000 and res.stats["effort_units"] == 0
