"""``Gemm`` normal form: ``Y = A @ B (+ C)`` with a constant ``B`` of shape [K, N].

For a constant ``B``: ``transB`` and ``alpha`` are folded into ``B``, ``beta`` into ``C``;
``transA`` becomes a ``Transpose`` of ``A``; a constant ``C`` that broadcasts as a row ([N],
[1, N], or a scalar) becomes a [N] bias, any other ``C`` a following ``Add``. The result has
``transA=0, transB=0, alpha=1.0, beta=1.0``.

A ``Gemm`` whose ``B`` is not constant is a product of two activations: it becomes
``MatMul`` (with ``Transpose`` for the transposed operands), ``Mul`` by ``alpha`` and ``Add`` of
``beta * C`` where these are not neutral, so every dynamic matrix product is a ``MatMul``.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter

NORMAL_ATTRS = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}


def _transposed(rw: Rewriter, x: str, name: str) -> str:
    t = rw.type(x)
    return rw.add("Transpose", (x,), TensorType(t.shape[::-1], t.dtype), f"{name}_t",
                  perm=(1, 0))


def _gemm_const_b(rw: Rewriter, n: Node, b: np.ndarray, y: TensorType) -> None:
    a = n.inputs[0]
    alpha, beta = float(n.attrs["alpha"]), float(n.attrs["beta"])
    if n.attrs["transA"]:
        a = _transposed(rw, a, n.name)
    w = b.T if n.attrs["transB"] else b
    if alpha != 1.0:
        w = w * np.float32(alpha)
    # transB keeps the transposed view: a copy would hold the layer's weights twice until the
    # pass returns (AlexNet's classifier: 221 of its 233 MB); constants may be views
    inputs = [a, rw.const(f"{n.name}_B", np.asarray(w, dtype=np.float32))]
    c_name = n.inputs[2] if len(n.inputs) > 2 else ""
    add_after = None
    if c_name and beta != 0.0:
        c = rw.value(c_name)
        m, cols = y.shape
        if c is not None:
            c = (c * np.float32(beta)).astype(np.float32) if beta != 1.0 else c
            if c.size == 1 or c.shape in ((cols,), (1, cols)):
                inputs.append(rw.const(f"{n.name}_C", np.broadcast_to(c.reshape(-1), (cols,))
                                       .astype(np.float32)))
            else:
                add_after = rw.const(f"{n.name}_C", np.ascontiguousarray(c, np.float32))
        else:
            add_after = rw.read(c_name)
            if beta != 1.0:
                sc = rw.const(f"{n.name}_beta", np.array(beta, np.float32))
                add_after = rw.add("Mul", (add_after, sc), rw.type(c_name), f"{n.name}_c",)
    if add_after is None:
        rw.emit(n.replace(inputs=tuple(inputs), attrs=NORMAL_ATTRS))
        return
    mid = rw.tensor(f"{n.name}_mm", y)
    rw.emit(n.replace(inputs=tuple(inputs), outputs=(mid,), attrs=NORMAL_ATTRS))
    rw.emit(Node(rw.fresh(f"{n.name}_bias"), "Add", (mid, add_after), (n.outputs[0],)))


def _gemm_dynamic(rw: Rewriter, n: Node, y: TensorType) -> None:
    a, b = n.inputs[0], n.inputs[1]
    if n.attrs["transA"]:
        a = _transposed(rw, a, f"{n.name}_a")
    if n.attrs["transB"]:
        b = _transposed(rw, b, f"{n.name}_b")
    alpha, beta = float(n.attrs["alpha"]), float(n.attrs["beta"])
    c_name = n.inputs[2] if len(n.inputs) > 2 else ""
    steps = []
    if alpha != 1.0:
        steps.append(("Mul", rw.const(f"{n.name}_alpha", np.array(alpha, np.float32))))
    if c_name and beta != 0.0:
        c = rw.read(c_name)
        if beta != 1.0:
            sc = rw.const(f"{n.name}_beta", np.array(beta, np.float32))
            c = rw.add("Mul", (c, sc), rw.type(c_name), f"{n.name}_c")
        steps.append(("Add", c))
    cur = (a, b)
    op = "MatMul"
    for next_op, operand in steps:
        mid = rw.add(op, cur, y, f"{n.name}_{op.lower()}")
        op, cur = next_op, (mid, operand)
    rw.emit(Node(n.name, op, cur, (n.outputs[0],)))


def normalize_gemm(graph: Graph) -> Graph:
    """Rewrite every Gemm into the normal form above (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type != "Gemm":
            rw.emit(n)
            continue
        y = graph.types[n.outputs[0]]
        b = rw.value(n.inputs[1])
        a_const = rw.is_const(n.inputs[0])
        if b is not None and not a_const:
            _gemm_const_b(rw, n, b, y)
        else:
            _gemm_dynamic(rw, n, y)
    return rw.finish()
