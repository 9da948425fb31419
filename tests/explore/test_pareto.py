"""The Pareto front (score up, cost down) against brute force on random point sets."""

import numpy as np
import pytest

from imcc.explore.pareto import pareto_front


def brute(points):
    def dominated(i):
        si, ci = points[i]
        return any(s >= si and c <= ci and (s > si or c < ci)
                   for j, (s, c) in enumerate(points) if j != i)

    return [not dominated(i) for i in range(len(points))]


@pytest.mark.parametrize("seed", range(40))
def test_front_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    # few distinct values, so ties in score, in cost and whole duplicates are common
    points = [(float(rng.integers(0, 8)) / 8, float(rng.integers(1, 10))) for _ in range(n)]
    if seed % 2:
        points = [(float(s), float(c)) for s, c in rng.random((n, 2))]
    assert pareto_front(points) == brute(points)


def test_small_cases():
    assert pareto_front([]) == []
    assert pareto_front([(0.5, 1.0)]) == [True]
    assert pareto_front([(0.5, 1.0), (0.5, 1.0)]) == [True, True]
    assert pareto_front([(0.5, 1.0), (0.5, 2.0)]) == [True, False]
    assert pareto_front([(0.5, 1.0), (0.6, 1.0)]) == [False, True]
