"""Expansions of operators whose weights or parameters are runtime tensors (graph inputs or
values computed from them), into operators the machine has: a ``Conv`` whose weight is a runtime
tensor is a sum of products of two activations (the dynamic unit, as attention's products), a
``BatchNormalization`` whose scale, bias, mean or variance is one is elementwise arithmetic. With
constant weights and parameters the node stays, for the arrays (``Conv``) or for folding into the
product before it (``BatchNormalization``).
"""

from __future__ import annotations

import numpy as np

from imcc.opdefs.attrs import conv as conv_attrs
from imcc.passes.composite_quant import _CONV_ATTRS, RUNTIME_WEIGHT_TAPS, _conv_by_taps
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
    ``scale``, ``B``, ``mean`` and ``var`` is a runtime tensor."""
    n = o.n
    params = n.inputs[1:5]
    if n.attrs.get("training_mode", 0) or o.xt.rank < 2 or \
            all(o.rw.is_const(p) for p in params):
        return False
    shape = (1, o.xt.shape[1]) + (1,) * (o.xt.rank - 2)
    scale, bias, mean, var = (_per_channel(o, p, shape) for p in params)
    eps = o.const(float(n.attrs.get("epsilon", 1e-5)))
    root = o.op("Sqrt", o.op("Add", var, eps, shape=shape), shape=shape)
    inv = o.op("Div", scale, root, shape=shape)
    o.final("Add", o.op("Mul", o.op("Sub", o.x, mean), inv), bias)
    return True


@composite("Conv", dtypes=FLOATS)
def conv_runtime_weight(o: Ops) -> bool:
    """``Conv(x, W, B)`` (2-D) with a runtime weight ``W``: per group, the sum over the kernel's
    taps ``(i, j)`` of the strided slice of the padded input that tap reads, channels last,
    times ``W[:, :, i, j]^T`` (a product of two activations), plus ``B``. A weight with more
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
        o.final("Add", y, _per_channel(o, n.inputs[2], (1, out_shape[1], 1, 1)))
    else:
        o.final("Reshape", y, o.rw.shape_const(f"{n.name}_dims", out_shape))
    return True


def runtime_weight_fits(rank: int, w_shape: tuple[int, ...]) -> bool:
    """Whether :func:`conv_runtime_weight` takes a runtime weight of shape ``w_shape`` [M, C/group,
    k...] for an input of rank ``rank``: 2-D, at most ``RUNTIME_WEIGHT_TAPS`` taps times input
    channels per group."""
    return rank == 4 and int(np.prod(w_shape[1:])) <= RUNTIME_WEIGHT_TAPS


def _channels(o: Ops, t: str, axis: int, start: int, count: int) -> str:
    """``count`` slices of ``t`` from ``start`` along ``axis``."""
    shape = list(o.rw.type(t).shape)
    shape[axis] = count
    return o.op("Slice", t, o.rw.shape_const(f"{o.n.name}_starts", [start]),
                o.rw.shape_const(f"{o.n.name}_ends", [start + count]),
                o.rw.shape_const(f"{o.n.name}_axes", [axis]), shape=shape)
