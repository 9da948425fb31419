"""onnxruntime's quantized contrib operators (its QOperator format) as standard nodes
(:mod:`imcc.frontend.contrib`): ``QLinearAdd``, ``QLinearMul``, ``QLinearSigmoid``,
``QLinearLeakyRelu``, the pools, ``QLinearConcat``, ``QLinearSoftmax``, ``QLinearWhere`` and
``QLinearReduceMean`` become their inputs dequantized (``DequantizeLinear``), the float operator
and the result quantized (``QuantizeLinear``: round half to even, saturate); ``QGemm`` becomes
``Gemm`` of the dequantized operands with its int32 bias at ``a_scale * b_scale``, that is
``alpha * a_scale * b_scale * ((A - a_zp) @ (B - b_zp) + C)``, quantized when it has a
``y_scale``; the contrib ``QuantizeLinear`` and ``DequantizeLinear`` are the standard ones where
the model's opset has them for the type, else their formula (``Rewrite.q``, ``Rewrite.dq``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto

from imcc.frontend.contrib_rewrite import Rewrite, per_axis, rank


def _unary(op: str, **fixed):
    """``q(op(dq(X)))`` for X, X_scale, X_zp, Y_scale, Y_zp."""
    def rule(r: Rewrite) -> None:
        x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        attrs = {k: r.attr(k, v, onnx.AttributeProto.FLOAT) for k, v in fixed.items()}
        r.q(r.emit(op, [x], **attrs), r.arg(3), r.arg(4, required=False), r.arg(0),
            r.node.output[0])
    return rule


def _binary(op: str):
    """``q(op(dq(A), dq(B)))`` for A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp."""
    def rule(r: Rewrite) -> None:
        a = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        b = r.dq(r.arg(3), r.arg(4), r.arg(5, required=False))
        r.q(r.emit(op, [a, b]), r.arg(6), r.arg(7, required=False), r.arg(0), r.node.output[0])
    return rule


def _channels_last(r: Rewrite, x: str, pool: Callable[[str], str]) -> str:
    """``pool`` on ``x``, which with ``channels_last`` is NHWC: transposed to NCHW and back."""
    if not r.attr("channels_last", 0):
        return pool(x)
    n = rank(r, r.arg(0), 3)
    first = r.emit("Transpose", [x], perm=[0, n - 1, *range(1, n - 1)])
    return r.emit("Transpose", [pool(first)], perm=[0, *range(2, n), 1])


def _pool(op: str):
    def rule(r: Rewrite) -> None:
        x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
        y = _channels_last(r, x, lambda t: r.emit_like(op, [t], ("channels_last",)))
        r.q(y, r.arg(3), r.arg(4, required=False), r.arg(0), r.node.output[0])
    return rule


def _concat(r: Rewrite) -> None:
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


def _softmax(r: Rewrite) -> None:
    """Along ``axis`` from the ``opset`` attribute 13 on, over the 2-D coercion before."""
    x = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
    if r.attr("opset") is None:
        raise r.fail("attribute opset (which Softmax it follows) is missing")
    axis, along = int(r.attr("axis", -1)), int(r.attr("opset")) >= 13
    if along == (r.opset >= 13):
        y = r.emit("Softmax", [x], axis=axis)
    elif along:  # a model before opset 13: the axis moved last, where both forms agree
        n = rank(r, r.arg(0), 1)
        a = axis % n
        perm = [*(i for i in range(n) if i != a), a]
        back = [int(i) for i in np.argsort(perm)]
        y = r.emit("Transpose", [r.emit("Softmax", [r.emit("Transpose", [x], perm=perm)],
                                        axis=-1)], perm=back)
    else:
        flat = r.emit("Softmax", [r.emit("Flatten", [x], axis=axis)], axis=1)
        y = r.emit("Reshape", [flat, r.emit("Shape", [x])])
    r.q(y, r.arg(3), r.arg(4, required=False), r.arg(0), r.node.output[0])


def _reduce_mean(r: Rewrite) -> None:
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


def _where(r: Rewrite) -> None:
    x = r.dq(r.arg(1), r.arg(2), r.arg(3, required=False))
    y = r.dq(r.arg(4), r.arg(5), r.arg(6, required=False))
    r.q(r.emit("Where", [r.arg(0), x, y]), r.arg(7), r.arg(8, required=False), r.arg(1),
        r.node.output[0])


def _qgemm(r: Rewrite) -> None:
    """``alpha * a_scale * b_scale * ((A - a_zp)' @ (B - b_zp)' + C)``, quantized with a
    ``y_scale``; ``b_scale`` per tensor or per output column."""
    trans_a, trans_b = int(r.attr("transA", 0)), int(r.attr("transB", 0))
    alpha = float(r.attr("alpha", 1.0, onnx.AttributeProto.FLOAT))
    a = r.dq(r.arg(0), r.arg(1), r.arg(2, required=False))
    b = r.dq(r.arg(3), r.arg(4), r.arg(5, required=False),
             axis=per_axis(r, r.arg(4), 0 if trans_b else 1))
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


def _quantize(r: Rewrite) -> None:
    axis = per_axis(r, r.arg(1), int(r.attr("axis", 1)))
    r.q(r.arg(0), r.arg(1), r.arg(2, required=False), r.node.output[0], r.node.output[0], axis)


def _dequantize(r: Rewrite) -> None:
    r.dq(r.arg(0), r.arg(1), r.arg(2, required=False),
         axis=per_axis(r, r.arg(1), int(r.attr("axis", 1))), out=r.node.output[0])


#: com.microsoft quantized operator -> its rewrite into standard nodes.
QUANTIZED: dict[str, Callable[[Rewrite], None]] = {
    "QLinearAdd": _binary("Add"), "QLinearMul": _binary("Mul"),
    "QLinearSigmoid": _unary("Sigmoid"), "QLinearLeakyRelu": _unary("LeakyRelu", alpha=0.01),
    "QLinearAveragePool": _pool("AveragePool"),
    "QLinearGlobalAveragePool": _pool("GlobalAveragePool"),
    "QLinearConcat": _concat, "QLinearSoftmax": _softmax, "QLinearReduceMean": _reduce_mean,
    "QLinearWhere": _where, "QGemm": _qgemm,
    "QuantizeLinear": _quantize, "DequantizeLinear": _dequantize,
}
