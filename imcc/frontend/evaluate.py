"""Evaluating constant sub-graphs with ``onnx.reference.ReferenceEvaluator``.

The importer uses it to learn the values of small constant tensors (shape operands); constant
folding uses it to replace every node whose inputs are all constants by its value. One
evaluator runs a whole batch of nodes. ``ConstantOfShape`` returns a read-only broadcast view
(zero strides), so a weight written as ``ConstantOfShape`` costs no memory until an operation
really needs its elements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from imcc.ir import IR_VERSION, Node, node_to_proto, onnx_elem_type
from isa.diagnostics import OnnxImportError

#: Operators whose result is not a function of their inputs: never folded.
NONDETERMINISTIC = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
    "Multinomial"})


class ConstantOfShape(OpRun):
    """``ConstantOfShape`` as a broadcast view of its one-element ``value`` (default 0.0)."""

    op_domain = ""

    def _run(self, shape, value=None):  # noqa: D102 (ONNX reference-op signature)
        v = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
        return (np.broadcast_to(v, tuple(int(d) for d in np.asarray(shape).reshape(-1))),)


def _value_info(name: str, arr: np.ndarray) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_elem_type(arr.dtype.name), list(arr.shape))


def evaluate(nodes: Sequence[Node], feeds: Mapping[str, np.ndarray], outputs: Sequence[str],
             opset: int, where: str = "") -> dict[str, np.ndarray]:
    """Run ``nodes`` (topologically ordered, every input in ``feeds`` or produced earlier) and
    return the arrays of ``outputs``. A failure names the batch's first node: it means the
    model's constant data is inconsistent (an index out of range, a bad shape operand)."""
    if not outputs:
        return {}
    used = {i for n in nodes for i in n.inputs if i}
    inputs = [k for k in feeds if k in used]
    graph = helper.make_graph(
        [node_to_proto(n, opset) for n in nodes], "fold",
        [_value_info(k, np.asarray(feeds[k])) for k in inputs],
        [helper.make_empty_tensor_value_info(o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    try:
        ev = ReferenceEvaluator(model, new_ops=[ConstantOfShape])
        vals = ev.run(list(outputs), {k: np.asarray(feeds[k]) for k in inputs})
    except Exception as e:  # the reference evaluator raises many exception types
        first = nodes[0] if len(nodes) == 1 else None
        what = f"node {first.name!r} ({first.op_type})" if first else "a constant sub-graph"
        raise OnnxImportError(f"{where}cannot evaluate {what}: {type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                              ) from None
    return {o: np.asarray(v) for o, v in zip(outputs, vals)}
