"""Expansions of operators whose weights or parameters are runtime tensors (graph inputs or
values computed from them), into operators the machine has: a ``Conv`` whose weight is a runtime
tensor is a sum of products of two activations (the dynamic unit, as attention's products), a
``BatchNormalization`` whose scale, bias, mean or variance is one is elementwise arithmetic, and so
is one in training mode (the batch's own statistics). With constant weights and parameters the
node stays, for the arrays (``Conv``) or for folding into the product before it
(``BatchNormalization``).
"""

from __future__ import annotations

import itertools

import numpy as np

from imcc.opdefs.attrs import conv as conv_attrs
from imcc.passes.composite_quant import _CONV_ATTRS, RUNTIME_WEIGHT_TAPS
from imcc.passes.composite_registry import FLOATS, Ops, composite


def _per_channel(o: Ops, t: str, shape: tuple[int, ...]) -> str:
    """The [C] tensor ``t`` as ``shape`` ([1, C, 1, ...]), to broadcast along the channels."""
    v = o.rw.value(t)
    if v is not None:
        return o.const(v.reshape(shape))
    return o.op("Reshape", t, o.rw.shape_const(f"{o.n.name}_dims", shape), shape=shape)


@composite("BatchNormalization", dtypes=FLOATS)
def _batchnorm_runtime(o: Ops) -> bool:
    """``y = (x - mean) / sqrt(var + epsilon) * scale + B`` (inference mode), where any of
    ``scale``, ``B``, ``mean`` and ``var`` is a runtime tensor; in training mode,
    :func:`_batchnorm_training`. Inference mode with constant parameters stays whole (it is
    lowered)."""
    n = o.n
    params = n.inputs[1:5]
    if int(n.attrs.get("training_mode", 0)):
        return _batchnorm_training(o)
    if o.xt.rank < 2 or \
            all(o.rw.is_const(p) for p in params):
        return False
    shape = (1, o.xt.shape[1]) + (1,) * (o.xt.rank - 2)
    scale, bias, mean, var = (_per_channel(o, p, shape) for p in params)
    eps = o.const(float(n.attrs.get("epsilon", 1e-5)))
    root = o.op("Sqrt", o.op("Add", var, eps, shape=shape), shape=shape)
    inv = o.op("Div", scale, root, shape=shape)
    o.final("Add", o.op("Mul", o.op("Sub", o.x, mean), inv), bias)
    return True


def _batchnorm_training(o: Ops) -> bool:
    """``BatchNormalization`` with ``training_mode = 1``: the statistics of the batch over every
    axis but the channels' (the variance the population's), ``Y = scale * (x - mean) /
    sqrt(var + epsilon) + B``, and the running statistics ``input_mean * momentum + mean * (1 -
    momentum)`` (the same for the variance)."""
    n = o.n
    if o.xt.rank < 2 or len(n.inputs) < 5:
        return False
    eps, momentum = float(n.attrs.get("epsilon", 1e-5)), float(n.attrs.get("momentum", 0.9))
    rank, c = o.xt.rank, o.xt.shape[1]
    axes = [a for a in range(rank) if a != 1]
    mean = o.reduce("ReduceMean", o.x, axes, 1)
    small = o.rw.type(mean).shape
    d = o.op("Sub", o.x, mean)
    var = o.reduce("ReduceMean", o.op("Mul", d, d), axes, 1)
    scale, bias = (_per_channel(o, t, small) for t in n.inputs[1:3])
    root = o.op("Sqrt", o.op("Add", var, o.const(eps), shape=small), shape=small)
    y = o.op("Add", o.op("Div", o.op("Mul", scale, d), root), bias)
    outs = list(n.outputs) + [""] * (3 - len(n.outputs))
    running = []
    for stat, given in ((mean, n.inputs[3]), (var, n.inputs[4])):
        flat = o.op("Reshape", stat, o.rw.shape_const(f"{n.name}_channels", [c]), shape=[c])
        new = o.op("Mul", flat, o.const(1.0 - momentum), shape=[c])
        running.append(o.op("Add", o.op("Mul", given, o.const(momentum), shape=[c]), new,
                            shape=[c]))
    for src, dst in ((y, outs[0]), (running[0], outs[1]), (running[1], outs[2])):
        if dst:
            o.rw.alias(dst, src)
    return True


