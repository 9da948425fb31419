"""Matrix products of the digital units (docs/machine.md): ``vmm`` on the vector unit and
``smm`` on the SRAM-IMC macro. M, N and K are AGU dims 3, 4 and 5; dims 0..2 are batch."""

from __future__ import annotations

import math

import numpy as np

from runtime.ops.registry import semantics
from runtime.ops.vector import _IBITS, src, store
from runtime.state import Trap

_MM_A, _MM_B, _MM_D = (0, 1, 2, 3, 5), (0, 1, 2, 5, 4), (0, 1, 2, 3, 4)


@semantics("vmm")
def vmm(s, d, a, b):
    """D[.., m, n] = sum_k A[.., m, k] * B[.., k, n] in float32; m, n, k are AGU dims 3, 4, 5
    and dims 0..2 are batch"""
    agu = s.agu()
    if agu.elements:
        prod = np.matmul(src(s, a, "a", agu, _MM_A), src(s, b, "b", agu, _MM_B))
        store(s, d, agu, prod, _MM_D, work=prod.size, macs=agu.elements)


def _per_tensor(x: np.ndarray, qmax: int) -> tuple[np.ndarray, float]:
    top = float(np.max(np.abs(x), initial=0.0))
    if top == 0.0:
        return np.zeros(x.shape, np.float64), 0.0
    scale = top / qmax
    return np.rint(x.astype(np.float64) / scale), scale


@semantics("smm")
def smm(s, d, a, b):
    """SRAM-IMC matmul: as vmm with A and B quantized per tensor to ibits signed bits
    (scale = max|.| / (2**(ibits-1) - 1)), multiplied exactly as integers and rescaled;
    with ibits = 0 it equals vmm"""
    agu = s.agu()
    if not agu.elements:
        return
    ibits = s.csr[_IBITS]
    check_ibits(ibits)
    prod = sram_product(src(s, a, "a", agu, _MM_A), src(s, b, "b", agu, _MM_B), ibits, agu.n[5])
    store(s, d, agu, prod, _MM_D, work=math.prod(agu.n[:5]), macs=agu.elements, sram=True)


def check_ibits(ibits: int) -> None:
    """Trap unless ``ibits`` is an smm precision (0, or 2..24)."""
    if ibits == 1 or ibits > 24:
        raise Trap(f"invalid ibits = {ibits} for smm (0, or 2..24)")


def sram_product(x: np.ndarray, w: np.ndarray, ibits: int, k: int) -> np.ndarray:
    """``smm``'s product of ``x`` and ``w`` (``k`` the summed length) at ``ibits``."""
    if ibits == 0:
        return np.matmul(x, w)
    qmax = (1 << (ibits - 1)) - 1
    (qa, sa), (qb, sb) = _per_tensor(x, qmax), _per_tensor(w, qmax)
    if k * qmax * qmax < 2**53:
        ints = np.matmul(qa, qb)  # float64 holds every partial sum exactly
    else:
        ints = np.matmul(qa.astype(np.int64), qb.astype(np.int64)).astype(np.float64)
    return ints * (sa * sb)
