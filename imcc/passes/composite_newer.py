"""Operators of opsets 24 and later as compositions of operators the machine has: ``Swish``,
``SwiGLU`` and ``CumProd``, each as onnx's specification defines it."""

from __future__ import annotations

import numpy as np

from imcc.passes.composite_registry import FLOATS, Ops, composite

#: The longest axis ``CumProd`` is unrolled along (one ``Mul`` per element of it).
CUMPROD_MAX_LENGTH = 256
_CUMPROD_TYPES = frozenset({"float32", "float64", "int32", "int64"})


def _gate(o: Ops) -> str:
    """``sigmoid(alpha * x)`` of the node's first input."""
    alpha = float(o.n.attrs.get("alpha", 1.0))
    return o.op("Sigmoid", o.op("Mul", o.x, o.const(alpha)) if alpha != 1.0 else o.x)


@composite("Swish", dtypes=FLOATS)
def _swish_op(o: Ops) -> bool:
    """``Swish(x) = x * sigmoid(alpha * x)`` (opset 24)."""
    o.final("Mul", o.x, _gate(o))
    return True


@composite("SwiGLU", dtypes=FLOATS)
def _swiglu(o: Ops) -> bool:
    """``SwiGLU(a, b) = Swish(a) * b``, ``Swish(a) = a * sigmoid(alpha * a)`` (opset 28; ``a``
    and ``b`` of one shape)."""
    b = o.n.inputs[1]
    if o.rw.type(b).shape != o.xt.shape:
        return False
    o.final("Mul", o.op("Mul", o.x, _gate(o)), b)
    return True


@composite("CumProd", dtypes=_CUMPROD_TYPES)
def _cumprod(o: Ops) -> bool:
    """``CumProd(x, axis)``: ``y[k] = x[0] * ... * x[k]`` along ``axis`` (``exclusive``: up to
    ``x[k - 1]``, 1 for ``k = 0``; ``reverse``: from the other end), unrolled as one ``Mul``
    per element of the axis, so integer products stay exact (opset 26)."""
    n = o.n
    v = o.rw.value(n.inputs[1])
    if v is None or o.xt.rank == 0:
        return False
    axis = int(np.asarray(v).reshape(-1)[0]) % o.xt.rank
    length = o.xt.shape[axis]
    if length > CUMPROD_MAX_LENGTH:
        return False
    exclusive, reverse = int(n.attrs.get("exclusive", 0)), int(n.attrs.get("reverse", 0))
    part = list(o.xt.shape)
    part[axis] = 1
    sc = o.rw.shape_const

    def element(k: int) -> str:
        return o.op("Slice", o.x, sc(f"{n.name}_start", [k]), sc(f"{n.name}_end", [k + 1]),
                    sc(f"{n.name}_axes", [axis]), shape=part)

    order = range(length - 1, -1, -1) if reverse else range(length)
    out: dict[int, str] = {}
    running = None
    for k in order:
        if exclusive:
            out[k] = running if running is not None else o.const(np.ones(part))
        x = element(k)
        running = x if running is None else o.op("Mul", running, x, shape=part)
        if not exclusive:
            out[k] = running
    o.final("Concat", *(out[k] for k in range(length)), axis=axis)
    return True
