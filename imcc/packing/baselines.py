"""Reference packers that the benchmarks compare against (not used by :func:`pack`).

* :func:`one_per_bin`: every rect in its own bin, as PUMA and PIMCOMP map weight tiles.
* :func:`skyline`: skyline bottom-left first fit, rects by decreasing height: each bin keeps
  the height profile of its contents, a rect goes where its bottom is lowest (then leftmost)
  in the first bin it fits. This is the skyline family of packers the issue names for OpenCIMTC.
* :func:`finite_first_fit`: Berkey and Wang's level heuristic FFF: rects by decreasing height
  fill levels left to right; each goes on the first level of the first bin with room, else
  opens a level in the first bin with height left, else a new bin.

None of them knows the row rule of the ``efficiency`` priority. Each returns the number of
bins and one placement per rect, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence

from imcc.packing.problem import Placement, Rect, make_instance


def one_per_bin(rects: Sequence[Rect], bin_w: int, bin_h: int
                ) -> tuple[int, tuple[Placement, ...]]:
    """Rect ``k`` alone in bin ``k`` at the origin."""
    make_instance(rects, bin_w, bin_h, "resource")
    return len(rects), tuple(Placement(r.id, k, 0, 0) for k, r in enumerate(rects))


def skyline(rects: Sequence[Rect], bin_w: int, bin_h: int
            ) -> tuple[int, tuple[Placement, ...]]:
    """Skyline bottom-left first fit, rects sorted by decreasing height, then width."""
    make_instance(rects, bin_w, bin_h, "resource")
    order = sorted(range(len(rects)), key=lambda k: (-rects[k].h, -rects[k].w, k))
    bins: list[list[tuple[int, int, int]]] = []  # skyline segments: x, width, height
    open_bins: list[int] = []  # bins that may still take a rect
    min_w = min((r.w for r in rects), default=0)
    min_h = min((r.h for r in rects), default=0)
    where: dict[int, tuple[int, int, int]] = {}
    for k in order:
        w, h = rects[k].w, rects[k].h
        for b in open_bins:
            spot = _skyline_spot(bins[b], w, h, bin_w, bin_h)
            if spot is not None:
                break
        else:
            bins.append([(0, bin_w, 0)])
            open_bins.append(len(bins) - 1)
            b, spot = len(bins) - 1, (0, 0)
        x, y = spot
        _skyline_add(bins[b], x, w, y + h)
        if _skyline_spot(bins[b], min_w, min_h, bin_w, bin_h) is None:
            open_bins.remove(b)  # not even the narrowest and the flattest rect fits any more
        where[k] = (b, x, y)
    return len(bins), tuple(Placement(r.id, *where[k]) for k, r in enumerate(rects))


def _skyline_spot(segs: list[tuple[int, int, int]], w: int, h: int, W: int, H: int
                  ) -> tuple[int, int] | None:
    """Lowest (then leftmost) position for a ``w x h`` rect resting on the skyline."""
    best = None
    for s in range(len(segs)):
        x = segs[s][0]
        if x + w > W:
            break
        y, covered, t = 0, 0, s
        while covered < w:
            y = max(y, segs[t][2])
            covered += segs[t][1] - (x - segs[t][0] if t == s else 0)
            t += 1
        if y + h <= H and (best is None or (y, x) < best):
            best = (y, x)
    return None if best is None else (best[1], best[0])


def _skyline_add(segs: list[tuple[int, int, int]], x: int, w: int, top: int) -> None:
    """Raise the skyline to ``top`` over columns ``x .. x+w-1`` and merge equal neighbours."""
    out = []
    for sx, sw, sh in segs:
        end = sx + sw
        if end <= x or sx >= x + w:
            out.append((sx, sw, sh))
            continue
        if sx < x:
            out.append((sx, x - sx, sh))
        if end > x + w:
            out.append((x + w, end - x - w, sh))
    out.append((x, w, top))
    out.sort()
    merged = [out[0]]
    for sx, sw, sh in out[1:]:
        px, pw, ph = merged[-1]
        if ph == sh and px + pw == sx:
            merged[-1] = (px, pw + sw, ph)
        else:
            merged.append((sx, sw, sh))
    segs[:] = merged


def finite_first_fit(rects: Sequence[Rect], bin_w: int, bin_h: int
                     ) -> tuple[int, tuple[Placement, ...]]:
    """Berkey and Wang's finite first fit (FFF) level packing."""
    make_instance(rects, bin_w, bin_h, "resource")
    order = sorted(range(len(rects)), key=lambda k: (-rects[k].h, -rects[k].w, k))
    bins: list[list[list[int]]] = []  # per bin, levels as [y, height, used width]
    tops: list[int] = []
    where: dict[int, tuple[int, int, int]] = {}
    for k in order:
        w, h = rects[k].w, rects[k].h
        placed = False
        for b, levels in enumerate(bins):
            for lv in levels:
                if lv[1] >= h and lv[2] + w <= bin_w:
                    where[k] = (b, lv[2], lv[0])
                    lv[2] += w
                    placed = True
                    break
            if placed:
                break
        if not placed:
            for b in range(len(bins)):
                if tops[b] + h <= bin_h:
                    bins[b].append([tops[b], h, w])
                    where[k] = (b, 0, tops[b])
                    tops[b] += h
                    placed = True
                    break
        if not placed:
            bins.append([[0, h, w]])
            tops.append(h)
            where[k] = (len(bins) - 1, 0, 0)
    return len(bins), tuple(Placement(r.id, *where[k]) for k, r in enumerate(rects))
