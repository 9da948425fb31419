"""``Cast`` on the digital vector unit: every element type is held as float32, so a cast is the
rounding, wrapping or saturation the destination type applies, computed in float32.

* to ``bool``: "not zero";
* float to an integer type: truncation toward zero (out of range is undefined in ONNX; for the
  4-bit and 2-bit types onnx's reference gives 0 there, and so does imcc);
* integer to a narrower integer type: the low bits, two's complement (``200`` int16 -> ``-56``
  int8);
* float to a float 8 type (``float8e4m3fn``, ``float8e4m3fnuz``, ``float8e5m2``,
  ``float8e5m2fnuz``): round to nearest even on the type's mantissa, subnormals included; with
  ``saturate=1`` (the default) values beyond the largest finite value (and infinities) become
  it, with ``saturate=0`` they overflow to infinity (e5m2) or NaN (the others), as onnx's
  reference does;
* to ``float4e2m1``: round to nearest even, always saturating to +-6 (the type has no infinity
  and no NaN: NaN becomes 0, as onnx's reference gives);
* from ``float8e8m0`` (powers of two): a copy; to it: refused;
* to ``float16`` or ``bfloat16``: round to nearest even on the type's mantissa, subnormals
  included, overflow to infinity; that holds also where ``compute-float32`` made the output
  float32 (the node's ``to`` names the type it rounds to);
* anything else (float to float32 or float64, from 4-bit or float 8 types, widening integers): a
  copy, the values are already exact.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx

from imcc.codegen.context import Ctx, lowers
from imcc.ir import describe
from isa.diagnostics import UnsupportedOpError

FLOAT8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")
FLOAT4 = ("float4_e2m1fn",)  # always saturates; no NaN (NaN becomes 0, as onnx's reference)
E8M0 = ("float8_e8m0fnu",)  # powers of two: read exactly, never written (rounding modes)
HALF = ("float16", "bfloat16")
INT4 = ("int4", "uint4", "int2", "uint2")
#: The narrow float types whose overflow (without saturation) is an infinity, not NaN.
_INF_OVERFLOW = ("float8_e5m2", *HALF)


def trunc(ctx: Ctx, y, x) -> None:
    """``y = trunc(x)``: round toward zero (C's integer conversion and division)."""
    t = ctx.tmp(y.shape)
    ctx.unary("vabs", t, x)
    ctx.unary("vfloor", t, t)
    ctx.unary("vsign", y, x)
    ctx.binary("vmul", y, y, t)


def _int_range(dtype: str) -> tuple[int, int, int]:
    """``(lo, hi, bits)`` of an integer element type."""
    info = ml_dtypes.iinfo(dtype) if dtype in INT4 else np.iinfo(dtype)
    return int(info.min), int(info.max), int(info.bits)


def _in_range(ctx: Ctx, y, t, lo: int, hi: int) -> None:
    """``y = t`` where ``lo <= t <= hi``, else 0 (NaN and infinities too)."""
    m = ctx.tmp(y.shape)
    k = ctx.tmp(y.shape)
    ctx.binary("vcmple", m, ctx.scalar(lo), t)
    ctx.binary("vcmple", k, t, ctx.scalar(hi))
    ctx.binary("vmul", m, m, k)
    ctx.ternary("vsel", y, m, t, ctx.scalar(0.0))


def _wrap(ctx: Ctx, y, x, lo: int, bits: int) -> None:
    """``y`` = the low ``bits`` bits of the integer ``x``, signed when ``lo < 0``. Every step is
    exact for integers the machine holds exactly (within 2**24)."""
    ctx.binary("vmod", y, x, ctx.scalar(2.0**bits))  # 0 .. 2**bits - 1
    if lo < 0:  # the upper half are the negative numbers
        m = ctx.tmp(y.shape)
        ctx.binary("vcmple", m, ctx.scalar(2.0 ** (bits - 1)), y)
        ctx.ternary("vfma", y, m, ctx.scalar(-(2.0**bits)), y)


def _scale(ctx: Ctx, y, x, e: int) -> None:
    """``y = x * 2**e`` in steps of at most 2**100 (2**e itself may be no float32)."""
    while True:
        k = max(-100, min(100, e))
        ctx.binary("vmul", y, x, ctx.scalar(2.0**k))
        x, e = y, e - k
        if e == 0:
            return


def _round_float(ctx: Ctx, y, x, dtype: str, saturate: bool) -> None:
    """Round float32 ``x`` to the float type ``dtype`` (a float 8 type, float16 or bfloat16;
    module docstring). Normal values are rounded by Veltkamp's splitting (``g = c x``,
    ``y = g + (x - g)`` with ``c = 2**(24 - p) + 1`` keeps the ``p`` leading bits of a float32,
    rounded to nearest even), on ``x`` scaled down by 2**-32 where ``c x`` could overflow
    (bfloat16's range is float32's); subnormals by rounding ``x`` to a multiple of the smallest
    subnormal. The bound applied first keeps ``c x`` finite."""
    fi = ml_dtypes.finfo(dtype)
    top, tiny = float(fi.max), float(fi.smallest_normal)
    sub = int(np.log2(float(fi.smallest_subnormal)))  # exact: a power of two
    p = int(fi.nmant) + 1
    # saturate: clip to the largest finite value; else to the power of two above it, which
    # rounds to itself and so overflows below (for bfloat16, to float32's largest value, which
    # rounds up to infinity)
    bound = top if saturate else min(2.0 ** int(fi.maxexp), float(np.finfo(np.float32).max))
    s = ctx.tmp(y.shape)
    ctx.binary("vmax", s, x, ctx.scalar(-bound))
    ctx.binary("vmin", s, s, ctx.scalar(bound))
    big = int(fi.maxexp) + 25 - p > 127  # c x overflows float32 near the top of the range
    v = s
    if big:
        v = ctx.tmp(y.shape)
        _scale(ctx, v, s, -32)
    g = ctx.tmp(y.shape)
    ctx.binary("vmul", g, v, ctx.scalar(2.0 ** (24 - p) + 1))
    d = ctx.tmp(y.shape)
    ctx.binary("vsub", d, v, g)
    ctx.binary("vadd", g, g, d)  # g: v rounded to p significant bits
    m = ctx.tmp(y.shape)
    if big:  # below 2**-64 the scaled value could be subnormal: round s itself there
        _scale(ctx, g, g, 32)
        ctx.binary("vmul", d, s, ctx.scalar(2.0 ** (24 - p) + 1))
        ctx.binary("vsub", m, s, d)
        ctx.binary("vadd", d, d, m)
        ctx.unary("vabs", m, s)
        ctx.binary("vcmplt", m, m, ctx.scalar(2.0**64))
        ctx.ternary("vsel", g, m, d, g)
    _scale(ctx, d, s, -sub)
    ctx.unary("vround", d, d)
    _scale(ctx, d, d, sub)  # d: s rounded to a multiple of the subnormal step
    ctx.unary("vabs", m, s)
    ctx.binary("vcmplt", m, m, ctx.scalar(tiny))
    ctx.ternary("vsel", y, m, d, g)
    if not saturate:
        ctx.unary("vabs", m, y)
        ctx.binary("vcmplt", m, ctx.scalar(top), m)
        if dtype in _INF_OVERFLOW:  # overflow to a signed infinity
            ctx.binary("vmul", d, y, ctx.scalar(np.inf))
            ctx.ternary("vsel", y, m, d, y)
        else:
            ctx.ternary("vsel", y, m, ctx.scalar(np.nan), y)
    if dtype.endswith("fnuz"):  # no negative zero: -0 + 0 = +0
        ctx.binary("vadd", y, y, ctx.scalar(0.0))


def _target(ctx: Ctx, node) -> str:
    """The element type a Cast converts to: its ``to``, which is the output's type except
    where ``compute-float32`` made a float16 or bfloat16 output float32 (the rounding stays)."""
    to = node.attrs.get("to")
    if to is None:
        return ctx.graph.types[node.outputs[0]].dtype
    return onnx.helper.tensor_dtype_to_np_dtype(int(to)).name


@lowers("Cast")
def lower_cast(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    if not y.shape:  # a scalar: as one element, which the scalar constants broadcast over
        x, y = x.reshape((1,)), y.reshape((1,))
    src = ctx.graph.types[node.inputs[0]].dtype
    dst = _target(ctx, node)
    src_kind = "f" if src in FLOAT8 + FLOAT4 + E8M0 + HALF else "i" if src in INT4 else \
        np.dtype(src).kind
    if dst == "bool":
        ctx.unary("vnot", y, x)
        ctx.unary("vnot", y, y)
    elif dst in FLOAT8:  # integers and booleans too: float32 holds them exactly
        _round_float(ctx, y, x, dst, bool(node.attrs.get("saturate", 1)))
    elif dst in HALF:  # no saturate: overflow gives infinity
        _round_float(ctx, y, x, dst, False)
    elif dst in FLOAT4:
        _round_float(ctx, y, x, dst, True)
        m = ctx.tmp(y.shape)
        ctx.binary("vcmpeq", m, x, x)  # 0 for NaN
        ctx.ternary("vsel", y, m, y, ctx.scalar(0.0))
    elif dst in E8M0:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: Cast from {src} to {dst} is not "
                                 "supported (its rounding modes are not implemented; a cast "
                                 "from it is)")
    elif dst in INT4 or np.dtype(dst).kind in "iu":
        lo, hi, bits = _int_range(dst)
        if src_kind == "f":
            trunc(ctx, y, x)
            if dst in INT4:
                _in_range(ctx, y, y, lo, hi)
        elif src_kind in "iu" and not lo <= _int_range(src)[0] <= _int_range(src)[1] <= hi:
            _wrap(ctx, y, x, lo, bits)
        else:
            ctx.copy(y, x)
    elif src_kind in "fiub" and np.dtype(dst).kind == "f":  # to float32 or float64: exact
        ctx.copy(y, x)
    else:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: Cast from {src} to {dst} is not "
                                 "supported")
