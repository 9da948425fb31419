"""Problem files of ``imcc pack`` and ``benchmarks/bench_packing.py``: one or many instances.

Formats, told apart by their content:

* **imcc JSON** (``imcc.packing.jsonio``): ``{"bin": [W, H], "items": [[w, h] or {...}, ...]}``.
* **Benchmark JSON** (``../shared/benchmarks/bpp2d``): one instance
  ``{"name": ..., "bin": {"W": W, "H": H}, "items": [[w, h], ...]}`` (``class``, ``n``, ``index``
  optional), or a collection ``{"instances": [instance, ...], ...}``.
* **2BP text**, the format the Berkey & Wang and Martello & Vigo classes were first distributed
  in (``Class_01.2bp`` ...), any number of instances one after another, each::

      1   PROBLEM CLASS
      20  1  1   N. OF ITEMS, RELATIVE AND ABSOLUTE N. OF INSTANCE
      10  10     HBIN,WBIN
      3   6      H(I),W(I),I=1,...,N
      ...        (N lines in all, height first)

* **2DPackLib text** (``*.ins2D``): the number of item types ``m``, then ``W H``, then ``m``
  lines ``id w h [demand ...]`` (``demand`` copies of the item, 1 when absent).

Only the leading numbers of a text line count (the 2BP labels after them are ignored). Every
mistake is one :class:`ConfigError` naming the file and the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from imcc.packing.jsonio import parse_problem
from imcc.packing.problem import MAX_RECTS, MAX_SIDE, Rect
from isa import hostlimits
from isa.diagnostics import ConfigError

_NUM = re.compile(r"[-+]?\d{1,18}")  # longer numbers are no size or count the packer takes


@dataclass(frozen=True)
class Instance:
    """One bin packing problem: ``rects`` into bins of ``W`` x ``H``."""

    name: str
    W: int
    H: int
    rects: tuple[Rect, ...]
    cls: int | None = None  # the benchmark class (1..10), when the file says
    n: int | None = None
    index: int | None = None


def read_instances(text: str, source: str) -> list[Instance]:
    """Every instance of a problem file (see the module doc for the formats)."""
    if text.lstrip()[:1] in ("{", "["):
        return _from_json(text, source)
    return _from_text(text, source)


# ---- JSON --------------------------------------------------------------------------------------


def _from_json(text: str, source: str) -> list[Instance]:
    try:
        doc = hostlimits.parse_json(text)
    except json.JSONDecodeError:
        parse_problem(text, source)  # raises the located JSON error
        raise
    except ValueError as e:  # nested too deeply, a number of thousands of digits
        raise ConfigError(f"{source}: not valid JSON: {e}") from None
    if isinstance(doc, dict) and "instances" in doc:
        items = doc["instances"]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{source}: \"instances\" must be a non-empty list of instances")
        out = [_bench_instance(d, f"{source}: instance {k}", k) for k, d in enumerate(items)]
        names = [i.name for i in out]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ConfigError(f"{source}: two instances are named {dup!r}")
        return out
    if isinstance(doc, dict) and isinstance(doc.get("bin"), dict):
        return [_bench_instance(doc, source, 0)]
    W, H, rects = parse_problem(text, source)
    return [Instance(_stem(source), W, H, tuple(rects))]


def _bench_instance(d: object, where: str, k: int) -> Instance:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object with \"bin\" and \"items\"")
    b = d.get("bin")
    if not (isinstance(b, dict) and _pos_int(b.get("W")) and _pos_int(b.get("H"))):
        raise ConfigError(f"{where}: \"bin\" must be {{\"W\": width, \"H\": height}} with "
                          f"positive integers, got {b!r}")
    problem = {"bin": [b["W"], b["H"]], "items": d.get("items")}
    name = str(d.get("name", f"instance{k}"))
    W, H, rects = parse_problem(json.dumps(problem), f"{where} ({name})")
    cls, n, index = (d.get(key) for key in ("class", "n", "index"))
    return Instance(name, W, H, tuple(rects), cls if _pos_int(cls) else None,
                    n if _pos_int(n) else None, index if _pos_int(index) else None)


def _pos_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _stem(source: str) -> str:
    return re.split(r"[\\/]", source)[-1].rsplit(".", 1)[0] or "instance"


# ---- text --------------------------------------------------------------------------------------


def _from_text(text: str, source: str) -> list[Instance]:
    rows = []  # (line number, leading integers) of the lines that start with a number
    for no, line in enumerate(text.splitlines(), 1):
        nums = []
        for tok in line.split():
            if not _NUM.fullmatch(tok):
                if tok.lstrip("+-").isdigit():
                    raise ConfigError(f"{source}:{no}: the number {tok[:20]}... has more than 18 "
                                      "digits; no size or count is that large")
                break
            nums.append(int(tok))
        if nums:
            rows.append((no, nums))
        elif line.strip() and not rows:
            raise ConfigError(f"{source}:{no}: expected numbers, got {line.strip()[:40]!r}; "
                              "give a JSON problem, a 2BP file or a 2DPackLib file")
    if len(rows) < 3:
        raise ConfigError(f"{source}: too short for a problem file (2BP or 2DPackLib text, or "
                          "JSON)")
    if len(rows[0][1]) == 1 and len(rows[1][1]) >= 3:
        return _two_bp(rows, source)
    if len(rows[0][1]) == 1 and len(rows[1][1]) == 2:
        return [_packlib(rows, source)]
    raise ConfigError(f"{source}:{rows[0][0]}: neither a 2BP file (class, then 'N rel abs', then "
                      "'HBIN WBIN') nor a 2DPackLib file (m, then 'W H')")


def _need(row: tuple[int, list[int]], k: int, what: str, source: str) -> list[int]:
    no, nums = row
    if len(nums) < k:
        raise ConfigError(f"{source}:{no}: expected {what}")
    return nums


def _two_bp(rows, source: str) -> list[Instance]:
    out = []
    i = 0
    while i < len(rows):
        if i + 3 > len(rows):
            raise ConfigError(f"{source}:{rows[i][0]}: an instance starts here but its header "
                              "(class; N rel abs; HBIN WBIN) is cut short")
        cls = _need(rows[i], 1, "the problem class", source)[0]
        n, rel = _need(rows[i + 1], 2, "N. OF ITEMS and the instance number", source)[:2]
        hbin, wbin = _need(rows[i + 2], 2, "HBIN WBIN", source)[:2]
        items = rows[i + 3: i + 3 + n]
        if n < 1 or len(items) < n:
            raise ConfigError(f"{source}:{rows[i + 1][0]}: the instance declares {n} items but "
                              f"{len(items)} item lines follow")
        _check_bin(wbin, hbin, rows[i + 2][0], source)
        rects = []
        for k, row in enumerate(items):
            h, w = _need(row, 2, "an item's height and width", source)[:2]
            rects.append(_rect(k, w, h, wbin, hbin, row[0], source))
        name = f"cl{cls:02d}_{n:03d}_{rel:02d}"
        out.append(Instance(name, wbin, hbin, tuple(rects), cls, n, rel))
        i += 3 + n
    return out


def _packlib(rows, source: str) -> Instance:
    m = rows[0][1][0]
    W, H = rows[1][1]
    _check_bin(W, H, rows[1][0], source)
    items = rows[2: 2 + m]
    if m < 1 or len(items) < m:
        raise ConfigError(f"{source}:{rows[0][0]}: the file declares {m} item types but "
                          f"{len(items)} item lines follow")
    if len(rows) > 2 + m:
        raise ConfigError(f"{source}:{rows[2 + m][0]}: more item lines than the {m} declared")
    rects = []
    total = 0
    for row in items:
        nums = _need(row, 3, "'id w h [demand]'", source)
        ident, w, h = nums[:3]
        demand = nums[3] if len(nums) > 3 else 1
        if demand < 1:
            raise ConfigError(f"{source}:{row[0]}: demand {demand} must be >= 1")
        total += demand
        if total > MAX_RECTS:  # before the copies are made
            raise ConfigError(f"{source}:{row[0]}: the demands add up to more than {MAX_RECTS} "
                              f"rects, the most the packer takes per instance")
        for c in range(demand):
            rid = ident if demand == 1 else f"{ident}.{c}"
            rects.append(_rect(rid, w, h, W, H, row[0], source))
    ids = [r.id for r in rects]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"{source}: item id {dup} appears on two lines")
    return Instance(_stem(source), W, H, tuple(rects))


def _check_bin(W: int, H: int, line: int, source: str) -> None:
    if W < 1 or H < 1:
        raise ConfigError(f"{source}:{line}: the bin is {W}x{H}; both sides must be >= 1")
    if W > MAX_SIDE or H > MAX_SIDE:
        raise ConfigError(f"{source}:{line}: the bin is {W}x{H}; the packer takes sides up to "
                          f"{MAX_SIDE}")


def _rect(ident, w: int, h: int, W: int, H: int, line: int, source: str) -> Rect:
    if w < 1 or h < 1:
        raise ConfigError(f"{source}:{line}: item {ident} is {w}x{h}; both sides must be >= 1")
    if w > W or h > H:
        raise ConfigError(f"{source}:{line}: item {ident} is {w}x{h}, larger than the {W}x{H} "
                          "bin")
    return Rect(ident, w, h)
