"""Constant folding: every node whose inputs are all constants becomes a constant.

``Constant`` nodes, ``Shape``/``Size``/``EyeLike`` of statically typed tensors, and everything computed only
from constants (PyTorch's ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains, ``Range``
and ``CumSum`` position ids, ``ConstantOfShape`` weights, transposed weights, a ``CastLike`` of a
constant, which reads only its second input's type, and the operators computed from constants
only: ``HannWindow``, ``HammingWindow``, ``BlackmanWindow`` and ``MelWeightMatrix`` of a size bound
with ``--const``) are evaluated with ``onnx.reference.ReferenceEvaluator`` in one batch and removed.
Random operators are never folded.
"""

from __future__ import annotations

import numpy as np

from imcc.frontend.evaluate import NONDETERMINISTIC, evaluate
from imcc.ir import Graph, Node, describe, onnx_elem_type
from isa.diagnostics import OnnxImportError
from isa.hostlimits import check_total_bytes


def _shape_value(node: Node, graph: Graph) -> np.ndarray:
    t = graph.types[node.inputs[0]]
    if node.op_type == "EyeLike":  # ones on the k-th diagonal, the output's element type
        rows, cols = t.shape
        return np.eye(rows, cols, int(node.attrs.get("k", 0)),
                      dtype=graph.types[node.outputs[0]].dtype)
    if node.op_type == "Size":
        return np.array(t.numel, np.int64)
    start = int(node.attrs.get("start", 0))
    end = node.attrs.get("end")
    return np.array(t.shape[start:] if end is None else t.shape[start:int(end)], np.int64)


def _cast_to_type_of(node: Node, graph: Graph) -> Node:
    """``CastLike(x, like)`` as the ``Cast`` of ``x`` to ``like``'s element type."""
    attrs = {"to": onnx_elem_type(graph.types[node.inputs[1]].dtype)}
    if "saturate" in node.attrs:  # (opset 19)
        attrs["saturate"] = int(node.attrs["saturate"])
    return Node(node.name, "Cast", node.inputs[:1], node.outputs, attrs)


def fold_constants(graph: Graph) -> Graph:
    """Replace every constant-only node by its value (see the module doc)."""
    known = set(graph.constants)
    folded: list[Node] = []
    shape_values: dict[str, np.ndarray] = {}
    kept: list[Node] = []
    for n in graph.nodes:
        if n.op_type in ("Shape", "Size", "EyeLike"):  # read only their input's type
            shape_values[n.outputs[0]] = _shape_value(n, graph)
            known.add(n.outputs[0])
        elif n.op_type not in NONDETERMINISTIC and all(i in known for i in n.inputs if i):
            folded.append(n)
            known.update(o for o in n.outputs if o)
        elif n.op_type == "CastLike" and n.inputs[0] in known:
            folded.append(_cast_to_type_of(n, graph))  # reads only its second input's type
            known.update(o for o in n.outputs if o)
        else:
            kept.append(n)
    if not folded and not shape_values:
        return graph
    needed = {i for n in kept for i in n.inputs if i} | set(graph.outputs)
    feeds = {**graph.constants, **shape_values}
    wanted = [o for n in folded for o in n.outputs if o and o in needed]
    # The evaluator holds every value of the batch at once: bound their sum, not only each
    # (ConstantOfShape gives a broadcast view, which costs nothing).
    check_total_bytes(sum(graph.types[o].numel * np.dtype(graph.types[o].dtype).itemsize
                          for n in folded if n.op_type != "ConstantOfShape"
                          for o in n.outputs if o in graph.types),
                      f"{graph.name}: the {len(folded)} constant node(s) folded together")
    values = evaluate(folded, feeds, wanted, graph.opset,
                      label=lambda n: describe(graph, n))
    constants = dict(graph.constants)
    for name, v in {**shape_values, **values}.items():
        if name not in needed:
            continue
        t = graph.types[name]
        if tuple(v.shape) != t.shape:
            raise OnnxImportError(
                f"{graph.name}: {describe(graph, graph.producer(name))}: onnx's reference "
                f"evaluator computes shape {list(v.shape)} where ONNX's shape inference gives "
                f"{list(t.shape)}; the model is inconsistent (check the operator's attributes "
                "against its inputs)")
        constants[name] = v if v.dtype.name == t.dtype else v.astype(t.dtype)
    referenced = {i for n in kept for i in n.inputs} | set(graph.outputs)
    constants = {k: v for k, v in constants.items() if k in referenced}
    produced = {o for n in kept for o in n.outputs}
    types = {k: v for k, v in graph.types.items()
             if k in constants or k in produced or k in graph.inputs}
    return graph.replace(nodes=tuple(kept), constants=constants, types=types)
