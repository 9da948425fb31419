"""What every rewrite of an onnxruntime contrib operator into standard ONNX nodes shares
(:mod:`imcc.frontend.contrib`): fresh names, new constants, the node's inputs and typed
attributes, dequantization and quantization, and the element types the model tells."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from imcc.frontend.external_data import ExternalData, read_external
from isa.diagnostics import OnnxImportError

INT8 = (TensorProto.UINT8, TensorProto.INT8)
_INT_LIMITS = {TensorProto.UINT8: (0, 255), TensorProto.INT8: (-128, 127),
               TensorProto.UINT16: (0, 65535), TensorProto.INT16: (-32768, 32767)}
_ZP_TYPES = (*_INT_LIMITS, TensorProto.INT32)
#: Operators whose output has the element type of their first input (how a zero point left out
#: finds the type it has: the type of the tensor it goes with).
SAME_TYPE = frozenset({"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                       "Concat", "Slice", "Pad", "Resize", "Split", "Identity", "Gather",
                       "DepthToSpace", "SpaceToDepth", "Tile", "Expand", "GatherElements",
                       "GatherND", "ReduceMax", "ReduceMin", "Relu", "Add", "Sub", "Mul", "Div",
                       "MatMul", "Gemm", "Conv", "Softmax", "Sigmoid", "Tanh", "Erf", "Sqrt",
                       "Pow", "Neg", "Abs", "Exp", "Log", "ReduceMean", "ReduceSum",
                       "LayerNormalization", "Dropout", "AveragePool", "GlobalAveragePool"})


class Rewrite:
    """One node's replacement: standard nodes (and initializers) named after its first output."""

    def __init__(self, model: onnx.ModelProto, node: onnx.NodeProto, label: str, opset: int,
                 names: set[str], dtype: Callable[[str], int | None],
                 external: Mapping[str, ExternalData]):
        self.model, self.node, self.label, self.opset = model, node, label, opset
        self.names, self.dtype, self.external = names, dtype, external
        self.nodes: list[onnx.NodeProto] = []
        self.base = next((o for o in node.output if o), node.name or node.op_type)

    def fail(self, why: str) -> OnnxImportError:
        return OnnxImportError(f"{self.label}: {why}; fix the model (onnxruntime's contrib "
                               "operator documentation gives each one's inputs)")

    def fresh(self, tag: str) -> str:
        name, k = f"{self.base}__{tag}", 0
        while name in self.names:
            k += 1
            name = f"{self.base}__{tag}{k}"
        self.names.add(name)
        return name

    def arg(self, i: int, *, required: bool = True) -> str:
        """Input ``i``'s name ('' where the node leaves it out)."""
        name = self.node.input[i] if i < len(self.node.input) else ""
        if required and not name:
            raise self.fail(f"input {i} is missing")
        return name

    def attr(self, name: str, default=None, kind: int = onnx.AttributeProto.INT):
        """Attribute ``name`` of type ``kind`` (``default`` where the node leaves it out)."""
        for a in self.node.attribute:
            if a.name == name:
                if a.type != kind:
                    want = onnx.AttributeProto.AttributeType.Name(kind).lower()
                    raise self.fail(f"attribute {name} is not of type {want}")
                return helper.get_attribute_value(a)
        return default

    def emit(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def emit_like(self, op: str, inputs: list[str], drop: tuple[str, ...]) -> str:
        """``op`` with the node's own attributes but ``drop`` (copied as they are)."""
        out = self.emit(op, inputs)
        self.nodes[-1].attribute.extend(a for a in self.node.attribute if a.name not in drop)
        return out

    def value(self, name: str) -> np.ndarray | None:
        """Initializer ``name``'s array (its file's data where it is still there); None where
        ``name`` is not an initializer or its data is in a file the loader did not check."""
        t = next((t for t in self.model.graph.initializer if t.name == name), None)
        if t is None:
            return None
        if t.data_location == TensorProto.EXTERNAL:
            ref = self.external.get(name)
            return None if ref is None else read_external(t, ref, self.label)
        try:
            return numpy_helper.to_array(t)
        except (ValueError, TypeError) as e:  # data that does not fill its dims, an odd type
            raise self.fail(f"initializer {name!r} cannot be read ({str(e)[:80]}); the file "
                            "is corrupt") from None

    def const(self, tag: str, value: np.ndarray) -> str:
        name = self.fresh(tag)
        self.model.graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    def zero_point(self, zp: str, like: str) -> tuple[str, int | None]:
        """``zp`` (or a zero of ``like``'s type where it is left out) and its element type
        (None where the model does not tell it)."""
        if zp:
            t = self.dtype(zp)
            if t is not None and t not in _ZP_TYPES:
                name = TensorProto.DataType.Name(t).lower() \
                    if t in TensorProto.DataType.values() else f"number {t}"
                raise self.fail(f"zero point {zp!r} is of type {name}; it must be an 8-, 16- "
                                "or 32-bit integer")
            return zp, t
        t = self.dtype(like)
        if t not in _ZP_TYPES:
            raise self.fail(f"the element type of {like!r} is not known, so neither is the "
                            "zero point it leaves out; give the zero point")
        return self.const("zero", np.zeros((), helper.tensor_dtype_to_np_dtype(t))), t

    def standard(self, t: int | None, axis: int | None) -> bool:
        """Whether the standard ``QuantizeLinear``/``DequantizeLinear`` of the model's opset
        takes type ``t`` (None: unknown, left to them) with a per-``axis`` scale: 8 bits from
        opset 10 (per axis from 13), 16 bits from 21."""
        if t is None or t in INT8:
            return axis is None or self.opset >= 13
        return t in _INT_LIMITS and self.opset >= 21

    def along(self, v: str, x: str, axis: int | None) -> str:
        """Scale or zero point ``v`` shaped to broadcast along ``axis`` of ``x`` (as it is for
        one value per tensor)."""
        if axis is None:
            return v
        n = rank(self, x, 1)
        if not -n <= axis < n:
            raise self.fail(f"axis {axis} is not an axis of the {n}-d {x!r}")
        dims = [1] * n
        dims[axis % n] = -1
        return self.emit("Reshape", [v, self.const("dims", np.asarray(dims, np.int64))])

    def dq(self, x: str, scale: str, zp: str, axis: int | None = None,
           out: str | None = None) -> str:
        """``(x - zp) * scale`` in float32 (into ``out``); ``axis``: that of a per-axis scale.
        ``DequantizeLinear`` where the model's opset has it for ``x``'s type, else the formula
        (an int32 ``x``, a 16-bit one before opset 21; exact while ``|x - zp|`` < 2**24)."""
        zp, t = self.zero_point(zp, x)
        if t != TensorProto.INT32 and self.standard(t, axis):
            kw = {} if axis is None else {"axis": axis}
            return self.emit("DequantizeLinear", [x, scale, zp], out, **kw)
        f = TensorProto.FLOAT
        centred = self.emit("Sub", [self.emit("Cast", [x], to=f),
                                    self.along(self.emit("Cast", [zp], to=f), x, axis)])
        return self.emit("Mul", [centred, self.along(scale, x, axis)], out)

    def q(self, y: str, scale: str, zp: str, like: str, out: str,
          axis: int | None = None) -> str:
        """``saturate(round_half_even(y / scale) + zp)`` into ``out``, of ``zp``'s type (or
        ``like``'s where the zero point is left out); ``QuantizeLinear`` where the model's
        opset has it for that type, else the formula."""
        zp, t = self.zero_point(zp, like)
        if t != TensorProto.INT32 and self.standard(t, axis):
            kw = {} if axis is None else {"axis": axis}
            return self.emit("QuantizeLinear", [y, scale, zp], out, **kw)
        if t not in _INT_LIMITS:
            raise self.fail("it quantizes to 8- or 16-bit integers only")
        lo, hi = _INT_LIMITS[t]
        shift = self.along(self.emit("Cast", [zp], to=TensorProto.FLOAT), y, axis)
        r = self.emit("Add", [self.emit("Round", [self.emit(
            "Div", [y, self.along(scale, y, axis)])]), shift])
        bounds = [self.const("lo", np.float32(lo)), self.const("hi", np.float32(hi))]
        return self.emit("Cast", [self.emit("Clip", [r, *bounds])], out, to=t)


def rank(r: Rewrite, name: str, least: int, *, required: bool = True) -> int | None:
    """The rank of ``name`` as the model states it (an initializer's, or a graph input's,
    output's or value_info's shape), at least ``least``; where the model does not state it,
    an error or, without ``required``, None."""
    n = next((len(t.dims) for t in r.model.graph.initializer if t.name == name), None)
    if n is None:
        n = next((len(vi.type.tensor_type.shape.dim)
                  for vi in (*r.model.graph.input, *r.model.graph.value_info,
                             *r.model.graph.output)
                  if vi.name == name and vi.type.tensor_type.HasField("shape")), None)
    if n is None and required:
        raise r.fail(f"the rewrite needs the rank of {name!r}, which the model does not state; "
                     "give its shape in value_info")
    if n is not None and n < least:
        raise r.fail(f"{name!r} has rank {n}, where it needs at least {least}")
    return n


def size(r: Rewrite, name: str) -> int | None:
    """The element count of initializer ``name`` (None: not an initializer)."""
    for t in r.model.graph.initializer:
        if t.name == name:
            return int(np.prod(t.dims, dtype=np.int64))
    return None


def per_axis(r: Rewrite, scale: str, axis: int) -> int | None:
    """``axis`` where ``scale`` may hold more than one value (from opset 13, where
    ``DequantizeLinear`` takes an axis and ignores it for one value), else None."""
    n = size(r, scale)
    return None if n == 1 or (n is None and r.opset < 13) else axis
