"""Instructions bound for the dispatcher (:mod:`runtime.dispatch`) more tightly than a partial
of their handler, computing what the handler computes: ``lui`` and ``cfgi`` of a writable CSR
as one register or CSR write; the element-wise vector instructions and ``vsadd`` keeping the
operands of their last execution (views, coefficients, the numpy call) while their AGU setting
and registers, and ``vsadd``'s shift-and-add CSRs, stay the same.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial

from runtime.ops import kernels
from runtime.ops.scalar import cfgi, upper, writable
from runtime.ops.vector import _CELLB, _OUTER5, _WSCH, ELEMENTWISE, operand, shift_add_coefficients
from runtime.state import CSR_BASE


def _bind_lui(s, rd: int, imm: int):
    return partial(s.x.__setitem__, rd, upper(imm))


def _bind_cfgi(s, csr: int, imm: int):
    if not writable(csr):
        return partial(cfgi, s, csr, imm)  # traps when it runs
    return partial(s.write_csr, csr - CSR_BASE, imm)


def _bind_into(fn, small, ops: str, s, d: int, *regs: int) -> Callable[[], None]:
    """An element-wise instruction ``D = fn(A[, B])`` (as :func:`compute_into`), bound: it
    keeps the operands of its last execution while its AGU setting and its registers' values
    stay the same (so does :func:`operand`; this skips the look-ups), as one call of ``fn``, or
    on a destination too small for the kernels' loops the numpy call ``small(D, A[, B])``."""
    x, touch, vector = s.x, s.mem.touch, s.cost.vector
    values = operator.itemgetter(d, *regs)
    last: list = [None, None]  # (setting, register values), (destination, call, elements)

    def run() -> None:
        agu = s.agu()
        key = (agu, values(x))
        if key != last[0]:
            if not agu.elements:
                return
            srcs = tuple(operand(s, agu, op, x[r])[1] for op, r in zip(ops, regs))
            dest = operand(s, agu, "d", x[d])
            dv = dest[1]
            call = small(dv, *srcs) if dv.size < kernels.PLAIN_BELOW else \
                partial(fn, dv, *srcs)
            last[1] = (dest, call, agu.elements)
            last[0] = key
        (region, _, lo, hi), call, n = last[1]
        if hi > lo:
            touch(region, lo, hi)
        call()
        vector(region, n)

    return run


def _bind_vsadd(s, d: int, a: int) -> Callable[[], None]:
    """``vsadd`` bound (as :func:`_bind_into`): it keeps its operands and coefficients while
    its AGU setting, registers and shift-and-add CSRs stay the same."""
    x, csr, touch, vector = s.x, s.csr, s.mem.touch, s.cost.vector
    last: list = [None, None]

    def run() -> None:
        agu = s.agu()
        key = (agu, x[d], x[a], csr[_WSCH], csr[_CELLB])
        if key != last[0]:
            coef = shift_add_coefficients(s, agu.n[5] if agu.elements else 0)  # checks them
            if not agu.elements:
                return
            dest = operand(s, agu, "d", x[d], _OUTER5)
            av = operand(s, agu, "a", x[a])[1]
            last[1] = (dest, kernels.weighted_sum_call(dest[1], av, coef), agu.elements)
            last[0] = key
        (region, _, lo, hi), call, n = last[1]
        if hi > lo:
            touch(region, lo, hi)
        call()
        vector(region, n)

    return run


#: Mnemonic -> ``bind(state, *operands)``: the instruction bound for the dispatcher.
BINDERS: dict[str, Callable] = {
    "lui": _bind_lui, "cfgi": _bind_cfgi, "vsadd": _bind_vsadd,
    **{mn: partial(_bind_into, fn, small, ops) for mn, (fn, small, ops) in ELEMENTWISE.items()}}
