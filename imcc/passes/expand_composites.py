"""Expand operators that are exact compositions of other supported operators.

``PRelu(x, slope)`` becomes ``Where(Less(x, 0), Mul(x, slope), x)`` (the specification's
definition, exact in float32), so the code generator needs no lowering of its own for it.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter


def _prelu(rw: Rewriter, n: Node, y: TensorType) -> None:
    x, slope = n.inputs[0], n.inputs[1]
    xt = rw.type(x)
    zero = rw.const(f"{n.name}_zero", np.zeros((), np.dtype(xt.dtype)))
    neg = rw.add("Less", (x, zero), TensorType(xt.shape, "bool"), f"{n.name}_negative")
    scaled = rw.add("Mul", (x, slope), y, f"{n.name}_scaled")
    rw.emit(Node(n.name, "Where", (neg, scaled, x), n.outputs))


def expand_composites(graph: Graph) -> Graph:
    """Rewrite PRelu into Less/Mul/Where (see the module doc)."""
    if not any(n.op_type == "PRelu" for n in graph.nodes):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type == "PRelu":
            _prelu(rw, n, graph.types[n.outputs[0]])
        else:
            rw.emit(n)
    return rw.finish()
