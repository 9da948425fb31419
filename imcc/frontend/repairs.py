"""What the loader adjusts in a model so that onnx's own checker, version converter and strict
shape inference take it as ONNX means it: an IR 3 model's initializers missing from its inputs
(:func:`list_ir3_initializers`), and the default attributes of an operator ONNX defines by a
function, which the strict inference of its body does not fill in (:func:`function_defaults`).
"""

from __future__ import annotations

import onnx
from onnx import helper


def list_ir3_initializers(model: onnx.ModelProto) -> None:
    """IR 3 lists every initializer among the graph inputs; exporters of its time did not
    always (onnx's checker and version converter then refuse the model; IR 4 dropped the rule):
    each one missing is listed, as the input it would have been (in place)."""
    g = model.graph
    if model.ir_version >= 4:
        return
    listed = {i.name for i in g.input}
    for t in g.initializer:
        if t.name not in listed:
            g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))


def function_defaults(g: onnx.GraphProto, opset: int) -> None:
    """Give each node of an operator that ONNX defines by a function (MeanVarianceNormalization,
    ...) the attributes it leaves at their defaults: onnx's strict inference of the function
    body does not fill them in (in place; the skeleton only)."""
    for n in g.node:
        try:
            schema = onnx.defs.get_schema(n.op_type, opset, n.domain or "")
        except onnx.defs.SchemaError:
            continue
        if not schema.has_function:
            continue
        given = {a.name for a in n.attribute}
        for name, a in schema.attributes.items():
            d = a.default_value
            if name not in given and d is not None and d.type != onnx.AttributeProto.UNDEFINED:
                n.attribute.append(d)
