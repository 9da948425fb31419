"""``MatMul`` with a constant right operand: ``A [..., M, K] @ B [K, N]`` with A of rank >= 2.

A rank-1 constant ``B`` [K] becomes [K, 1] and a rank-1 ``A`` [K] becomes [1, K], with a
``Reshape`` restoring the output's shape. A constant ``B`` whose leading dims are all 1 is
squeezed to [K, N] (a ``Reshape`` restores the output rank when ``A`` had rank 2). Other
constant ``B`` of rank > 2 stay as they are (the partitioner treats them as dynamic products).
"""

from __future__ import annotations

from imcc.ir import Graph, TensorType
from imcc.passes.rewrite import Rewriter


def normalize_matmul(graph: Graph) -> Graph:
    """Bring MatMul with a constant B to ``A [..., M, K] @ B [K, N]`` (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        b = rw.value(n.inputs[1]) if n.op_type == "MatMul" else None
        if b is None or rw.is_const(n.inputs[0]):
            rw.emit(n)
            continue
        a, y = n.inputs[0], graph.types[n.outputs[0]]
        at = rw.type(a)
        if b.ndim == 1:
            b = b.reshape(b.shape[0], 1)
        elif b.ndim > 2 and all(d == 1 for d in b.shape[:-2]):
            b = b.reshape(b.shape[-2:])
        if b.ndim != 2:
            rw.emit(n)
            continue
        if at.rank == 1:
            a = rw.add("Reshape", (a, rw.shape_const(f"{n.name}_ashape", (1, at.shape[0]))),
                       TensorType((1, at.shape[0]), at.dtype), f"{n.name}_a2d", allowzero=0)
        out_shape = rw.type(a).shape[:-1] + (b.shape[1],)
        w = rw.const(f"{n.name}_B", b) if b.shape != rw.type(n.inputs[1]).shape \
            else rw.read(n.inputs[1])
        if out_shape == y.shape:
            rw.emit(n.replace(inputs=(a, w)))
            continue
        mid = rw.tensor(f"{n.name}_mm", TensorType(out_shape, y.dtype))
        rw.emit(n.replace(inputs=(a, w), outputs=(mid,)))
        rw.emit(n.replace(name=rw.fresh(f"{n.name}_reshape"), op_type="Reshape",
                          inputs=(mid, rw.shape_const(f"{n.name}_shape", y.shape)),
                          outputs=n.outputs, attrs={"allowzero": 0}))
    return rw.finish()
