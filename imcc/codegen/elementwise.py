"""Element-wise ONNX ops on the digital vector unit (numpy broadcasting through AGU strides).

A float32 ``Mul`` whose output only the ``Add`` right after it reads (no graph output) is
computed with that ``Add`` as one ``vfma`` (``D = A * B + C``, the product and the sum rounded
separately, as the two nodes round: the same bits): attention's scale and mask, the rotary
embedding's second product and its sum, a layer norm's scale and bias. ``Pow`` by a constant 2
is ``vmul`` of the base with itself (the correctly rounded square).
"""

from __future__ import annotations

import weakref

import numpy as np

from imcc.codegen.asm import f32_bits
from imcc.codegen.cast import trunc  # importing it also registers Cast's lowering
from imcc.codegen.context import Ctx, lowers
from imcc.codegen.nn import _row_op
from imcc.ir import describe
from isa.diagnostics import UnsupportedOpError

UNARY = {
    "Relu": "vrelu", "Sigmoid": "vsigm", "Tanh": "vtanh", "Erf": "verf", "Exp": "vexp",
    "Log": "vlog", "Sqrt": "vsqrt", "Reciprocal": "vrecip", "Neg": "vneg", "Abs": "vabs",
    "Floor": "vfloor", "Ceil": "vceil", "Round": "vround", "Sign": "vsign", "Sin": "vsin",
    "Cos": "vcos", "Not": "vnot",
}
BINARY = {
    "Add": "vadd", "Sub": "vsub", "Mul": "vmul", "Pow": "vpow",
    "Equal": "vcmpeq", "Less": "vcmplt", "LessOrEqual": "vcmple", "And": "vmin", "Or": "vmax",
}
SWAPPED = {"Greater": "vcmplt", "GreaterOrEqual": "vcmple"}  # a > b  <=>  b < a


def _io(ctx: Ctx, node):
    return [ctx.view(t) for t in node.inputs if t], ctx.view(node.outputs[0])


@lowers(*UNARY)
def lower_unary(ctx: Ctx, node) -> None:
    (x,), y = _io(ctx, node)
    ctx.unary(UNARY[node.op_type], y, x)


#: graph -> (the Mul nodes computed by the Add after them, Add name -> that Mul)
_FMA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fma_pairs(graph) -> tuple[frozenset[str], dict]:
    """The ``Mul`` -> ``Add`` pairs lowered as one ``vfma`` (the module docstring): the Mul's
    names, and each Add's name -> its Mul."""
    hit = _FMA.get(graph)
    if hit is None:
        outputs, adds = set(graph.outputs), {}
        for m, a in zip(graph.nodes, graph.nodes[1:]):
            if m.op_type != "Mul" or a.op_type != "Add" or len(m.outputs) != 1:
                continue
            t = m.outputs[0]
            if t in outputs or graph.consumers(t) != (a,) or list(a.inputs).count(t) != 1:
                continue
            if all(graph.types[x].dtype == "float32" for x in (*m.inputs, *a.inputs, *a.outputs)):
                adds[a.name] = m
        hit = _FMA[graph] = (frozenset(m.name for m in adds.values()), adds)
    return hit


@lowers(*BINARY, *SWAPPED)
def lower_binary(ctx: Ctx, node) -> None:
    if node.op_type in ("Mul", "Add"):
        muls, adds = fma_pairs(ctx.graph)
        if node.name in muls:
            ctx.w.comment("computed with the Add after it (vfma)")
            return
        mul = adds.get(node.name)
        if mul is not None:
            c = next(t for t in node.inputs if t != mul.outputs[0])
            ctx.ternary("vfma", ctx.view(node.outputs[0]), ctx.view(mul.inputs[0]),
                        ctx.view(mul.inputs[1]), ctx.view(c))
            return
    (a, b), y = _io(ctx, node)
    if node.op_type in SWAPPED:
        ctx.binary(SWAPPED[node.op_type], y, b, a)
    elif node.op_type == "Pow" and _scalar_value(ctx, node.inputs[1]) == 2.0:
        ctx.binary("vmul", y, a, a)
    else:
        ctx.binary(BINARY[node.op_type], y, a, b)


def _scalar_value(ctx: Ctx, t: str) -> float | None:
    v = ctx.const(t)
    return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None


