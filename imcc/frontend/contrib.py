"""onnxruntime's quantized operators (domain ``com.microsoft``) in standard ONNX.

onnxruntime's quantizer writes its QOperator format (``quantize_static(...,
quant_format=QuantFormat.QOperator)``, and the int8 models of the ONNX Model Zoo) with standard
``QLinearConv`` and ``QLinearMatMul`` and, for the other operators, contrib ones of domain
``com.microsoft``. :func:`expand_contrib` rewrites each of those it knows (:data:`RULES`), in
place and before anything else reads the model, into the standard nodes that compute what the
operator's documentation says: the inputs dequantized (``DequantizeLinear``), the float operator,
the result quantized (``QuantizeLinear``: round half to even, saturate). ``QGemm`` becomes
``Gemm`` of the dequantized operands with its int32 bias dequantized at ``a_scale * b_scale``:
``alpha * a_scale * b_scale * ((A - a_zp) @ (B - b_zp) + C)``, quantized when it has a
``y_scale``. A constant weight's ``DequantizeLinear`` then gives its layer the model's integer
codes (:mod:`imcc.qdq`).

onnxruntime computes some of these in fixed point or through tables: its integers can differ
from the documented formula by one step where a value falls near a rounding boundary
(docs/frontend.md). Other ``com.microsoft`` operators are left as they are, and the loader
refuses them by name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from imcc.frontend.opsets import STD_DOMAINS
from isa.diagnostics import OnnxImportError

CONTRIB = "com.microsoft"
_INT8 = (TensorProto.UINT8, TensorProto.INT8)
_INT_LIMITS = {TensorProto.UINT8: (0, 255), TensorProto.INT8: (-128, 127),
               TensorProto.UINT16: (0, 65535), TensorProto.INT16: (-32768, 32767)}
_ZP_TYPES = (*_INT_LIMITS, TensorProto.INT32)
#: Operators whose output has the element type of their first input (how a zero point left out
#: finds the type it has: the type of the tensor it goes with).
_SAME_TYPE = frozenset({"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                        "Concat", "Slice", "Pad", "Resize", "Split", "Identity", "Gather",
                        "DepthToSpace", "SpaceToDepth", "Tile", "Expand", "GatherElements",
                        "GatherND", "ReduceMax", "ReduceMin", "Relu"})


class _Rewrite:
    """One node's replacement: standard nodes (and initializers) named after its first output."""

    def __init__(self, model: onnx.ModelProto, node: onnx.NodeProto, label: str, opset: int,
                 names: set[str], dtype: Callable[[str], int | None]):
        self.model, self.node, self.label, self.opset = model, node, label, opset
        self.names, self.dtype = names, dtype
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
                raise self.fail(f"zero point {zp!r} is of type "
                                f"{TensorProto.DataType.Name(t).lower()}; it must be an 8-, 16- "
                                "or 32-bit integer")
            return zp, t
        t = self.dtype(like)
        if t not in _ZP_TYPES:
            raise self.fail(f"the element type of {like!r} is not known, so neither is the "
                            "zero point it leaves out; give the zero point")
        return self.const("zero", np.zeros((), helper.tensor_dtype_to_np_dtype(t))), t

    def dq(self, x: str, scale: str, zp: str, axis: int | None = None,
           out: str | None = None) -> str:
        """``(x - zp) * scale`` in float32 (into ``out``); ``axis``: that of a per-axis scale."""
        zp, t = self.zero_point(zp, x)
        if (t is None or t in _INT8) and (axis is None or self.opset >= 13):
            kw = {} if axis is None else {"axis": axis}
            return self.emit("DequantizeLinear", [x, scale, zp], out, **kw)
        if axis is not None:
            raise self.fail("a per-axis scale needs 8-bit integers and opset 13 or newer")
        f = TensorProto.FLOAT
        return self.emit("Mul", [self.emit("Sub", [self.emit("Cast", [x], to=f),
                                                   self.emit("Cast", [zp], to=f)]), scale], out)

    def q(self, y: str, scale: str, zp: str, like: str, out: str) -> str:
        """``saturate(round_half_even(y / scale) + zp)`` into ``out``, of ``zp``'s type (or
        ``like``'s where the zero point is left out)."""
        zp, t = self.zero_point(zp, like)
        if t is None or t in _INT8:
            return self.emit("QuantizeLinear", [y, scale, zp], out)
        if t not in _INT_LIMITS:
            raise self.fail("it quantizes to 8- or 16-bit integers only")
        lo, hi = _INT_LIMITS[t]
        r = self.emit("Add", [self.emit("Round", [self.emit("Div", [y, scale])]),
                              self.emit("Cast", [zp], to=TensorProto.FLOAT)])
        bounds = [self.const("lo", np.float32(lo)), self.const("hi", np.float32(hi))]
        return self.emit("Cast", [self.emit("Clip", [r, *bounds])], out, to=t)


