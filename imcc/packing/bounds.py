"""Lower bounds on the number of bins (no packing can use fewer).

Each bound is named; :func:`lower_bounds` returns all of them and their maximum is the bound
reported beside a solution.

* ``area``: total area over bin area, rounded up (L0).
* ``large_items``: rects wider than half a bin can never sit side by side, so their heights
  stack; the Martello-Toth L2 bound of one-dimensional bin packing on those heights (and the
  same on the widths of rects taller than half a bin) is Martello and Vigo's L1.
* ``incompatible``: a clique of rects no two of which fit together in one bin (under the row
  rule, two rects of one group whose heights add up to more than the bin cannot either), each
  in its own bin, plus the area of the rects compatible with no clique member and of the rest
  beyond the clique's free area (greedy cliques from each of the largest kinds).
* ``dff``: the area bound after mapping widths and heights through dual-feasible functions
  (Fekete and Schepers; Carlier, Clautiaux and Moukrim): ``u^(k)``, ``U^(eps)`` and
  ``f_CCM1^(lambda)``, every pair of one width function and one height function.
* ``rows`` (``efficiency`` priority only): rects of one group in one bin use disjoint rows, so
  each group's heights stack; L2 on each group's heights.

>>> inst = make_instance([Rect(i, 6, 6) for i in range(5)], 10, 10, "resource")
>>> instance_bounds(inst)["large_items"]
5
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence

import numpy as np

from imcc.packing.problem import Instance, Rect, make_instance


def lower_bounds(rects: Sequence[Rect], bin_w: int, bin_h: int, *,
                 priority: str = "resource") -> dict[str, int]:
    """All named lower bounds for packing ``rects`` into ``bin_w x bin_h`` bins."""
    return instance_bounds(make_instance(rects, bin_w, bin_h, priority))


def instance_bounds(inst: Instance) -> dict[str, int]:
    """All named lower bounds of a validated instance (see the module docstring)."""
    if inst.n == 0:
        out = {"area": 0, "large_items": 0, "incompatible": 0, "dff": 0}
        if inst.rows_disjoint:
            out["rows"] = 0
        return out
    W, H = inst.bin_w, inst.bin_h
    sizes = Counter(zip(inst.ws, inst.hs))
    out = {
        "area": _ceil_div(sum(w * h * c for (w, h), c in sizes.items()), W * H),
        "large_items": max(
            l2_bound([h for (w, h), c in sizes.items() if 2 * w > W for _ in range(c)], H),
            l2_bound([w for (w, h), c in sizes.items() if 2 * h > H for _ in range(c)], W)),
        "incompatible": _clique_bound(inst),
        "dff": _dff_bound(sizes, W, H),
    }
    if inst.rows_disjoint:
        per_group: dict[int, list[int]] = {}
        for h, g in zip(inst.hs, inst.groups):
            if g >= 0:
                per_group.setdefault(g, []).append(h)
        out["rows"] = max((l2_bound(hs, H) for hs in per_group.values()), default=0)
    return out


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def l2_bound(sizes: Sequence[int], cap: int) -> int:
    """Martello-Toth L2 bound for one-dimensional bin packing of ``sizes`` into ``cap``.

    For each threshold ``a <= cap/2``: items above ``cap - a`` and items above ``cap/2`` each
    need their own bin, and items in ``[a, cap/2]`` must fill what those bins leave free.

    >>> l2_bound([6, 6, 6, 4, 4, 4], 10)
    3
    >>> l2_bound([], 10)
    0
    """
    if not sizes:
        return 0
    s = sorted(sizes)
    n = len(s)
    prefix = [0]
    for x in s:
        prefix.append(prefix[-1] + x)
    best = _ceil_div(prefix[-1], cap)
    nbig = n - bisect_right(s, cap // 2)          # items above cap/2: s[n - nbig:]
    lo_half = n - nbig                            # items up to cap/2: s[:lo_half]
    for a in sorted({x for x in s[:lo_half]} | {0}):
        # big items above cap - a (alone) and the other big ones; all sorted, so by bisection
        cut = max(bisect_right(s, cap - a), lo_half)
        j2_count, j2_sum = cut - lo_half, prefix[cut] - prefix[lo_half]
        j3 = prefix[lo_half] - prefix[bisect_left(s, a)]
        free = j2_count * cap - j2_sum
        best = max(best, nbig + max(0, _ceil_div(j3 - free, cap)))
    return best


#: The clique bound compares kinds of rect pairwise (memory grows with their square): it looks
#: for cliques among the largest this many kinds and counts the others by area only.
CLIQUE_KINDS = 2048


def _clique_bound(inst: Instance, starts: int = 40) -> int:
    """Cliques of pairwise-incompatible rects, each in a bin of its own, plus the area of the
    rects that fit with no clique member (they need other bins) and of the rest beyond what the
    clique's bins leave free. Greedy cliques grown from each of the largest kinds of rect.
    Kinds beyond the largest :data:`CLIQUE_KINDS` are added as area that may share the
    clique's bins (the bound stays valid, only weaker)."""
    W, H, cap = inst.bin_w, inst.bin_h, inst.bin_w * inst.bin_h
    counts: Counter = Counter(inst.key(i) for i in range(inst.n))
    kinds = sorted(counts, key=lambda k: (-k[0] * k[1], k))
    rest = kinds[CLIQUE_KINDS:]
    kinds = kinds[:CLIQUE_KINDS]
    rest_area = sum(k[0] * k[1] * counts[k] for k in rest)
    w = np.asarray([k[0] for k in kinds], dtype=np.int64)
    h = np.asarray([k[1] for k in kinds], dtype=np.int64)
    g = np.asarray([k[2] for k in kinds], dtype=np.int64)
    cnt = np.asarray([counts[k] for k in kinds], dtype=np.int64)
    area = w * h
    clash = (w[:, None] + w[None, :] > W) & (h[:, None] + h[None, :] > H)
    if inst.rows_disjoint:
        clash |= (g[:, None] == g[None, :]) & (g[:, None] >= 0) & (h[:, None] + h[None, :] > H)
    self_clash = np.diag(clash).copy()
    # kinds that clash with everything (themselves included) belong to every maximal clique
    others = clash | np.eye(len(kinds), dtype=bool)
    universal = others.all(axis=1) & (self_clash | (cnt == 1))
    base = np.where(universal, cnt, 0)
    base_inc = clash[universal].all(axis=0) if universal.any() else np.ones(len(kinds), bool)

    def bound(taken: np.ndarray, inc: np.ndarray) -> int:
        left = cnt - taken
        inc_area = int((area * left * inc).sum())
        comp_area = int((area * left * ~inc).sum()) + rest_area
        free = int((taken * (cap - area)).sum())
        return int(taken.sum()) + _ceil_div(inc_area + max(0, comp_area - free), cap)

    best = bound(base, base_inc)
    for s in np.flatnonzero(~universal)[:starts]:
        inc = base_inc.copy()       # kinds incompatible with every member so far
        taken = base.copy()
        k = int(s)
        while k >= 0:
            taken[k] = cnt[k] if self_clash[k] else 1
            inc &= clash[k]
            best = max(best, bound(taken, inc))
            cand = np.flatnonzero(inc & (taken == 0))
            k = int(cand[0]) if cand.size else -1  # the largest kind still incompatible
    return best