@lowers("Div")
def lower_div(ctx: Ctx, node) -> None:
    """Float division; integer division truncates toward zero, as ONNX (and C) define it.
    For integers ``|a|, |b| < 2**24`` (every value the machine's float32 words hold exactly)
    the rounded float32 quotient never crosses an integer, so truncating it is exact: a
    non-integer ``a / b`` lies at least ``1 / |b|`` below the next integer, more than half an
    ulp of the quotient. An integer division by zero, which ONNX leaves undefined, gives 0 (an
    integer output cannot hold the NaN or infinity of the float quotient)."""
    (a, b), y = _io(ctx, node)
    kind = np.dtype(ctx.graph.types[node.outputs[0]].dtype).kind
    zero = None
    if kind in "iu":  # ONNX leaves an integer division by zero undefined: imcc gives 0
        zero = ctx.tmp(y.shape)
        ctx.binary("vcmpeq", zero, b, ctx.scalar(0.0))
    ctx.binary("vdiv", y, a, b)
    if kind == "u":
        ctx.unary("vfloor", y, y)
    elif kind == "i":
        trunc(ctx, y, y)
    if zero is not None:
        ctx.ternary("vsel", y, zero, ctx.scalar(0.0), y)


@lowers("Xor")
def lower_xor(ctx: Ctx, node) -> None:
    (a, b), y = _io(ctx, node)
    ctx.binary("vcmpeq", y, a, b)
    ctx.unary("vnot", y, y)


@lowers("Mod")
def lower_mod(ctx: Ctx, node) -> None:
    if node.attrs.get("fmod", 0):
        raise UnsupportedOpError(f"{describe(ctx.graph, node)}: fmod=1 is not supported",
                                 hint="use fmod=0 (Python-style remainder)")
    (a, b), y = _io(ctx, node)
    ctx.binary("vmod", y, a, b)


@lowers("Max", "Min", "Sum", "Mean")
def lower_variadic(ctx: Ctx, node) -> None:
    xs, y = _io(ctx, node)
    op = {"Max": "vmax", "Min": "vmin", "Sum": "vadd", "Mean": "vadd"}[node.op_type]
    if len(xs) == 1:
        ctx.copy(y, xs[0].broadcast_to(y.shape))
    else:
        ctx.binary(op, y, xs[0], xs[1])
        for x in xs[2:]:
            ctx.binary(op, y, y, x)
    if node.op_type == "Mean":
        ctx.binary("vmul", y, y, ctx.scalar(1.0 / len(xs)))


@lowers("Where")
def lower_where(ctx: Ctx, node) -> None:
    (c, a, b), y = _io(ctx, node)
    ctx.ternary("vsel", y, c, a, b)


@lowers("Clip")
def lower_clip(ctx: Ctx, node) -> None:
    """``vmax`` by the lower bound, then ``vmin`` by the upper; one ``vclip`` where that gives
    the same bits (:func:`_clip_in_one`)."""
    x = ctx.view(node.inputs[0])
    y = ctx.view(node.outputs[0])
    lo = node.inputs[1] if len(node.inputs) > 1 else ""
    hi = node.inputs[2] if len(node.inputs) > 2 else ""
    if not lo and not hi:
        ctx.copy(y, x)
        return
    if lo and hi and _clip_in_one(ctx, node.inputs[0], lo, hi):
        ctx.ternary("vclip", y, x, ctx.view(lo), ctx.view(hi))
        return
    src = x
    if lo:
        ctx.binary("vmax", y, src, ctx.view(lo))
        src = y
    if hi:
        ctx.binary("vmin", y, src, ctx.view(hi))


def _clip_in_one(ctx: Ctx, x: str, lo: str, hi: str) -> bool:
    """Whether ``vclip`` of ``x`` by the bounds ``lo``, ``hi`` gives the bits of ``vmax`` then
    ``vmin``. The two differ only where a value equals a bound that is a zero of the other
    sign (``vmax``/``vmin`` give the bound, ``vclip`` the value); so they agree for constant
    bounds without NaN that hold no zero, or hold no ``-0.0`` while ``x`` never does
    (:func:`_never_negative_zero`): a maximum of two values that are not ``-0.0`` is not."""
    bounds = [ctx.const(t) if ctx.graph.is_const(t) else None for t in (lo, hi)]
    if any(b is None for b in bounds):
        return False
    bounds = [np.asarray(b, np.float32) for b in bounds]
    if any(np.isnan(b).any() for b in bounds):
        return False
    if not any((b == 0).any() for b in bounds):
        return True
    return not any(_has_negative_zero(b) for b in bounds) and _never_negative_zero(ctx, x)


def _has_negative_zero(v: np.ndarray) -> bool:
    return bool(np.any((v == 0) & np.signbit(v)))


