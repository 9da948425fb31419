"""Bring every graph to one opset, 21, so later stages know a single version of each operator.

Between opsets 13 and 21 the operators imcc supports changed only by new types, new optional
attributes or inputs with backward-compatible defaults, with three exceptions that this pass
rewrites: the ``Reduce*`` family moved ``axes`` from an attribute to an input (opset 18),
``Split`` needs its sizes as an input or a ``num_outputs`` attribute (opset 18; made an explicit
``split`` input here), and ``GridSample``'s modes ``bilinear`` and ``bicubic`` were renamed
``linear`` and ``cubic`` (opset 20, which also took more than two spatial axes). Every node's
attributes are then re-completed with opset-21 defaults.

Operators whose meaning changed in a way not listed above (``GroupNormalization``,
``RoiAlign``, quantization operators...) keep the graph at its opset: the passes that take
them read the node's own version (``RoiAlign``'s expansion its default coordinates), and the
partitioner rejects the others.
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.frontend.attributes import schema_defaults
from imcc.ir import Graph, Node
from imcc.opdefs import REDUCTIONS
from imcc.passes.rewrite import Rewriter

TARGET_OPSET = 21

#: Ops newer than opset 13 whose opset-21 form reads every older use the same way.
_COMPATIBLE = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Relu", "LeakyRelu", "PRelu", "Where", "Equal",
    "GreaterOrEqual", "LessOrEqual", "Cast", "CastLike", "Constant", "ConstantOfShape",
    "Identity", "Shape", "Size", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Pad",
    "Resize", "AveragePool", "LpPool", "BatchNormalization", "CumSum", "HardSwish", "Trilu",
    "Mish", "ScatterND", "ScatterElements", "IsNaN", "IsInf", "LayerNormalization", "Gelu",
    "Split", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "GridSample"})
#: GridSample's modes of opsets 16 to 19 by their opset-20 names.
_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic"}
_REDUCE_ATTR_AXES = REDUCTIONS - {"ReduceSum"}  # ReduceSum's axes are an input from opset 13


def _upgradable(graph: Graph) -> bool:
    for n in graph.nodes:
        try:
            since = onnx.defs.get_schema(n.op_type, TARGET_OPSET, "").since_version
        except onnx.defs.SchemaError:
            return False
        if since > graph.opset and n.op_type not in _COMPATIBLE:
            return False
    return True


def _redefault(node: Node) -> Node:
    schema = onnx.defs.get_schema(node.op_type, TARGET_OPSET, "")
    attrs = {**schema_defaults(node.op_type, TARGET_OPSET), **node.attrs}
    return node.replace(attrs={k: v for k, v in attrs.items() if k in schema.attributes})


def upgrade_opset(graph: Graph) -> Graph:
    """Rewrite ``graph`` to opset 21 (see the module doc)."""
    if graph.opset >= TARGET_OPSET or not _upgradable(graph):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type in _REDUCE_ATTR_AXES and graph.opset < 18:
            axes = n.attrs.get("axes")
            inputs = (n.inputs[0],)
            if axes:
                inputs += (rw.const(f"{n.name}_axes", np.array(axes, np.int64)),)
            n = n.replace(inputs=inputs, attrs=n.attrs.replace(axes=None))
        elif n.op_type == "Split" and (len(n.inputs) < 2 or not n.inputs[1]):
            axis = int(n.attrs["axis"])
            sizes = [graph.types[o].shape[axis] for o in n.outputs]
            split = rw.const(f"{n.name}_split", np.array(sizes, np.int64))
            n = n.replace(inputs=(n.inputs[0], split), attrs=n.attrs.replace(num_outputs=None))
        elif n.op_type == "GridSample" and graph.opset < 20:
            mode = str(n.attrs.get("mode", "bilinear"))
            n = n.replace(attrs=n.attrs.replace(mode=_GRID_MODES.get(mode, mode)))
        rw.emit(_redefault(n))
    return rw.finish(opset=TARGET_OPSET)
