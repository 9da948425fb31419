"""Fused vector instructions (docs/machine.md, "Digital vector unit"): one instruction for a chain
of element-wise steps a model writes out node by node. Each computes the steps as the separate
instructions would, with the same float32 roundings in the same order, so a program that uses
it gives the bits of the program that runs the chain, in one pass over the operand instead of
one per step."""

from __future__ import annotations

import math

import numpy as np

from isa.fused import GELU_CUBE, GELU_HALF, GELU_ONE, GELU_SCALE
from runtime.ops import kernels
from runtime.ops.registry import semantics
from runtime.ops.vector import _EPS, _bits_to_f32, reduced_dims, src, store

_ONE = np.float32(1.0)


def gelu_tanh(a: np.ndarray) -> np.ndarray:
    """``(a * 0.5) * (tanh((a ** 3 * 0.044715 + a) * sqrt(2 / pi)) + 1)`` in float32, step by
    step as ``vpow`` (the cube from float64, rounded once), ``vfma`` (product and sum rounded
    apart), ``vmul``, ``vtanh``, ``vadd`` and two ``vmul`` compute it."""
    x = a.astype(np.float64)
    t = np.multiply(x * x, x, out=np.empty(a.shape, np.float32))
    np.multiply(t, GELU_CUBE, out=t)
    np.add(t, a, out=t)
    np.multiply(t, GELU_SCALE, out=t)
    np.tanh(t, out=t)
    np.add(t, GELU_ONE, out=t)
    return np.multiply(np.multiply(a, GELU_HALF), t, out=t)


@semantics("vgelut")
def vgelut(s, d, a):
    """D = (A * 0.5) * (tanh((A ** 3 * 0.044715 + A) * 0.7978846) + 1), GELU's tanh form, each
    operation rounded to float32 (A ** 3 once, from float64)"""
    agu = s.agu()
    if agu.elements:
        store(s, d, agu, gelu_tanh(src(s, a, "a", agu)))


#: Shape and nred -> (axes, window) where :func:`runtime.ops.kernels.reduce_window` takes the
#: mean in one numpy call, else False (at most _MEANS_KEPT kept).
_MEANS: dict[tuple, tuple | bool] = {}
_MEANS_KEPT = 1 << 8


def _row_mean(sq: np.ndarray, nred: int) -> np.ndarray:
    """``kernels.reduce_window("mean", sq, nred)`` for a contiguous ``sq``, with the choice of
    its computation (one numpy call or its loop) made once per shape."""
    key = (sq.shape, nred)
    plan = _MEANS.get(key)
    if plan is None:
        axes = tuple(range(sq.ndim - nred, sq.ndim))
        window = math.prod(sq.shape[k] for k in axes)
        plan = window > 0 and kernels._plain_window(sq, axes, window) and (axes, window)
        if len(_MEANS) >= _MEANS_KEPT:
            _MEANS.clear()
        _MEANS[key] = plan
    if plan:
        return kernels._mean64(sq, *plan)
    return kernels.reduce_window("mean", sq, nred)


def rms_normalized(a: np.ndarray, nred: int, eps: np.float32) -> np.ndarray:
    """``a * (1 / sqrt(mean(a * a) + eps))`` over the ``nred`` innermost axes in float32, step by
    step as ``vmul``, ``vrmean`` (accumulated in float64, rounded once), ``vadd``, ``vsqrt``,
    ``vdiv`` (or ``vrecip``) and ``vmul`` compute it."""
    mean = _row_mean(np.multiply(a, a), nred).astype(np.float32)
    inv = np.divide(_ONE, np.sqrt(np.add(mean, eps)))
    return np.multiply(a, inv.reshape(inv.shape + (1,) * nred))


@semantics("vrmsnorm")
def vrmsnorm(s, d, a):
    """D = A * (1 / sqrt(mean(A * A) + eps)) over the innermost nred dims, each step rounded to
    float32 (the mean accumulated in float64): RMSNorm without its scale"""
    agu = s.agu()
    k = reduced_dims(s, agu)
    if agu.elements:
        eps = np.float32(_bits_to_f32(s.csr[_EPS]))
        store(s, d, agu, rms_normalized(src(s, a, "a", agu), k, eps))