def _unary(op: str, **fixed):
    """``q(op(dq(X)))`` for X, X_scale, X_zp, Y_scale, Y_zp."""
    def rule(r: _Rewrite) -> None:
        x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        attrs = {k: r.attr(k, v, onnx.AttributeProto.FLOAT) for k, v in fixed.items()}
        r.q(r.emit(op, [x], **attrs), r.arg(3), r.arg(4, required=False), r.arg(0),
            r.node.output[0])
    return rule


def _binary(op: str):
    """``q(op(dq(A), dq(B)))`` for A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp."""
    def rule(r: _Rewrite) -> None:
        a = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        b = r.dq(r.arg(3), r.arg(4), r.arg(5, required=False))
        r.q(r.emit(op, [a, b]), r.arg(6), r.arg(7, required=False), r.arg(0), r.node.output[0])
    return rule


def _channels_last(r: _Rewrite, x: str, pool: Callable[[str], str]) -> str:
    """``pool`` on ``x``, which with ``channels_last`` is NHWC: transposed to NCHW and back."""
    if not r.attr("channels_last", 0):
        return pool(x)
    rank = _rank(r, r.arg(0), 3)
    first = r.emit("Transpose", [x], perm=[0, rank - 1, *range(1, rank - 1)])
    return r.emit("Transpose", [pool(first)], perm=[0, *range(2, rank), 1])


def _rank(r: _Rewrite, name: str, least: int) -> int:
    """The rank of ``name`` as the model states it, at least ``least``."""
    for vi in (*r.model.graph.input, *r.model.graph.value_info, *r.model.graph.output):
        if vi.name == name and vi.type.tensor_type.HasField("shape"):
            rank = len(vi.type.tensor_type.shape.dim)
            if rank < least:
                raise r.fail(f"{name!r} has rank {rank}, where it needs at least {least}")
            return rank
    raise r.fail(f"the rewrite needs the rank of {name!r}, which the model does not state; give "
                 "its shape in value_info")


def _pool(op: str):
    def rule(r: _Rewrite) -> None:
        x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        attrs = {a.name: helper.get_attribute_value(a) for a in r.node.attribute
                 if a.name != "channels_last"}
        y = _channels_last(r, x, lambda t: r.emit(op, [t], **attrs))
        r.q(y, r.arg(3), r.arg(4, required=False), r.arg(0), r.node.output[0])
    return rule


def _concat(r: _Rewrite) -> None:
    """Y_scale, Y_zp, then (X, X_scale, X_zp) per input."""
    rest = list(r.node.input[2:])
    if len(rest) < 3 or len(rest) % 3:
        raise r.fail(f"{len(rest)} inputs after Y_scale and Y_zero_point, where it takes "
                     "triples of a tensor, its scale and its zero point")
    axis = r.attr("axis")
    if axis is None:
        raise r.fail("attribute axis is missing")
    parts = [x if r.dtype(x) == TensorProto.FLOAT else r.dq(x, s, z)
             for x, s, z in zip(rest[::3], rest[1::3], rest[2::3], strict=True)]
    r.q(r.emit("Concat", parts, axis=axis), r.arg(0), r.arg(1, required=False), rest[0],
        r.node.output[0])


