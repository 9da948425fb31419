"""``Cast`` on the digital vector unit: every element type is held as float32, so a cast is the
rounding, wrapping or saturation the destination type applies, computed in float32.

* to ``bool``: "not zero";
* float to an integer type: truncation toward zero (out of range is undefined in ONNX; for the
  4-bit types onnx's reference gives 0 there, and so does imcc);
* integer to a narrower integer type: the low bits, two's complement (``200`` int16 -> ``-56``
  int8);
* float to a float 8 type (``float8e4m3fn``, ``float8e4m3fnuz``, ``float8e5m2``,
  ``float8e5m2fnuz``): round to nearest even on the type's mantissa, subnormals included; with
  ``saturate=1`` (the default) values beyond the largest finite value (and infinities) become
  it, with ``saturate=0`` they overflow to infinity (e5m2) or NaN (the others), as onnx's
  reference does;
* anything else (float to float32, from 4-bit or float 8 types, widening integers): a copy, the
  values are already exact.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from imcc.codegen.context import Ctx, lowers
from imcc.ir import describe
from isa.diagnostics import UnsupportedOpError

FLOAT8 = ("float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz")
INT4 = ("int4", "uint4")


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


def _float8(ctx: Ctx, y, x, dtype: str, saturate: bool) -> None:
    """Round float32 ``x`` to the float 8 type ``dtype`` (module docstring). Normal values are
    rounded by Veltkamp's splitting (``g = c x``, ``y = g + (x - g)`` with
    ``c = 2**(24 - p) + 1`` keeps the ``p`` leading bits of a float32, rounded to nearest even),
    subnormals by rounding ``x`` to a multiple of the smallest subnormal; the bound applied first
    keeps ``c x`` finite."""
    fi = ml_dtypes.finfo(dtype)
    top, tiny, step = float(fi.max), float(fi.smallest_normal), float(fi.smallest_subnormal)
    p = int(fi.nmant) + 1
    # saturate: clip to the largest finite value; else to the power of two above it, which
    # rounds to itself and so overflows below
    bound = top if saturate else 2.0 ** (int(fi.maxexp))
    s = ctx.tmp(y.shape)
    ctx.binary("vmax", s, x, ctx.scalar(-bound))
    ctx.binary("vmin", s, s, ctx.scalar(bound))
    g = ctx.tmp(y.shape)
    ctx.binary("vmul", g, s, ctx.scalar(2.0 ** (24 - p) + 1))
    d = ctx.tmp(y.shape)
    ctx.binary("vsub", d, s, g)
    ctx.binary("vadd", g, g, d)  # g: s rounded to p significant bits
    ctx.binary("vmul", d, s, ctx.scalar(1.0 / step))  # exact: a power of two
    ctx.unary("vround", d, d)
    ctx.binary("vmul", d, d, ctx.scalar(step))  # d: s rounded to a multiple of the subnormal step
    m = ctx.tmp(y.shape)
    ctx.unary("vabs", m, s)
    ctx.binary("vcmplt", m, m, ctx.scalar(tiny))
    ctx.ternary("vsel", y, m, d, g)
    if not saturate:
        ctx.unary("vabs", m, y)
        ctx.binary("vcmplt", m, ctx.scalar(top), m)
        if dtype == "float8_e5m2":  # overflow to a signed infinity
            ctx.binary("vmul", d, y, ctx.scalar(np.inf))
            ctx.ternary("vsel", y, m, d, y)
        else:
            ctx.ternary("vsel", y, m, ctx.scalar(np.nan), y)
    if dtype.endswith("fnuz"):  # no negative zero: -0 + 0 = +0
        ctx.binary("vadd", y, y, ctx.scalar(0.0))


@lowers("Cast")
def lower_cast(ctx: Ctx, node) -> None:
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    src = ctx.graph.types[node.inputs[0]].dtype
    dst = ctx.graph.types[node.outputs[0]].dtype
    src_kind = "f" if src in FLOAT8 else "i" if src in INT4 else np.dtype(src).kind
    if dst == "bool":
        ctx.unary("vnot", y, x)
        ctx.unary("vnot", y, y)
    elif dst in FLOAT8:  # integers and booleans too: float32 holds them exactly
        _float8(ctx, y, x, dst, bool(node.attrs.get("saturate", 1)))
    elif dst in INT4 or (dst not in ("float16", "bfloat16") and np.dtype(dst).kind in "iu"):
        lo, hi, bits = _int_range(dst)
        if src_kind == "f":
            trunc(ctx, y, x)
            if dst in INT4:
                _in_range(ctx, y, y, lo, hi)
        elif src_kind in "iu" and not lo <= _int_range(src)[0] <= _int_range(src)[1] <= hi:
            _wrap(ctx, y, x, lo, bits)
        else:
            ctx.copy(y, x)
    elif src_kind in "fiub" and np.dtype(dst).kind == "f":
        ctx.copy(y, x)
    else:
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: Cast from {src} to {dst} is not "
                                 "supported")
