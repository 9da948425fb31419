"""One form for every pure re-shaping: ``Reshape`` with a constant, explicit shape.

``Flatten``, ``Squeeze``, ``Unsqueeze`` and ``Reshape`` (whatever their shape operand, ``0`` and
``-1`` entries included) become ``Reshape(x, shape)`` with ``shape`` a constant int64 vector of
the output's static dims and ``allowzero=0``. A re-shaping that leaves the shape unchanged is
removed.
"""

from __future__ import annotations

from imcc.ir import Graph
from imcc.passes.rewrite import Rewriter

RESHAPES = frozenset({"Flatten", "Squeeze", "Unsqueeze", "Reshape"})


def normalize_reshape(graph: Graph) -> Graph:
    """Rewrite Flatten/Squeeze/Unsqueeze/Reshape into explicit Reshape (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type not in RESHAPES:
            rw.emit(n)
            continue
        x, y = n.inputs[0], n.outputs[0]
        out = graph.types[y]
        if rw.type(x).shape == out.shape:
            rw.alias(y, x)
            continue
        old = rw.value(n.inputs[1]) if n.op_type == "Reshape" else None
        if old is not None and tuple(int(d) for d in old) == out.shape \
                and n.attrs.get("allowzero", 0) == 0:
            rw.emit(n)
            continue
        shape = rw.shape_const(f"{n.name}_shape", out.shape)
        rw.emit(n.replace(op_type="Reshape", inputs=(x, shape), attrs={"allowzero": 0}))
    return rw.finish()
