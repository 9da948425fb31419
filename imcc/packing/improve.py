"""Local search that removes bins one at a time.

To go from ``m`` bins to ``m - 1``, :meth:`PoolSearch.remove_bins` takes the items of two
lightly loaded bins out into a *pool*, leaving ``m - 2`` bins, and searches until the pool fits
in one bin. Every bin stays feasible at every step (checked by
:class:`~imcc.packing.oracle.BinOracle`). One step is:

1. *insert*: pool items move into bins that can take them;
2. *tabu swap*: one or two pool items move into a bin that gives back up to two of its items,
   the best admissible swap by how much lighter it makes the pool (improving swaps first,
   best first; else the best of a seeded sample of the others, even a worsening one). An item
   that leaves a bin may not return to it, and an item that enters a bin may not leave, for a
   few steps;
3. *repack* (CP-SAT), when no swap is possible or every ten steps without progress: two to
   four bins and the whole pool are re-solved together, maximising the weight placed, hinted
   with the current state so it never gets worse.

The pool's *weight* is area times ``1 + WEIGHT_SPAN x`` (the item's largest side as a fraction
of the bin's), so long thin rects, the hardest to place last, leave the pool first. This is
consistent neighbourhood search for bin packing (Buljubasic and Vasquez) with a
two-dimensional feasibility check. All random choices come from one seeded generator and all
limits are effort units, so a run is reproducible.
"""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np

from imcc.packing import cpsat
from imcc.packing.effort import Effort
from imcc.packing.oracle import BinOracle
from imcc.packing.problem import Instance

Bins = list[list[int]]
MAX_PAIRS = 40    # pairs of bin items tried per bin and swap, sampled when there are more
SCRATCH_MAX = 12  # swaps in bins of more items only reuse the bin's layout (no full repack)
REPACK_DET = 0.05  # CP-SAT deterministic seconds per repack
REPACK_EVERY = 10  # iterations without a lighter pool between two repacks
MAX_CHECKS = 150   # feasibility checks per tabu step
MAX_BINS = 60      # bins a tabu step looks at (all of them in smaller instances)
TENURE = 5         # iterations an item stays tabu (plus a random 0..TENURE-1)
STEP_UNITS = 200   # effort charged per step on top of the work it does
SORT_UNITS = 16    # effort per bin of sorting the bins by load
WEIGHT_SPAN = 1.0  # pool weight = area x (1 + WEIGHT_SPAN x largest side fraction)