def _never_negative_zero(ctx: Ctx, x: str) -> bool:
    """Whether the float32 tensor ``x`` provably holds no ``-0.0``: the last step writing it
    adds a constant without ``-0.0`` (an IMC Conv or Gemm with such a bias, whose
    dequantization ends in ``vadd`` or ``vfma`` of it; an Add of such a constant, alone or
    fused into ``vfma``). Under round to nearest ``a + b`` is ``-0.0`` only when both are."""
    node = ctx.graph.producer(x)
    if node is None or ctx.graph.types[x].dtype != "float32":
        return False
    if node.op_type in ("Conv", "Gemm") and node.name in ctx.imc:
        b = node.inputs[2] if len(node.inputs) > 2 else ""
        bias = ctx.const(b) if b and ctx.graph.is_const(b) else None
        return bias is not None and not _has_negative_zero(np.asarray(bias, np.float32))
    if node.op_type == "Add":
        return any(ctx.graph.is_const(t) and not _has_negative_zero(
            np.asarray(ctx.const(t), np.float32)) for t in node.inputs)
    return False


@lowers("LeakyRelu")
def lower_leaky_relu(ctx: Ctx, node) -> None:
    alpha = float(node.attrs.get("alpha", 0.01))
    (x,), y = _io(ctx, node)
    t = ctx.tmp(y.shape)
    ctx.binary("vmul", t, x, ctx.scalar(alpha))
    # x >= 0 picks x when alpha <= 1 (max) and alpha * x when alpha > 1 (min)
    ctx.binary("vmax" if alpha <= 1 else "vmin", y, x, t)


def _hard_sigmoid(ctx: Ctx, y, x, alpha: float, beta: float) -> None:
    """``vfma`` then the clip to [0, 1]: one ``vclip`` where ``beta`` is not ``-0.0`` (the sum
    is then never ``-0.0``, and ``vclip`` gives the bits of ``vmax`` then ``vmin``:
    :func:`_clip_in_one`), else ``vmax`` and ``vmin``."""
    ctx.ternary("vfma", y, x, ctx.scalar(alpha), ctx.scalar(beta))
    if not _has_negative_zero(np.float32(beta)):
        ctx.ternary("vclip", y, y, ctx.scalar(0.0), ctx.scalar(1.0))
        return
    ctx.binary("vmax", y, y, ctx.scalar(0.0))
    ctx.binary("vmin", y, y, ctx.scalar(1.0))


@lowers("HardSigmoid")
def lower_hard_sigmoid(ctx: Ctx, node) -> None:
    (x,), y = _io(ctx, node)
    _hard_sigmoid(ctx, y, x, float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5)))


@lowers("HardSwish")
def lower_hard_swish(ctx: Ctx, node) -> None:
    (x,), y = _io(ctx, node)
    t = ctx.tmp(y.shape)
    _hard_sigmoid(ctx, t, x, 1.0 / 6.0, 0.5)
    ctx.binary("vmul", y, x, t)


@lowers("Softplus")
def lower_softplus(ctx: Ctx, node) -> None:
    (x,), y = _io(ctx, node)
    ctx.unary("vexp", y, x)
    ctx.binary("vadd", y, y, ctx.scalar(1.0))
    ctx.unary("vlog", y, y)


@lowers("Elu")
def lower_elu(ctx: Ctx, node) -> None:
    alpha = float(node.attrs.get("alpha", 1.0))
    (x,), y = _io(ctx, node)
    t = ctx.tmp(y.shape)
    m = ctx.tmp(y.shape)
    ctx.unary("vexp", t, x)
    ctx.ternary("vfma", t, t, ctx.scalar(alpha), ctx.scalar(-alpha))
    ctx.binary("vcmplt", m, ctx.scalar(0.0), x)
    ctx.ternary("vsel", y, m, x, t)


@lowers("Gelu")
def lower_gelu(ctx: Ctx, node) -> None:
    """``vgelu`` (the erf form), or ``vgelut`` (the tanh form: one instruction for the seven
    steps of ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``)."""
    (x,), y = _io(ctx, node)
    tanh = node.attrs.get("approximate", "none") != "none"
    ctx.unary("vgelut" if tanh else "vgelu", y, x)


@lowers("RMSNormalization")
def lower_rms_normalization(ctx: Ctx, node) -> None:
    """``vrmsnorm`` over the axes from ``axis`` on (``x / sqrt(mean(x * x) + epsilon)``, one
    instruction for the six steps), then ``vmul`` by the scale."""
    x, y = ctx.view(node.inputs[0]), ctx.view(node.outputs[0])
    ax = int(node.attrs.get("axis", -1))
    ax = ax + x.rank if ax < 0 else ax
    inner = int(np.prod(x.shape[ax:]))
    ctx.w.csr("eps", f32_bits(float(node.attrs.get("epsilon", 1e-5))))
    _row_op(ctx, "vrmsnorm", y.reshape(x.shape[:ax] + (inner,)),
            x.reshape(x.shape[:ax] + (inner,)), 1)
    ctx.binary("vmul", y, y, ctx.view(node.inputs[1]))
