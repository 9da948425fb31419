"""The Pareto front of (score, cost) points: higher score and lower cost are better.

A point is on the front when no other point is at least as good in both and strictly better in
one. Equal points are all on the front (none is strictly better).

>>> pareto_front([(0.9, 10.0), (0.8, 5.0), (0.7, 6.0), (0.9, 12.0)])
[True, True, False, False]
"""

from __future__ import annotations


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """``front[i]`` is True when ``points[i] = (score, cost)`` is not dominated.

    Sort by cost (ascending), then score (descending): a point is dominated exactly when an
    earlier point in that order has a higher score, or an equal score at a lower cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0]))
    front = [False] * len(points)
    best = float("-inf")  # best score among points of strictly lower cost
    i = 0
    while i < len(order):
        cost = points[order[i]][1]
        j = i
        while j < len(order) and points[order[j]][1] == cost:
            j += 1
        group = order[i:j]  # equal cost, best score first
        top = points[group[0]][0]
        for k in group:
            s = points[k][0]
            front[k] = s == top and s > best
        best = max(best, top)
        i = j
    return front
