"""Local search that empties bins one at a time.

To go from ``m`` bins to ``m - 1``, :func:`remove_bins` takes the items of a lightly loaded bin
out into a *pool* and then works until the pool is empty, keeping every bin feasible (checked
by :class:`~imcc.packing.oracle.BinOracle`) at every step:

1. *insert*: a pool item moves into a bin that can take it;
2. *swap*: a pool item (or two) moves into a bin that gives back one or two items of smaller
   total area, so the pool's area (then its sum of squared areas) strictly drops;
3. *repack* (CP-SAT): two or three bins and the whole pool are re-solved together, maximising
   the area placed, hinted with the current state so it never gets worse;
4. *kick*: when nothing improves, a seeded random swap that may make the pool worse, with a tabu
   list so the next steps do not undo it.

This follows consistent neighbourhood search for bin packing (Buljubasic and Vasquez) with a
two-dimensional feasibility check. All random choices come from one seeded generator and all
limits are effort units, so a run is reproducible.
"""

from __future__ import annotations

import random
from itertools import combinations

from imcc.packing import cpsat
from imcc.packing.effort import Effort
from imcc.packing.oracle import BinOracle
from imcc.packing.problem import Instance

Bins = list[list[int]]
MAX_PAIRS = 40    # pairs of bin items tried per bin and swap, sampled when there are more
SCRATCH_MAX = 12  # swaps in bins of more items only reuse the bin's layout (no full repack)


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
        self.stats = {"moves": 0, "kicks": 0, "repacks": 0, "removed": 0}
        self.stop_at = 0

    def remove_bins(self, bins: Bins, lower: int, until: int) -> Bins:
        """Try to remove bins until ``lower`` is reached or the effort reaches ``until``."""
        best = [list(b) for b in bins]
        attempt = 0
        while len(best) > lower and self.effort.spent < until:
            order = sorted(range(len(best)), key=lambda k: (self._load(best[k]), len(best[k]), k))
            victim = order[attempt % min(len(order), 3)]
            left = until - self.effort.spent
            stop_at = self.effort.spent + max(left // 2 if attempt == 0 else left // 3, 1)
            trial = self._empty(best, victim, stop_at)
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

    def _empty(self, bins: Bins, victim: int, stop_at: int) -> Bins | None:
        self.stop_at = stop_at
        state = [list(b) for k, b in enumerate(bins) if k != victim]
        pool = list(bins[victim])
        loads = [self._load(b) for b in state]
        tabu: dict[int, int] = {}
        it = 0
        while pool and self.effort.spent < stop_at:
            it += 1
            if self._insert(state, loads, pool):
                continue
            if self._swap(state, loads, pool, tabu, it):
                continue
            if self.use_cpsat and self._repack(state, loads, pool):
                continue
            self._kick(state, loads, pool, tabu, it)
        return None if pool else state

    def _fits(self, items: list[int], exact: bool = False, now: list[int] | None = None,
              out: tuple[int, ...] = (), scratch: bool = True) -> bool:
        """Whether ``items`` fit one bin; ``now`` is that bin's current content, whose layout
        (less ``out``) is tried first; ``scratch`` allows repacking the bin from scratch."""
        base = ()
        if now is not None:
            base = [p for p in self.oracle.pack(now) or () if p[0] not in out]
        return self.oracle.pack(items, exact=exact, scratch=scratch, base=base) is not None

    def _insert(self, state: Bins, loads: list[int], pool: list[int]) -> bool:
        done = False
        for p in sorted(pool, key=lambda i: -self.area[i]):
            if self.effort.spent >= self.stop_at:
                break
            for k in sorted(range(len(state)), key=lambda k: -loads[k]):
                if loads[k] + self.area[p] <= self.cap and \
                        self._fits(state[k] + [p], True, state[k]):
                    state[k].append(p)
                    loads[k] += self.area[p]
                    pool.remove(p)
                    self.stats["moves"] += 1
                    done = True
                    break
        return done

    def _gain(self, ins: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, int]:
        a_in = sum(self.area[i] for i in ins)
        a_out = sum(self.area[i] for i in out)
        return (a_in - a_out, sum(self.area[i] ** 2 for i in ins)
                - sum(self.area[i] ** 2 for i in out))

    def _swap(self, state: Bins, loads: list[int], pool: list[int], tabu: dict[int, int],
              it: int) -> bool:
        ins_sets: list[tuple[int, ...]] = [(p,) for p in pool]
        if len(pool) <= 8:
            ins_sets += list(combinations(pool, 2))
        ins_sets.sort(key=lambda s: -sum(self.area[i] for i in s))
        order = list(range(len(state)))
        self.rng.shuffle(order)
        for ins in ins_sets:
            a_in = sum(self.area[i] for i in ins)
            for k in order:
                if self.effort.spent >= self.stop_at:
                    return False
                b = state[k]
                allowed = [i for i in b if tabu.get(i, 0) < it and self.area[i] <= a_in]
                pairs = [p for p in combinations(allowed, 2)
                         if self.area[p[0]] + self.area[p[1]] <= a_in]
                if len(pairs) > MAX_PAIRS:
                    pairs = self.rng.sample(pairs, MAX_PAIRS)
                outs = [(i,) for i in allowed] + pairs
                self.effort.charge(len(outs))
                for out in outs:
                    if self.effort.spent >= self.stop_at:
                        return False
                    g = self._gain(ins, out)
                    if g <= (0, 0) or loads[k] + g[0] > self.cap:
                        continue
                    cand = [i for i in b if i not in out] + list(ins)
                    if self._fits(cand, now=b, out=out, scratch=len(b) <= SCRATCH_MAX):
                        self._apply(state, loads, pool, k, ins, out)
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
        """Re-solve a few bins together with the pool; True if the pool got lighter."""
        nb = min(len(state), 2 + self.rng.randrange(2))
        if nb == 0:
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
        res = cpsat.solve(self.inst, items, nb, optional=items, hint=hint, det_limit=0.2,
                          seed=self.rng.randrange(1 << 30))
        self.effort.charge_cpsat(res.det_time, res.literals)
        if not res.spots:
            return False
        placed = sum(self.area[i] for i, _, _, _ in res.spots)
        if placed <= sum(loads[k] for k in chosen):
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

    def _kick(self, state: Bins, loads: list[int], pool: list[int], tabu: dict[int, int],
              it: int) -> None:
        """A random feasible swap, even a worsening one; its new items become tabu."""
        self.stats["kicks"] += 1
        for _ in range(20):
            p = self.rng.choice(pool)
            k = self.rng.randrange(len(state))
            allowed = [i for i in state[k] if tabu.get(i, 0) < it]
            if not allowed:
                continue
            out = tuple(self.rng.sample(allowed, min(len(allowed), 1 + self.rng.randrange(2))))
            g = self._gain((p,), out)
            if loads[k] + g[0] > self.cap:
                continue
            cand = [i for i in state[k] if i not in out] + [p]
            if self._fits(cand, now=state[k], out=out, scratch=len(cand) <= SCRATCH_MAX):
                self._apply(state, loads, pool, k, (p,), out)
                tabu[p] = it + 10 + self.rng.randrange(10)
                return
            self.effort.charge(len(cand))
