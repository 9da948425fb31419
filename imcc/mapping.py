"""Placement of tiles on the chip's arrays, under the user's priority.

- ``resource``: pack every tile with the fewest arrays (tiles of different layers share arrays).
- ``efficiency``: tiles of one layer are read at the same time, so they must not share rows of
  an array (the packer's group constraint); then, while arrays are left over, the layer with the
  longest estimated time is *replicated* (its tiles packed again on free arrays) and its input
  vectors are split among the replicas, as PUMA and PIMCOMP do.

Latency estimate (the cost model's view of an inference): layers run one after another; a layer
streams ``M`` input vectors in ``C`` DAC cycles each; its tiles on different arrays run in
parallel, tiles sharing an array run in turn; with ``r`` replicas each handles ``ceil(M / r)``
vectors. A layer gets at most 16 replicas, each with at least 64 vectors (smaller shares would
cost more in programming and control than they save). ``latency = sum_layers ceil(M / r) * C * s * t_cycle`` where ``s`` is the largest number
of the layer's tiles on one array.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType

from imcc.packing import PackResult, Rect, pack, problem
from imcc.tiling import LayerPlan, Tile
from isa.diagnostics import ConfigError

DEFAULT_T_CYCLE_NS = 100.0  # one crossbar read + conversion cycle (ISAAC: 100 ns)
MIN_VECTORS_PER_REPLICA = 64  # a replica must take a real share of the input vectors
MAX_REPLICAS = 16


@dataclass(frozen=True)
class TilePlacement:
    """Tile ``tile`` (replica ``replica``) at ``array``, rows ``row..row+h``, columns
    ``col..col+w``."""

    tile: Tile
    replica: int
    array: int
    row: int
    col: int


@dataclass(frozen=True)
class LayerWork:
    """Input vectors streamed per inference and DAC cycles per vector."""

    vectors: int
    cycles: int


@dataclass(frozen=True)
class Mapping:
    plans: tuple[LayerPlan, ...]
    placements: tuple[TilePlacement, ...]
    replicas: MappingProxyType  # layer -> replica count
    arrays_used: int
    priority: str
    base: PackResult  # the packing of one copy of every tile
    latency_ns: float
    layer_latency_ns: MappingProxyType


def _rects(plans, replica: int, group: bool) -> list[Rect]:
    return [Rect(f"{t.id}#r{replica}", t.w, t.h, (f"{t.layer}#r{replica}" if group else None))
            for p in plans for t in p.tiles]


def _serialization(placements: list[TilePlacement]) -> dict[tuple[str, int], int]:
    """Per (layer, replica): the largest number of its tiles that share one array."""
    c = Counter((p.tile.layer, p.replica, p.array) for p in placements)
    out: dict[tuple[str, int], int] = {}
    for (layer, rep, _), n in c.items():
        out[(layer, rep)] = max(out.get((layer, rep), 0), n)
    return out


def _latency(plans, work, replicas, serial, t_cycle):
    per = {}
    for p in plans:
        wk = work.get(p.layer, LayerWork(1, 1))
        r = replicas.get(p.layer, 1)
        s = max(serial.get((p.layer, i), 1) for i in range(r))
        per[p.layer] = math.ceil(wk.vectors / r) * wk.cycles * s * t_cycle
    return per


def pack_base(plans: list[LayerPlan], *, rows: int, cols: int, priority: str = "efficiency",
              time_limit: float = 10.0, seed: int = 0, workers: int = 2,
              progress=None) -> PackResult | None:
    """The packing of one copy of every tile of ``plans`` (None when there is none): its
    ``bins_used`` is the number of arrays the model needs under ``priority``, whatever the
    chip has (``efficiency`` keeps the tiles of a layer off each other's rows)."""
    rects = _rects(plans, 0, priority == "efficiency")
    if not rects:
        return None
    kw = {"priority": priority, "time_limit": time_limit, "seed": seed, "workers": workers,
          "progress": progress}
    if len(rects) > problem.MAX_RECTS:
        return _pack_with_whole_arrays(rects, cols, rows, kw)
    return pack(rects, cols, rows, **kw)


def _pack_with_whole_arrays(rects: list[Rect], cols: int, rows: int, kw: dict) -> PackResult:
    """More tiles than the packer places: the tiles that fill a whole array take one each, in
    their order (as the packer places such tiles: first), and the others are packed after
    them. Whole-array tiles share with nothing, so the bounds add and an optimal packing of the
    others is an optimal packing of all."""
    t0 = time.perf_counter()
    whole = [r for r in rects if (r.w, r.h) == (cols, rows)]
    rest = [r for r in rects if (r.w, r.h) != (cols, rows)]
    if len(rest) > problem.MAX_RECTS:
        raise ConfigError(
            f"the model's weights cut into {len(rects):,} tiles of at most {rows}x{cols} cells, "
            f"{len(rest):,} of them smaller than an array: more than the "
            f"{problem.MAX_RECTS:,} the packer places",
            hint="program fewer cells per weight (fewer weight bits or more bits per cell: "
                 "--precision, --set weight_bits=N, --set cell_bits=N) or use larger arrays "
                 "(--set rows=N --set cols=N)")
    at = {r.id: problem.Placement(r.id, b, 0, 0) for b, r in enumerate(whole)}
    sub = pack(rest, cols, rows, **kw) if rest else None
    if sub is not None:
        at.update((p.id, problem.Placement(p.id, p.bin + len(whole), p.x, p.y))
                  for p in sub.placements)
    bounds = {k: v + len(whole) for k, v in sub.lower_bounds.items()} if sub is not None \
        else {"whole_arrays": len(whole)}
    return PackResult(bins_used=len(whole) + (sub.bins_used if sub is not None else 0),
                      placements=tuple(at[r.id] for r in rects), lower_bound=max(bounds.values()),
                      lower_bounds=bounds, status=sub.status if sub is not None else "optimal",
                      solve_time_s=time.perf_counter() - t0,
                      stats=dict(sub.stats) if sub is not None else {})


def map_layers(
    plans: list[LayerPlan],
    *,
    rows: int,
    cols: int,
    arrays_available: int,
    priority: str = "efficiency",
    work: dict[str, LayerWork] | None = None,
    t_cycle_ns: float = DEFAULT_T_CYCLE_NS,
    time_limit: float = 10.0,
    seed: int = 0,
    workers: int = 2,
    max_replicas: int = MAX_REPLICAS,
    progress=None,
    base: PackResult | None = None,
) -> Mapping:
    """Pack the tiles of ``plans`` onto ``arrays_available`` arrays of ``rows x cols`` cells.
    ``base``: the packing of one copy of every tile (:func:`pack_base` with the same
    arguments), when it was already computed."""
    if priority not in ("efficiency", "resource"):
        raise ConfigError(f"unknown priority {priority!r}: use efficiency or resource")
    work = work or {}
    by_id = {f"{t.id}#r0": t for p in plans for t in p.tiles}
    if base is None:
        base = pack_base(plans, rows=rows, cols=cols, priority=priority,
                         time_limit=time_limit, seed=seed, workers=workers, progress=progress)
    used = base.bins_used if base else 0
    if used > arrays_available:
        sizes = sorted(((p.cells, p.layer) for p in plans), reverse=True)[:3]
        biggest = ", ".join(f"{name} ({math.ceil(c / (rows * cols))} arrays' worth)"
                            for c, name in sizes)
        raise ConfigError(
            f"the model needs {used} arrays (lower bound {base.lower_bound}) but the chip has "
            f"{arrays_available}: short by {used - arrays_available}; largest layers: {biggest}",
            hint="use a chip with more tiles or arrays, fewer weight bits, or more bits per cell",
        )
    placements = [TilePlacement(by_id[pl.id], 0, pl.bin, pl.y, pl.x)
                  for pl in (base.placements if base else ())]
    replicas = {p.layer: 1 for p in plans}
    serial = _serialization(placements)
    per = _latency(plans, work, replicas, serial, t_cycle_ns)
    if priority == "efficiency" and plans:
        free = arrays_available - used
        blocked: set[str] = set()
        while free > 0:
            candidates = [p for p in plans if p.layer not in blocked
                          and replicas[p.layer] < min(
                              max_replicas,
                              work.get(p.layer, LayerWork(1, 1)).vectors // MIN_VECTORS_PER_REPLICA)]
            if not candidates:
                break
            worst = max(candidates, key=lambda p: (per[p.layer], p.layer))
            r = replicas[worst.layer]
            extra = _rects([worst], r, True)
            res = pack(extra, cols, rows, priority="efficiency", time_limit=min(2.0, time_limit),
                       seed=seed, workers=workers)
            if res.bins_used > free:
                blocked.add(worst.layer)
                continue
            ids = {f"{t.id}#r{r}": t for t in worst.tiles}
            placements += [TilePlacement(ids[pl.id], r, used + pl.bin, pl.y, pl.x)
                           for pl in res.placements]
            used += res.bins_used
            free -= res.bins_used
            replicas[worst.layer] = r + 1
            serial = _serialization(placements)
            per = _latency(plans, work, replicas, serial, t_cycle_ns)
    empty = PackResult(0, (), 0, MappingProxyType({}), "optimal", 0.0)
    return Mapping(
        plans=tuple(plans),
        placements=tuple(placements),
        replicas=MappingProxyType(dict(replicas)),
        arrays_used=used,
        priority=priority,
        base=base or empty,
        latency_ns=float(sum(per.values())),
        layer_latency_ns=MappingProxyType(per),
    )
