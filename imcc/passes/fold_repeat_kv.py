"""Fold grouped-query attention's ``repeat_kv`` into the products that read it.

Llama-style exports repeat each of ``kv`` key and value heads ``g`` times before the attention
products: ``R = Reshape(Expand(Reshape(K, [b, kv, 1, s, d]), [b, kv, g, s, d]), [b, kv * g, s,
d])``, read by ``MatMul(Q, Transpose(R, [0, 1, 3, 2]))`` or ``MatMul(P, R)``. The ``Expand``
copies every cached key and value ``g`` times per step. Here each such product becomes
``Reshape(MatMul(Reshape(Q, [b, kv, g, m, k]), Transpose(Reshape(K, [b, kv, 1, s, d]),
[0, 1, 2, 4, 3])), [b, kv * g, m, n])`` (or with ``Reshape(K, ...)`` itself for ``P V``): the
product's batch broadcasting reads the one copy of each head ``g`` times (a stride of 0), the
reshapes are aliases and the transpose a view. Each head's product has the same operands as
before, so the result is the same. The ``Expand`` goes when nothing else reads it.
"""

from __future__ import annotations

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter


def _repeated(graph: Graph, r: str) -> tuple[str, int, int] | None:
    """``(U, kv, g)`` where ``r`` is ``Reshape(Expand(U))`` repeating the heads of ``U``
    ``[b, kv, 1, s, d]`` ``g`` times into ``[b, kv * g, s, d]``."""
    rs = graph.producer(r)
    if rs is None or rs.op_type != "Reshape":
        return None
    ex = graph.producer(rs.inputs[0])
    if ex is None or ex.op_type != "Expand":
        return None
    u = ex.inputs[0]
    us, es, rsh = (tuple(graph.types[t].shape) for t in (u, ex.outputs[0], r))
    if len(us) != 5 or len(es) != 5 or len(rsh) != 4 or us[2] != 1:
        return None
    b, kv, g, s, d = es
    if us != (b, kv, 1, s, d) or rsh != (b, kv * g, s, d) or g < 2:
        return None
    return u, kv, g


def _match(graph: Graph, mm: Node):
    """``(U, kv, g, transposed)`` for a MatMul reading repeated heads, else None."""
    if mm.op_type != "MatMul" or len(mm.inputs) < 2:
        return None
    a, r = mm.inputs[:2]
    if graph.is_const(a) or graph.is_const(r) or graph.types[a].rank != 4:
        return None
    transposed = False
    t = graph.producer(r)
    if t is not None and t.op_type == "Transpose" \
            and tuple(t.attrs.get("perm") or ()) == (0, 1, 3, 2):
        r, transposed = t.inputs[0], True
    hit = _repeated(graph, r)
    if hit is None:
        return None
    u, kv, g = hit
    ashape = tuple(graph.types[a].shape)
    if ashape[0] != graph.types[u].shape[0] or ashape[1] != kv * g:
        return None
    return u, kv, g, transposed


def fold_repeat_kv(graph: Graph) -> Graph:
    """Attention products reading ``repeat_kv``'s copies read the heads once, broadcast (see
    the module doc)."""
    hits = {n.name: h for n in graph.nodes if (h := _match(graph, n)) is not None}
    if not hits:
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        hit = hits.get(n.name)
        if hit is None:
            rw.emit(n)
            continue
        u, kv, g, transposed = hit
        a, out = n.inputs[0], n.outputs[0]
        b, _, m, k = graph.types[a].shape
        dtype = graph.types[out].dtype
        shape = rw.shape_const(f"{n.name}_grouped_shape", (b, kv, g, m, k))
        a5 = rw.add("Reshape", (a, shape), TensorType((b, kv, g, m, k), graph.types[a].dtype),
                    f"{n.name}_grouped", allowzero=0)
        us = tuple(graph.types[u].shape)
        if transposed:
            u = rw.add("Transpose", (u,), TensorType(us[:3] + (us[4], us[3]), dtype),
                       f"{n.name}_kt", perm=(0, 1, 2, 4, 3))
        nn = graph.types[out].shape[-1]
        y5 = rw.add("MatMul", (a5, u), TensorType((b, kv, g, m, nn), dtype), f"{n.name}_heads")
        back = rw.shape_const(f"{n.name}_heads_shape", tuple(graph.types[out].shape))
        rw.emit(Node(rw.fresh(f"{n.name}_merged"), "Reshape", (y5, back), (out,),
                     {"allowzero": 0}))
    return rw.finish()
