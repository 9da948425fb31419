"""Per-operator attribute handling: every attribute made explicit.

:func:`complete_attrs` reads a node's attributes, fills the defaults declared by the operator's
ONNX schema at the model's opset, then applies the per-operator rule registered for its op type
(``@rule("Conv")``): shape-dependent defaults (``kernel_shape``, ``strides``, ``dilations``,
``pads``), ``auto_pad`` resolved into explicit ``pads`` (and ``auto_pad="NOTSET"``), negative
axes made non-negative, ``Transpose.perm`` spelled out. The result never depends on defaults a
later stage has to know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper

from imcc.ir import TensorType
from isa.diagnostics import OnnxImportError, UnsupportedOpError

#: One rule per op type: (attrs, input types, where) -> attrs. Filled by @rule at import time.
RULES: dict[str, Callable[[dict[str, Any], Sequence[TensorType | None], str], dict[str, Any]]]
RULES = {}


def rule(*op_types: str):
    def register(fn):
        for op in op_types:
            RULES[op] = fn
        return fn
    return register


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
    fix = RULES.get(node.op_type)
    if fix:
        attrs = fix(attrs, in_types, where)
    try:
        declared = onnx.defs.get_schema(node.op_type, opset, "").attributes
    except onnx.defs.SchemaError:
        return attrs
    # a rule may add an attribute (dilations) that this opset's schema does not declare yet
    return {k: v for k, v in attrs.items() if k in declared}


def _axis(axis: int, rank: int, where: str, extra: int = 0) -> int:
    a = axis + rank + extra if axis < 0 else axis
    if not 0 <= a < rank + extra:
        raise OnnxImportError(f"{where}: axis {axis} is out of range for rank {rank}")
    return a


def same_pads(in_dims: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
              mode: str) -> tuple[int, ...]:
    """Explicit ``pads`` (begins then ends) for ``auto_pad`` SAME_UPPER / SAME_LOWER / VALID."""
    n = len(in_dims)
    if mode == "VALID":
        return (0,) * (2 * n)
    begins, ends = [], []
    for i in range(n):
        out = -(-in_dims[i] // s[i])
        total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_dims[i])
        small, large = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else large)
        ends.append(large if mode == "SAME_UPPER" else small)
    return tuple(begins + ends)


def _spatial(attrs: dict[str, Any], x: TensorType | None, kernel: Sequence[int] | None,
             where: str) -> dict[str, Any]:
    if x is None:
        raise OnnxImportError(f"{where}: the input's shape is unknown")
    n = x.rank - 2
    k = tuple(attrs.get("kernel_shape") or kernel or ())
    if len(k) != n:
        raise OnnxImportError(f"{where}: kernel_shape {list(k)} does not match a rank-{x.rank} "
                              "input")
    attrs["kernel_shape"] = k
    attrs["strides"] = tuple(attrs.get("strides") or (1,) * n)
    attrs["dilations"] = tuple(attrs.get("dilations") or (1,) * n)
    mode = attrs.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        attrs["pads"] = same_pads(x.shape[2:], k, attrs["strides"], attrs["dilations"], mode)
    else:
        attrs["pads"] = tuple(attrs.get("pads") or (0,) * (2 * n))
    attrs["auto_pad"] = "NOTSET"
    return attrs


def _check_channels(attrs, in_types, where: str, transpose: bool) -> None:
    """What ONNX's shape inference leaves unchecked: the weight's rank and channels against
    the input's and ``group``, and the bias length."""
    x = in_types[0]
    w = in_types[1] if len(in_types) > 1 else None
    b = in_types[2] if len(in_types) > 2 else None
    if x is None or w is None:
        return
    g = int(attrs.get("group", 1))
    if w.rank != x.rank:
        raise OnnxImportError(f"{where}: weight of shape {list(w.shape)} does not match an "
                              f"input of rank {x.rank}")
    cin = x.shape[1]
    if g < 1 or cin % g:
        raise OnnxImportError(f"{where}: group={g} does not divide the input's {cin} channels")
    want = w.shape[0] if transpose else w.shape[1] * g
    if cin != want:
        spec = "weight.shape[0]" if transpose else f"weight.shape[1] x group = {w.shape[1]} x {g}"
        raise OnnxImportError(f"{where}: the input has {cin} channels but the weight "
                              f"{list(w.shape)} expects {want} ({spec})")
    cout = w.shape[1] * g if transpose else w.shape[0]
    if not transpose and cout % g:
        raise OnnxImportError(f"{where}: group={g} does not divide the weight's {cout} output "
                              "channels")
    if b is not None and b.shape != (cout,):
        raise OnnxImportError(f"{where}: bias of shape {list(b.shape)} for {cout} output "
                              f"channels (expected [{cout}])")


