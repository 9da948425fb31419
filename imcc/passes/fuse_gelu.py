"""Fuse GELU's tanh form, written out as eight nodes, into one ``Gelu(approximate="tanh")``.

GPT-2's ``gelu_new`` is exported as::

    p = Pow(x, 3)     m = Mul(p, 0.044715)     a = Add(x, m)     k = Mul(a, sqrt(2/pi))
    t = Tanh(k)       u = Add(t, 1)            h = Mul(x, 0.5)   y = Mul(h, u)

(``Add`` and ``Mul`` in either operand order). Where the constants are those float32 values
exactly (:mod:`isa.fused`) and every intermediate is read by the pattern alone (no graph
output), the eight become ``Gelu(x, approximate="tanh")``, which the vector unit computes as one
``vgelut``: the seven instructions' float32 steps in their order, so the result is bit for bit
the eight nodes' on the machine (and within a few float32 ulps of onnxruntime's, as they are).
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node
from imcc.passes.rewrite import fuse_matches
from isa.fused import GELU_CUBE, GELU_CUBE_POWER, GELU_HALF, GELU_ONE, GELU_SCALE


def _is(graph: Graph, t: str, value: np.float32) -> bool:
    """``t`` is a one-element float32 constant equal to ``value``."""
    v = graph.constants.get(t)
    return v is not None and v.size == 1 and v.dtype == np.float32 \
        and v.reshape(-1)[0] == value


def _only(graph: Graph, t: str, reader: Node) -> bool:
    return t not in graph.outputs and graph.consumers(t) == (reader,)


def _split(graph: Graph, node: Node | None, op: str, value) -> str | None:
    """The operand of binary ``node`` (an ``op``) beside the constant ``value``, or None."""
    if node is None or node.op_type != op or len(node.inputs) != 2:
        return None
    a, b = node.inputs
    if _is(graph, b, value):
        return a
    return b if _is(graph, a, value) else None


def _inner(graph: Graph, add: Node | None) -> tuple[str, Node, Node] | None:
    """``Add(x, Mul(Pow(x, 3), 0.044715))``: ``x``, the ``Mul`` and the ``Pow``."""
    if add is None or add.op_type != "Add" or len(add.inputs) != 2:
        return None
    for x, m in (add.inputs, add.inputs[::-1]):
        mul = graph.producer(m)
        p = _split(graph, mul, "Mul", GELU_CUBE)
        pow_ = graph.producer(p) if p else None
        if pow_ is not None and pow_.op_type == "Pow" and pow_.inputs[0] == x \
                and _is(graph, pow_.inputs[1], GELU_CUBE_POWER) and _only(graph, m, add) \
                and _only(graph, p, mul):
            return x, mul, pow_
    return None


def _match(graph: Graph, tanh: Node) -> tuple[list[Node], str] | None:
    """The GELU around ``tanh``: its eight nodes, last one last, and ``x``; or None."""
    if tanh.op_type != "Tanh":
        return None
    scale = graph.producer(tanh.inputs[0])
    a = _split(graph, scale, "Mul", GELU_SCALE)
    if a is None or not _only(graph, tanh.inputs[0], tanh):
        return None
    inner = _inner(graph, graph.producer(a))
    if inner is None or not _only(graph, a, scale):
        return None
    x, cube, pow_ = inner
    t = tanh.outputs[0]
    one = graph.consumers(t)
    if len(one) != 1 or _split(graph, one[0], "Add", GELU_ONE) != t or not _only(graph, t, one[0]):
        return None
    u = one[0].outputs[0]
    last = graph.consumers(u)
    if len(last) != 1 or last[0].op_type != "Mul" or not _only(graph, u, last[0]):
        return None
    h = last[0].inputs[1] if last[0].inputs[0] == u else last[0].inputs[0]
    half = graph.producer(h)
    if _split(graph, half, "Mul", GELU_HALF) != x or not _only(graph, h, last[0]):
        return None
    return [pow_, cube, graph.producer(a), scale, tanh, one[0], half, last[0]], x


def fuse_gelu(graph: Graph) -> Graph:
    """Eight-node GELU tanh forms -> ``Gelu(approximate="tanh")`` (see the module doc)."""

    def replace(rw, last, x):
        return Node(rw.fresh(f"{last.name}_gelu"), "Gelu", (x,), last.outputs,
                    {"approximate": "tanh"})

    return fuse_matches(graph, _match, replace)
