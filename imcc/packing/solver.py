"""``pack``: the packer's entry point. It reads top to bottom as the stages it runs.

1. Validate, and compute the lower bounds (the search stops as soon as it meets them).
2. Give every rect that cannot share a bin with any other rect its own bin: full-array tiles
   and their like need no search.
3. Build complete packings with the constructive heuristics (every sort key and score, then
   seeded random perturbations) and keep the best: fewest bins, then the most uneven loads
   (a nearly empty bin is the easiest to remove).
4. On small instances, ask CP-SAT for one bin fewer on the whole instance: it finds that
   packing or proves that none exists (then the answer is optimal).
5. When the rects fill the bound's bins almost fully (a puzzle with little room for waste),
   search the packings into exactly that many bins (:mod:`imcc.packing.perfect`).
6. Remove bins with the pool search (:mod:`imcc.packing.improve`), CP-SAT repacking a few bins
   at a time: large problems are decomposed into small models instead of one giant one.
7. On small instances still above the bound, the rest of the budget goes to CP-SAT again.
8. Under the ``efficiency`` priority, spread each group over the bins (fewer of its rects
   per bin means fewer read steps), keeping the number of bins.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from imcc.packing import cpsat
from imcc.packing.bounds import instance_bounds
from imcc.packing.construct import (
    SORT_KEYS,
    Layout,
    fill_bins,
    first_fit,
    global_best_fit,
    noisy_order,
    order,
)
from imcc.packing.effort import Effort
from imcc.packing.improve import PoolSearch
from imcc.packing.maxrects import SCORERS
from imcc.packing.oracle import BinOracle
from imcc.packing.perfect import budget_share, perfect_search
from imcc.packing.problem import Instance, PackResult, Placement, Rect, make_instance
from imcc.packing.spread import spread

EXACT_MAX_ITEMS = 40         # whole-instance CP-SAT only below this many (non-lonely) rects
GLOBAL_FIT_MAX_ITEMS = 400   # the all-bins best-fit builder is quadratic; skip it above this
FILL_TRIALS = 30             # seeded fills tried per bin by the bin-at-a-time builder
FILL_UNITS = 4               # effort per kind left and bin of a hurried bin-at-a-time fill


def pack(rects: Sequence[Rect], bin_w: int, bin_h: int, *, priority: str = "resource",
         time_limit: float = 10.0, seed: int = 0, workers: int = 2, use_cpsat: bool = True,
         progress: Callable[[str], None] | None = None) -> PackResult:
    """Pack ``rects`` (never rotated) into as few ``bin_w x bin_h`` bins as the budget allows.

    ``time_limit`` is an effort budget in seconds (see :mod:`imcc.packing.effort`): the same
    rects, priority, seed and time limit always give the same placements, whatever the machine
    load and whatever ``workers``: every CP-SAT solve is CP-SAT's single-thread search (its
    multi-thread search is not deterministic, and its deterministic interleaved search gave
    other answers for other worker counts), so ``workers`` is accepted and changes nothing.
    ``use_cpsat=False`` runs the heuristics only. ``progress`` receives status lines.
    """
    t0 = time.perf_counter()
    rects = list(rects)
    inst = make_instance(rects, bin_w, bin_h, priority)
    say = progress or (lambda _msg: None)
    bounds = instance_bounds(inst)
    lower = max(bounds.values())
    effort = Effort(time_limit)
    rng = random.Random(seed)
    stats: dict[str, float] = {}

    # 2. rects that can share a bin with nothing else
    lonely = _lonely(inst)
    rest = [i for i in range(inst.n) if i not in lonely]
    own = [[(i, 0, 0)] for i in sorted(lonely)]
    need = max(0, lower - len(own))
    say(f"{inst.n} rects, {len(lonely)} alone in their bin, lower bound {lower}")

    # 3. constructive heuristics
    layout = _construct(inst, rest, need, effort, rng)
    say(f"heuristics: {len(layout) + len(own)} bins")
    status = "heuristic"

    # 4. small instances: whole-instance CP-SAT first, it often settles them at once
    proven = False
    small = use_cpsat and len(rest) <= EXACT_MAX_ITEMS
    if small and len(layout) > need:
        status = "feasible"
        layout, proven = _exact(inst, rest, layout, need, effort, effort.left * 3 // 10,
                                seed)
        say(f"CP-SAT: {len(layout) + len(own)} bins" + (" (proven optimal)" if proven else ""))

    # 5. nearly full bins: search the packings into exactly the bound's bins (CP-SAT: small)
    layout = layout if small else _near_perfect(inst, rest, layout, need, effort, seed, say)

    # 6. pool search
    oracle = BinOracle(inst, effort, cpsat_limit=0.05 if use_cpsat else 0.0, seed=seed)
    if len(layout) > need and not proven and not effort.exhausted:
        search = PoolSearch(inst, oracle, effort, rng, use_cpsat=use_cpsat, seed=seed)
        for b in layout:
            oracle.remember(b)
        budget = effort.left * 2 // 3 if small else effort.left
        bins = search.remove_bins([[i for i, _, _ in b] for b in layout], need,
                                  effort.spent + budget)
        if len(bins) < len(layout):
            layout = [oracle.pack(b) or [] for b in bins]
        stats.update(search.stats)
        say(f"local search: {len(layout) + len(own)} bins")
    if use_cpsat and (oracle.cpsat_calls or stats.get("repacks")):
        status = "feasible"

    # 7. small instances: the rest of the budget goes to CP-SAT again
    if small and len(layout) > need and not proven:
        layout, proven = _exact(inst, rest, layout, need, effort, effort.left, seed)
        say(f"CP-SAT: {len(layout) + len(own)} bins" + (" (proven optimal)" if proven else ""))
    if proven:
        bounds["cpsat"] = len(layout) + len(own)

    # 8. efficiency: spread each group over the bins it already has (secondary objective)
    layout = spread(inst, layout)

    full = own + layout
    lower = max(bounds.values())
    if len(full) == lower:
        status = "optimal"
    placements = _placements(rects, full)
    stats.update({"effort_units": effort.spent, "oracle_cpsat_calls": oracle.cpsat_calls})
    return PackResult(len(full), placements, lower, bounds, status,
                      time.perf_counter() - t0, stats)


def _near_perfect(inst: Instance, items: list[int], layout: Layout, need: int, effort: Effort,
                  seed: int, say: Callable[[str], None]) -> Layout:
    """``layout``, or a packing of ``items`` into ``need`` bins found within a share of the
    budget left (:func:`~imcc.packing.perfect.budget_share`: the fuller the bins, the larger),
    when it is above ``need`` and the rects nearly fill ``need`` bins."""
    share = budget_share(inst, items, need) if len(layout) > need else 0.0
    if share <= 0:
        return layout
    lay = perfect_search(inst, items, need, effort, effort.spent + int(effort.left * share),
                         seed)
    say(f"near-perfect fill: {'found' if lay else 'none'} in {need} bins (besides the lonely)")
    return layout if lay is None else lay


def _exact(inst: Instance, items: list[int], layout: Layout, need: int, effort: Effort,
           units: int, seed: int) -> tuple[Layout, bool]:
    """Ask CP-SAT for one bin fewer, repeatedly, within ``units`` of effort.

    Returns the best layout and whether it is proven minimal (CP-SAT found one bin fewer
    infeasible)."""
    stop_at = effort.spent + units
    while len(layout) > need and effort.spent < stop_at:
        det = effort.det_seconds(stop_at - effort.spent)
        res = cpsat.solve(inst, items, len(layout) - 1, det_limit=det, seed=seed)
        effort.charge_cpsat(res.det_time, res.literals)
        if res.status == "infeasible":
            return layout, True
        if not res.spots:
            break
        fewer: Layout = [[] for _ in range(len(layout) - 1)]
        for i, b, x, y in res.spots:
            fewer[b].append((i, x, y))
        layout = [b for b in fewer if b]
    return layout, False


def _lonely(inst: Instance) -> set[int]:
    """Items that fit with no other item (each needs a bin of its own).

    Item ``a`` has a partner when another item is at most ``H - h_a`` tall (they stack) or at
    most ``W - w_a`` wide and free to share its rows (side by side). The shortest two items,
    and the narrowest two free items and narrowest items of the two narrowest groups, decide
    it for every item: linear, where comparing all pairs of kinds was quadratic."""
    W, H = inst.bin_w, inst.bin_h
    n = inst.n
    low = sorted(range(n), key=lambda i: (inst.hs[i], i))[:2]
    free: list[int] = []             # the narrowest two items that share rows with anyone
    narrowest: dict[int, int] = {}   # per group, its narrowest item
    for i in range(n):
        if inst.rows_disjoint and inst.groups[i] >= 0:
            g = inst.groups[i]
            if g not in narrowest or inst.ws[i] < inst.ws[narrowest[g]]:
                narrowest[g] = i
        else:
            free = sorted(free + [i], key=lambda j: (inst.ws[j], j))[:2]
    by_group = sorted(narrowest.values(), key=lambda j: (inst.ws[j], j))[:2]
    out: set[int] = set()
    for a in range(n):
        if any(j != a and inst.hs[a] + inst.hs[j] <= H for j in low):
            continue
        if any(j != a and inst.ws[a] + inst.ws[j] <= W and not inst.conflict(a, j)
               for j in free + by_group):
            continue
        out.add(a)
    return out


def _score(inst: Instance, layout: Layout) -> tuple[int, int]:
    loads = [sum(inst.ws[i] * inst.hs[i] for i, _, _ in b) for b in layout]
    return (len(layout), -sum(v * v for v in loads))


def _construct(inst: Instance, items: list[int], need: int, effort: Effort,
               rng: random.Random) -> Layout:
    """Best layout over the builders within a fifth of the budget (the first always runs).

    First fit by decreasing area (near-linear, so even 100,000 distinct rects get a packing),
    then bin-at-a-time fills, then the other sort keys and scores, then seeded perturbations;
    stops early at ``need`` bins (the lower bound). A build still running at twice that
    effort gives up, and a bin-at-a-time fill that would cost more than the fifth (it looks
    at every kind left per bin) is never started."""
    if not items:
        return []
    stop_at = effort.limit // 5
    abort_at = 2 * stop_at
    kinds = len({inst.key(i) for i in items})

    def ordered(key: str) -> list[int]:
        return order(inst, key, items)

    def fill() -> Layout | None:
        if FILL_UNITS * kinds * max(need, 1) > stop_at:
            return None
        return fill_bins(inst, items, rng, FILL_TRIALS, effort, stop_at, abort_at)

    rules = [(first_fit, key, sc) for sc in SCORERS for key in SORT_KEYS]
    if len(items) <= GLOBAL_FIT_MAX_ITEMS:
        rules += [(global_best_fit, key, sc) for sc in ("bssf", "baf", "contact")
                  for key in SORT_KEYS]
    best = first_fit(inst, ordered("area"), "bssf", effort)
    builds = [fill] + [lambda r=r: r[0](inst, ordered(r[1]), r[2], effort, abort_at)
                       for r in rules[1:]]
    for build in builds:
        if len(best) <= need or effort.spent >= stop_at:
            return best
        lay = build()
        if lay is not None and _score(inst, lay) < _score(inst, best):
            best = lay
    rounds = 0
    while effort.spent < stop_at and len(best) > need:
        rounds += 1
        if rounds % 2:
            lay = fill()
            if lay is None:
                continue
        else:
            build, key, sc = rng.choice(rules)
            lay = build(inst, noisy_order(inst, key, rng, 0.3, items), sc, effort, abort_at)
        if lay is not None and _score(inst, lay) < _score(inst, best):
            best = lay
    return best


def _placements(rects: list[Rect], layout: Layout) -> tuple[Placement, ...]:
    where: dict[int, tuple[int, int, int]] = {}
    for b, content in enumerate(layout):
        for i, x, y in content:
            where[i] = (b, x, y)
    return tuple(Placement(r.id, *where[k]) for k, r in enumerate(rects))
