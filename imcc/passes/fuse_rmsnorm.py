"""Fuse the RMS norm exporters write out (Llama, Qwen2, Mistral) into one ``RMSNormalization``.

Exporters write ``w * (x * rsqrt(mean(x**2) + eps))`` over the trailing axes as seven nodes::

    s = Pow(x, 2)        m = ReduceMean(s, axes)      v = Add(m, eps)      r = Sqrt(v)
    i = Div(1, r)        n = Mul(x, i)                y = Mul(n, scale)

(``s`` also as ``Mul(x, x)``, ``i`` as ``Reciprocal(r)``; ``Add`` and ``Mul`` in either operand
order). Where ``axes`` are trailing axes (``keepdims = 1``), ``2``, ``1``, ``eps`` and ``scale``
are constants (``scale`` over the normalized axes only) and every intermediate tensor is read
by the pattern alone (no graph output), the seven become ``RMSNormalization(x, scale, axis,
epsilon)``: the vector unit's ``vrmsnorm`` (the six steps before the scale, each rounded to
float32 in the same order) and one ``vmul``, two instructions instead of seven, bit for bit
the seven's result on the machine.
"""

from __future__ import annotations

from imcc.ir import Graph, Node
from imcc.passes.fuse_layernorm import _affine, _only, _other, _scalar, _trailing_axes, _trimmed
from imcc.passes.rewrite import fuse_matches


def _square_of(graph: Graph, t: str) -> str | None:
    """``x`` where ``t`` is ``Pow(x, 2)`` or ``Mul(x, x)``."""
    n = graph.producer(t)
    if n is None or len(n.inputs) != 2:
        return None
    if n.op_type == "Pow" and _scalar(graph, n.inputs[1]) == 2.0:
        return n.inputs[0]
    if n.op_type == "Mul" and n.inputs[0] == n.inputs[1]:
        return n.inputs[0]
    return None


def _next(graph: Graph, node: Node, op: str) -> Node | None:
    """The one reader of ``node``'s output when it is an ``op`` reading it alone."""
    t = node.outputs[0]
    readers = graph.consumers(t)
    if len(readers) != 1 or readers[0].op_type != op or not _only(graph, t, readers[0]):
        return None
    return readers[0]


def _match(graph: Graph, mean: Node) -> tuple[list[Node], dict] | None:
    """The RMS norm whose ``ReduceMean`` is ``mean``: its nodes (the last one last) and the
    fused node's operands, or None."""
    if mean.op_type != "ReduceMean" or not mean.inputs:
        return None
    x = _square_of(graph, mean.inputs[0])
    axis = _trailing_axes(graph, mean)
    if x is None or axis is None or not _only(graph, mean.inputs[0], mean):
        return None
    add = _next(graph, mean, "Add")
    eps = _scalar(graph, _other(add, mean.outputs[0]) or "") if add is not None else None
    sqrt = _next(graph, add, "Sqrt") if eps is not None and eps >= 0 else None
    if sqrt is None:
        return None
    r = sqrt.outputs[0]
    inv = graph.consumers(r)
    if len(inv) != 1 or not _only(graph, r, inv[0]) or not (
            inv[0].op_type == "Reciprocal" or inv[0].op_type == "Div"
            and inv[0].inputs[1] == r and _scalar(graph, inv[0].inputs[0]) == 1.0):
        return None
    i = inv[0].outputs[0]
    mul = graph.consumers(i)
    if len(mul) != 1 or mul[0].op_type != "Mul" or _other(mul[0], i) != x \
            or not _only(graph, i, mul[0]):
        return None
    n = mul[0].outputs[0]
    last = graph.consumers(n)
    if len(last) != 1 or last[0].op_type != "Mul" or not _only(graph, n, last[0]):
        return None
    scale = _affine(graph, n, last[0], axis)
    if scale is None:
        return None
    nodes = [graph.producer(mean.inputs[0]), mean, add, sqrt, inv[0], mul[0], last[0]]
    return nodes, {"x": x, "scale": scale, "axis": axis, "epsilon": eps}


def fuse_rmsnorm(graph: Graph) -> Graph:
    """Seven-node RMS norms -> ``RMSNormalization`` (see the module doc)."""

    def replace(rw, last, ops):
        return Node(rw.fresh(f"{last.name}_rmsnorm"), "RMSNormalization",
                    (ops["x"], _trimmed(rw, ops["scale"], ops["axis"])), last.outputs,
                    {"axis": ops["axis"], "epsilon": ops["epsilon"]})

    return fuse_matches(graph, _match, replace)