class PoolSearch:
    """Bin-removal search over one instance (state lives in the object, for one call)."""

    def __init__(self, inst: Instance, oracle: BinOracle, effort: Effort, rng: random.Random,
                 *, use_cpsat: bool, seed: int):
        self.inst = inst
        self.oracle = oracle
        self.effort = effort
        self.rng = rng
        self.use_cpsat = use_cpsat
        self.seed = seed
        self.cap = inst.bin_w * inst.bin_h
        self.area = [w * h for w, h in zip(inst.ws, inst.hs)]
        # how hard an item is to place: its area, more for rects long in one direction
        self.weight = [int(a * (1 + WEIGHT_SPAN * max(w / inst.bin_w, h / inst.bin_h)))
                       for a, w, h in zip(self.area, inst.ws, inst.hs)]
        self.stats = {"moves": 0, "kicks": 0, "repacks": 0, "removed": 0}
        self.stop_at = 0

    def remove_bins(self, bins: Bins, lower: int, until: int) -> Bins:
        """Try to remove bins until ``lower`` is reached or the effort reaches ``until``."""
        best = [list(b) for b in bins]
        attempt = 0
        while len(best) > lower and self.effort.spent < until:
            order = sorted(range(len(best)), key=lambda k: (self._load(best[k]), len(best[k]), k))
            pairs = [(a, b) for b in range(1, min(len(order), 4)) for a in range(b)]
            victims = [order[v] for v in pairs[attempt % len(pairs)]] if pairs else order[:1]
            left = until - self.effort.spent
            stop_at = self.effort.spent + max(left // 2 if attempt == 0 else left // 3, 1)
            trial = self._empty(best, victims, stop_at)
            if trial is None:
                attempt += 1
                if attempt >= 9:
                    break
                continue
            best = trial
            self.stats["removed"] += 1
            attempt = 0
        return best

    def _load(self, b: list[int]) -> int:
        return sum(self.area[i] for i in b)

    def _empty(self, bins: Bins, victims: list[int], stop_at: int) -> Bins | None:
        """Take the ``victims`` (two bins) apart and search until their items, less what went
        into the other bins, fit in one bin: one bin fewer."""
        self.stop_at = stop_at
        state = [list(b) for k, b in enumerate(bins) if k not in victims]
        pool = [i for k in victims for i in bins[k]]
        loads = [self._load(b) for b in state]
        tabu: dict[tuple[int, int], int] = {}  # (item, bin) -> first iteration it is allowed
        best = self._pool_score(pool)
        stale = 0
        it = 0
        while self.effort.spent < stop_at:
            if not pool or (self._load(pool) <= self.cap and self._fits(pool, True)):
                return state + ([pool] if pool else [])
            it += 1
            self.effort.charge(STEP_UNITS)  # every step costs something, so the loop ends
            if self._insert(state, loads, pool):
                continue
            moved = self._tabu_step(state, loads, pool, tabu, it)
            score = self._pool_score(pool)
            if score < best:
                best, stale = score, 0
            else:
                stale += 1
            if (not moved or stale % REPACK_EVERY == REPACK_EVERY - 1) and self.use_cpsat:
                self._repack(state, loads, pool)
        return None

    def _pool_score(self, pool: list[int]) -> tuple[int, int]:
        return (sum(self.weight[i] for i in pool), sum(self.weight[i] ** 2 for i in pool))

    def _fits(self, items: list[int], exact: bool = False, now: list[int] | None = None,
              out: tuple[int, ...] = (), scratch: bool = True) -> bool:
        """Whether ``items`` fit one bin; ``now`` is that bin's current content, whose layout
        (less ``out``) is tried first; ``scratch`` allows repacking the bin from scratch."""
        base = ()
        if now is not None:
            base = [p for p in self.oracle.pack(now) or () if p[0] not in out]
        return self.oracle.pack(items, exact=exact, scratch=scratch, base=base) is not None

    def _insert(self, state: Bins, loads: list[int], pool: list[int]) -> bool:
        """Pool items (heaviest first) into the fullest bin that takes them."""
        done = False
        fullest: list[int] = []
        for p in sorted(pool, key=lambda i: -self.weight[i]):
            if self.effort.spent >= self.stop_at:
                break
            if not fullest:  # sorted again after each move only (the charge per pool item
                fullest = sorted(range(len(state)), key=lambda k: -loads[k])  # covers it)
            self.effort.charge(4 * len(state))
            for k in fullest:
                if loads[k] + self.area[p] <= self.cap and \
                        self._fits(state[k] + [p], False, state[k]):
                    state[k].append(p)
                    loads[k] += self.area[p]
                    pool.remove(p)
                    self.stats["moves"] += 1
                    done = True
                    fullest = []
                    break
        return done

    def _candidates(self, state: Bins, loads: list[int], ins_sets: list[tuple[int, ...]],
                    ks: list[int], tabu: dict[tuple[int, int], int], it: int) -> list[tuple]:
        """Every admissible swap ``(gain, tie, bin, ins, out)``: ``ins`` enters bin ``k`` and
        ``out`` (nothing, one or a sampled pair of its movable items) leaves it, the bin's area
        permitting; ``gain`` is how much lighter the pool gets (weight, weight squared).
        Each bin's outs and their sums are listed once per step, not once per pool item."""
        area, wt = self.area, self.weight
        outs_of = {}
        for k in ks:
            movable = [i for i in state[k] if tabu.get((i, -1), 0) <= it]
            singles = [(area[i], (i,), wt[i], wt[i] ** 2) for i in movable]
            pairs = [(area[a] + area[b], (a, b), wt[a] + wt[b], wt[a] ** 2 + wt[b] ** 2)
                     for a, b in combinations(movable, 2)]
            outs_of[k] = singles, pairs
        cands = []
        for ins in ins_sets:
            a_in = sum(area[i] for i in ins)
            w_in, w2_in = sum(wt[i] for i in ins), sum(wt[i] ** 2 for i in ins)
            for k in ks:
                if any(tabu.get((i, k), 0) > it for i in ins):
                    continue
                need = loads[k] + a_in - self.cap  # area that must leave the bin
                singles, pairs = outs_of[k]
                outs = [((), 0, 0)] if need <= 0 else []
                outs += [(o, w, w2) for a, o, w, w2 in singles if a >= need]
                fit = [(o, w, w2) for a, o, w, w2 in pairs if a >= need]
                if len(fit) > MAX_PAIRS:
                    fit = self.rng.sample(fit, MAX_PAIRS)
                outs += fit
                for out, w, w2 in outs:
                    cands.append(((w_in - w, w2_in - w2), self.rng.random(), k, ins, out))
        return cands

    def _tabu_step(self, state: Bins, loads: list[int], pool: list[int],
                   tabu: dict[tuple[int, int], int], it: int) -> bool:
        """Make the best admissible swap between the pool and one bin, even a worsening one.

        Candidates (one or two pool items in, up to two bin items out, the bin's area
        permitting) are ranked by how much lighter they make the pool; the first that fits is
        made. An item that leaves a bin may not come back to it, and an item that enters a bin
        may not leave it, for a few iterations (the tabu tenure)."""
        ins_sets: list[tuple[int, ...]] = [(p,) for p in pool]
        if len(pool) <= 8:
            ins_sets += list(combinations(pool, 2))
        ks = list(range(len(state)))
        if len(ks) > MAX_BINS:  # large instances: the emptiest bins and a seeded sample
            self.effort.charge(SORT_UNITS * len(ks))
            roomy = sorted(ks, key=lambda k: (loads[k], k))[:MAX_BINS // 2]
            taken = set(roomy)
            others = [k for k in ks if k not in taken]
            ks = roomy + self.rng.sample(others, MAX_BINS - len(roomy))
        self.effort.charge(4 * len(ins_sets) * len(ks))
        cands = self._candidates(state, loads, ins_sets, ks, tabu, it)
        self.effort.charge(4 * len(cands))
        cands = _ranked(cands)
        good = [c for c in cands if c[0] > (0, 0)][:MAX_CHECKS // 2]
        rest = [c for c in cands if c[0] <= (0, 0)]
        if len(rest) > MAX_CHECKS // 2:
            rest = sorted(self.rng.sample(rest, MAX_CHECKS // 2), reverse=True)
        for group in (good, rest):  # improving moves first, best first; else the best of a
            for gain, _, k, ins, out in group:  # sample of the others
                if self.effort.spent >= self.stop_at:
                    return False
                b = state[k]
                cand = [i for i in b if i not in out] + list(ins)
                if self._fits(cand, now=b, out=out, scratch=len(cand) <= SCRATCH_MAX):
                    self._apply(state, loads, pool, k, ins, out)
                    tenure = TENURE + self.rng.randrange(TENURE)
                    for i in out:
                        tabu[i, k] = it + tenure
                    for i in ins:
                        tabu[i, -1] = it + tenure
                    if gain < (0, 0):
                        self.stats["kicks"] += 1
                    return True
        return False

    def _apply(self, state: Bins, loads: list[int], pool: list[int], k: int,
               ins: tuple[int, ...], out: tuple[int, ...]) -> None:
        state[k] = [i for i in state[k] if i not in out] + list(ins)
        loads[k] += sum(self.area[i] for i in ins) - sum(self.area[i] for i in out)
        for i in ins:
            pool.remove(i)
        pool.extend(out)
        self.stats["moves"] += 1

    def _repack(self, state: Bins, loads: list[int], pool: list[int]) -> bool:
        """Re-solve a few bins together with the pool (maximising the weight placed); True if
        the pool got lighter."""
        nb = min(len(state), 2 + self.rng.randrange(3))
        # a repack never runs past the budget: at most half of what is left of it
        det = min(REPACK_DET, self.effort.cpsat_seconds_left() / 2)
        if nb == 0 or det < REPACK_DET / 10:
            return False
        weights = [self.cap - loads[k] + 1 for k in range(len(state))]
        chosen: list[int] = []
        cands = list(range(len(state)))
        while len(chosen) < nb:
            k = self.rng.choices(cands, weights=[weights[c] for c in cands])[0]
            chosen.append(k)
            cands.remove(k)
        items = [i for k in chosen for i in state[k]] + pool
        hint = []
        for j, k in enumerate(chosen):
            pos = self.oracle.pack(state[k])
            hint += [(i, j, x, y) for i, x, y in pos or ()]
        self.stats["repacks"] += 1
        res = cpsat.solve(self.inst, items, nb, optional=items, hint=hint, det_limit=det,
                          weights={i: self.weight[i] for i in items},
                          seed=self.rng.randrange(1 << 30))
        self.effort.charge_cpsat(res.det_time, res.literals)
        if not res.spots:
            return False
        placed = sum(self.weight[i] for i, _, _, _ in res.spots)
        if placed <= sum(self.weight[i] for k in chosen for i in state[k]):
            return False
        new_bins: Bins = [[] for _ in chosen]
        spots: list[list[tuple[int, int, int]]] = [[] for _ in chosen]
        for i, j, x, y in res.spots:
            new_bins[j].append(i)
            spots[j].append((i, x, y))
        for s in spots:  # final layouts are read back from the oracle
            if s:
                self.oracle.remember(s)
        inside = {i for i, _, _, _ in res.spots}
        for j, k in enumerate(chosen):
            state[k] = new_bins[j]
            loads[k] = self._load(new_bins[j])
        pool[:] = [i for i in items if i not in inside]
        self.stats["moves"] += 1
        return True


def _ranked(cands: list[tuple]) -> list[tuple]:
    """Candidates by decreasing ``(gain, tie)``, equal ones in their order: one stable numpy
    sort when the gains fit 62 bits (tens of thousands of candidates per step on large
    inputs), else Python's."""
    if not cands:
        return cands
    g0 = [c[0][0] for c in cands]
    g1 = [c[0][1] for c in cands]
    if max(max(g0), -min(g0), max(g1), -min(g1)) >= 1 << 62:
        return sorted(cands, key=lambda c: (c[0], c[1]), reverse=True)
    tie = np.fromiter((c[1] for c in cands), dtype=np.float64, count=len(cands))
    order = np.lexsort((-tie, -np.asarray(g1, dtype=np.int64), -np.asarray(g0, dtype=np.int64)))
    return [cands[j] for j in order.tolist()]
