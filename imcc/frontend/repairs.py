"""What the loader adjusts in a model so that onnx's own checker, version converter and strict
shape inference take it as ONNX means it: an IR 3 model's initializers missing from its inputs
(:func:`list_ir3_initializers`), and the default attributes of an operator ONNX defines by a
function, which the strict inference of its body does not fill in (:func:`function_defaults`);
and the light copy of a model that checking and shape inference read (:func:`skeleton`).
"""

from __future__ import annotations

import onnx
from onnx import helper

from imcc.frontend.external_data import SMALL_TENSOR
from imcc.frontend.opsets import default_opset


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


def skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` where large initializers are graph inputs of the same type (no data),
    so checking and shape inference do not copy the weights."""
    g = model.graph
    skel = onnx.ModelProto()
    for f in ("ir_version", "producer_name", "producer_version", "domain", "model_version"):
        setattr(skel, f, getattr(model, f))
    skel.opset_import.extend(model.opset_import)
    skel.functions.extend(model.functions)
    sg = skel.graph
    sg.name = g.name
    sg.node.extend(g.node)
    function_defaults(sg, default_opset(model))
    sg.input.extend(g.input)
    sg.output.extend(g.output)
    sg.value_info.extend(g.value_info)
    listed = {i.name for i in g.input}
    for t in g.initializer:
        n = 1
        for d in t.dims:
            n *= d
        if n <= SMALL_TENSOR or t.data_type == onnx.TensorProto.STRING:
            sg.initializer.append(t)
        elif t.name not in listed:
            sg.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return skel