@rule("Conv")
def _conv(attrs, in_types, where):
    _check_channels(attrs, in_types, where, transpose=False)
    w = in_types[1] if len(in_types) > 1 else None
    return _spatial(attrs, in_types[0], w.shape[2:] if w else None, where)


@rule("MaxPool", "AveragePool", "LpPool")
def _pool(attrs, in_types, where):
    return _spatial(attrs, in_types[0], None, where)


@rule("ConvTranspose")
def _conv_transpose(attrs, in_types, where):
    _check_channels(attrs, in_types, where, transpose=True)
    x, w = in_types[0], in_types[1] if len(in_types) > 1 else None
    mode = attrs.get("auto_pad", "NOTSET")
    out_shape = attrs.pop("output_shape", None)
    attrs["auto_pad"] = "NOTSET"  # so _spatial keeps explicit pads; resolved below
    attrs = _spatial(attrs, x, w.shape[2:] if w else None, where)
    n = x.rank - 2
    k, s, d = attrs["kernel_shape"], attrs["strides"], attrs["dilations"]
    op = list(attrs.get("output_padding") or (0,) * n)
    if out_shape or mode in ("SAME_UPPER", "SAME_LOWER"):
        target = list(out_shape)[-n:] if out_shape else [x.shape[2 + i] * s[i] for i in range(n)]
        begins, ends = [], []
        for i in range(n):
            total = s[i] * (x.shape[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - target[i]
            if mode == "SAME_UPPER":
                b, e = total // 2, total - total // 2
            else:
                b, e = total - total // 2, total // 2
            if e < 0:  # a larger requested output is extra padding at the end
                op[i] -= e
                e = 0
            begins.append(b)
            ends.append(e)
        attrs["pads"] = tuple(begins + ends)
    elif mode == "VALID":
        attrs["pads"] = (0,) * (2 * n)
    attrs["output_padding"] = tuple(op)
    return attrs


@rule("Softmax", "LogSoftmax", "Hardmax", "Concat", "Gather", "GatherElements", "Split",
      "LayerNormalization", "ArgMax", "ArgMin")
def _axis_attr(attrs, in_types, where):
    x = in_types[0]
    if x is not None and "axis" in attrs:
        attrs["axis"] = _axis(int(attrs["axis"]), x.rank, where)
    return attrs


@rule("Flatten")
def _flatten(attrs, in_types, where):
    x = in_types[0]
    if x is not None:
        attrs["axis"] = _axis(int(attrs.get("axis", 1)), x.rank, where, extra=1)
    return attrs


@rule("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
      "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
def _reduce(attrs, in_types, where):
    x = in_types[0]
    if x is not None and "axes" in attrs:
        attrs["axes"] = tuple(sorted(_axis(int(a), x.rank, where) for a in attrs["axes"]))
    return attrs


@rule("Transpose")
def _transpose(attrs, in_types, where):
    x = in_types[0]
    if x is not None and not attrs.get("perm"):
        attrs["perm"] = tuple(range(x.rank - 1, -1, -1))
    elif x is not None:
        attrs["perm"] = tuple(_axis(int(p), x.rank, where) for p in attrs["perm"])
    return attrs


def as_int_tuple(a: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(a).reshape(-1))
