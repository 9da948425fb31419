"""Per-operator attribute handling: every attribute made explicit.

:func:`complete_attrs` reads a node's attributes, fills the defaults declared by the operator's
ONNX schema at the model's opset, then applies the attribute rule of the operator's record
(:attr:`imcc.opdefs.OpDef.attrs`, the rules in :mod:`imcc.opdefs.attrs`). The result never
depends on defaults a later stage has to know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from imcc.ir import TensorType
from imcc.opdefs import OPS
from isa.diagnostics import OnnxImportError, UnsupportedOpError


def attribute_value(a: onnx.AttributeProto) -> Any:
    """The Python value of an attribute: int, float, str, tuple, or numpy array (tensors)."""
    if a.type == onnx.AttributeProto.TENSOR:
        try:
            return onnx.numpy_helper.to_array(a.t)
        except (ValueError, TypeError) as e:  # data that does not fit the declared shape
            raise OnnxImportError(f"attribute {a.name!r}: its tensor's data does not match its "
                                  f"shape {list(a.t.dims)} ({e})") from None
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS,
                  onnx.AttributeProto.SPARSE_TENSOR, onnx.AttributeProto.SPARSE_TENSORS,
                  onnx.AttributeProto.TENSORS, onnx.AttributeProto.TYPE_PROTO,
                  onnx.AttributeProto.TYPE_PROTOS):
        raise UnsupportedOpError(f"attribute {a.name!r} of type "
                                 f"{onnx.AttributeProto.AttributeType.Name(a.type)} "
                                 "is not supported")
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, list):
        return tuple(x.decode("utf-8") if isinstance(x, bytes) else x for x in v)
    return v


def schema_defaults(op_type: str, opset: int) -> dict[str, Any]:
    """Attribute defaults declared by the ONNX schema of ``op_type`` at ``opset``."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return {}
    out = {}
    for name, a in schema.attributes.items():
        d = a.default_value
        if d is not None and d.type != onnx.AttributeProto.UNDEFINED:
            out[name] = attribute_value(d)
    return out


def complete_attrs(node: onnx.NodeProto, opset: int, in_types: Sequence[TensorType | None],
                   where: str) -> dict[str, Any]:
    """The node's attributes with schema defaults and per-operator rules applied."""
    attrs = schema_defaults(node.op_type, opset)
    for a in node.attribute:
        if a.ref_attr_name:
            raise OnnxImportError(f"{where}: attribute {a.name!r} refers to a function "
                                  "attribute, which only exists inside ONNX functions")
        attrs[a.name] = attribute_value(a)
    opdef = OPS.get(node.op_type)
    fix = opdef.attrs if opdef else None
    if fix:
        attrs = fix(attrs, in_types, where)
    try:
        declared = onnx.defs.get_schema(node.op_type, opset, "").attributes
    except onnx.defs.SchemaError:
        return attrs
    # a rule may add an attribute (dilations) that this opset's schema does not declare yet
    return {k: v for k, v in attrs.items() if k in declared}


def as_int_tuple(a: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(a).reshape(-1))
