"""Dead-code elimination: drop nodes none of whose outputs is read, and unused constants."""

from __future__ import annotations

from imcc.ir import Graph


def dead_code(graph: Graph) -> Graph:
    """Remove nodes whose outputs reach no graph output (see the module doc)."""
    live = set(graph.outputs)
    kept = []
    for n in reversed(graph.nodes):
        if any(o in live for o in n.outputs if o):
            kept.append(n)
            live.update(i for i in n.inputs if i)
    kept.reverse()
    if len(kept) == len(graph.nodes) and all(c in live for c in graph.constants):
        return graph
    constants = {k: v for k, v in graph.constants.items() if k in live}
    produced = {o for n in kept for o in n.outputs if o}
    types = {k: v for k, v in graph.types.items()
             if k in constants or k in produced or k in graph.inputs}
    return graph.replace(nodes=tuple(kept), constants=constants, types=types)
