"""The registry of ``expand-composites``: one function per operator that is an exact composition
of operators the machine has, and the node helper those functions build with.

Register an expansion with one decorator::

    @composite("Softsign", dtypes=FLOATS)
    def _softsign(o: Ops) -> bool:
        '''``Softsign(x) = x / (1 + |x|)``.'''
        o.final("Div", o.x, o.op("Add", o.op("Abs", o.x), o.const(1.0)))
        return True

The function receives an :class:`Ops` bound to the node being expanded, emits the replacement
nodes (the last one through :meth:`Ops.final`, which keeps the node's name and outputs) and
returns True; it returns False, having emitted nothing, for a form it does not expand (the node
then stays, and the partition names why it is unsupported). ``dtypes`` restricts the expansion
to nodes whose first input has one of those element types. A module of expansions registers by
being imported from :mod:`imcc.passes.expand_composites`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.normalize_operands import axes_are_input
from imcc.passes.rewrite import Rewriter

#: The element types the float formulas take (the machine computes them in float32).
FLOATS = frozenset({"float32", "float64"})
FLOAT32 = frozenset({"float32"})


class Ops:
    """Small helpers that emit one node each, named after the node being expanded.

    ``x`` is the node's first input and ``xt`` its type; :meth:`on` rebinds them to another
    tensor (for a formula applied to an intermediate, as a reduction of a reshaped view)."""

    def __init__(self, rw: Rewriter, graph: Graph, n: Node):
        self.rw, self.graph, self.n = rw, graph, n
        self.x = n.inputs[0]
        self.xt = rw.type(self.x)

    def on(self, x: str) -> Ops:
        """These helpers with ``x`` (and its type) in place of the node's first input."""
        other = Ops(self.rw, self.graph, self.n)
        other.x, other.xt = x, self.rw.type(x)
        return other

    def const(self, v, dtype=None) -> str:
        return self.rw.const(f"{self.n.name}_c", np.asarray(v, dtype=dtype or self.xt.dtype))

    def op(self, op_type: str, *inputs: str, shape=None, dtype=None, **attrs) -> str:
        t = TensorType(tuple(self.xt.shape if shape is None else shape), dtype or self.xt.dtype)
        return self.rw.add(op_type, inputs, t, f"{self.n.name}_{op_type.lower()}", **attrs)

    def _reduce_form(self, op_type: str, v: str, axes, keepdims: int):
        rank = self.xt.rank
        axes = sorted({a + rank if a < 0 else a for a in axes})
        shape = [1 if i in axes else d for i, d in enumerate(self.xt.shape)]
        if not keepdims:
            shape = [d for i, d in enumerate(shape) if i not in axes]
        if axes_are_input(op_type, self.graph.opset):
            ax = self.rw.shape_const(f"{self.n.name}_axes", axes)
            return (v, ax), {"keepdims": keepdims}, shape
        return (v,), {"axes": tuple(axes), "keepdims": keepdims}, shape

    def reduce(self, op_type: str, v: str, axes, keepdims: int) -> str:
        """``op_type`` (a Reduce*) of ``v`` over ``axes``, in the form of the graph's opset
        (``axes`` an input or an attribute)."""
        inputs, attrs, shape = self._reduce_form(op_type, v, axes, keepdims)
        return self.op(op_type, *inputs, shape=shape, **attrs)

    def final_reduce(self, op_type: str, v: str, axes, keepdims: int) -> None:
        inputs, attrs, _ = self._reduce_form(op_type, v, axes, keepdims)
        self.final(op_type, *inputs, **attrs)

    def final(self, op_type: str, *inputs: str, **attrs) -> None:
        """The last node of the expansion: it keeps the expanded node's name and outputs."""
        self.rw.emit(Node(self.n.name, op_type, tuple(inputs), self.n.outputs, attrs))


def reduce_axes(o: Ops) -> tuple[list[int], int] | None:
    """The axes and keepdims of a Reduce* node; None when its axes are not constant."""
    n = o.n
    if len(n.inputs) > 1 and n.inputs[1]:
        v = o.rw.value(n.inputs[1])
        if v is None:
            return None
        axes = [int(a) for a in np.asarray(v).reshape(-1)]
    else:
        axes = list(n.attrs.get("axes") or ())
    if not axes:
        if n.attrs.get("noop_with_empty_axes", 0):
            return None
        axes = list(range(o.xt.rank))
    return axes, int(n.attrs.get("keepdims", 1))


Expansion = Callable[[Ops], bool]

#: Op type -> its expansion. Filled by :func:`composite`; read by ``expand-composites``.
EXPANSIONS: dict[str, Expansion] = {}


def composite(*op_types: str, dtypes: frozenset[str] | None = None
              ) -> Callable[[Expansion], Expansion]:
    """Register the decorated function as the expansion of each of ``op_types``; with
    ``dtypes``, only for nodes whose first input has one of those element types."""

    def register(fn: Expansion) -> Expansion:
        run = fn if dtypes is None else _typed(fn, dtypes)
        for op in op_types:
            if op in EXPANSIONS:
                raise ValueError(f"two expansions of {op}: {EXPANSIONS[op].__name__} and "
                                 f"{fn.__name__}")
            EXPANSIONS[op] = run
        return fn

    return register


def _typed(fn: Expansion, dtypes: frozenset[str]) -> Expansion:
    def run(o: Ops) -> bool:
        return o.xt.dtype in dtypes and fn(o)

    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run