def _softmax(r: _Rewrite) -> None:
    """Along ``axis`` from the ``opset`` attribute 13 on, over the 2-D coercion before."""
    x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
    if r.attr("opset") is None:
        raise r.fail("attribute opset (which Softmax it follows) is missing")
    axis, along = int(r.attr("axis", -1)), int(r.attr("opset")) >= 13
    if along == (r.opset >= 13):
        y = r.emit("Softmax", [x], axis=axis)
    elif along:  # a model before opset 13: the axis moved last, where both forms agree
        rank = _rank(r, r.arg(0), 1)
        a = axis % rank
        perm = [*(i for i in range(rank) if i != a), a]
        back = [int(i) for i in np.argsort(perm)]
        y = r.emit("Transpose", [r.emit("Softmax", [r.emit("Transpose", [x], perm=perm)],
                                        axis=-1)], perm=back)
    else:
        flat = r.emit("Softmax", [r.emit("Flatten", [x], axis=axis)], axis=1)
        y = r.emit("Reshape", [flat, r.emit("Shape", [x])])
    r.q(y, r.arg(3), r.arg(4, required=False), r.arg(0), r.node.output[0])


def _reduce_mean(r: _Rewrite) -> None:
    x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
    axes, keep = r.attr("axes", kind=onnx.AttributeProto.INTS), r.attr("keepdims")
    if axes is None or keep is None:
        raise r.fail("attributes axes and keepdims are both required")
    if r.opset >= 18:
        y = r.emit("ReduceMean", [x, r.const("axes", np.asarray(axes, np.int64))],
                   keepdims=keep)
    else:
        y = r.emit("ReduceMean", [x], axes=list(axes), keepdims=keep)
    r.q(y, r.arg(3), r.arg(4, required=False), r.arg(0), r.node.output[0])


def _where(r: _Rewrite) -> None:
    x = r.dq(r.arg(1), r.arg(2), r.arg(3, required=False))
    y = r.dq(r.arg(4), r.arg(5), r.arg(6, required=False))
    r.q(r.emit("Where", [r.arg(0), x, y]), r.arg(7), r.arg(8, required=False), r.arg(1),
        r.node.output[0])


def _qgemm(r: _Rewrite) -> None:
    """``alpha * a_scale * b_scale * ((A - a_zp)' @ (B - b_zp)' + C)``, quantized with a
    ``y_scale``; ``b_scale`` per tensor or per output column."""
    trans_a, trans_b = int(r.attr("transA", 0)), int(r.attr("transB", 0))
    alpha = float(r.attr("alpha", 1.0, onnx.AttributeProto.FLOAT))
    a = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
    b = r.dq(r.arg(3), r.arg(4), r.arg(5, required=False),
             axis=_per_axis(r, r.arg(4), 0 if trans_b else 1))
    ins = [a, b]
    if r.arg(6, required=False):
        step = r.emit("Mul", [r.arg(1), r.arg(4)])
        ins.append(r.emit("Mul", [r.emit("Cast", [r.arg(6)], to=TensorProto.FLOAT), step]))
    ys = r.arg(7, required=False)
    y = r.emit("Gemm", ins, None if ys else r.node.output[0], alpha=alpha, beta=alpha,
               transA=trans_a, transB=trans_b)
    if ys:
        zp = r.arg(8, required=False) or r.const("zero", np.zeros((), np.uint8))
        r.q(y, ys, zp, r.arg(0), r.node.output[0])


def _size(r: _Rewrite, name: str) -> int | None:
    """The element count of initializer ``name`` (None: not an initializer)."""
    for t in r.model.graph.initializer:
        if t.name == name:
            return int(np.prod(t.dims, dtype=np.int64))
    return None


def _per_axis(r: _Rewrite, scale: str, axis: int) -> int | None:
    """``axis`` where ``scale`` may hold more than one value (from opset 13, where
    ``DequantizeLinear`` takes an axis and ignores it for one value), else None."""
    size = _size(r, scale)
    return None if size == 1 or (size is None and r.opset < 13) else axis


def _quantize(r: _Rewrite) -> None:
    axis = _per_axis(r, r.arg(1), int(r.attr("axis", 1)))
    zp, t = r.zero_point(r.arg(2, required=False), r.node.output[0])
    if (t is None or t in _INT8) and (axis is None or r.opset >= 13):
        r.emit("QuantizeLinear", [r.arg(0), r.arg(1), zp], r.node.output[0],
               **({} if axis is None else {"axis": axis}))
    elif axis is not None:
        raise r.fail("a per-axis scale needs 8-bit integers and opset 13 or newer")
    else:
        r.q(r.arg(0), r.arg(1), zp, r.arg(0), r.node.output[0])


