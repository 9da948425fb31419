"""Operands that the static shapes determine, made constant.

Every tensor of the graph has a static shape, so some runtime operands are known before the
model runs: they can only hold the one value consistent with the shapes (a model whose runtime
value disagrees with its own shapes is inconsistent, and ONNX's inference would have refused
it at that value):

* ``Expand(x, shape)``: the output's shape is the broadcast of ``x`` with ``shape``, and
  broadcasting ``x`` to the output's shape gives the same tensor, so ``shape`` becomes the
  output's shape;
* ``Tile(x, repeats)``: ``repeats[i] = out[i] / in[i]``;
* ``ConstantOfShape(shape)``: the output's shape, so the node is a constant;
* ``Reduce*(x, axes)`` with ``keepdims = 1``: the reduced axes are those where the output has 1
  and the input more (an axis of size 1 in the runtime ``axes`` reduces nothing); with
  ``keepdims = 0``, the axes whose removal gives the output's shape, when only one set does.
  When input and output shapes are equal (empty axes with ``noop_with_empty_axes``, or only
  size-1 axes), nothing is decided here and the node keeps its runtime operand.
* ``CumSum(x, axis)`` of a 1-D ``x``: the only axis there is, ``0`` (``-1`` names it too).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from imcc.frontend.evaluate import evaluate
from imcc.ir import Graph, Node
from imcc.opdefs import REDUCTIONS
from imcc.passes.rewrite import Rewriter

REDUCE = REDUCTIONS


def _reduce_axes(xs: tuple[int, ...], ys: tuple[int, ...], keepdims: int) -> list[int] | None:
    if keepdims:
        if len(xs) != len(ys) or any(y not in (x, 1) for x, y in zip(xs, ys, strict=True)):
            return None
        axes = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if y == 1 and x != 1]
        return axes or None
    k = len(xs) - len(ys)
    if k <= 0 or len(xs) > 8:
        return None
    found = [list(c) for c in combinations(range(len(xs)), k)
             if tuple(d for i, d in enumerate(xs) if i not in c) == ys]
    return found[0] if len(found) == 1 else None


def _constant_operand(graph: Graph, n: Node) -> list[int] | None:
    """The value of ``n``'s second operand that the shapes imply, or None."""
    xs, ys = graph.types[n.inputs[0]].shape, graph.types[n.outputs[0]].shape
    if n.op_type == "Expand":
        return list(ys)
    if n.op_type == "CumSum":
        return [0] if len(xs) == 1 else None
    if n.op_type == "Tile":
        if len(xs) != len(ys) or any(x == 0 or y % x for x, y in zip(xs, ys, strict=True)):
            return None
        return [y // x for x, y in zip(xs, ys, strict=True)]
    return _reduce_axes(tuple(xs), tuple(ys), int(n.attrs.get("keepdims", 1)))


def operands_from_shapes(graph: Graph) -> Graph:
    """Runtime ``Expand`` shapes, ``Tile`` repeats, ``Reduce*`` axes and ``ConstantOfShape``
    shapes that the static shapes determine become constants (see the module doc)."""
    todo = {n.name for n in graph.nodes
            if (n.op_type in ("Expand", "Tile", "CumSum") or n.op_type in REDUCE)
            and len(n.inputs) > 1 and n.inputs[1] and not graph.is_const(n.inputs[1])}
    fills = {n.name for n in graph.nodes
             if n.op_type == "ConstantOfShape" and not graph.is_const(n.inputs[0])}
    todo |= fills
    if not todo:
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.name in fills:
            shape = np.asarray(graph.types[n.outputs[0]].shape, np.int64)
            filled = evaluate([n.replace(inputs=("shape",))], {"shape": shape}, n.outputs,
                              graph.opset, f"{n.name}: ")[n.outputs[0]]
            rw.alias(n.outputs[0], rw.const(f"{n.name}_value", filled))
            continue
        value = _constant_operand(graph, n) if n.name in todo else None
        if value is not None:
            given = graph.types[n.inputs[1]].shape  # CumSum's axis may be a scalar
            c = rw.const(f"{n.name}_{'shape' if n.op_type in ('Expand', 'Tile') else 'axes'}",
                         np.asarray(value, np.int64).reshape(given if n.op_type == "CumSum"
                                                             else (-1,)))
            n = n.replace(inputs=(n.inputs[0], c, *n.inputs[2:]))
        rw.emit(n)
    return rw.finish()
