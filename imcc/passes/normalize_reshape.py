"""One form for every pure re-shaping: ``Reshape`` with a constant, explicit shape.

``Flatten``, ``Squeeze``, ``Unsqueeze`` and ``Reshape`` (whatever their shape operand, ``0`` and
``-1`` entries included) become ``Reshape(x, shape)`` with ``shape`` a constant int64 vector of
the output's static dims and ``allowzero=0``. A re-shaping that leaves the shape unchanged is
removed, and a re-shaping of a re-shaped tensor reads the original tensor instead (the first
one is then dead if nothing else reads it).
"""

from __future__ import annotations

from imcc.ir import Graph
from imcc.passes.rewrite import Rewriter

RESHAPES = frozenset({"Flatten", "Squeeze", "Unsqueeze", "Reshape"})


def normalize_reshape(graph: Graph) -> Graph:
    """Rewrite Flatten/Squeeze/Unsqueeze/Reshape into explicit Reshape (see the module doc)."""
    rw = Rewriter(graph)
    source: dict[str, str] = {}  # output of an emitted Reshape -> the tensor it re-shapes
    for n in graph.nodes:
        if n.op_type not in RESHAPES:
            rw.emit(n)
            continue
        x, y = rw.read(n.inputs[0]), n.outputs[0]
        x = source.get(x, x)
        source[y] = x
        out = graph.types[y]
        if rw.type(x).shape == out.shape:
            rw.alias(y, x)
            continue
        old = rw.value(n.inputs[1]) if n.op_type == "Reshape" else None
        if old is not None and tuple(int(d) for d in old) == out.shape:
            rw.emit(n.replace(inputs=(x, n.inputs[1]), attrs={"allowzero": 0}))
            continue
        shape = rw.shape_const(f"{n.name}_shape", out.shape)
        rw.emit(n.replace(op_type="Reshape", inputs=(x, shape), attrs={"allowzero": 0}))
    return rw.finish()
