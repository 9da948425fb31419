"""Spread each group over the bins (the ``efficiency`` priority's secondary objective).

Rects of one group in one bin are read one after another (they use disjoint rows), so a group
whose rects are spread over more bins is read in fewer steps. With the number of bins fixed,
:func:`spread` lowers ``sum over groups and bins of count(group, bin)^2`` by hill climbing:

* *swap* two rects of equal size, of different groups, in different bins (the geometry cannot
  break; only the row rule is checked);
* *move* a rect into free space of another bin (MaxRects on that bin's layout).

Each accepted step strictly lowers the objective, so the pass ends; it is also capped.
"""

from __future__ import annotations

from collections import defaultdict

from imcc.packing.maxrects import BinSpace
from imcc.packing.problem import Instance

Layout = list[list[tuple[int, int, int]]]


def spread(inst: Instance, layout: Layout, max_steps: int = 2000) -> Layout:
    """A layout with the same bins and no worse (usually better) spread of every group."""
    if not inst.rows_disjoint:
        return layout
    pos = {i: (b, x, y) for b, content in enumerate(layout) for i, x, y in content}
    count: dict[tuple[int, int], int] = defaultdict(int)
    members: dict[tuple[int, int], set[int]] = defaultdict(set)
    by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    content: list[set[int]] = [set() for _ in layout]
    for i, (b, _, _) in pos.items():
        content[b].add(i)
        g = inst.groups[i]
        if g >= 0:
            count[g, b] += 1
            members[g, b].add(i)
        by_size[inst.ws[i], inst.hs[i]].append(i)

    def rows_free(g: int, b: int, y: int, h: int, skip: int) -> bool:
        if g < 0:
            return True
        return all(j == skip or y + h <= pos[j][2] or pos[j][2] + inst.hs[j] <= y
                   for j in members.get((g, b), ()))

    def relocate(i: int, b: int, x: int, y: int) -> None:
        g, old = inst.groups[i], pos[i][0]
        content[old].discard(i)
        content[b].add(i)
        if g >= 0:
            count[g, old] -= 1
            members[g, old].discard(i)
            count[g, b] += 1
            members[g, b].add(i)
        pos[i] = (b, x, y)

    steps = 0
    improved = True
    while improved and steps < max_steps:
        improved = False
        crowded = sorted((k for k, c in count.items() if c > 1), key=lambda k: (-count[k], k))
        for g, b in crowded:
            if count[g, b] <= 1:
                continue
            for i in sorted(members[g, b]):
                if _try_swap(inst, i, g, b, pos, count, by_size, rows_free, relocate) or \
                        _try_move(inst, i, g, b, pos, count, content, relocate):
                    steps += 1
                    improved = True
                    break
            if steps >= max_steps:
                break
    out: Layout = [[] for _ in layout]
    for i in sorted(pos):
        b, x, y = pos[i]
        out[b].append((i, x, y))
    return out


def _try_swap(inst, i, g, b, pos, count, by_size, rows_free, relocate) -> bool:
    """Swap ``i`` with an equal-size rect of another group in another bin, if that helps."""
    _, xi, yi = pos[i]
    for j in by_size[inst.ws[i], inst.hs[i]]:
        bj, xj, yj = pos[j]
        gj = inst.groups[j]
        if bj == b or gj == g:
            continue
        delta = 2 * (count.get((g, bj), 0) - count[g, b]) + 2
        if gj >= 0:
            delta += 2 * (count.get((gj, b), 0) - count[gj, bj]) + 2
        if delta >= 0:
            continue
        if rows_free(g, bj, yj, inst.hs[i], -1) and rows_free(gj, b, yi, inst.hs[j], -1):
            relocate(i, bj, xj, yj)
            relocate(j, b, xi, yi)
            return True
    return False


def _try_move(inst, i, g, b, pos, count, content, relocate, tries: int = 20) -> bool:
    """Move ``i`` into free space of a bin holding fewer rects of its group."""
    cap, area = inst.bin_w * inst.bin_h, inst.ws[i] * inst.hs[i]
    targets = sorted((count.get((g, t), 0), t) for t in range(len(content)) if t != b)
    for c, t in targets:
        if c + 1 >= count[g, b] or tries <= 0:
            break
        if cap - sum(inst.ws[j] * inst.hs[j] for j in content[t]) < area:
            continue
        tries -= 1
        space = BinSpace(inst.bin_w, inst.bin_h)
        for j in sorted(content[t]):
            _, x, y = pos[j]
            space.place(j, x, y, inst.ws[j], inst.hs[j], inst.groups[j])
        spot = space.best("bl", inst.ws[i], inst.hs[i], g)
        if spot is not None:
            relocate(i, t, spot[1], spot[2])
            return True
    return False
