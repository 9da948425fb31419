"""CP-SAT models of (parts of) the packing problem.

One model serves every use: a set of items, a number of bins, and for each item whether it
must be placed. Each item gets a bin literal per bin and a position ``(x, y)``; per bin, a
``NoOverlap2D`` over optional intervals, an area cut, and under the row rule a ``NoOverlap`` of
the row intervals of each group. Interchangeable items are ordered, and pairwise-incompatible
mandatory items are fixed to distinct bins, to break symmetry.

Determinism: every solve runs CP-SAT's single-thread search with ``random_seed`` and a
deterministic time limit (``max_deterministic_time``), so the answer depends on neither the
clock nor the number of workers. (CP-SAT's multi-thread search is not deterministic; its
``interleave_search`` is, but it is another search than the single-thread one, reports another
deterministic time, and so gave ``workers=1`` and ``workers=2`` different answers.)

OR-Tools is imported on the first solve: with it (and the pandas it brings) a process holds
about 60 MB more, and many compiles never need it (the heuristics reach the lower bound).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from imcc.packing.problem import Instance

Spot = tuple[int, int, int, int]  # item, bin, x, y


@dataclass(frozen=True)
class SubResult:
    """Outcome of one CP-SAT solve: ``status`` is ``optimal``, ``feasible``, ``infeasible`` or
    ``unknown``; ``spots`` holds the placed items; ``det_time`` is CP-SAT's deterministic time
    and ``literals`` the model size (both for effort accounting)."""

    status: str
    spots: tuple[Spot, ...]
    det_time: float
    literals: int


def solve(inst: Instance, items: Sequence[int], nbins: int, *, optional: Sequence[int] = (),
          weights: dict[int, int] | None = None, hint: Sequence[Spot] = (),
          det_limit: float = 1.0, seed: int = 0) -> SubResult:
    """Place ``items`` into ``nbins`` bins; items in ``optional`` may stay out.

    With optional items the objective maximises the total ``weights`` (default: area) of the
    placed optional items; without, the model is a feasibility question.
    """
    from ortools.sat.python import cp_model

    W, H = inst.bin_w, inst.bin_h
    opt = set(optional)
    items = list(items)
    m = cp_model.CpModel()
    xs, ys, lits = {}, {}, {}
    for i in items:
        xs[i] = m.new_int_var(0, W - inst.ws[i], f"x{i}")
        ys[i] = m.new_int_var(0, H - inst.hs[i], f"y{i}")
        lits[i] = [m.new_bool_var(f"b{i}_{j}") for j in range(nbins)]
        if i in opt:
            m.add_at_most_one(lits[i])
        else:
            m.add_exactly_one(lits[i])
    for j in range(nbins):
        xi, yi = [], []
        for i in items:
            lit = lits[i][j]
            xi.append(m.new_optional_fixed_size_interval_var(xs[i], inst.ws[i], lit, ""))
            yi.append(m.new_optional_fixed_size_interval_var(ys[i], inst.hs[i], lit, ""))
        m.add_no_overlap_2d(xi, yi)
        m.add(sum(inst.ws[i] * inst.hs[i] * lits[i][j] for i in items) <= W * H)
        if inst.rows_disjoint:
            by_group: dict[int, list] = {}
            for k, i in enumerate(items):
                if inst.groups[i] >= 0:
                    by_group.setdefault(inst.groups[i], []).append(yi[k])
            for ivs in by_group.values():
                if len(ivs) > 1:
                    m.add_no_overlap(ivs)
    _break_symmetry(m, inst, items, opt, nbins, xs, ys, lits)
    if opt:
        wts = weights or {i: inst.ws[i] * inst.hs[i] for i in opt}
        m.maximize(sum(wts[i] * lits[i][j] for i in opt for j in range(nbins)))
    for i, b, x, y in hint:
        if i in xs and 0 <= b < nbins:
            m.add_hint(xs[i], x)
            m.add_hint(ys[i], y)
            for j in range(nbins):
                m.add_hint(lits[i][j], j == b)
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = 1  # one thread: the same search, hence the same answer, everywhere
    p.random_seed = seed
    p.max_deterministic_time = max(det_limit, 1e-3)
    p.max_time_in_seconds = 1e9  # the deterministic limit decides; never the clock
    p.log_search_progress = False
    try:
        st = solver.solve(m)
    except (IndexError, RuntimeError):
        # OR-Tools 9.15's presolve can fail with an internal lookup error on a model it has
        # nearly proven infeasible (two full-bin items and two 1x1 in two 3x3 bins): solve
        # the same model again without presolve.
        p.cp_model_presolve = False
        st = solver.solve(m)
    det = solver.deterministic_time
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        spots = []
        for i in items:
            for j in range(nbins):
                if solver.boolean_value(lits[i][j]):
                    spots.append((i, j, solver.value(xs[i]), solver.value(ys[i])))
        status = "optimal" if st == cp_model.OPTIMAL else "feasible"
        return SubResult(status, tuple(spots), det, len(items) * nbins)
    return SubResult("infeasible" if st == cp_model.INFEASIBLE else "unknown", (), det,
                     len(items) * nbins)


def _break_symmetry(m, inst: Instance, items, opt, nbins, xs, ys, lits) -> None:
    """Order interchangeable items; pin a clique of incompatible mandatory items to bins."""
    H = inst.bin_h
    by_kind: dict[tuple, list[int]] = {}
    for i in items:
        by_kind.setdefault((inst.key(i), i in opt), []).append(i)
    for (_, optional), group in by_kind.items():
        if optional or len(group) < 2:
            continue
        for a, b in pairwise(group):
            ia = sum(j * lits[a][j] for j in range(nbins))
            ib = sum(j * lits[b][j] for j in range(nbins))
            m.add(ia <= ib)
            # equal bins: order by position
            same = m.new_bool_var("")
            m.add(ia == ib).only_enforce_if(same)
            m.add(ia != ib).only_enforce_if(~same)
            m.add(xs[a] * (H + 1) + ys[a] < xs[b] * (H + 1) + ys[b]).only_enforce_if(same)
    mandatory = sorted((i for i in items if i not in opt),
                       key=lambda i: -inst.ws[i] * inst.hs[i])
    clique: list[int] = []
    for i in mandatory:
        if len(clique) >= nbins:
            break
        if all(not _compatible(inst, i, c) for c in clique):
            clique.append(i)
    if len({inst.key(i) for i in clique}) < len(clique):
        return  # kind ordering above already constrains equal items; keep it consistent
    for j, i in enumerate(clique):
        m.add(lits[i][j] == 1)


def _compatible(inst: Instance, i: int, j: int) -> bool:
    """Whether items ``i`` and ``j`` could ever share a bin."""
    if inst.hs[i] + inst.hs[j] <= inst.bin_h:
        return True
    return inst.ws[i] + inst.ws[j] <= inst.bin_w and not inst.conflict(i, j)
