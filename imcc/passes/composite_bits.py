"""``BitwiseAnd``, ``BitwiseOr``, ``BitwiseXor`` and ``BitwiseNot`` of integer tensors, from the
float arithmetic the digital unit has (it has no bitwise vector instruction).

An integer ``v`` within ``-2**24 .. 2**24`` (all the machine holds exactly) is split into its
low ``L = min(w, 24)`` bits, ``lo = v - 2**L * floor(v / 2**L)`` in ``0 .. 2**L - 1``, and the
rest, ``hi = floor(v / 2**L)``, one of -1, 0 and 1 (two's complement: -1 is "every bit above is
set"). The low bits are peeled one at a time (``q = floor(t / 2)``, ``bit = t - 2 q``) and
combined (``AND`` ``a b``, ``OR`` ``a + b - a b``, ``XOR`` ``|a - b|``); ``hi`` is combined
the same way on its two bits modulo 4, read back as a 2-bit two's complement number. The result
``lo' + 2**L hi'`` is the bitwise operation of the two integers, every step exact in float32.
``BitwiseNot(x)`` is ``-x - 1`` for a signed type and ``2**w - 1 - x`` for an unsigned one.
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.passes.composite_registry import Ops, composite

INTEGERS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
#: The low bits peeled one by one: float32 holds every integer below 2**24 exactly.
_LOW_BITS = 24
_F32 = int(onnx.TensorProto.FLOAT)


class _Float:
    """Nodes of one float32 shape, named after the node being expanded."""

    def __init__(self, o: Ops, shape):
        self.o, self.shape = o, tuple(shape)

    def __call__(self, op_type: str, *inputs: str) -> str:
        return self.o.op(op_type, *inputs, shape=self.shape, dtype="float32")

    def c(self, v: float) -> str:
        return self.o.const(v, "float32")

    def floor_div(self, t: str, p: float) -> str:
        """``floor(t / p)`` for a power of two ``p`` (the product is exact)."""
        return self("Floor", self("Mul", t, self.c(1.0 / p)))

    def bits(self, t: str, n: int):
        """The ``n`` low bits of the non-negative integer ``t``, lowest first."""
        for _ in range(n):
            q = self.floor_div(t, 2.0)
            yield self("Sub", t, self("Add", q, q))
            t = q


def _combine(f: _Float, op: str, a: str, b: str) -> str:
    if op == "BitwiseAnd":
        return f("Mul", a, b)
    if op == "BitwiseOr":
        return f("Sub", f("Add", a, b), f("Mul", a, b))
    return f("Abs", f("Sub", a, b))


def _bitwise(f: _Float, op: str, a: tuple[_Float, str], b: tuple[_Float, str], n: int) -> str:
    """``op`` of the ``n`` low bits of the non-negative integers ``a`` and ``b`` (each with the
    nodes of its own shape; the result has ``f``'s)."""
    out = None
    for k, (x, y) in enumerate(zip(a[0].bits(a[1], n), b[0].bits(b[1], n), strict=True)):
        bit = _combine(f, op, x, y)
        term = bit if k == 0 else f("Mul", bit, f.c(2.0**k))
        out = term if out is None else f("Add", out, term)
    return out


def _split(f: _Float, v: str, low: int) -> tuple[str, str]:
    """``(lo, hi mod 4)`` of the integer ``v`` (module doc)."""
    hi = f.floor_div(v, 2.0**low)
    lo = f("Sub", v, f("Mul", hi, f.c(2.0**low)))
    return lo, f("Sub", hi, f("Mul", f.floor_div(hi, 4.0), f.c(4.0)))


def _width(dtype: str) -> int:
    return np.dtype(dtype).itemsize * 8


@composite("BitwiseAnd", "BitwiseOr", "BitwiseXor", dtypes=INTEGERS)
def _bitwise_binary(o: Ops) -> bool:
    """``BitwiseAnd/Or/Xor(a, b)`` bit by bit (module doc)."""
    n = o.n
    dtype = o.xt.dtype
    shape = o.graph.types[n.outputs[0]].shape
    f = _Float(o, shape)
    low = min(_width(dtype), _LOW_BITS)
    fa, fb = (_Float(o, o.rw.type(t).shape) for t in n.inputs[:2])
    (lo_a, hi_a), (lo_b, hi_b) = (
        _split(g, o.op("Cast", t, shape=g.shape, dtype="float32", to=_F32, saturate=1), low)
        for g, t in ((fa, n.inputs[0]), (fb, n.inputs[1])))
    lo = _bitwise(f, n.op_type, (fa, lo_a), (fb, lo_b), low)
    hi = _bitwise(f, n.op_type, (fa, hi_a), (fb, hi_b), 2)  # 0 .. 3: 2-bit two's complement
    hi = f("Sub", hi, f("Mul", f.floor_div(hi, 2.0), f.c(4.0)))
    o.final("Cast", f("Add", lo, f("Mul", hi, f.c(2.0**low))),
            to=int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))), saturate=1)
    return True


@composite("BitwiseNot", dtypes=INTEGERS)
def _bitwise_not(o: Ops) -> bool:
    """``BitwiseNot(x) = -x - 1`` (signed) or ``2**w - 1 - x`` (unsigned)."""
    dtype = o.xt.dtype
    f = _Float(o, o.xt.shape)
    x = o.op("Cast", o.x, dtype="float32", to=_F32, saturate=1)
    top = -1.0 if np.dtype(dtype).kind == "i" else 2.0 ** _width(dtype) - 1
    o.final("Cast", f("Sub", f.c(top), x),
            to=int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))), saturate=1)
    return True
