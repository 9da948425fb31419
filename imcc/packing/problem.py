"""The packing problem and its answer: rectangles, placements, results, and input validation.

A *rect* is a tile of a weight matrix: ``w`` array columns by ``h`` array rows, never rotated.
A *bin* is one crossbar array of ``bin_w`` columns by ``bin_h`` rows. Coordinates are cells:
a rect placed at ``(x, y)`` covers columns ``x .. x+w-1`` and rows ``y .. y+h-1``.

Two priorities:

* ``resource``: any rects may share a bin; minimise the number of bins.
* ``efficiency``: as ``resource``, and two rects of the same ``group`` (read at the same time)
  placed in the same bin must not share a row: their row intervals ``[y, y+h)`` are disjoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from isa.diagnostics import ConfigError

PRIORITIES = ("resource", "efficiency")
STATUSES = ("optimal", "feasible", "heuristic")


@dataclass(frozen=True)
class Rect:
    """A tile to place: ``w`` columns (x extent) by ``h`` rows (y extent), never rotated.

    Rects of one ``group`` are read at the same time; under the ``efficiency`` priority two of
    them in the same bin must use disjoint rows.
    """

    id: int | str
    w: int
    h: int
    group: str | None = None


@dataclass(frozen=True)
class Placement:
    """Rect ``id`` sits in bin ``bin`` (0-based) with its lowest-numbered cell at ``(x, y)``."""

    id: int | str
    bin: int
    x: int
    y: int


@dataclass(frozen=True)
class PackResult:
    """The answer of :func:`imcc.packing.pack`.

    ``bins_used`` bins numbered ``0 .. bins_used-1`` hold one placement per rect, in input
    order. ``lower_bound`` is the best of ``lower_bounds`` (no packing uses fewer bins).
    ``status`` is ``optimal`` when ``bins_used`` is proven minimal (it meets the lower bound or
    CP-SAT proved fewer bins infeasible), ``feasible`` when CP-SAT took part without a proof,
    ``heuristic`` when only the heuristics ran. ``solve_time_s`` is wall-clock time (it is
    reported, never used to decide anything).
    """

    bins_used: int
    placements: tuple[Placement, ...]
    lower_bound: int
    lower_bounds: Mapping[str, int]
    status: str
    solve_time_s: float
    stats: Mapping[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative distance to the lower bound: ``(bins_used - lower_bound) / bins_used``."""
        if self.bins_used == 0:
            return 0.0
        return (self.bins_used - self.lower_bound) / self.bins_used


@dataclass(frozen=True)
class Instance:
    """A validated problem in index form: item ``i`` is ``ws[i] x hs[i]`` in group ``groups[i]``.

    ``groups`` holds small integers (-1: no group). The row constraint applies only when
    ``rows_disjoint`` is true (the ``efficiency`` priority).
    """

    bin_w: int
    bin_h: int
    ws: tuple[int, ...]
    hs: tuple[int, ...]
    groups: tuple[int, ...]
    rows_disjoint: bool

    @property
    def n(self) -> int:
        return len(self.ws)

    def conflict(self, i: int, j: int) -> bool:
        """True when items ``i`` and ``j`` must not share rows if they share a bin."""
        return self.rows_disjoint and self.groups[i] >= 0 and self.groups[i] == self.groups[j]

    def key(self, i: int) -> tuple[int, int, int]:
        """Items with equal keys are interchangeable."""
        return (self.ws[i], self.hs[i], self.groups[i] if self.rows_disjoint else -1)


#: The longest side of a bin (and so of a rect): the bounds compute with products of sides in
#: 64-bit integers. Crossbar arrays have at most 65536 rows and columns.
MAX_SIDE = 2**24
#: The most rects one instance may have (``demand`` copies counted).
MAX_RECTS = 100_000


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ConfigError(f"{what} must be a positive integer, got {value}")
    if value > MAX_SIDE:
        raise ConfigError(f"{what} {value} is more than the longest side the packer takes "
                          f"({MAX_SIDE})")
    return value


def make_instance(rects: Iterable[Rect], bin_w: int, bin_h: int, priority: str) -> Instance:
    """Validate ``rects`` against the bin and the priority; raise :class:`ConfigError` if bad."""
    if priority not in PRIORITIES:
        raise ConfigError(f"unknown packing priority {priority!r}; use one of "
                          + ", ".join(PRIORITIES))
    bin_w = _positive_int(bin_w, "bin width")
    bin_h = _positive_int(bin_h, "bin height")
    ws: list[int] = []
    hs: list[int] = []
    groups: list[int] = []
    group_ids: dict[str, int] = {}
    seen: set[int | str] = set()
    for k, r in enumerate(rects):
        if k >= MAX_RECTS:
            raise ConfigError(f"more than {MAX_RECTS} rects to pack; the packer takes at most "
                              f"{MAX_RECTS} per instance")
        if not isinstance(r, Rect):
            raise ConfigError(f"item {k} is a {type(r).__name__}, expected a Rect")
        if r.id in seen:
            raise ConfigError(f"item {k}: id {r.id!r} is used twice; give every item its own id")
        seen.add(r.id)
        w = _positive_int(r.w, f"item {r.id!r}: width")
        h = _positive_int(r.h, f"item {r.id!r}: height")
        if w > bin_w or h > bin_h:
            raise ConfigError(f"item {r.id!r} ({w}x{h}) does not fit in a {bin_w}x{bin_h} bin; "
                              "cut it into tiles of at most the bin size")
        ws.append(w)
        hs.append(h)
        groups.append(-1 if r.group is None else group_ids.setdefault(str(r.group),
                                                                       len(group_ids)))
    return Instance(bin_w, bin_h, tuple(ws), tuple(hs), tuple(groups),
                    rows_disjoint=priority == "efficiency")
