"""Find the first open bin that may take a rect, in time logarithmic in the number of bins.

First fit scans the open bins in order for the first one where a rect fits. With thousands of
distinct rects and bins, the scan is quadratic. :class:`FitIndex` keeps, per bin, what every
fit needs in a max segment tree over bin numbers: the largest free rectangle's area, and for
:data:`STEPS` widths ``T`` the tallest free rectangle at least ``T`` wide (a staircase).
:meth:`FitIndex.first` walks down to the first bin whose numbers allow the rect (for ``w``,
the step of the largest ``T <= w``) and asks the caller's exact test there, going on to the
next such bin when it fails. The numbers are necessary conditions, so the answer is the linear
scan's.

>>> idx = FitIndex(9)
>>> idx.append([(0, 0, 2, 9)]); idx.append([(0, 0, 9, 9)])
>>> idx.first(0, 3, 3, lambda k: True)
1
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

STEPS = 16  # widths of the staircase kept per bin


class FitIndex:
    """Per-bin room in a max segment tree over bin numbers (see the module docstring)."""

    __slots__ = ("big", "n", "size", "stair", "steps", "visits")

    def __init__(self, bin_w: int):
        k = min(STEPS, bin_w)
        self.steps = sorted({(t * bin_w) // k for t in range(k)})
        self.n = 0
        self.size = 1
        self.big = [0, 0]                       # largest free area
        self.stair = [self._none(), self._none()]
        self.visits = 0  # tree nodes looked at, for effort accounting

    def _none(self) -> tuple[int, ...]:
        return (0,) * len(self.steps)

    def room(self, free: Sequence[tuple[int, int, int, int]]) -> tuple[int, tuple[int, ...]]:
        """The numbers kept for a bin whose free rectangles are ``free`` (x, y, w, h)."""
        steps = self.steps
        top = [0] * len(steps)  # top[t]: tallest free rect whose width reaches step t, not t+1
        big = 0
        for f in free:
            w, h = f[2], f[3]
            big = max(big, w * h)
            t = bisect_right(steps, w) - 1
            if t >= 0 and h > top[t]:
                top[t] = h
        for t in range(len(steps) - 2, -1, -1):  # a rect reaching step t + 1 reaches t
            top[t] = max(top[t], top[t + 1])
        return big, tuple(top)

    def append(self, free: Sequence[tuple[int, int, int, int]]) -> None:
        """Open a bin (number ``n``) with these free rectangles."""
        if self.n == self.size:
            leaves = [(self.big[self.size + k], self.stair[self.size + k])
                      for k in range(self.n)]
            self.size *= 2
            self.big = [0] * (2 * self.size)
            self.stair = [self._none()] * (2 * self.size)
            for k, (b, s) in enumerate(leaves):
                self.big[self.size + k], self.stair[self.size + k] = b, s
            for v in range(self.size - 1, 0, -1):
                self._pull(v)
        self.n += 1
        self.update(self.n - 1, free)

    def update(self, k: int, free: Sequence[tuple[int, int, int, int]]) -> None:
        """Bin ``k`` now has these free rectangles."""
        v = self.size + k
        self.big[v], self.stair[v] = self.room(free)
        v //= 2
        while v and self._pull(v):
            v //= 2

    def _pull(self, v: int) -> bool:
        """Recompute node ``v`` from its children; False when it did not change."""
        a, b = 2 * v, 2 * v + 1
        big = max(self.big[a], self.big[b])
        stair = tuple(map(max, self.stair[a], self.stair[b]))
        if big == self.big[v] and stair == self.stair[v]:
            return False
        self.big[v], self.stair[v] = big, stair
        return True

    def first(self, start: int, w: int, h: int, fits: Callable[[int], bool]) -> int:
        """The first bin ``k >= start`` whose room allows ``w x h`` and where ``fits(k)``;
        -1 when there is none."""
        t = bisect_right(self.steps, w) - 1
        a = w * h
        big, stair, size, n = self.big, self.stair, self.size, self.n
        top = size.bit_length()  # a node c at depth c.bit_length() - 1 spans 2**(top - it)
        if start >= n or big[1] < a or stair[1][t] < h:
            return -1
        stack = [1]  # nodes whose room allows the rect, the leftmost on top
        while stack:
            v = stack.pop()
            self.visits += 1
            if v >= size:
                if fits(v - size):
                    return v - size
                continue
            for c in (2 * v + 1, 2 * v):
                # the node's leaves: [(c << d) - size, ((c + 1) << d) - size), d its height
                d = top - c.bit_length()
                if ((c + 1) << d) - size > start and (c << d) - size < n \
                        and big[c] >= a and stair[c][t] >= h:
                    stack.append(c)
        return -1
