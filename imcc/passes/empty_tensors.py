"""Empty (size-0) tensors are constants.

A tensor with a dimension of size 0 holds no value: its shape and element type say all there
is to know about it. So every empty tensor a node writes becomes the empty constant of its type
(an empty graph input already is one: the loader makes it an initializer), and the nodes whose
operands are then all constants are folded (:func:`~imcc.passes.fold_constants.fold_constants`):
a reduction over an empty set becomes its identity value (``ReduceSum`` 0, ``ReduceProd`` 1,
``ReduceMax`` -inf, ``ReduceLogSumExp`` -inf...), as onnx's reference evaluator computes it.
This pass runs after ``operands-from-shapes``, which makes the axes of a reduction constant
when the shapes fix them.

What is left reading an empty tensor: ``Concat`` drops it (it adds nothing); an operator that
reads an empty tensor as a parameter (a ``Reshape`` shape ``[]``, ``Resize`` scales ``[]``,
the ``like`` of ``CastLike``, of which only the element type counts) keeps it; any other node whose data operand is empty and whose output is not (a ``MatMul``
over an inner dimension of 0 with a runtime operand) is refused, never computed from memory
that holds nothing.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, describe
from imcc.opdefs import REDUCTIONS
from imcc.passes.fold_constants import fold_constants
from isa.diagnostics import UnsupportedOpError

#: Operators that read an empty operand as a parameter list (shapes, scales, axes, pads),
#: by input index: an empty one is a valid value there, not data.
_PARAMETERS = {"Reshape": (1,), "Resize": (1, 2, 3), "Pad": (1, 2, 3), "Slice": (1, 2, 3, 4),
               "Tile": (1,), "Expand": (1,), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
               "ConstantOfShape": (0,),
               "CastLike": (1,),  # CastLike reads only the element type of its ``like``
               **{op: (1,) for op in REDUCTIONS}}  # the axes


def _empty(graph: Graph, t: str) -> bool:
    return bool(t) and t in graph.types and graph.types[t].numel == 0


def _constant_empties(graph: Graph) -> Graph:
    """Every empty node output a constant; the nodes all of whose outputs are then constants
    (or unused) go."""
    constants = dict(graph.constants)
    kept = []
    for n in graph.nodes:
        for o in n.outputs:
            if _empty(graph, o):
                t = graph.types[o]
                constants[o] = np.zeros(t.shape, t.dtype)
        if not all(not o or o in constants for o in n.outputs):
            kept.append(n)
    if len(kept) == len(graph.nodes):
        return graph
    return graph.replace(nodes=tuple(kept), constants=constants)


def _check_readers(graph: Graph) -> Graph:
    """Drop the empty operands of Concat; refuse a node that would read an empty data operand
    (module doc)."""
    nodes = []
    for n in graph.nodes:
        if n.op_type == "Concat" and any(_empty(graph, i) for i in n.inputs):
            kept = tuple(i for i in n.inputs if not _empty(graph, i))
            n = n.replace(inputs=kept)
        else:
            params = _PARAMETERS.get(n.op_type, ())
            for k, i in enumerate(n.inputs):
                if k not in params and _empty(graph, i):
                    raise UnsupportedOpError(
                        f"{describe(graph, n)}: its operand {i!r} is empty (shape "
                        f"{list(graph.types[i].shape)}) and its output is not; imcc computes "
                        "such a node only when all its operands are constants")
        nodes.append(n)
    return graph.replace(nodes=tuple(nodes))


def empty_tensors(graph: Graph) -> Graph:
    """Make every empty tensor a constant and fold what then depends on constants only (see
    the module doc)."""
    if not any(t.numel == 0 for t in graph.types.values()):
        return graph
    graph = fold_constants(_constant_empties(graph))
    return _check_readers(graph)
