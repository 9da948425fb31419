"""The JSON formats of ``imcc pack``: the problem it reads and the answer it writes.

Input::

    {"bin": [W, H],
     "items": [[w, h], ...]}                      # ids are the item numbers 0, 1, ...

or items as objects ``{"id": "fc.0", "w": 64, "h": 256, "group": "fc"}`` (``id`` and ``group``
optional; rects of one group are read at the same time, which matters under the
``efficiency`` priority). Both forms may be mixed.

Output (``FORMAT`` ``imcc-packing/1``; keys sorted and ``items`` last, one per line, so the
same answer gives the same bytes; no timings, which vary from run to run)::

    {"format": "imcc-packing/1", "bin": [W, H], "priority": "resource",
     "seed": 0, "time_limit": 10.0, "cpsat": true,
     "bins_used": 12, "lower_bound": 11, "lower_bounds": {"area": 10, ...},
     "gap": 0.0833, "status": "feasible",
     "items": [{"id": 0, "w": 5, "h": 3, "group": null, "bin": 0, "x": 0, "y": 0}, ...]}

``items`` follow the input order. ``gap`` is ``(bins_used - lower_bound) / bins_used``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from imcc.packing.problem import MAX_RECTS, MAX_SIDE, PackResult, Rect
from isa import hostlimits
from isa.diagnostics import ConfigError, SourceSpan

FORMAT = "imcc-packing/1"
_ITEM_KEYS = {"id", "w", "h", "group"}


def parse_problem(text: str, source: str) -> tuple[int, int, list[Rect]]:
    """Read ``{"bin": [W, H], "items": [...]}``; every mistake is a one-line ConfigError."""
    try:
        doc = hostlimits.parse_json(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"not valid JSON: {e.msg}", SourceSpan(source, e.lineno, e.colno),
                          source=text) from None
    except ValueError as e:  # nested too deeply, a number of thousands of digits
        raise ConfigError(f"{source}: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected an object with keys \"bin\" and \"items\"")
    for key in ("bin", "items"):
        if key not in doc:
            raise ConfigError(f"{source}: missing key {key!r}; expected "
                              "{\"bin\": [W, H], \"items\": [[w, h], ...]}")
    extra = sorted(set(doc) - {"bin", "items"})
    if extra:
        raise ConfigError(f"{source}: unknown key {extra[0]!r}; only \"bin\" and \"items\"")
    b = doc["bin"]
    if not (isinstance(b, list) and len(b) == 2 and all(_is_pos_int(v) for v in b)):
        raise ConfigError(f"{source}: \"bin\" must be [W, H] with positive integers, got "
                          f"{str(b)[:80]}")
    if max(b) > MAX_SIDE:
        raise ConfigError(f"{source}: the bin is {b[0]}x{b[1]}; the packer takes sides up to "
                          f"{MAX_SIDE}")
    items = doc["items"]
    if not isinstance(items, list):
        raise ConfigError(f"{source}: \"items\" must be a list of [w, h] or objects")
    if len(items) > MAX_RECTS:
        raise ConfigError(f"{source}: {len(items)} items, more than the {MAX_RECTS} the packer "
                          "takes per instance")
    rects = [_item(v, k, source) for k, v in enumerate(items)]
    seen: dict[object, int] = {}
    for k, r in enumerate(rects):
        if r.id in seen:
            raise ConfigError(f"{source}: items {seen[r.id]} and {k} have the same id {r.id!r}; "
                              "ids must be unique")
        seen[r.id] = k
        if r.w > b[0] or r.h > b[1]:
            raise ConfigError(f"{source}: item {k} (id {r.id!r}) is {r.w}x{r.h}, larger than "
                              f"the {b[0]}x{b[1]} bin; cut it into tiles of at most the bin size")
    return b[0], b[1], rects


def _is_pos_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _item(v: object, k: int, source: str) -> Rect:
    where = f"{source}: item {k}"
    if isinstance(v, list):
        if len(v) != 2:
            raise ConfigError(f"{where}: expected [w, h], got {v!r}")
        w, h, ident, group = v[0], v[1], k, None
    elif isinstance(v, dict):
        unknown = sorted(set(v) - _ITEM_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; use id, w, h, group")
        for key in ("w", "h"):
            if key not in v:
                raise ConfigError(f"{where}: missing key {key!r}")
        w, h, ident, group = v["w"], v["h"], v.get("id", k), v.get("group")
        if isinstance(ident, bool) or not isinstance(ident, (int, str)):
            raise ConfigError(f"{where}: id must be a string or an integer, got {ident!r}")
        if group is not None and not isinstance(group, str):
            raise ConfigError(f"{where}: group must be a string or null, got {group!r}")
    else:
        raise ConfigError(f"{where}: expected [w, h] or an object, got {v!r}")
    for name, val in (("width", w), ("height", h)):
        if not _is_pos_int(val):
            raise ConfigError(f"{where}: {name} must be a positive integer, got {val!r}")
    return Rect(ident, w, h, group)


def result_document(rects: Sequence[Rect], bin_w: int, bin_h: int, res: PackResult, *,
                    priority: str, seed: int, time_limit: float, cpsat: bool) -> dict:
    """The output document (see the module docstring) of one ``pack`` call."""
    where = {p.id: p for p in res.placements}
    return {
        "format": FORMAT,
        "bin": [bin_w, bin_h],
        "priority": priority,
        "seed": seed,
        "time_limit": time_limit,
        "cpsat": cpsat,
        "bins_used": res.bins_used,
        "lower_bound": res.lower_bound,
        "lower_bounds": dict(res.lower_bounds),
        "gap": round(res.gap, 6),
        "status": res.status,
        "items": [{"id": r.id, "w": r.w, "h": r.h, "group": r.group, "bin": where[r.id].bin,
                   "x": where[r.id].x, "y": where[r.id].y} for r in rects],
    }


def dump(doc: dict) -> bytes:
    """Stable bytes: one key per line in sorted order, then ``items``, one item per line."""
    head = [f" {json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
            for k, v in sorted(doc.items()) if k != "items"]
    items = ",\n".join("  " + json.dumps(it, sort_keys=True) for it in doc["items"])
    head.append(' "items": [' + ("\n" + items + "\n ]" if items else "]"))
    return ("{\n" + ",\n".join(head) + "\n}\n").encode()
