"""Independent oracles for the packing tests: they share no code with imcc.packing.

* :func:`paint` checks a packing by painting every rect onto a cell grid per bin.
* :func:`min_bins` finds the optimum of a tiny instance by exhaustive search: every partition
  of the items into bins, each bin checked by :func:`bin_feasible`.
* :func:`bin_feasible` decides whether rects fit in one bin by trying, at the first free cell
  in row-major order, every remaining rect with its lower-left corner there, or leaving the cell
  empty. Any packing covers that cell with a rect cornered exactly there or leaves it empty, so
  the search is complete.
"""

from __future__ import annotations

import numpy as np

Item = tuple[int, int, int]  # w, h, group (-1: none)


def paint(items: list[Item], placements: list[tuple[int, int, int]], W: int, H: int,
          rows_rule: bool) -> list[str]:
    """Problems with ``placements[k] = (bin, x, y)`` of ``items[k]``; empty when valid."""
    errs = []
    if len(placements) != len(items):
        return [f"{len(placements)} placements for {len(items)} items"]
    nb = max((b for b, _, _ in placements), default=-1) + 1
    grid = np.zeros((nb, H, W), dtype=np.int64)
    rows: dict[tuple[int, int], np.ndarray] = {}
    for k, ((w, h, g), (b, x, y)) in enumerate(zip(items, placements)):
        if b < 0 or x < 0 or y < 0 or x + w > W or y + h > H:
            errs.append(f"item {k} out of its bin")
            continue
        grid[b, y:y + h, x:x + w] += 1
        if rows_rule and g >= 0:
            r = rows.setdefault((b, g), np.zeros(H, dtype=np.int64))
            r[y:y + h] += 1
    if (grid > 1).any():
        errs.append("cells covered twice")
    if any((r > 1).any() for r in rows.values()):
        errs.append("group rows shared")
    return errs


def bin_feasible(items: list[Item], W: int, H: int, rows_rule: bool) -> bool:
    grid = [[False] * W for _ in range(H)]
    free = W * H
    need = sum(w * h for w, h, _ in items)
    if need > free:
        return False
    used_rows: dict[int, list[tuple[int, int]]] = {}
    remaining = sorted(items)

    def fits(w, h, g, x, y):
        if x + w > W or y + h > H:
            return False
        if rows_rule and g >= 0:
            for a, b in used_rows.get(g, ()):
                if y < b and a < y + h:
                    return False
        return all(not grid[yy][xx] for yy in range(y, y + h) for xx in range(x, x + w))

    def mark(w, h, x, y, v):
        for yy in range(y, y + h):
            for xx in range(x, x + w):
                grid[yy][xx] = v

    def search(cell: int, free: int, need: int) -> bool:
        if not remaining:
            return True
        if free < need:
            return False
        while cell < W * H and grid[cell // W][cell % W]:
            cell += 1
        if cell == W * H:
            return False
        y, x = divmod(cell, W)
        tried = set()
        for k in range(len(remaining)):
            it = remaining[k]
            if it in tried:
                continue
            tried.add(it)
            w, h, g = it
            if fits(w, h, g, x, y):
                mark(w, h, x, y, True)
                remaining.pop(k)
                used_rows.setdefault(g, []).append((y, y + h))
                ok = search(cell + 1, free - w * h, need - w * h)
                used_rows[g].pop()
                remaining.insert(k, it)
                mark(w, h, x, y, False)
                if ok:
                    return True
        grid[y][x] = True  # leave this cell empty
        ok = search(cell + 1, free - 1, need)
        grid[y][x] = False
        return ok

    return search(0, free, need)


def min_bins(items: list[Item], W: int, H: int, rows_rule: bool) -> int:
    """The fewest bins that hold ``items`` (exhaustive; keep ``len(items)`` at 8 or below)."""
    n = len(items)
    if n == 0:
        return 0
    memo: dict[tuple, bool] = {}

    def ok(block: list[int]) -> bool:
        key = tuple(sorted(items[i] for i in block))
        if key not in memo:
            memo[key] = bin_feasible(list(key), W, H, rows_rule)
        return memo[key]

    best = n
    blocks: list[list[int]] = []

    def assign(i: int) -> None:
        nonlocal best
        if len(blocks) >= best:
            return
        if i == n:
            best = len(blocks)
            return
        for blk in blocks:
            blk.append(i)
            if ok(blk):
                assign(i + 1)
            blk.pop()
        blocks.append([i])
        assign(i + 1)
        blocks.pop()

    assign(0)
    return best
