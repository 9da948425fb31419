"""The HTML report (``imcc compile|run|explore ... --html FILE``): one self-contained page.

The page holds its data as JSON in a ``<script type="application/json">`` element and draws
itself with the inline script of :mod:`imcc.report.assets` (no network, no library): the
partition as a graph (IMC / dynamic / digital coloured; a click shows the layer), the per-layer
table (sortable), the storage map (zoom and pan; hovering a tile shows its layer, slice,
replica and bits), the cost breakdown as charts, the comparison with the float model, and for
``explore`` the Pareto plot (a point's settings on hover) and the results table.

This module builds the data (:func:`node_summary`, :func:`layout`) and writes the page
(:func:`render`); the commands gather what goes in. The data is plain JSON; names from the
model reach the page only as text (the script never parses them as HTML).

>>> page = render({"kind": "compile", "title": "a </script> title"})
>>> page.startswith("<!doctype html>") and "</script> title" not in page
True
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping

from imcc.report.assets import CSS, SCRIPT

SCHEMA = "imcc.report/1"


def node_summary(graph, classes: Mapping[str, str]) -> list[dict]:
    """The compiled graph's nodes for the page: name, op, class (``imc``, ``dynamic``,
    ``digital``), the indices of the nodes it reads from, its first output's shape and dtype,
    and the graph's inputs and outputs it touches."""
    index = {n.name: i for i, n in enumerate(graph.nodes)}
    out = []
    for n in graph.nodes:
        preds = []
        inputs = []
        for t in n.inputs:
            if not t or graph.is_const(t):
                continue
            p = graph.producer(t)
            if p is not None and index[p.name] not in preds:
                preds.append(index[p.name])
            elif p is None:
                inputs.append(t)
        first = next((o for o in n.outputs if o), None)
        ty = graph.types.get(first) if first else None
        out.append({"name": n.name, "op": n.op_type, "class": classes.get(n.name, "digital"),
                    "preds": preds, "model_inputs": inputs,
                    "model_outputs": [o for o in n.outputs if o in graph.outputs],
                    "shape": list(ty.shape) if ty is not None else None,
                    "dtype": ty.dtype if ty is not None else None})
    return out


def layout(nodes: list[dict], *, dx: float = 150.0, dy: float = 56.0) -> dict:
    """Positions for drawing ``nodes`` (from :func:`node_summary`) top to bottom: a node's
    level is one below its lowest predecessor; within a level, nodes are ordered by the mean
    position of their predecessors (a few sweeps). Returns ``{"x": [...], "y": [...], "width",
    "height"}`` in page units (deterministic)."""
    n = len(nodes)
    level = [0] * n
    for i, node in enumerate(nodes):  # nodes are in topological order
        level[i] = 1 + max((level[p] for p in node["preds"]), default=-1)
    levels: dict[int, list[int]] = {}
    for i in range(n):
        levels.setdefault(level[i], []).append(i)
    pos = [0.0] * n
    for members in levels.values():
        for k, i in enumerate(members):
            pos[i] = float(k)
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, node in enumerate(nodes):
        for p in node["preds"]:
            succs[p].append(i)
    order = sorted(levels)
    for sweep in range(4):
        seq = order if sweep % 2 == 0 else order[::-1]
        for lv in seq:
            members = levels[lv]
            key = {}
            for k, i in enumerate(members):
                nb = nodes[i]["preds"] if sweep % 2 == 0 else succs[i]
                key[i] = (sum(pos[j] for j in nb) / len(nb)) if nb else pos[i]
            members.sort(key=lambda i: (key[i], i))
            for k, i in enumerate(members):
                pos[i] = float(k)
    width = max((len(m) for m in levels.values()), default=1)
    xs, ys = [], []
    for i in range(n):
        members = levels[level[i]]
        offset = (width - len(members)) / 2  # centre each level
        xs.append(round((pos[i] + offset) * dx + dx / 2, 1))
        ys.append(round(level[i] * dy + dy / 2, 1))
    return {"x": xs, "y": ys, "width": round(width * dx, 1),
            "height": round((max(level, default=0) + 1) * dy, 1)}


def _json(data) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``<``, no line separators)."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=False, allow_nan=False,
                      default=_plain)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _plain(v):
    """numpy scalars and arrays, tuples and mapping proxies as JSON values."""
    if hasattr(v, "tolist"):
        return v.tolist()
    if isinstance(v, Mapping):
        return dict(v)
    raise TypeError(f"not JSON: {type(v).__name__}")


def _finite(v):
    """The data with NaN and infinities replaced by None (JSON has no such numbers)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    if hasattr(v, "tolist"):
        return _finite(v.tolist())
    return v


def render(data: dict) -> str:
    """The page for ``data`` (``kind`` is ``compile``, ``run`` or ``explore``; every other key
    is optional: ``title``, ``subtitle``, ``summary`` [[label, value]], ``nodes`` and
    ``layout``, ``storage_map``, ``cost``, ``compare``, ``explore``, ``warnings``)."""
    data = _finite({"schema": SCHEMA, **data})
    if data.get("nodes") and "layout" not in data:
        data["layout"] = layout(data["nodes"])
    title = html.escape(str(data.get("title") or "imcc report"))
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        "<header><h1 id=\"title\"></h1><p id=\"subtitle\"></p><nav id=\"nav\"></nav></header>\n"
        "<main id=\"main\"></main>\n<div id=\"tooltip\" role=\"tooltip\"></div>\n"
        f"<script type=\"application/json\" id=\"imcc-data\">{_json(data)}</script>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
