"""Constructive heuristics: build a complete packing quickly.

A *layout* is a list of bins; each bin is a list of ``(item, x, y)``. Three builders:

* :func:`first_fit`: items in a given order, each into the first open bin where it fits
  (MaxRects positions, scored by one of :data:`maxrects.SCORERS`), else into a new bin.
* :func:`global_best_fit`: items in order, each at the best-scoring position over all open bins.

* :func:`fill_bins`: one bin at a time, the best of several seeded fills of that bin.

:func:`order` gives the classic sort keys, and :func:`noisy_order` a seeded perturbation of one.
"""

from __future__ import annotations

import random
from collections import Counter

from imcc.packing.effort import Effort
from imcc.packing.fitindex import FitIndex
from imcc.packing.maxrects import BinSpace
from imcc.packing.problem import Instance

Layout = list[list[tuple[int, int, int]]]

SORT_KEYS = ("area", "height", "width", "perimeter", "maxside")
STAIR_UNITS = 2  # units per node of the fit index looked at or updated
SCAN_MAX_ITEMS = 1000  # first fit scans the bins up to this many items, uses the index above


def sort_key(inst: Instance, how: str, i: int) -> tuple:
    """Decreasing-order key of item ``i`` under rule ``how`` (ties broken by the other side)."""
    w, h = inst.ws[i], inst.hs[i]
    # relative sizes, so that a tall thin rect and a wide flat one compare fairly
    rw, rh = w / inst.bin_w, h / inst.bin_h
    if how == "area":
        k = (w * h, rh, rw)
    elif how == "height":
        k = (h, w)
    elif how == "width":
        k = (w, h)
    elif how == "perimeter":
        k = (rw + rh, rw * rh)
    else:
        k = (max(rw, rh), rw * rh)
    return tuple(-v for v in k) + (i,)


def order(inst: Instance, how: str, items: list[int] | None = None) -> list[int]:
    """``items`` (default: all) sorted by decreasing ``how`` (one of :data:`SORT_KEYS`)."""
    return sorted(range(inst.n) if items is None else items,
                  key=lambda i: sort_key(inst, how, i))


def noisy_order(inst: Instance, how: str, rng: random.Random, noise: float,
                items: list[int] | None = None) -> list[int]:
    """``order(inst, how, items)`` with each item's primary key scaled by a seeded factor
    (one draw per item of the instance, whatever ``items``: the same draws either way)."""
    draws = [rng.random() for _ in range(inst.n)]
    keys = {}
    for i in range(inst.n) if items is None else items:
        k = sort_key(inst, how, i)
        keys[i] = (k[0] * (1.0 + noise * draws[i]),) + k[1:]
    return sorted(keys, key=keys.__getitem__)


def first_fit(inst: Instance, items: list[int], scorer: str = "bssf",
              effort: Effort | None = None, abort_at: int | None = None) -> Layout | None:
    """Each item into the first open bin where it fits, at that bin's best-scoring spot.

    Bins only fill up, so a kind of rect that did not fit in bin ``k`` never will: each kind
    remembers where to start looking, which keeps thousands of equal tiles fast; a
    :class:`~imcc.packing.fitindex.FitIndex` skips the bins without room, which keeps
    thousands of distinct rects fast (near-linear instead of items x bins). None when
    ``effort`` reaches ``abort_at`` before the end.
    """
    if len(items) <= SCAN_MAX_ITEMS:
        return _scan_first_fit(inst, items, scorer, effort)
    spaces: list[BinSpace] = []
    index = FitIndex(inst.bin_w)
    start: dict[tuple[int, int, int], int] = {}
    work = [0]  # elementary steps, charged as they happen

    def fits(k: int) -> bool:
        s = spaces[k]
        before = s.ops
        b = s.best(scorer, w, h, g)
        work[0] += s.ops - before
        if b is not None:
            spot[:] = b[1:]
        return b is not None

    for n, i in enumerate(items):
        w, h, g = inst.ws[i], inst.hs[i], _group(inst, i)
        kind = inst.key(i)
        spot = [0, 0]
        visits = index.visits
        k = index.first(start.get(kind, 0), w, h, fits)
        if k < 0:
            spaces.append(BinSpace(inst.bin_w, inst.bin_h))
            k = len(spaces) - 1
            index.append([])
            spot = [0, 0]
        s = spaces[k]
        before = s.ops
        s.place(i, spot[0], spot[1], w, h, g)
        index.update(k, s.free)
        work[0] += s.ops - before + len(s.free) + STAIR_UNITS * (index.visits - visits + 16)
        start[kind] = k
        if effort is not None and (n & 63 == 63 or n == len(items) - 1):
            effort.charge(work[0])
            work[0] = 0
            if abort_at is not None and effort.spent >= abort_at and n < len(items) - 1:
                return None
    return _layout(spaces)


