"""Expansions of ``expand-composites`` for LpPool, for Mod with ``fmod = 1`` and for
MeanVarianceNormalization (each registered with
:func:`~imcc.passes.composite_registry.composite`).

* ``LpPool``: the window sums of ``|x|^p`` are an ``AveragePool`` with ``count_include_pad = 1``
  times the kernel's size, once every window is whole: the windows ``ceil_mode`` adds past the
  explicit padding get that much more end padding instead (padding is 0, which adds nothing to
  the sum), so the AveragePool divides every window by the kernel's size;
* ``Mod`` with ``fmod = 1`` (C's ``fmod``: the remainder has the dividend's sign) is
  ``Sign(a) * Mod(|a|, |b|)`` with ``fmod = 0``: on non-negative operands the floored and the
  truncated remainders are the same number, which the machine computes exactly;
* ``MeanVarianceNormalization``: the ONNX function's formula (``_mean_variance_normalization``).
"""

from __future__ import annotations

import math

from imcc.passes.composite_registry import FLOATS, Ops, composite


def _whole_windows(o: Ops) -> dict:
    """The node's pooling attributes with ``ceil_mode``'s extension as explicit end padding
    (``ceil_mode = 0``) and ``count_include_pad = 1``."""
    a = o.n.attrs
    k = tuple(a["kernel_shape"])
    nd = len(k)
    s = tuple(a.get("strides") or (1,) * nd)
    d = tuple(a.get("dilations") or (1,) * nd)
    pads = list(a.get("pads") or (0,) * (2 * nd))
    out = o.graph.types[o.n.outputs[0]].shape[2:]
    for i, (n, m) in enumerate(zip(o.xt.shape[2:], out)):
        need = (m - 1) * s[i] + (k[i] - 1) * d[i] + 1  # the padded length the windows reach
        pads[nd + i] = max(pads[nd + i], need - n - pads[i])
    return {"auto_pad": "NOTSET", "ceil_mode": 0, "count_include_pad": 1, "dilations": d,
            "kernel_shape": k, "pads": tuple(pads), "strides": s}


@composite("LpPool", dtypes=FLOATS)
def _lp_pool(o: Ops) -> bool:
    """``LpPool(x) = (sum over each window of |x|^p) ^ (1/p)``, padding 0; the sum is
    ``AveragePool(|x|^p, count_include_pad = 1) * prod(kernel_shape)`` over whole windows."""
    p = int(o.n.attrs.get("p", 2))
    if p < 1:
        return False
    shape = o.graph.types[o.n.outputs[0]].shape
    attrs = _whole_windows(o)
    powered = o.op("Mul", o.x, o.x) if p == 2 else o.op("Abs", o.x)
    if p > 2:
        powered = o.op("Pow", powered, o.const(float(p)))
    avg = o.op("AveragePool", powered, shape=shape, **attrs)
    size = o.const(float(math.prod(attrs["kernel_shape"])))
    if p == 1:
        o.final("Mul", avg, size)
    elif p == 2:
        o.final("Sqrt", o.op("Mul", avg, size, shape=shape))
    else:
        o.final("Pow", o.op("Mul", avg, size, shape=shape), o.const(1.0 / p))
    return True


@composite("Mod")
def _fmod(o: Ops) -> bool:
    """``Mod(a, b)`` with ``fmod = 1`` (C's fmod, the remainder with the dividend's sign) =
    ``Sign(a) * Mod(|a|, |b|)`` with ``fmod = 0``; ``fmod = 0`` is lowered as it is."""
    if not int(o.n.attrs.get("fmod", 0)):
        return False
    a, b = o.n.inputs[:2]
    shape = o.graph.types[o.n.outputs[0]].shape
    rem = o.op("Mod", o.op("Abs", a), o.on(b).op("Abs", b), shape=shape, fmod=0)
    o.final("Mul", o.op("Sign", a), rem)
    return True


@composite("MeanVarianceNormalization", dtypes=FLOATS)
def _mean_variance_normalization(o: Ops) -> bool:
    """``MVN(X) = (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9)``, the means over ``axes``
    (default ``[0, 2, 3]``), as the ONNX function defines it."""
    axes = [int(a) for a in o.n.attrs.get("axes") or (0, 2, 3)]
    if not axes or any(not -o.xt.rank <= a < o.xt.rank for a in axes):
        return False
    mean = o.reduce("ReduceMean", o.x, axes, 1)
    small = o.rw.type(mean).shape
    square_mean = o.reduce("ReduceMean", o.op("Mul", o.x, o.x), axes, 1)
    variance = o.op("Sub", square_mean, o.op("Mul", mean, mean, shape=small), shape=small)
    std = o.op("Sqrt", variance, shape=small)
    o.final("Div", o.op("Sub", o.x, mean), o.op("Add", std, o.const(1e-9), shape=small))
    return True
