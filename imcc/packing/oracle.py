"""Can this set of items go into one bin? A cached answer with a layout.

:class:`BinOracle` first rules out sets that break a necessary condition (area; stacked heights
of rects wider than half the bin; stacked widths of rects taller than half; stacked heights of
one group under the row rule). Then it keeps a known layout of part of the set and places the
rest around it (when the caller gives one), repacks with MaxRects in several orders and scores
(eight fixed, then a few seeded random ones), and last, when the caller asks for it, tries
CP-SAT with a small deterministic limit. Answers are cached by the multiset of item kinds (equal
rects are interchangeable), so the cache holds layouts by kind and maps them back to item
numbers. The cache lives in the oracle object, which lives in one search.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from imcc.packing import cpsat
from imcc.packing.construct import SORT_KEYS, sort_key
from imcc.packing.effort import Effort
from imcc.packing.maxrects import SCORERS, BinSpace
from imcc.packing.problem import Instance

_TRIES = (("area", "bssf"), ("height", "bl"), ("area", "contact"), ("width", "bssf"),
          ("maxside", "contact"), ("perimeter", "bssf"), ("height", "contact"),
          ("width", "bl"))

Kind = tuple[int, int, int]
_UNKNOWN = object()            # cache miss
_HEURISTIC_FAILED = object()   # the heuristics failed; CP-SAT has not been asked yet


class BinOracle:
    """One-bin feasibility with a cache; ``cpsat_limit`` 0 disables the exact step."""

    def __init__(self, inst: Instance, effort: Effort, *, cpsat_limit: float = 0.05,
                 seed: int = 0, random_tries: int = 8):
        self.inst = inst
        self.rng = random.Random(seed)
        self.random_tries = random_tries
        self.effort = effort
        self.cpsat_limit = cpsat_limit
        self.seed = seed
        self.cache: dict[tuple[Kind, ...], object] = {}
        self.cpsat_calls = 0
        self.cpsat_proofs = 0

    def kinds(self, items: Sequence[int]) -> list[int]:
        """``items`` sorted by kind (the order layouts in the cache refer to)."""
        return sorted(items, key=lambda i: (self.inst.key(i), i))

    def pack(self, items: Sequence[int], *, exact: bool = False, scratch: bool = True,
             base: Sequence[tuple[int, int, int]] = ()) -> list[tuple[int, int, int]] | None:
        """Positions ``(item, x, y)`` of ``items`` in one bin, or None (not shown feasible).

        ``base`` gives known positions of some of ``items`` (a bin's current layout less what
        leaves it): the others are first tried in the free space around them, which keeps a
        tight layout that repacking from scratch might not find again. Then, if ``scratch``, the
        heuristics run from scratch, and CP-SAT only when ``exact`` and the oracle allows it.
        """
        inst = self.inst
        ordered = self.kinds(items)
        sig = tuple(inst.key(i) for i in ordered)
        pos = self.cache.get(sig, _UNKNOWN)
        if pos is _UNKNOWN and self._ruled_out(ordered):
            pos = None
            self.cache[sig] = pos
        if (pos is _UNKNOWN or pos is _HEURISTIC_FAILED) and base:
            found = self._around(base, [i for i in ordered if i not in {b[0] for b in base}])
            if found is not None:
                where = {i: (x, y) for i, x, y in found}
                pos = [where[i] for i in ordered]
                self.cache[sig] = pos
        if pos is _UNKNOWN and not scratch:
            return None
        if pos is _UNKNOWN:
            self.effort.charge(len(ordered))
            pos = self._heuristic(ordered)
            if pos is None:
                pos = _HEURISTIC_FAILED
            self.cache[sig] = pos
        if pos is _HEURISTIC_FAILED and exact and self.cpsat_limit > 0 \
                and self.effort.cpsat_seconds_left() >= self.cpsat_limit / 5:
            pos = self._exact(ordered)
            self.cache[sig] = pos
        if pos is None or pos is _HEURISTIC_FAILED:
            return None
        return [(i, x, y) for i, (x, y) in zip(ordered, pos)]

    def _around(self, base: Sequence[tuple[int, int, int]], extra: list[int]
                ) -> list[tuple[int, int, int]] | None:
        """Keep ``base`` where it is and place ``extra`` (largest first) in the space left."""
        inst = self.inst
        rows = inst.rows_disjoint
        for scorer in ("bssf", "contact"):
            s = BinSpace(inst.bin_w, inst.bin_h)
            for i, x, y in base:
                s.place(i, x, y, inst.ws[i], inst.hs[i], inst.groups[i] if rows else -1)
            ok = True
            for i in sorted(extra, key=lambda i: sort_key(inst, "area", i)):
                g = inst.groups[i] if rows else -1
                b = s.best(scorer, inst.ws[i], inst.hs[i], g)
                if b is None:
                    ok = False
                    break
                s.place(i, b[1], b[2], inst.ws[i], inst.hs[i], g)
            self.effort.charge(s.ops)
            if ok:
                return [(p[0], p[1], p[2]) for p in s.placed]
        return None

    def remember(self, positions: Sequence[tuple[int, int, int]]) -> None:
        """Record a layout ``(item, x, y)`` of one bin found elsewhere (e.g. by CP-SAT)."""
        where = {i: (x, y) for i, x, y in positions}
        ordered = self.kinds(list(where))
        self.cache[tuple(self.inst.key(i) for i in ordered)] = [where[i] for i in ordered]

    def _ruled_out(self, items: Sequence[int]) -> bool:
        inst = self.inst
        W, H = inst.bin_w, inst.bin_h
        if sum(inst.ws[i] * inst.hs[i] for i in items) > W * H:
            return True
        if sum(inst.hs[i] for i in items if 2 * inst.ws[i] > W) > H:
            return True
        if sum(inst.ws[i] for i in items if 2 * inst.hs[i] > H) > W:
            return True
        if inst.rows_disjoint:
            per: dict[int, int] = {}
            for i in items:
                if inst.groups[i] >= 0:
                    per[inst.groups[i]] = per.get(inst.groups[i], 0) + inst.hs[i]
            if any(v > H for v in per.values()):
                return True
        return False

    def _heuristic(self, items: Sequence[int]) -> list[tuple[int, int]] | None:
        inst = self.inst
        tries = [(sorted(items, key=lambda i: sort_key(inst, how, i)), scorer)
                 for how, scorer in _TRIES]
        for _ in range(self.random_tries):
            how = self.rng.choice(SORT_KEYS)
            keys = {i: (sort_key(inst, how, i)[0] * (1 + 0.5 * self.rng.random()), i)
                    for i in items}
            tries.append((sorted(items, key=keys.__getitem__), self.rng.choice(SCORERS)))
        for seq, scorer in tries:
            s = BinSpace(inst.bin_w, inst.bin_h)
            ok = True
            for i in seq:
                g = inst.groups[i] if inst.rows_disjoint else -1
                b = s.best(scorer, inst.ws[i], inst.hs[i], g)
                if b is None:
                    ok = False
                    break
                s.place(i, b[1], b[2], inst.ws[i], inst.hs[i], g)
            self.effort.charge(s.ops)
            if ok:
                where = {p[0]: (p[1], p[2]) for p in s.placed}
                return [where[i] for i in items]
        return None

    def _exact(self, items: Sequence[int]) -> list[tuple[int, int]] | None:
        self.cpsat_calls += 1
        # never past the budget: at most half of what is left of it
        det = min(self.cpsat_limit, self.effort.cpsat_seconds_left() / 2)
        res = cpsat.solve(self.inst, items, 1, det_limit=det, seed=self.seed)
        self.effort.charge_cpsat(res.det_time, res.literals)
        if res.status == "infeasible":
            self.cpsat_proofs += 1
        if not res.spots:
            return None
        where = {i: (x, y) for i, _, x, y in res.spots}
        return [where[i] for i in items]