@composite("Conv", dtypes=FLOATS)
def conv_runtime_weight(o: Ops) -> bool:
    """``Conv(x, W, B)`` (any spatial rank) with a runtime weight ``W``: per group, the sum over
    the kernel's taps ``t`` of the strided slice of the padded input that tap reads, channels
    last, times ``W[:, :, t]^T`` (a product of two activations), plus ``B``. A weight with more
    than ``RUNTIME_WEIGHT_TAPS`` taps times input channels per group stays (refused)."""
    n = o.n
    w = n.inputs[1]
    wt = o.rw.type(w)
    if o.rw.is_const(w) or not runtime_weight_fits(o.xt.rank, wt.shape):
        return False
    attrs = conv_attrs({k: v for k, v in n.attrs.items() if k in _CONV_ATTRS},
                       [o.xt, wt], n.name)
    out_shape = tuple(o.graph.types[n.outputs[0]].shape)
    groups = int(attrs.get("group", 1))
    cg, mg = o.xt.shape[1] // groups, wt.shape[0] // groups
    parts = []
    for g in range(groups):
        xg, wg = o.x, w
        if groups > 1:
            xg = _channels(o, o.x, 1, g * cg, cg)
            wg = _channels(o, w, 0, g * mg, mg)
        parts.append(_conv_by_taps(o, xg, wg, attrs, (*out_shape[:1], mg, *out_shape[2:])))
    y = parts[0] if groups == 1 else o.op("Concat", *parts, shape=out_shape, axis=1)
    if len(n.inputs) > 2 and n.inputs[2]:
        o.final("Add", y, _per_channel(o, n.inputs[2], (1, out_shape[1]) + (1,) * (o.xt.rank - 2)))
    else:
        o.final("Reshape", y, o.rw.shape_const(f"{n.name}_dims", out_shape))
    return True


def _conv_by_taps(o: Ops, x: str, w: str, attrs, out_shape) -> str:
    """The convolution of ``x`` [N, C, spatial...] by the runtime weight ``w`` [M, C, k...]
    (one group): per tap, the input's strided slice it reads, channels last, times that tap's
    [C, M] weights; summed over the taps, channels first again."""
    sc = o.rw.shape_const
    name = o.n.name
    xt, m, k = o.rw.type(x), o.rw.type(w).shape[0], o.rw.type(w).shape[2:]
    (nb, c), sp, outs = xt.shape[:2], len(k), tuple(out_shape[2:])
    axes = list(range(2, 2 + sp))
    strides, dil, pads = attrs["strides"], attrs["dilations"], list(attrs["pads"])
    if any(pads):
        shape = [d + (pads[i - 2] + pads[sp + i - 2] if i >= 2 else 0)
                 for i, d in enumerate(xt.shape)]
        x = o.op("Pad", x, sc(f"{name}_pads", [0, 0, *pads[:sp], 0, 0, *pads[sp:]]),
                 shape=shape)
    total = None
    for tap in itertools.product(*(range(v) for v in k)):
        starts = [t * d for t, d in zip(tap, dil, strict=True)]
        ends = [s + (n - 1) * st + 1 for s, n, st in zip(starts, outs, strides, strict=True)]
        xs = o.op("Slice", x, sc(f"{name}_starts", starts), sc(f"{name}_ends", ends),
                  sc(f"{name}_axes", axes), sc(f"{name}_steps", list(strides)),
                  shape=(nb, c, *outs))
        xs = o.op("Transpose", xs, shape=(nb, *outs, c), perm=(0, *axes, 1))
        wk = o.op("Slice", w, sc(f"{name}_starts", list(tap)),
                  sc(f"{name}_ends", [t + 1 for t in tap]), sc(f"{name}_axes", axes),
                  shape=(m, c) + (1,) * sp)
        wk = o.op("Reshape", wk, sc(f"{name}_dims", [m, c]), shape=(m, c))
        wk = o.op("Transpose", wk, shape=(c, m), perm=(1, 0))
        y = o.op("MatMul", xs, wk, shape=(nb, *outs, m))
        total = y if total is None else o.op("Add", total, y, shape=(nb, *outs, m))
    return o.op("Transpose", total, shape=tuple(out_shape), perm=(0, 1 + sp, *range(1, 1 + sp)))


def runtime_weight_fits(rank: int, w_shape: tuple[int, ...]) -> bool:
    """Whether :func:`conv_runtime_weight` takes a runtime weight of shape ``w_shape`` [M, C/group,
    k...] for an input of rank ``rank``: a spatial axis or more, at most
    ``RUNTIME_WEIGHT_TAPS`` taps times input channels per group."""
    return rank >= 3 and int(np.prod(w_shape[1:])) <= RUNTIME_WEIGHT_TAPS


def _channels(o: Ops, t: str, axis: int, start: int, count: int) -> str:
    """``count`` slices of ``t`` from ``start`` along ``axis``."""
    shape = list(o.rw.type(t).shape)
    shape[axis] = count
    return o.op("Slice", t, o.rw.shape_const(f"{o.n.name}_starts", [start]),
                o.rw.shape_const(f"{o.n.name}_ends", [start + count]),
                o.rw.shape_const(f"{o.n.name}_axes", [axis]), shape=shape)
