"""Fuse the decomposed layer norm exporters write into one ``LayerNormalization``.

Exporters before opset 17 (and GPT-2-style graphs generally) write a layer norm over the
trailing axes as nine nodes::

    m = ReduceMean(x, axes)          d = Sub(x, m)          v = ReduceMean(Pow(d, 2), axes)
    n = Div(d, Sqrt(Add(v, eps)))    y = Add(Mul(n, scale), bias)

(``n`` also as ``Mul(d, Reciprocal(Sqrt(...)))``; ``Add`` and ``Mul`` in either operand
order; the final ``Add`` optional). Where ``axes`` are the same trailing axes in both means
(``keepdims = 1``), ``2``, ``eps``, ``scale`` and ``bias`` are constants broadcasting over the
normalized axes only, and every intermediate tensor is read by the pattern alone (no graph
output), the nine become ``LayerNormalization(x, scale, bias, axis, epsilon)``: the vector
unit's ``vnorm`` and one ``vfma``, two instructions instead of nine. ``vnorm`` computes the
mean and variance in float64 and rounds once, so the result is within a few float32 ulps of
the decomposed one (which rounds after each step), not bit for bit the same.
"""

from __future__ import annotations

from imcc.ir import Graph, Node
from imcc.passes.rewrite import Rewriter, fuse_matches


def _scalar(graph: Graph, t: str) -> float | None:
    v = graph.constants.get(t)
    if v is None or v.size != 1 or v.dtype.kind != "f" and v.dtype.kind not in "iu":
        return None
    return float(v.reshape(-1)[0])


def _only(graph: Graph, t: str, reader: Node) -> bool:
    """``t`` is read by ``reader`` alone and is no graph output."""
    return t not in graph.outputs and graph.consumers(t) == (reader,)


def _other(node: Node, t: str) -> str | None:
    """The other operand of a binary ``node`` one of whose operands is ``t``."""
    a, b = node.inputs[:2]
    return b if a == t else a if b == t else None


def _trailing_axes(graph: Graph, mean: Node) -> int | None:
    """The first axis of a ``ReduceMean`` over trailing axes with ``keepdims = 1`` (negative,
    counted from the end), else None."""
    if mean.op_type != "ReduceMean" or len(mean.inputs) < 2 or not mean.inputs[1]:
        return None
    if int(mean.attrs.get("keepdims", 1)) != 1 or mean.attrs.get("noop_with_empty_axes", 0):
        return None
    axes = graph.constants.get(mean.inputs[1])
    rank = graph.types[mean.inputs[0]].rank
    if axes is None or axes.size == 0 or rank == 0:
        return None
    ax = sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes.reshape(-1))
    if ax != list(range(ax[0], rank)):
        return None
    return ax[0] - rank


def _affine(graph: Graph, t: str, mul: Node, axis: int) -> str | None:
    """The constant operand of ``mul`` beside ``t`` where it broadcasts over the normalized
    axes only (its dims before the last ``-axis`` all 1)."""
    other = _other(mul, t)
    v = graph.constants.get(other) if other else None
    if v is None or v.dtype.kind != "f" or any(n != 1 for n in v.shape[:max(0, v.ndim + axis)]):
        return None
    return other


def _trimmed(rw: Rewriter, t: str, axis: int) -> str:
    """Constant ``t`` without its leading unit dims beyond the normalized axes."""
    v = rw.value(t)
    if v.ndim <= -axis:
        return t
    return rw.const(f"{t}_trimmed", v.reshape(v.shape[v.ndim + axis:]))


def _match(graph: Graph, sub: Node) -> tuple[list[Node], dict] | None:
    """The layer norm whose ``Sub(x, mean)`` is ``sub``: its nodes and the fused node's
    operands, or None."""
    if sub.op_type != "Sub":
        return None
    x, m = sub.inputs[:2]
    mean = graph.producer(m)
    if mean is None or mean.inputs[0] != x or not _only(graph, m, sub):
        return None
    axis = _trailing_axes(graph, mean)
    d = sub.outputs[0]
    readers = graph.consumers(d)
    if axis is None or d in graph.outputs or len(readers) != 2:
        return None
    pow_ = next((r for r in readers if r.op_type == "Pow" and r.inputs[0] == d), None)
    scale = next((r for r in readers if r is not pow_), None)
    if pow_ is None or _scalar(graph, pow_.inputs[1]) != 2.0 or scale is None:
        return None
    chain = [pow_]
    for op in ("ReduceMean", "Add", "Sqrt"):
        nxt = graph.consumers(chain[-1].outputs[0])
        if len(nxt) != 1 or nxt[0].op_type != op or not _only(graph, chain[-1].outputs[0], nxt[0]):
            return None
        chain.append(nxt[0])
    var, add_eps, sqrt = chain[1:]
    if _trailing_axes(graph, var) != axis:
        return None
    eps = _scalar(graph, _other(add_eps, var.outputs[0]) or "")
    if eps is None or eps < 0:
        return None
    s = sqrt.outputs[0]
    if scale.op_type == "Div" and scale.inputs[:2] == (d, s) and _only(graph, s, scale):
        tail = [scale]
    elif scale.op_type == "Mul":
        rec = graph.producer(_other(scale, d) or "")
        if rec is None or rec.op_type != "Reciprocal" or rec.inputs[0] != s \
                or not _only(graph, s, rec) or not _only(graph, rec.outputs[0], scale):
            return None
        tail = [rec, scale]
    else:
        return None
    n = scale.outputs[0]
    mul = graph.consumers(n)
    if len(mul) != 1 or mul[0].op_type != "Mul" or not _only(graph, n, mul[0]):
        return None
    gamma = _affine(graph, n, mul[0], axis)
    if gamma is None:
        return None
    nodes = [mean, sub, *chain, *tail, mul[0]]
    y, beta = mul[0].outputs[0], ""
    add = graph.consumers(y)
    if len(add) == 1 and add[0].op_type == "Add" and _only(graph, y, add[0]):
        beta = _affine(graph, y, add[0], axis) or ""
        if beta:
            nodes.append(add[0])
    return nodes, {"x": x, "scale": gamma, "bias": beta, "axis": axis, "epsilon": eps}


def fuse_layernorm(graph: Graph) -> Graph:
    """Nine-node decomposed layer norms -> ``LayerNormalization`` (see the module doc)."""

    def replace(rw, last, ops):
        inputs = (ops["x"], *(_trimmed(rw, ops[k], ops["axis"]) for k in ("scale", "bias")
                               if ops[k]))
        return Node(rw.fresh(f"{last.name}_layernorm"), "LayerNormalization", inputs,
                    last.outputs, {"axis": ops["axis"], "epsilon": ops["epsilon"]})

    return fuse_matches(graph, _match, replace)