#: The most parameter values per family of dual-feasible functions (see :func:`dff_table`).
DFF_PARAMS = 256


def dff_table(cap: int, sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Values of dual-feasible functions on ``sizes`` and on ``cap``, as integers.

    Row ``r`` of the first array is one function applied to every size; entry ``r`` of the
    second is that function of ``cap``. Every row f satisfies: integer sizes summing to at
    most ``cap`` have values summing to at most ``f(cap)``.
    """
    x = np.asarray(sizes, dtype=np.int64)
    rows = [x.copy()]
    caps = [cap]
    halves = sorted({int(v) for v in x if 2 * v <= cap})
    # Each row is a valid bound on its own: with many distinct sizes, a spread of DFF_PARAMS
    # of the parameters keeps the table (sizes x rows, and rows x rows in the bound) small.
    halves = halves[::max(1, -(-len(halves) // DFF_PARAMS))]
    for k in range(1, min(cap - 1, 60) + 1):  # Fekete-Schepers u^(k), scaled by k+1
        kx = (k + 1) * x
        rows.append(np.where(kx % cap == 0, kx, (kx // cap) * cap))
        caps.append((k + 1) * cap)
    eps_all = sorted(set(halves) | {int(cap - v + 1) for v in x if 2 * (cap - v + 1) <= cap})
    for eps in eps_all[::max(1, -(-len(eps_all) // DFF_PARAMS))]:
        if eps >= 1:  # U^(eps): drop small items, round big ones up to the bin
            rows.append(np.where(x > cap - eps, cap, np.where(x < eps, 0, x)))
            caps.append(cap)
    lams = range(1, cap // 2 + 1) if cap <= 512 else halves
    for lam in lams:  # Carlier-Clautiaux-Moukrim f_CCM1^(lambda)
        top = 2 * (cap // lam)
        rows.append(np.where(2 * x > cap, top - 2 * ((cap - x) // lam),
                             np.where(2 * x == cap, cap // lam, 2 * (x // lam))))
        caps.append(top)
    return np.vstack(rows), np.asarray(caps, dtype=np.int64)


def _dff_bound(sizes: Counter, W: int, H: int) -> int:
    """The best area bound over every pair of a width and a height function.

    ``sum_k count_k f(w_k) g(h_k)`` for every pair ``(f, g)`` is ``F @ V``, ``F`` the width
    functions on the distinct widths and ``V`` per distinct width the counted sum of the height
    functions over its kinds: linear in the kinds, not in their square."""
    kinds = sorted(sizes)
    counts = np.asarray([sizes[k] for k in kinds], dtype=np.int64)
    widths = sorted({w for w, _ in kinds})
    heights = sorted({h for _, h in kinds})
    fw, fW = dff_table(W, widths)
    gh, gH = dff_table(H, heights)
    wi = np.searchsorted(widths, [w for w, _ in kinds])
    hi = np.searchsorted(heights, [h for _, h in kinds])
    # the sums are exact in float64 below 2**53 (BLAS), else in int64 below 2**63, else objects
    top = int(fw.max()) * int(gh.max()) * int(counts.sum())
    dtype = np.float64 if top < 2 ** 53 else np.int64 if top < 2 ** 63 else object
    if len(widths) * len(heights) <= 4 * len(kinds) + 65536:   # a dense width x height table
        C = np.zeros((len(widths), len(heights)), dtype=dtype)
        C[wi, hi] = counts
        V = C @ gh.T.astype(dtype)
    else:  # kinds are sorted by width: one run of rows per distinct width
        starts = np.flatnonzero(np.r_[True, wi[1:] != wi[:-1]])
        V = np.add.reduceat(gh[:, hi].T.astype(dtype) * counts[:, None].astype(dtype),
                            starts, axis=0)
    num = fw.astype(dtype) @ V
    if dtype is np.float64:
        num = np.rint(num).astype(np.int64)
    den = np.outer(fW, gH)
    return int(np.max(-(-num // den)))
