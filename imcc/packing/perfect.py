"""Near-perfect packings: the rects into exactly ``k`` bins when they fill them almost fully.

When the rects' area is within a few percent of ``k`` full bins and the constructions need
``k + 1``, the packing sought is a puzzle with little room for waste: the pool search, which
empties one bin into the others, and CP-SAT on the whole instance both stall on it (see
docs/packing.md). This stage searches the packings into exactly ``k`` bins directly.

*Decoder* (:func:`skyline_fill`): the bins are filled one after another along a skyline (the
top edge of what is placed, as segments). The lowest segment is the gap to fill; the rect put
there is chosen by a *rule* among the rects left that fit, ties broken by a priority order:

* ``order``: the first that fits (any packing without waste is the outcome of some order);
* ``first``: a rect exactly as wide as the gap, else the first that fits;
* ``flat``: exactly as wide and with its top level with a neighbour (or the bin's top), then
  exactly as wide, then level, then the first that fits;
* ``tail``: as ``flat``, with "exactly as wide" widened to "leaves a gap as wide as a rect
  left" (no sliver that nothing can fill).

It sits against the taller neighbour. When nothing fits, the gap is raised to its lower
neighbour and the cells under it are wasted. A bin is done when the skyline reaches its top;
what is left after ``k`` bins is the failure. The waste (bin area minus placed area) is the
objective: it equals ``k`` bins minus the rects' area exactly when every rect is placed.

*Search* (:func:`perfect_search`): restarts from the sort keys (then noisy ones), each a hill
climb over the priority order (one to three swaps or moves of a rect, kept when the waste
does not grow; a decode stops as soon as its waste exceeds the current one) until it stalls.
Every step is charged to the :class:`~imcc.packing.effort.Effort` budget and the random
draws are seeded, so the answer does not depend on the clock.
"""

from __future__ import annotations

import random

from imcc.packing.effort import Effort
from imcc.packing.problem import Instance

Layout = list[list[tuple[int, int, int]]]

RULES = ("flat", "first", "flat", "tail")   # the restarts cycle through these
MIN_FILL = 0.92        # search only when the rects fill the k bins at least this much
FULL_FILL = 0.96       # from this fill on the search gets FULL_SHARE of the budget left
FULL_SHARE = 0.5       # of the budget left after the constructions, at most
NEAR_SHARE = 0.25      # the same below FULL_FILL (the pool search keeps more)
MAX_ITEMS = 300        # a decode scans the rects left per placement: quadratic
STALL = 1000           # a climb restarts after this many moves without a lower waste
NOISE = 0.3            # relative noise on the sort keys of the later restarts
UNITS_PER_LOOK = 1     # effort per rect looked at by the decoder
UNITS_PER_DECODE = 100  # effort per decode (the copies of the order and the skylines)


def worth_trying(inst: Instance, items: list[int], k: int) -> bool:
    """Whether the search for ``k`` bins is worth a share of the budget (see
    :func:`budget_share`)."""
    return budget_share(inst, items, k) > 0


def budget_share(inst: Instance, items: list[int], k: int) -> float:
    """The share of the budget left that the search for ``k`` bins gets: :data:`FULL_SHARE`
    when the rects fill the ``k`` bins to at least :data:`FULL_FILL` (and no more than
    fully), :data:`NEAR_SHARE` from :data:`MIN_FILL`, else 0; 0 as well when they are many.
    The decoder knows nothing of the row rule, so rects in groups under it are left out."""
    if k < 1 or not items or len(items) > MAX_ITEMS:
        return 0.0
    if inst.rows_disjoint and any(inst.groups[i] >= 0 for i in items):
        return 0.0
    area = sum(inst.ws[i] * inst.hs[i] for i in items)
    cap = k * inst.bin_w * inst.bin_h
    if not MIN_FILL * cap <= area <= cap:
        return 0.0
    return FULL_SHARE if area >= FULL_FILL * cap else NEAR_SHARE


