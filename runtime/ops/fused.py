"""Fused vector instructions (docs/machine.md, "Digital vector unit"): one instruction for a chain
of element-wise steps a model writes out node by node. Each computes the steps as the separate
instructions would, with the same float32 roundings in the same order, so a program that uses
it gives the bits of the program that runs the chain, in one pass over the operand instead of
one per step."""

from __future__ import annotations

import numpy as np

from isa.fused import GELU_CUBE, GELU_HALF, GELU_ONE, GELU_SCALE
from runtime.ops.registry import semantics
from runtime.ops.vector import src, store


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