def _scan_first_fit(inst: Instance, items: list[int], scorer: str,
                    effort: Effort | None) -> Layout:
    """:func:`first_fit` by scanning the open bins in order (small instances: the index does
    not pay there, and the scan's effort is the one the search was tuned with)."""
    spaces: list[BinSpace] = []
    cap = inst.bin_w * inst.bin_h
    start: dict[tuple[int, int, int], int] = {}
    steps = 0
    for i in items:
        w, h, g = inst.ws[i], inst.hs[i], _group(inst, i)
        kind = inst.key(i)
        k = start.get(kind, 0)
        while k < len(spaces):
            s = spaces[k]
            steps += 1
            if cap - s.used_area >= w * h:
                b = s.best(scorer, w, h, g)
                if b is not None:
                    s.place(i, b[1], b[2], w, h, g)
                    break
            k += 1
        else:
            s = BinSpace(inst.bin_w, inst.bin_h)
            s.place(i, 0, 0, w, h, g)
            spaces.append(s)
            k = len(spaces) - 1
        start[kind] = k
    _charge(effort, spaces, steps)
    return _layout(spaces)


def global_best_fit(inst: Instance, items: list[int], scorer: str = "contact",
                    effort: Effort | None = None, abort_at: int | None = None) -> Layout:
    """Each item at the best-scoring position over all open bins (fullest bin on ties).

    Quadratic, so only for small instances; ``abort_at`` is accepted for the builders' common
    signature and not used."""
    spaces: list[BinSpace] = []
    cap = inst.bin_w * inst.bin_h
    for i in items:
        w, h, g = inst.ws[i], inst.hs[i], _group(inst, i)
        best = None
        for k, s in enumerate(spaces):
            if cap - s.used_area < w * h:
                continue
            b = s.best(scorer, w, h, g)
            if b is not None:
                cand = (b[0], cap - s.used_area, k, b[1], b[2])
                if best is None or cand < best:
                    best = cand
        if best is None:
            s = BinSpace(inst.bin_w, inst.bin_h)
            s.place(i, 0, 0, w, h, g)
            spaces.append(s)
        else:
            spaces[best[2]].place(i, best[3], best[4], w, h, g)
    _charge(effort, spaces, len(items) * len(spaces))
    return _layout(spaces)


def fill_bins(inst: Instance, items: list[int], rng: random.Random, trials: int,
              effort: Effort | None = None, stop_at: int | None = None,
              abort_at: int | None = None) -> Layout | None:
    """One bin at a time: ``trials`` seeded first-fit fills of the bin from all remaining
    items (random sort key, score and perturbation; the first trial unperturbed by area), and
    the fill that covers the most area is kept. Strong when many small rects share a bin.

    Works on kinds of equal rects (a fill takes as many copies of a kind as fit), so thousands
    of equal tiles cost no more than one. Once ``effort`` reaches ``stop_at``, each further bin
    gets the first trial only; at ``abort_at`` the fill gives up (None): each bin looks at every
    kind left, so with thousands of distinct rects the whole fill is quadratic."""
    left: dict[tuple[int, int, int], list[int]] = {}
    for i in sorted(items, key=lambda i: sort_key(inst, "area", i)):
        left.setdefault(inst.key(i), []).append(i)
    rep = {k: v[0] for k, v in left.items()}  # a representative item of each kind
    head = dict.fromkeys(left, 0)               # left[k][head[k]:] are still to place
    spaces: list[BinSpace] = []
    cap = inst.bin_w * inst.bin_h
    while left:
        if effort is not None and abort_at is not None and effort.spent >= abort_at:
            return None
        best = None
        hurry = effort is not None and stop_at is not None and effort.spent >= stop_at
        for t in range(1 if hurry else max(1, trials)):
            how = "area" if t == 0 else rng.choice(SORT_KEYS)
            scorer = "bssf" if t == 0 else rng.choice(("bssf", "baf", "bl", "contact"))
            keys = {k: sort_key(inst, how, rep[k]) for k in left}
            if t > 0:
                keys = {k: (v[0] * (1.0 + 0.5 * rng.random()),) + v[1:] for k, v in keys.items()}
            s = BinSpace(inst.bin_w, inst.bin_h)
            for k in sorted(left, key=keys.__getitem__):
                w, h = k[0], k[1]
                g = _group(inst, rep[k])
                lst = left[k]
                for j in range(head[k], len(lst)):
                    i = lst[j]
                    if cap - s.used_area < w * h:
                        break
                    b = s.best(scorer, w, h, g)
                    if b is None:
                        break
                    s.place(i, b[1], b[2], w, h, g)
            if effort is not None:
                effort.charge(s.ops + 4 * len(left))
            if best is None or s.used_area > best.used_area:
                best = s
            if best.used_area == cap:
                break
        spaces.append(best)
        # a fill takes a prefix of each kind's list: move the kind's head past it
        for k, c in Counter(inst.key(p[0]) for p in best.placed).items():
            head[k] += c
            if head[k] == len(left[k]):
                del left[k]
    return _layout(spaces)


def _group(inst: Instance, i: int) -> int:
    return inst.groups[i] if inst.rows_disjoint else -1


def _charge(effort: Effort | None, spaces: list[BinSpace], steps: int) -> None:
    if effort is not None:
        effort.charge(steps + sum(s.ops for s in spaces))


def _layout(spaces: list[BinSpace]) -> Layout:
    return [[(item, x, y) for item, x, y, _, _ in s.placed] for s in spaces]

