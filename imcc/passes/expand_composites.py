"""Expand operators that are exact compositions of other supported operators.

Each follows the ONNX specification's definition, so the code generator needs no lowering of
its own for it:

* ``PRelu(x, slope)``: ``Where(Less(x, 0), Mul(x, slope), x)``;
* ``Selu``, ``Celu``, ``Mish``, ``Softsign``: element-wise formulas over ``Exp``, ``Softplus``,
  ``Tanh``, ``Abs``, ``Where``;
* ``IsNaN(x)``: ``Not(Equal(x, x))``; ``IsInf(x)``: ``Equal(Abs(x), inf)`` (with the
  ``detect_positive`` / ``detect_negative`` attributes);
* ``ReduceSumSquare``, ``ReduceL1``, ``ReduceL2``, ``ReduceLogSumExp`` (stabilized by the
  maximum): ``ReduceSum`` / ``ReduceMax`` of element-wise terms;
* ``LpNormalization(x)``: ``x / ReduceLp(x)`` along its axis (p = 1 or 2), 0 where the norm
  is 0;
* ``InstanceNormalization(x, scale, B)``: mean and variance over the spatial axes per image and
  channel, then ``(x - mean) / sqrt(var + eps) * scale + B``; ``GroupNormalization`` the same
  over each group of channels (a ``[N, G, -1]`` view), with a scale and bias per channel (opset
  21; the per-group form of opset 18 is deprecated and refused by ONNX's checker);
* ``ArgMax`` / ``ArgMin``: the extreme value (``ReduceMax`` / ``ReduceMin``), ``Equal`` to find
  where it is, ``Where`` over a constant index ramp and a ``ReduceMin`` (``ReduceMax`` with
  ``select_last_index``) for the first (last) such index, then ``Cast`` to int64.

Reductions are emitted in the form of the graph's opset (``axes`` as an input for ``ReduceSum``
and from opset 18 for the others, an attribute before).
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.ir import Graph, Node, TensorType
from imcc.passes.composite_math import EXPANSIONS as MATH_EXPANSIONS
from imcc.passes.normalize_operands import axes_are_input
from imcc.passes.rewrite import Rewriter


def _prelu(rw: Rewriter, n: Node, y: TensorType) -> None:
    x, slope = n.inputs[0], n.inputs[1]
    xt = rw.type(x)
    zero = rw.const(f"{n.name}_zero", np.zeros((), np.dtype(xt.dtype)))
    neg = rw.add("Less", (x, zero), TensorType(xt.shape, "bool"), f"{n.name}_negative")
    scaled = rw.add("Mul", (x, slope), y, f"{n.name}_scaled")
    rw.emit(Node(n.name, "Where", (neg, scaled, x), n.outputs))


class _Ops:
    """Small helpers that emit one node each, named after the node being expanded."""

    def __init__(self, rw: Rewriter, graph: Graph, n: Node):
        self.rw, self.graph, self.n = rw, graph, n
        self.x = n.inputs[0]
        self.xt = rw.type(self.x)

    def const(self, v, dtype=None) -> str:
        return self.rw.const(f"{self.n.name}_c", np.asarray(v, dtype=dtype or self.xt.dtype))

    def op(self, op_type: str, *inputs: str, shape=None, dtype=None, **attrs) -> str:
        t = TensorType(tuple(self.xt.shape if shape is None else shape), dtype or self.xt.dtype)
        return self.rw.add(op_type, inputs, t, f"{self.n.name}_{op_type.lower()}", **attrs)

    def _reduce_form(self, op_type: str, v: str, axes, keepdims: int):
        rank = self.xt.rank
        axes = sorted({a + rank if a < 0 else a for a in axes})
        shape = [1 if i in axes else d for i, d in enumerate(self.xt.shape)]
        if not keepdims:
            shape = [d for i, d in enumerate(shape) if i not in axes]
        if axes_are_input(op_type, self.graph.opset):
            ax = self.rw.shape_const(f"{self.n.name}_axes", axes)
            return (v, ax), {"keepdims": keepdims}, shape
        return (v,), {"axes": tuple(axes), "keepdims": keepdims}, shape

    def reduce(self, op_type: str, v: str, axes, keepdims: int) -> str:
        inputs, attrs, shape = self._reduce_form(op_type, v, axes, keepdims)
        return self.op(op_type, *inputs, shape=shape, **attrs)

    def final_reduce(self, op_type: str, v: str, axes, keepdims: int) -> None:
        inputs, attrs, _ = self._reduce_form(op_type, v, axes, keepdims)
        self.final(op_type, *inputs, **attrs)

    def final(self, op_type: str, *inputs: str, **attrs) -> None:
        self.rw.emit(Node(self.n.name, op_type, tuple(inputs), self.n.outputs, attrs))


def _reduce_axes(o: _Ops) -> tuple[list[int], int] | None:
    """The axes and keepdims of a Reduce* node; None when its axes are not constant."""
    n = o.n
    if len(n.inputs) > 1 and n.inputs[1]:
        v = o.rw.value(n.inputs[1])
        if v is None:
            return None
        axes = [int(a) for a in np.asarray(v).reshape(-1)]
    else:
        axes = list(n.attrs.get("axes") or ())
    if not axes:
        if n.attrs.get("noop_with_empty_axes", 0):
            return None
        axes = list(range(o.xt.rank))
    return axes, int(n.attrs.get("keepdims", 1))


def _zero_like(o: _Ops) -> str:
    return o.const(0)


def _cast_like(o: _Ops) -> bool:
    """``CastLike(x, like)`` is ``Cast(x, to=like's type)``: imcc knows every tensor's type."""
    like = o.rw.type(o.n.inputs[1]).dtype
    to = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(like)) if like in _NUMPY else None
    if to is None:
        return False
    o.final("Cast", o.x, to=int(to), saturate=int(o.n.attrs.get("saturate", 1)))
    return True


def _trilu(o: _Ops) -> bool:
    """``Trilu(x, k)``: ``Where(mask, x, 0)``, the mask of the kept triangle (``j - i >= k``
    upper, ``j - i <= k`` lower) over the last two axes: a constant for a constant ``k``, else
    the comparison of a constant ``j - i`` with ``k``."""
    n = o.n
    rows, cols = o.xt.shape[-2], o.xt.shape[-1]
    diff = np.arange(cols)[None, :] - np.arange(rows)[:, None]
    upper = int(n.attrs.get("upper", 1))
    kname = n.inputs[1] if len(n.inputs) > 1 else ""
    v = o.rw.value(kname) if kname else np.zeros((), np.int64)
    if v is not None:
        k = int(np.asarray(v).reshape(-1)[0])
        keep = o.rw.const(f"{n.name}_mask", diff >= k if upper else diff <= k)
    else:
        kf = o.op("Cast", kname, shape=(), dtype="float32", to=int(onnx.TensorProto.FLOAT),
                  saturate=1)
        d = o.rw.const(f"{n.name}_diff", diff.astype(np.float32))
        keep = o.op("GreaterOrEqual" if upper else "LessOrEqual", d, kf, shape=(rows, cols),
                    dtype="bool")
    o.final("Where", keep, o.x, _zero_like(o))
    return True


def _thresholded_relu(o: _Ops) -> bool:
    alpha = float(o.n.attrs.get("alpha", 1.0))
    above = o.op("Greater", o.x, o.const(alpha), dtype="bool")
    o.final("Where", above, o.x, _zero_like(o))
    return True


def _shrink(o: _Ops) -> bool:
    """``x - bias`` above ``lambd``, ``x + bias`` below ``-lambd``, 0 between."""
    lambd, bias = float(o.n.attrs.get("lambd", 0.5)), float(o.n.attrs.get("bias", 0.0))
    if o.xt.dtype not in ("float32", "float64"):
        return False
    below = o.op("Less", o.x, o.const(-lambd), dtype="bool")
    above = o.op("Greater", o.x, o.const(lambd), dtype="bool")
    inner = o.op("Where", above, o.op("Sub", o.x, o.const(bias)), _zero_like(o))
    o.final("Where", below, o.op("Add", o.x, o.const(bias)), inner)
    return True


def _reduce_log_sum(o: _Ops) -> bool:
    got = _reduce_axes(o)
    if got is None or o.xt.dtype not in ("float32", "float64"):
        return False
    axes, keep = got
    o.final("Log", o.reduce("ReduceSum", o.x, axes, keep))
    return True


def _hardmax(o: _Ops) -> bool:
    """1 at the first maximum along ``axis``, 0 elsewhere: the ArgMax composite (the
    extreme, ``Equal``, the smallest index where it is), then ``Equal`` with the index ramp."""
    if o.xt.dtype not in ("float32", "float64"):
        return False
    axis = int(o.n.attrs.get("axis", -1)) % o.xt.rank
    ext = o.reduce("ReduceMax", o.x, [axis], 1)
    hit = o.op("Equal", o.x, ext, dtype="bool")
    ramp_shape = [1] * o.xt.rank
    ramp_shape[axis] = o.xt.shape[axis]
    ramp = o.rw.const(f"{o.n.name}_index", np.arange(o.xt.shape[axis], dtype=np.float32)
                      .reshape(ramp_shape))
    miss = o.rw.const(f"{o.n.name}_miss", np.asarray(2.0**24, np.float32))
    idx = o.op("Where", hit, ramp, miss, dtype="float32")
    first = _Ops(o.rw, o.graph, o.n)
    first.x, first.xt = idx, o.rw.type(idx)
    chosen = first.reduce("ReduceMin", idx, [axis], 1)
    one = o.op("Equal", ramp, chosen, dtype="bool")
    o.final("Cast", one, to=int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(o.xt.dtype))),
            saturate=1)
    return True


def _layer_norm_stats(o: _Ops) -> bool:
    """``LayerNormalization`` whose ``Mean`` or ``InvStdDev`` output is read: the statistics
    over the normalized axes (``keepdims``), ``Y = (x - mean) * inv_std * scale + B``. With
    only ``Y`` read the node stays whole (the vector unit has ``vnorm``)."""
    n = o.n
    outs = list(n.outputs) + [""] * (3 - len(n.outputs))
    if not any(outs[1:]) or o.xt.dtype != "float32":
        return False
    axis = int(n.attrs.get("axis", -1)) % o.xt.rank
    eps = float(n.attrs.get("epsilon", 1e-5))
    axes = list(range(axis, o.xt.rank))
    mean = o.reduce("ReduceMean", o.x, axes, 1)
    sshape = o.rw.type(mean).shape
    d = o.op("Sub", o.x, mean)
    var = o.reduce("ReduceMean", o.op("Mul", d, d), axes, 1)
    inv = o.op("Reciprocal", o.op("Sqrt", o.op("Add", var, o.const(eps), shape=sshape),
                                  shape=sshape), shape=sshape)
    y = o.op("Mul", o.op("Mul", d, inv), n.inputs[1])
    if len(n.inputs) > 2 and n.inputs[2]:
        y = o.op("Add", y, n.inputs[2])
    for src, dst in ((y, outs[0]), (mean, outs[1]), (inv, outs[2])):
        if dst:
            o.rw.alias(dst, src)
    return True


#: Expansions by op type, each ``(ops) -> bool`` (False: this form is not expanded here).
EXPANSIONS = {
    "CastLike": _cast_like, "Trilu": _trilu, "ThresholdedRelu": _thresholded_relu,
    "Shrink": _shrink, "ReduceLogSum": _reduce_log_sum, "Hardmax": _hardmax,
    "LayerNormalization": _layer_norm_stats,
    **MATH_EXPANSIONS,
}
_NUMPY = frozenset({"float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8",
                    "uint16", "uint32", "uint64", "bool"})


def _expand(rw: Rewriter, graph: Graph, n: Node) -> bool:
    """Emit the expansion of ``n``; False when it is not an operator (or form) expanded here."""
    op = n.op_type
    if op in EXPANSIONS:
        return EXPANSIONS[op](_Ops(rw, graph, n))
    if op == "PRelu":
        _prelu(rw, n, graph.types[n.outputs[0]])
        return True
    o = _Ops(rw, graph, n)
    x, a = o.x, n.attrs
    if o.xt.dtype not in ("float32", "float64") and op not in ("ArgMax", "ArgMin"):
        return False
    same = o.xt.shape  # the shape of x, for masks
    if op == "Selu":
        alpha, gamma = float(a.get("alpha", 1.67326319217681884765625)), \
            float(a.get("gamma", 1.05070102214813232421875))
        neg = o.op("Mul", o.op("Sub", o.op("Exp", x), o.const(1.0)), o.const(alpha * gamma))
        pos = o.op("Mul", x, o.const(gamma))
        o.final("Where", o.op("Greater", x, o.const(0.0), dtype="bool", shape=same), pos, neg)
    elif op == "Celu":
        alpha = float(a.get("alpha", 1.0))
        e = o.op("Mul", o.op("Sub", o.op("Exp", o.op("Div", x, o.const(alpha))), o.const(1.0)),
                 o.const(alpha))
        o.final("Add", o.op("Max", x, o.const(0.0)), o.op("Min", e, o.const(0.0)))
    elif op == "Mish":
        o.final("Mul", x, o.op("Tanh", o.op("Softplus", x)))
    elif op == "Softsign":
        o.final("Div", x, o.op("Add", o.op("Abs", x), o.const(1.0)))
    elif op == "IsNaN":
        o.final("Not", o.op("Equal", x, x, dtype="bool"))
    elif op == "IsInf":
        pos, neg = int(a.get("detect_positive", 1)), int(a.get("detect_negative", 1))
        if pos and neg:
            o.final("Equal", o.op("Abs", x), o.const(np.inf))
        elif pos or neg:
            o.final("Equal", x, o.const(np.inf if pos else -np.inf))
        else:
            o.final("Equal", x, o.const(np.nan))  # never true
    elif op in ("ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp"):
        got = _reduce_axes(o)
        if got is None:
            return False
        axes, keep = got
        if op == "ReduceSumSquare":
            o.final_reduce("ReduceSum", o.op("Mul", x, x), axes, keep)
        elif op == "ReduceL1":
            o.final_reduce("ReduceSum", o.op("Abs", x), axes, keep)
        elif op == "ReduceL2":
            o.final("Sqrt", o.reduce("ReduceSum", o.op("Mul", x, x), axes, keep))
        else:
            m = o.reduce("ReduceMax", x, axes, 1)
            s = o.reduce("ReduceSum", o.op("Exp", o.op("Sub", x, m)), axes, keep)
            mk = m if keep else o.op("Reshape", m, o.rw.shape_const(
                f"{n.name}_shape", graph.types[n.outputs[0]].shape),
                shape=graph.types[n.outputs[0]].shape)
            o.final("Add", o.op("Log", s, shape=graph.types[n.outputs[0]].shape), mk)
    elif op == "LpNormalization":
        p, axis = int(a.get("p", 2)), int(a.get("axis", -1))
        if p not in (1, 2):
            return False
        sq = o.op("Mul", x, x) if p == 2 else o.op("Abs", x)
        norm = o.reduce("ReduceSum", sq, [axis], 1)
        nshape = rw.type(norm).shape
        if p == 2:
            norm = o.op("Sqrt", norm, shape=nshape)
        # a zero norm means x is all zeros there, and the spec's result is 0, not 0 / 0
        zero = o.op("Equal", norm, o.const(0.0), dtype="bool", shape=nshape)
        o.final("Div", x, o.op("Where", zero, o.const(1.0), norm, shape=nshape))
    elif op == "InstanceNormalization":
        if o.xt.rank < 3:
            return False
        eps = float(a.get("epsilon", 1e-5))
        axes = list(range(2, o.xt.rank))
        mean = o.reduce("ReduceMean", x, axes, 1)
        d = o.op("Sub", x, mean)
        var = o.reduce("ReduceMean", o.op("Mul", d, d), axes, 1)
        den = o.op("Sqrt", o.op("Add", var, o.const(eps), shape=rw.type(var).shape),
                   shape=rw.type(var).shape)
        c = o.xt.shape[1]
        bshape = [1, c] + [1] * (o.xt.rank - 2)
        scale = o.op("Reshape", n.inputs[1], rw.shape_const(f"{n.name}_sshape", bshape),
                     shape=bshape)
        bias = o.op("Reshape", n.inputs[2], rw.shape_const(f"{n.name}_bshape", bshape),
                    shape=bshape)
        o.final("Add", o.op("Mul", o.op("Div", d, den), scale), bias)
    elif op == "GroupNormalization":
        if o.xt.rank < 3 or len(n.inputs) < 3:
            return False
        groups, eps = int(a["num_groups"]), float(a.get("epsilon", 1e-5))
        nb, c = o.xt.shape[0], o.xt.shape[1]
        scale, bias = n.inputs[1], n.inputs[2]
        if groups < 1 or c % groups or rw.type(scale).shape != (c,) \
                or rw.type(bias).shape != (c,):
            return False  # (opset 18's per-group scale is deprecated; the checker refuses it)
        rest = int(np.prod(o.xt.shape[1:])) // groups
        gshape = (nb, groups, rest)
        xg = o.op("Reshape", x, rw.shape_const(f"{n.name}_gshape", gshape), shape=gshape)
        og = _Ops(rw, graph, n)
        og.x, og.xt = xg, rw.type(xg)
        mean = og.reduce("ReduceMean", xg, [2], 1)
        d = og.op("Sub", xg, mean)
        var = og.reduce("ReduceMean", og.op("Mul", d, d), [2], 1)
        vshape = rw.type(var).shape
        den = og.op("Sqrt", og.op("Add", var, og.const(eps), shape=vshape), shape=vshape)
        norm = og.op("Div", d, den)
        back = o.op("Reshape", norm, rw.shape_const(f"{n.name}_shape", o.xt.shape))
        cshape = [1, c] + [1] * (o.xt.rank - 2)
        sc = o.op("Reshape", scale, rw.shape_const(f"{n.name}_sc", cshape), shape=cshape)
        bc = o.op("Reshape", bias, rw.shape_const(f"{n.name}_bc", cshape), shape=cshape)
        o.final("Add", o.op("Mul", back, sc), bc)
    elif op in ("ArgMax", "ArgMin"):
        if o.xt.dtype not in ("float32", "float64", "int64", "int32"):
            return False
        axis = int(a.get("axis", 0)) % o.xt.rank
        keep, last = int(a.get("keepdims", 1)), int(a.get("select_last_index", 0))
        ext = o.reduce("ReduceMax" if op == "ArgMax" else "ReduceMin", x, [axis], 1)
        hit = o.op("Equal", x, ext, dtype="bool", shape=same)
        ramp_shape = [1] * o.xt.rank
        ramp_shape[axis] = o.xt.shape[axis]
        ramp = rw.const(f"{n.name}_index", np.arange(o.xt.shape[axis], dtype=np.float32)
                        .reshape(ramp_shape))
        miss = rw.const(f"{n.name}_miss", np.asarray(-1.0 if last else 2.0**24, np.float32))
        idx = rw.add("Where", (hit, ramp, miss), TensorType(o.xt.shape, "float32"),
                     f"{n.name}_where")
        pick = _Ops(rw, graph, n)
        pick.x, pick.xt = idx, rw.type(idx)
        chosen = pick.reduce("ReduceMax" if last else "ReduceMin", idx, [axis], keep)
        o.final("Cast", chosen, to=7, saturate=1)  # INT64
    else:
        return False
    return True


EXPANDED = frozenset({"PRelu", "Selu", "Celu", "Mish", "Softsign", "IsNaN", "IsInf",
                      "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp",
                      "LpNormalization", "InstanceNormalization", "GroupNormalization",
                      "ArgMax", "ArgMin", *EXPANSIONS})


def expand_composites(graph: Graph) -> Graph:
    """Rewrite PRelu, Selu, Celu, Mish, Softsign, IsNaN, IsInf, ReduceSumSquare/L1/L2/LogSumExp,
    LpNormalization, Instance- and GroupNormalization, ArgMax and ArgMin into supported
    operators."""
    if not any(n.op_type in EXPANDED for n in graph.nodes):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if not (n.op_type in EXPANDED and _expand(rw, graph, n)):
            rw.emit(n)
    return rw.finish()
