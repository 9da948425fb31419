"""Explicit operand forms for data-movement and reduction operators.

* ``Slice``: constant ``starts``, ``ends``, ``axes`` (non-negative, every sliced axis listed)
  and ``steps``; for positive steps ``0 <= start <= end <= dim``.
* ``Pad``: constant ``pads`` for every axis (the optional ``axes`` input resolved).
* ``Reduce*``: explicit, sorted, non-negative axes (all axes when none are given;
  ``noop_with_empty_axes`` with no axes reduces nothing: the plain reductions are removed, and
  the others become their formula without the reduction, as onnx's function bodies and
  reference evaluator compute them: ``ReduceL1`` ``|x|``, ``ReduceL2`` ``sqrt(x * x)``,
  ``ReduceSumSquare`` ``x * x``, ``ReduceLogSum`` ``log(x)``, ``ReduceLogSumExp``
  ``log(exp(x))``).
* ``Split``: constant ``split`` sizes.

Operands that are not constants stay as they are (the partitioner reports them).
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node
from imcc.opdefs import REDUCTIONS
from imcc.passes.rewrite import Rewriter

REDUCE_OPS = REDUCTIONS


#: The elementwise steps of a Reduce* that reduces nothing (``Mul`` squares); none: identity.
_NO_REDUCTION = {"ReduceL1": ("Abs",), "ReduceL2": ("Mul", "Sqrt"), "ReduceSumSquare": ("Mul",),
                 "ReduceLogSum": ("Log",), "ReduceLogSumExp": ("Exp", "Log")}


def _no_reduction(rw: Rewriter, n: Node) -> str:
    """The tensor a Reduce* node that reduces nothing gives (module doc)."""
    v = n.inputs[0]
    for op in _NO_REDUCTION.get(n.op_type, ()):
        v = rw.add(op, (v, v) if op == "Mul" else (v,), rw.type(v), f"{n.name}_{op.lower()}")
    return v


def _ints(v: np.ndarray) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _slice(rw: Rewriter, n: Node) -> Node:
    rank = rw.type(n.inputs[0]).rank
    dims = rw.type(n.inputs[0]).shape
    ops = list(n.inputs) + [""] * (5 - len(n.inputs))
    vals = [rw.value(i) if i else None for i in ops[1:5]]
    if vals[0] is None or vals[1] is None or (ops[3] and vals[2] is None) or (
            ops[4] and vals[3] is None):
        return n
    starts, ends = _ints(vals[0]), _ints(vals[1])
    axes = _ints(vals[2]) if vals[2] is not None else list(range(len(starts)))
    steps = _ints(vals[3]) if vals[3] is not None else [1] * len(starts)
    out = ([], [], [], [])
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = a + rank if a < 0 else a
        d = dims[a]
        s = s + d if s < 0 else s
        e = e + d if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), d), min(max(e, 0), d)
            e = max(e, s)
        else:
            s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            e = -(d + 1) if e < 0 else e  # "before index 0" in ONNX's negative-index terms
        for lst, v in zip(out, (s, e, a, st)):
            lst.append(v)
    names = [rw.shape_const(f"{n.name}_{k}", v)
             for k, v in zip(("starts", "ends", "axes", "steps"), out)]
    return n.replace(inputs=(n.inputs[0], *names))


def _pad(rw: Rewriter, n: Node) -> Node:
    pads = rw.value(n.inputs[1])
    axes_in = n.inputs[3] if len(n.inputs) > 3 else ""
    if pads is None or (axes_in and rw.value(axes_in) is None) or not axes_in:
        return n
    rank = rw.type(n.inputs[0]).rank
    axes = [a + rank if a < 0 else a for a in _ints(rw.value(axes_in))]
    p = _ints(pads)
    full = [0] * (2 * rank)
    for k, a in enumerate(axes):
        full[a], full[rank + a] = p[k], p[len(axes) + k]
    cval = n.inputs[2] if len(n.inputs) > 2 else ""
    return n.replace(inputs=(n.inputs[0], rw.shape_const(f"{n.name}_pads", full), cval))


def axes_are_input(op_type: str, opset: int) -> bool:
    """Whether a Reduce* node takes ``axes`` as its second input (ReduceSum from opset 13, the
    others from 18) rather than as an attribute."""
    return opset >= 18 or op_type == "ReduceSum"


def _reduce(rw: Rewriter, graph: Graph, n: Node) -> Node | None:
    rank = rw.type(n.inputs[0]).rank
    axes_as_input = axes_are_input(n.op_type, graph.opset)
    if axes_as_input:
        given = n.inputs[1] if len(n.inputs) > 1 else ""
        if given and rw.value(given) is None:
            return n
        axes = _ints(rw.value(given)) if given else []
    else:
        axes = list(n.attrs.get("axes", ()))
    if not axes and n.attrs.get("noop_with_empty_axes", 0):
        return None
    axes = sorted({a + rank if a < 0 else a for a in axes} or range(rank))
    if axes_as_input:
        return n.replace(inputs=(n.inputs[0], rw.shape_const(f"{n.name}_axes", axes)))
    return n.replace(attrs=n.attrs.replace(axes=tuple(axes)))


def _split(rw: Rewriter, graph: Graph, n: Node) -> Node:
    if len(n.inputs) > 1 and n.inputs[1] and rw.is_const(n.inputs[1]):
        return n
    axis = int(n.attrs["axis"])
    sizes = [graph.types[o].shape[axis] for o in n.outputs]
    split = rw.shape_const(f"{n.name}_split", sizes)
    return n.replace(inputs=(n.inputs[0], split), attrs=n.attrs.replace(num_outputs=None))


def normalize_operands(graph: Graph) -> Graph:
    """Make Slice/Pad/Reduce*/Split operands explicit constants (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type == "Slice":
            n = _slice(rw, n)
        elif n.op_type == "Pad":
            n = _pad(rw, n)
        elif n.op_type == "Split":
            n = _split(rw, graph, n)
        elif n.op_type in REDUCE_OPS:
            r = _reduce(rw, graph, n)
            if r is None:
                rw.alias(n.outputs[0], _no_reduction(rw, n))
                continue
            n = r
        rw.emit(n)
    return rw.finish()