def _dequantize(r: _Rewrite) -> None:
    r.dq(r.arg(0), r.arg(1), r.arg(2, required=False),
         axis=_per_axis(r, r.arg(1), int(r.attr("axis", 1))), out=r.node.output[0])


#: com.microsoft operator -> its rewrite into standard nodes.
RULES: dict[str, Callable[[_Rewrite], None]] = {
    "QLinearAdd": _binary("Add"), "QLinearMul": _binary("Mul"),
    "QLinearSigmoid": _unary("Sigmoid"), "QLinearLeakyRelu": _unary("LeakyRelu", alpha=0.01),
    "QLinearAveragePool": _pool("AveragePool"),
    "QLinearGlobalAveragePool": _pool("GlobalAveragePool"),
    "QLinearConcat": _concat, "QLinearSoftmax": _softmax, "QLinearReduceMean": _reduce_mean,
    "QLinearWhere": _where, "QGemm": _qgemm,
    "QuantizeLinear": _quantize, "DequantizeLinear": _dequantize,
}


def expand_contrib(model: onnx.ModelProto, label: Callable[[int, onnx.NodeProto], str]) -> None:
    """Rewrite every ``com.microsoft`` node of :data:`RULES` into standard nodes (in place);
    ``label(i, node)`` names a node in messages. The domain's import is dropped once no node
    uses it."""
    g = model.graph
    if not any(n.domain == CONTRIB and n.op_type in RULES for n in g.node):
        return
    opset = max((o.version for o in model.opset_import if o.domain in STD_DOMAINS), default=0)
    names = {t for n in g.node for t in (*n.input, *n.output)}
    names |= {t.name for t in (*g.initializer, *g.input, *g.output, *g.value_info)}
    dtype = _types(model)
    out: list[onnx.NodeProto] = []
    for i, n in enumerate(g.node):
        if n.domain != CONTRIB or n.op_type not in RULES:
            out.append(n)
            continue
        r = _Rewrite(model, n, label(i, n), opset, names, dtype)
        if len(n.output) != 1 or not n.output[0]:
            raise r.fail(f"it writes {len(n.output)} outputs, where it has one")
        RULES[n.op_type](r)
        out.extend(r.nodes)
    del g.node[:]
    g.node.extend(out)
    if not any(n.domain == CONTRIB for n in g.node):
        keep = [o for o in model.opset_import if o.domain != CONTRIB]
        del model.opset_import[:]
        model.opset_import.extend(keep)


def _types(model: onnx.ModelProto) -> Callable[[str], int | None]:
    """The element type of a tensor where the model tells it: a graph input, output,
    value_info or initializer, or the output of a quantizing node (its zero point's type) or of
    an operator that keeps its input's type (:data:`_SAME_TYPE`); None where it does not."""
    g = model.graph
    known: dict[str, int | None] = {t.name: t.data_type for t in g.initializer}
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.tensor_type.elem_type:
            known.setdefault(vi.name, vi.type.tensor_type.elem_type)
    producer = {o: n for n in g.node for o in n.output if o}

    def source(n: onnx.NodeProto) -> str | None:
        """The input whose type ``n``'s output has."""
        if n.op_type in ("QuantizeLinear", "QLinearConv", "QLinearMatMul"):
            zp = {"QuantizeLinear": 2, "QLinearConv": 7, "QLinearMatMul": 7}[n.op_type]
            return n.input[zp] if len(n.input) > zp and n.input[zp] else None
        if n.domain == CONTRIB and n.op_type in RULES:
            return n.input[0] if n.op_type != "QLinearWhere" else n.input[1]
        return n.input[0] if n.op_type in _SAME_TYPE and n.input else None

    def dtype(name: str) -> int | None:
        chain = []
        while name not in known and name in producer and name not in chain:
            chain.append(name)
            n = producer[name]
            if n.op_type in ("QuantizeLinear", "DynamicQuantizeLinear") and (
                    n.op_type == "DynamicQuantizeLinear" or len(n.input) < 3 or not n.input[2]):
                known[name] = TensorProto.UINT8
                break
            if n.op_type == "Cast":
                known[name] = next((a.i for a in n.attribute if a.name == "to"), None)
                break
            nxt = source(n)
            if nxt is None:
                break
            name = nxt
        t = known.get(name)
        for c in chain:
            known.setdefault(c, t)
        return t

    return dtype
