"""The graph builder passes use: emit nodes, add constants, alias tensors, then finish.

A pass walks ``graph.nodes`` in order and, for each node, either emits it (possibly changed), emits
replacement nodes, or aliases its output to another tensor (the node disappears and later readers
read the other tensor). :meth:`Rewriter.finish` builds the new graph: graph outputs keep their
names (an aliased output renames its source tensor, or becomes a copy when it cannot), and types
and constants nothing refers to are dropped.

A Rewriter is local to one run of one pass; it is the only mutable object passes use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from imcc.ir import Graph, Node, Origin, TensorType
from isa import hostlimits


class Rewriter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.nodes: list[Node] = []
        self.types: dict[str, TensorType] = dict(graph.types)
        self.constants: dict[str, np.ndarray] = dict(graph.constants)
        self._subst: dict[str, str] = {}
        self._used = set(graph.types) | {n.name for n in graph.nodes}
        self._next: dict[str, int] = {}  # per hint, the suffix below which every name is used

    # -- names ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A tensor or node name not used anywhere in the graph."""
        k = self._next.get(hint, 0)  # names are never freed: resume where the last search ended
        name = hint if k == 0 else f"{hint}_{k}"
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._next[hint] = k + 1
        self._used.add(name)
        return name

    def tensor(self, hint: str, t: TensorType) -> str:
        """A new intermediate tensor of type ``t``."""
        name = self.fresh(hint)
        self.types[name] = t
        return name

    def const(self, hint: str, value: np.ndarray) -> str:
        """A new constant tensor holding ``value``."""
        name = self.fresh(hint)
        value = np.asarray(value)
        self.constants[name] = value
        self.types[name] = TensorType(value.shape, value.dtype.name)
        return name

    def shape_const(self, hint: str, dims) -> str:
        return self.const(hint, np.array([int(d) for d in dims], np.int64))

    # -- reading ----------------------------------------------------------------------------
    def read(self, tensor: str) -> str:
        """The tensor that now holds what ``tensor`` held."""
        while tensor in self._subst:
            tensor = self._subst[tensor]
        return tensor

    def type(self, tensor: str) -> TensorType:
        return self.types[self.read(tensor)]

    def value(self, tensor: str) -> np.ndarray | None:
        """The constant value of ``tensor``, or None when it is not a constant."""
        return self.constants.get(self.read(tensor))

    def is_const(self, tensor: str) -> bool:
        return self.read(tensor) in self.constants

    def consumers(self, tensor: str) -> tuple[Node, ...]:
        """Readers of ``tensor`` in the input graph."""
        return self.graph.consumers(tensor)

    # -- writing ----------------------------------------------------------------------------
    def emit(self, node: Node) -> Node:
        """Append ``node`` with its inputs redirected through earlier aliases."""
        node = node.replace(inputs=tuple(self.read(i) if i else "" for i in node.inputs))
        self.nodes.append(node)
        if len(self.nodes) > hostlimits.LIMITS.max_nodes:  # stop a runaway expansion early
            hostlimits.check_nodes(len(self.nodes), f"{self.graph.name}: the lowered graph")
        return node

    def add(self, op_type: str, inputs, out_type: TensorType, hint: str, **attrs) -> str:
        """Emit a new one-output node; return its output tensor."""
        out = self.tensor(hint, out_type)
        self.emit(Node(self.fresh(hint), op_type, tuple(inputs), (out,), attrs))
        return out

    def alias(self, old: str, new: str) -> None:
        """From now on, readers of ``old`` read ``new`` (``old``'s producer is dropped)."""
        new = self.read(new)
        if new != old:
            self._subst[old] = new

    # -- result -----------------------------------------------------------------------------
    def finish(self, opset: int | None = None) -> Graph:
        g = self.graph
        renames: dict[str, str] = {}
        producers = {o for n in self.nodes for o in n.outputs if o}
        protected = set(g.inputs) | set(g.outputs)
        copies: list[Node] = []
        for out in g.outputs:
            src = self.read(out)
            if src == out:
                continue
            if src in self.constants and src not in protected:
                self.constants[out] = self.constants[src]
            elif src in producers and src not in protected and src not in renames:
                renames[src] = out
            else:
                shape = self.shape_const(f"{out}_shape", self.types[src].shape)
                attrs = {"allowzero": 0} if (opset or g.opset) >= 14 else {}
                copies.append(Node(self.fresh(f"{out}_copy"), "Reshape", (src, shape), (out,),
                                   attrs))
        nodes = []
        for n in self.nodes + copies:
            if renames:
                n = n.replace(inputs=tuple(renames.get(i, i) for i in n.inputs),
                              outputs=tuple(renames.get(o, o) for o in n.outputs))
            nodes.append(n)
        referenced = set(g.inputs) | set(g.outputs)
        for n in nodes:
            referenced.update(i for i in n.inputs if i)
            referenced.update(o for o in n.outputs if o)
        constants = {k: v for k, v in self.constants.items() if k in referenced}
        types = {k: v for k, v in self.types.items() if k in referenced}
        return Graph(name=g.name, nodes=tuple(nodes), inputs=g.inputs, outputs=g.outputs,
                     types=types, constants=constants,
                     opset=g.opset if opset is None else opset,
                     origins=self._origins(nodes, copies))

    def _origins(self, nodes: list[Node], copies: list[Node]) -> dict[str, Origin]:
        """The model node each node comes from (for diagnostics): its own entry, else that of
        the node whose name its own extends (passes name new nodes ``<node>_<what>``); a copy
        made for a graph output, that of the node that wrote the output."""
        g = self.graph
        made = {c.name: g.producer(c.outputs[0]) for c in copies}
        out: dict[str, Origin] = {}
        for n in nodes:
            o = g.origins.get(n.name)
            if o is None and n.name in made:
                src = made[n.name]
                o = g.origins.get(src.name) if src is not None else None
            name = n.name
            while o is None and "_" in name:
                name = name.rsplit("_", 1)[0]
                o = g.origins.get(name)
            if o is not None:
                out[n.name] = o
        return out


def fuse_matches(graph: Graph, match: Callable[[Graph, Node], tuple[list[Node], Any] | None],
                 replace: Callable[[Rewriter, Node, Any], Node]) -> Graph:
    """A fusion pass: every group of nodes ``match(graph, node)`` finds (``(nodes, found)``,
    the group's last node the one whose outputs the fused node takes over), no two groups
    sharing a node, replaced by the node ``replace(rewriter, last, found)`` builds, in the last
    node's place; ``graph`` itself when there is none."""
    found: dict[str, tuple[Node, Any]] = {}  # the name of each group's last node
    fused: set[str] = set()
    for n in graph.nodes:
        hit = match(graph, n)
        if hit is not None and not fused.intersection(k.name for k in hit[0]):
            nodes, what = hit
            fused.update(k.name for k in nodes)
            found[nodes[-1].name] = (nodes[-1], what)
    if not found:
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.name in found:
            rw.emit(replace(rw, *found[n.name]))
        elif n.name not in fused:
            rw.emit(n)
    return rw.finish()
