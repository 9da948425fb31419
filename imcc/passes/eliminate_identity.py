"""Remove operators that only copy their input at inference time.

``Identity`` and ``OptionalGetElement`` (of a tensor: the graph holds no optionals);
``Dropout`` in inference mode (no ``training_mode`` input, or a constant false one)
or in training mode with a constant ratio of 0 (a used ``mask`` output becomes a constant
all-true tensor); ``Cast`` to the dtype the input
already has. Readers of the output read the input instead.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph
from imcc.passes.rewrite import Rewriter


def _inference_dropout(rw: Rewriter, inputs: tuple[str, ...]) -> bool:
    """Whether the Dropout copies its input: inference mode, or training mode with a constant
    ratio of 0 (no element is dropped, and the scale ``1 / (1 - ratio)`` is 1)."""
    if len(inputs) < 3 or not inputs[2]:
        return True
    v = rw.value(inputs[2])
    if v is None:
        return False
    if not bool(np.asarray(v).reshape(-1)[0]):
        return True
    ratio = rw.value(inputs[1]) if len(inputs) > 1 and inputs[1] else None
    return ratio is not None and float(np.asarray(ratio).reshape(-1)[0]) == 0.0


def eliminate_identity(graph: Graph) -> Graph:
    """Drop Identity, inference Dropout and no-op Cast nodes (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        op = n.op_type
        if op in ("Identity", "OptionalGetElement"):
            rw.alias(n.outputs[0], n.inputs[0])
        elif op == "Dropout" and _inference_dropout(rw, n.inputs):
            rw.alias(n.outputs[0], n.inputs[0])
            if len(n.outputs) > 1 and n.outputs[1]:
                mask = np.ones(rw.type(n.inputs[0]).shape, bool)
                rw.alias(n.outputs[1], rw.const(f"{n.name}_mask", mask))
        elif op == "Cast" and graph.types[n.outputs[0]].dtype == rw.type(n.inputs[0]).dtype:
            rw.alias(n.outputs[0], n.inputs[0])
        else:
            rw.emit(n)
    return rw.finish()
