"""An independent checker for packings: it trusts nothing the packer computed.

>>> rects = [Rect("a", 2, 2), Rect("b", 2, 2)]
>>> check_packing(rects, 3, 3, [Placement("a", 0, 0, 0), Placement("b", 0, 1, 1)])
["rects 'a' and 'b' overlap in bin 0"]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from imcc.packing.problem import Placement, Rect


def check_packing(rects: Sequence[Rect], bin_w: int, bin_h: int,
                  placements: Iterable[Placement], *, priority: str = "resource",
                  bins_used: int | None = None) -> list[str]:
    """Return every violated rule (empty when the packing is valid).

    Rules: each rect is placed exactly once and nothing else is placed; each placement lies
    inside its bin (``0 <= x``, ``x + w <= bin_w``, same for rows; bins are numbered from 0, and
    below ``bins_used`` when given); no two rects of one bin share a cell; under the
    ``efficiency`` priority no two rects of one group in one bin share a row.
    """
    errors: list[str] = []
    by_id = {r.id: r for r in rects}
    placed: dict[object, Placement] = {}
    for p in placements:
        if p.id not in by_id:
            errors.append(f"placement of unknown rect {p.id!r}")
        elif p.id in placed:
            errors.append(f"rect {p.id!r} is placed more than once")
        else:
            placed[p.id] = p
    for r in rects:
        if r.id not in placed:
            errors.append(f"rect {r.id!r} is not placed")
    per_bin: dict[int, list[tuple[Placement, Rect]]] = {}
    for p in placed.values():
        r = by_id[p.id]
        if p.bin < 0 or (bins_used is not None and p.bin >= bins_used):
            errors.append(f"rect {p.id!r} is in bin {p.bin}, outside 0..{(bins_used or 1) - 1}")
        if p.x < 0 or p.y < 0 or p.x + r.w > bin_w or p.y + r.h > bin_h:
            errors.append(f"rect {p.id!r} ({r.w}x{r.h} at {p.x},{p.y}) sticks out of the "
                          f"{bin_w}x{bin_h} bin {p.bin}")
        per_bin.setdefault(p.bin, []).append((p, r))
    rows_rule = priority == "efficiency"
    for b in sorted(per_bin):
        items = sorted(per_bin[b], key=lambda pr: (pr[0].x, str(pr[0].id)))
        for k, (p, r) in enumerate(items):
            for q, s in items[k + 1:]:
                if q.x >= p.x + r.w:
                    break
                if q.y < p.y + r.h and p.y < q.y + s.h:
                    errors.append(f"rects {p.id!r} and {q.id!r} overlap in bin {b}")
        if rows_rule:
            errors.extend(_row_conflicts(b, per_bin[b]))
    return errors


def _row_conflicts(b: int, items: list[tuple[Placement, Rect]]) -> list[str]:
    errors = []
    by_group: dict[str, list[tuple[Placement, Rect]]] = {}
    for p, r in items:
        if r.group is not None:
            by_group.setdefault(str(r.group), []).append((p, r))
    for g in sorted(by_group):
        members = sorted(by_group[g], key=lambda pr: (pr[0].y, str(pr[0].id)))
        for k, (p, r) in enumerate(members):
            for q, s in members[k + 1:]:
                if q.y >= p.y + r.h:
                    break
                errors.append(f"rects {p.id!r} and {q.id!r} of group {g!r} share rows "
                              f"in bin {b}")
    return errors