def skyline_fill(inst: Instance, order: list[int], k: int, rule: str,
                 limit: int) -> tuple[int, Layout | None, int]:
    """Fill ``k`` bins with the rects of ``order`` (priority order) by ``rule``.

    Returns ``(waste, layout, looks)``: the cells of the ``k`` bins left empty, the bins'
    contents as ``(item, x, y)`` (None when the waste passed ``limit``, where the decode
    stops), and the rects looked at (the effort spent). Every rect is placed iff
    ``waste == k * W * H - area``."""
    W, H = inst.bin_w, inst.bin_h
    ws, hs = inst.ws, inst.hs
    left = list(order)
    waste = 0
    looks = 0
    layout: Layout = []
    code = {"order": 0, "first": 1, "flat": 2, "tail": 3}[rule]
    for _ in range(k):
        sky = [[0, 0, W]]  # segments [x, y, width], left to right; neighbours differ in y
        content: list[tuple[int, int, int]] = []
        while left:
            i, y = _lowest(sky)
            if y >= H:
                break
            x, _, g = sky[i]
            lh = sky[i - 1][1] if i else H
            rh = sky[i + 1][1] if i + 1 < len(sky) else H
            pos, n = _choose(ws, hs, left, g, y, H, lh, rh, code)
            looks += n
            if pos < 0:
                up = min(lh, rh)
                waste += g * (up - y)
                if waste > limit:
                    return waste, None, looks
                sky[i][1] = up
            else:
                it = left.pop(pos)
                w, h = ws[it], hs[it]
                if w == g:
                    sky[i][1] = y + h
                    content.append((it, x, y))
                elif lh >= rh:
                    sky[i:i + 1] = [[x, y + h, w], [x + w, y, g - w]]
                    content.append((it, x, y))
                else:
                    sky[i:i + 1] = [[x, y, g - w], [x + g - w, y + h, w]]
                    content.append((it, x + g - w, y))
            _merge(sky)
        waste += sum(s[2] * (H - s[1]) for s in sky)
        layout.append(content)
        if waste > limit:
            return waste, None, looks
    return waste, layout, looks


def _lowest(sky: list[list[int]]) -> tuple[int, int]:
    i, y = 0, sky[0][1]
    for j in range(1, len(sky)):
        if sky[j][1] < y:
            i, y = j, sky[j][1]
    return i, y


def _merge(sky: list[list[int]]) -> None:
    j = 0
    while j + 1 < len(sky):
        if sky[j][1] == sky[j + 1][1]:
            sky[j][2] += sky[j + 1][2]
            del sky[j + 1]
        else:
            j += 1


def _choose(ws, hs, left: list[int], g: int, y: int, H: int, lh: int, rh: int,
            code: int) -> tuple[int, int]:
    """The position in ``left`` of the rect the rule puts in the gap (-1: none fits), and
    how many rects it looked at. Lower rank is better; the first of a rank wins."""
    hmax = H - y
    widths = {ws[t] for t in left if hs[t] <= hmax} if code == 3 else ()
    best, rank = -1, 4
    looked = 0
    for pos, it in enumerate(left):
        looked += 1
        w = ws[it]
        if w > g or hs[it] > hmax:
            continue
        if code == 0:
            return pos, looked
        exact = w == g or (code == 3 and (g - w) in widths)
        if code == 1:
            r = 0 if exact else 3
        else:
            top = y + hs[it]
            level = top == lh or top == rh or top == H
            r = (0 if exact else 2) + (0 if level else 1)
        if r < rank:
            best, rank = pos, r
            if r == 0:
                break
    return best, looked


def perfect_search(inst: Instance, items: list[int], k: int, effort: Effort, stop_at: int,
                   seed: int = 0) -> Layout | None:
    """A packing of ``items`` into exactly ``k`` bins, or None when the budget (up to
    ``effort.spent == stop_at``) runs out first."""
    W, H = inst.bin_w, inst.bin_h
    ws, hs = inst.ws, inst.hs
    slack = k * W * H - sum(ws[i] * hs[i] for i in items)
    if slack < 0 or not items:
        return None
    rng = random.Random(seed)
    keys = (lambda i: ws[i] * hs[i], lambda i: hs[i], lambda i: ws[i],
            lambda i: ws[i] * H + hs[i] * W)
    restart = 0
    while effort.spent < stop_at:
        rule = RULES[restart % len(RULES)]
        key = keys[(restart // len(RULES)) % len(keys)]
        noise = NOISE if restart >= len(RULES) * len(keys) else 0.0
        draws = {i: rng.random() for i in items}
        cur = sorted(items, key=lambda i: (-key(i) * (1.0 + noise * draws[i]), i))
        restart += 1
        waste, lay, looks = skyline_fill(inst, cur, k, rule, k * W * H)
        effort.charge(UNITS_PER_DECODE + UNITS_PER_LOOK * looks)
        if waste == slack:
            return lay
        stalled = 0
        while stalled < STALL and effort.spent < stop_at:
            cand = _neighbour(cur, rng)
            w, lay, looks = skyline_fill(inst, cand, k, rule, waste)
            effort.charge(UNITS_PER_DECODE + UNITS_PER_LOOK * looks)
            stalled = 0 if w < waste else stalled + 1
            if w <= waste:
                cur, waste = cand, w
                if w == slack:
                    return lay
    return None


def _neighbour(order: list[int], rng: random.Random) -> list[int]:
    """``order`` after one to three random swaps or moves of a rect."""
    cand = order[:]
    n = len(cand)
    for _ in range(rng.randint(1, 3)):
        a, b = rng.randrange(n), rng.randrange(n)
        if rng.random() < 0.5:
            cand[a], cand[b] = cand[b], cand[a]
        else:
            cand.insert(b, cand.pop(a))
    return cand
