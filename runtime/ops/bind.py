"""Instructions bound for the dispatcher (:mod:`runtime.dispatch`) more tightly than a partial
of their handler, computing what the handler computes: ``lui`` and ``cfgi`` of a writable CSR
as one register or CSR write; the element-wise vector instructions (``vfma`` among them), the
reductions, ``vnorm``, ``vgather`` and ``vsadd`` keeping the operands of their last execution
(views, coefficients, source offsets, the numpy call) while their AGU setting and registers,
and ``vsadd``'s shift-and-add, ``vnorm``'s ``eps`` and ``vgather``'s ``glen`` and
``gstride`` CSRs, stay the same.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import partial

import numpy as np

from isa.spec import AGU_RANK
from runtime.ops import kernels
from runtime.ops.fused import gelu_tanh, rms_normalized
from runtime.ops.matmul import _MM_A, _MM_B, _MM_D, check_ibits, sram_product
from runtime.ops.noc import bind_send
from runtime.ops.scalar import cfgi, upper, writable
from runtime.ops.vector import (
    _CELLB,
    _EPS,
    _GLEN,
    _GSTRIDE,
    _IBITS,
    _OUTER5,
    _UNARY,
    _WSCH,
    ALL,
    ELEMENTWISE,
    REDUCTIONS,
    _bits_to_f32,
    _fma,
    operand,
    reduced_dims,
    shift_add_coefficients,
    softmax,
    vgather,
)
from runtime.ops.xbar import bind_mvm
from runtime.state import CSR_BASE, Trap

_ONE32 = np.float32(1.0)


def _bind_lui(s, rd: int, imm: int):
    return partial(s.x.__setitem__, rd, upper(imm))


def _bind_cfgi(s, csr: int, imm: int):
    if not writable(csr):
        return partial(cfgi, s, csr, imm)  # traps when it runs
    return partial(s.write_csr, csr - CSR_BASE, imm)


def _bound(s, values: Callable[[], tuple], plan: Callable[[], tuple | None]
           ) -> Callable[[], None]:
    """A vector instruction that keeps what ``plan()`` prepared, ``(destination, call,
    elements)`` with the destination as :func:`runtime.ops.vector.operand` gives it, while
    the AGU setting and ``values()`` (its registers' values and the CSRs it reads) are
    unchanged (``plan()`` gives None, and the instruction does nothing, when the AGU setting
    has no elements); a run records the destination's words as written, makes the call and
    counts the work, as the handler does."""
    touch, vector = s.mem.touch, s.cost.vector
    agu = kept = region = lo = hi = call = n = None

    def run() -> None:
        nonlocal agu, kept, region, lo, hi, call, n
        now = s._agu or s.agu()  # the setting, as s.agu() gives it
        v = values()
        if now is not agu or v != kept:
            p = plan()
            if p is None:
                return
            agu, kept = now, v
            (region, _, lo, hi), call, n = p
        if hi > lo:
            touch(region, lo, hi)
        call()
        vector(region, n)

    return run


def _bind_into(fn, small, ops: str, s, d: int, *regs: int) -> Callable[[], None]:
    """An element-wise instruction ``D = fn(A[, B])`` (as
    :func:`runtime.ops.vector.compute_into`), its operands kept while its AGU setting and its
    registers' values stay the same; on a destination too small for the kernels' loops the
    call is the numpy call ``small(D, A[, B])``."""
    x = s.x
    values = operator.itemgetter(d, *regs)

    def plan():
        agu = s.agu()
        if not agu.elements:
            return None
        srcs = tuple(operand(s, agu, op, x[r])[1] for op, r in zip(ops, regs))
        dest = operand(s, agu, "d", x[d])
        dv = dest[1]
        call = small(dv, *srcs) if dv.size < kernels.PLAIN_BELOW else partial(fn, dv, *srcs)
        return dest, call, agu.elements

    return _bound(s, partial(values, x), plan)


def _bind_vsadd(s, d: int, a: int) -> Callable[[], None]:
    """``vsadd``, its operands and coefficients kept while its AGU setting, registers and
    shift-and-add CSRs stay the same."""
    x, csr = s.x, s.csr

    def plan():
        agu = s.agu()
        coef = shift_add_coefficients(s, agu.n[5] if agu.elements else 0)  # checks them
        if not agu.elements:
            return None
        dest = operand(s, agu, "d", x[d], _OUTER5)
        av = operand(s, agu, "a", x[a])[1]
        return dest, kernels.weighted_sum_call(dest[1], av, coef), agu.elements

    return _bound(s, lambda: (x[d], x[a], csr[_WSCH], csr[_CELLB]), plan)


def _reduced_operand(s, addr: int):
    """The AGU setting, the count of reduced trailing dims (``nred``, checked) and the source
    operand at ``addr`` of a row operation; ``(None, 0, None)`` when it has no elements."""
    agu = s.agu()
    k = reduced_dims(s, agu)  # checks nred
    if not agu.elements:
        return None, 0, None
    return agu, k, operand(s, agu, "a", addr)[1]


def _bind_reduction(kind: str, s, d: int, a: int) -> Callable[[], None]:
    """A reduction (``vrsum`` ... ``vrmean``), its operands kept while its AGU setting (with
    ``nred``) and registers stay the same."""
    x = s.x

    def plan():
        agu, k, av = _reduced_operand(s, x[a])
        if agu is None:
            return None
        dest = operand(s, agu, "d", x[d], ALL[: AGU_RANK - k])
        return dest, kernels.reduce_window_call(kind, dest[1], av, k), agu.elements

    return _bound(s, lambda: (x[d], x[a]), plan)


def _fma_call(dst, a, b, c) -> Callable[[], None]:
    """The numpy calls :func:`runtime.ops.vector._fma` makes on a small destination: the
    product into ``dst``, then ``c`` added in place (through a temporary product where ``c``
    shares ``dst``'s memory)."""
    if np.may_share_memory(dst, c):
        return partial(_fma, dst, a, b, c)
    mul, add = partial(np.multiply, a, b, out=dst), partial(np.add, dst, c, out=dst)

    def call() -> None:
        mul()
        add()

    return call


def _normalized(dst, a, axes: tuple[int, ...], n: int, eps) -> None:
    """``vnorm``'s float64 computation (:func:`runtime.ops.vector.vnorm`; a mean is the sum
    divided by the count, as ``np.mean`` computes it), rounded once into ``dst``."""
    c = a.astype(np.float64)
    np.subtract(c, np.divide(np.add.reduce(c, axes, keepdims=True), n), out=c)
    var = np.divide(np.add.reduce(c * c, axes, keepdims=True), n)
    dst[...] = np.divide(c, np.sqrt(var + eps), out=c)


def _normalized_row(dst, a, axes: tuple[int, ...], n: int, eps) -> None:
    """:func:`_normalized` of one row (the reduced axes hold every element): its mean,
    variance and root as Python floats (IEEE double operations, the bits of numpy's)."""
    c = a.astype(np.float64)
    np.subtract(c, np.add.reduce(c, axes).item() / n, out=c)
    r = np.add.reduce(np.multiply(c, c), axes).item() / n + eps
    np.divide(c, math.sqrt(r) if r >= 0 else np.sqrt(r), out=dst)  # NaN: numpy's; rounded once


def _bind_row_norm(s, d: int, a: int, call_for: Callable) -> Callable[[], None]:
    """A row normalization (``vnorm``, ``vrmsnorm``) bound for the dispatcher: its operands
    kept while its AGU setting (with ``nred``), registers and ``eps`` stay the same;
    ``call_for(dst, av, axes, k, elements, eps)`` (``eps`` the CSR's float32) makes the call."""
    x, csr = s.x, s.csr

    def plan():
        agu, k, av = _reduced_operand(s, x[a])
        if agu is None:
            return None
        dest = operand(s, agu, "d", x[d])
        eps = np.float32(_bits_to_f32(csr[_EPS]))
        call = call_for(dest[1], av, ALL[AGU_RANK - k:], k, agu.elements, eps)
        return dest, call, agu.elements

    return _bound(s, lambda: (x[d], x[a], csr[_EPS]), plan)


def _vnorm_call(dst, av, axes, k, elements, eps):
    n = int(np.prod([av.shape[i] for i in axes]))
    how = _normalized_row if n == elements else _normalized
    return partial(how, dst, av, axes, n, np.float64(eps))


def _bind_vnorm(s, d: int, a: int) -> Callable[[], None]:
    """``vnorm`` bound (:func:`_bind_row_norm`)."""
    return _bind_row_norm(s, d, a, _vnorm_call)


def _rms_row(dst, a, sq, axes: tuple[int, ...], window: int, eps) -> None:
    """:func:`runtime.ops.fused.rms_normalized` of one row whose mean numpy takes in one call
    (the reduced axes hold every element): the mean as a Python float rounded once to
    float32, the other steps float32 scalars (numpy's float32 operations, the same bits)."""
    np.multiply(a, a, out=sq)
    mean = np.float32(np.add.reduce(sq, axis=axes, dtype=np.float64).item() / window)
    np.multiply(a, _ONE32 / np.sqrt(mean + eps), out=dst)


def _rms_rows(dst, a, k: int, eps) -> None:
    dst[...] = rms_normalized(a, k, eps)


def _vrmsnorm_call(dst, av, axes, k, elements, eps):
    sq = np.empty(av.shape, np.float32)
    if math.prod(av.shape[i] for i in axes) == elements \
            and kernels._plain_window(sq, axes, elements):
        return partial(_rms_row, dst, av, sq, axes, elements, eps)
    return partial(_rms_rows, dst, av, k, eps)


def _bind_vrmsnorm(s, d: int, a: int) -> Callable[[], None]:
    """``vrmsnorm`` bound (:func:`_bind_row_norm`)."""
    return _bind_row_norm(s, d, a, _vrmsnorm_call)


def _assigned(dst, fn: Callable, *args) -> None:
    dst[...] = fn(*args)


def _bind_result(fn: Callable, s, d: int, a: int) -> Callable[[], None]:
    """An instruction that stores ``fn(A)`` (``vgelut``, ``vsigm``, ``vgelu``), its operands
    kept while its AGU setting and registers stay the same."""
    x = s.x

    def plan():
        agu = s.agu()
        if not agu.elements:
            return None
        av = operand(s, agu, "a", x[a])[1]
        dest = operand(s, agu, "d", x[d])
        return dest, partial(_assigned, dest[1], fn, av), agu.elements

    return _bound(s, lambda: (x[d], x[a]), plan)


def _bind_vsoftmax(s, d: int, a: int) -> Callable[[], None]:
    """``vsoftmax``, its operands kept while its AGU setting (with ``nred``) and registers stay
    the same."""
    x = s.x

    def plan():
        agu, k, av = _reduced_operand(s, x[a])
        if agu is None:
            return None
        dest = operand(s, agu, "d", x[d])
        return dest, partial(_assigned, dest[1], softmax, av, ALL[AGU_RANK - k:]), agu.elements

    return _bound(s, lambda: (x[d], x[a]), plan)


def _bind_smm(s, d: int, a: int, b: int) -> Callable[[], None]:
    """``smm``, its operands kept while its AGU setting, registers and ``ibits`` stay the
    same; a run records the destination's words as written, stores the product and counts
    the SRAM work, as the handler does."""
    x, csr, touch, vector = s.x, s.csr, s.mem.touch, s.cost.vector
    last: list = [None, None]  # key, plan

    def run() -> None:
        key = (s.agu(), x[d], x[a], x[b], csr[_IBITS])
        if key != last[0]:
            agu = key[0]
            if not agu.elements:
                return
            check_ibits(key[4])
            xv = operand(s, agu, "a", key[2], _MM_A)[1]
            wv = operand(s, agu, "b", key[3], _MM_B)[1]
            last[1] = (operand(s, agu, "d", key[1], _MM_D), xv, wv, key[4], agu.n[5],
                       math.prod(agu.n[:5]), agu.elements)
            last[0] = key
        (region, dv, lo, hi), xv, wv, ibits, k, work, macs = last[1]
        if hi > lo:
            touch(region, lo, hi)
        dv[...] = sram_product(xv, wv, ibits, k)
        vector(region, work, macs=macs, sram=True)

    return run


_EXACT = 2.0**62  # indices below this in magnitude truncate to an int64 as numpy's do


def _one_row(kv: np.ndarray, pos: np.ndarray, n: int) -> int | None:
    """The first source offset of a gather whose index operand is one word (every dimension
    of more than one element has stride 0) and whose source offsets ``pos`` are consecutive in
    the destination's order (it copies a row of ``n`` words), else None."""
    if any(st and k > 1 for st, k in zip(kv.strides, kv.shape)):
        return None
    flat = np.broadcast_to(pos, kv.shape).ravel()
    first = int(flat[0])
    return first if np.array_equal(flat, np.arange(first, first + n)) else None


def _bind_vgather(s, d: int, a: int, b: int) -> Callable[[], None]:
    """``vgather``, its index and destination views and the source offsets of its AGU
    setting kept while the setting, registers, ``glen`` and ``gstride`` stay the same; an
    index that is not finite or out of range, a source outside memory, or operands whose
    views trap, run the handler (:func:`runtime.ops.vector.vgather`: its trap)."""
    x, csr, mem, vector = s.x, s.csr, s.mem, s.cost.vector
    handler = partial(vgather, s, d, a, b)
    last: list = [None, None]  # key, plan

    def plan():
        agu = s.agu()
        kv = operand(s, agu, "b", x[b])[1]
        dest = operand(s, agu, "d", x[d])
        pos, sa = 0, agu.strides["a"]
        for dim in range(AGU_RANK):
            shape = [1] * AGU_RANK
            shape[dim] = agu.n[dim]
            pos = pos + (np.arange(agu.n[dim], dtype=np.int64) * sa[dim]).reshape(shape)
        return (kv, dest, pos, csr[_GLEN], s.stride(_GSTRIDE), x[a], agu.elements,
                _one_row(kv, pos, agu.elements))

    def run() -> None:
        key = (s.agu(), x[d], x[a], x[b], csr[_GLEN], csr[_GSTRIDE])
        if key != last[0]:
            if not key[0].elements:
                return
            try:
                last[1] = plan()
            except Trap:
                return handler()
            last[0] = key
        kv, (region, dv, lo_d, hi_d), pos, glen, gstride, base, n, row = last[1]
        if row is not None:  # one index: a row of n words, copied as a slice
            v = kv.item(0)
            if not abs(v) < _EXACT:  # not finite (or beyond glen anyway): the handler's trap
                return handler()
            k = int(v)  # truncated, as np.trunc
            if k < 0:
                k += glen
            if k < 0 or k >= glen:
                return handler()
            first = base + 4 * (gstride * k + row)
            if base & 3 or first < 0:
                return handler()
            r, i0 = mem.locate(first)
            words = mem.f32[r]
            if i0 + n > len(words):
                return handler()
            if hi_d > lo_d:
                mem.touch(region, lo_d, hi_d)
            dv[...] = words[i0 : i0 + n].reshape(dv.shape)
            vector(region, n)
            return
        if not np.isfinite(kv).all():
            return handler()
        k = np.trunc(kv).astype(np.int64)
        k = np.where(k < 0, k + glen, k)
        if ((k < 0) | (k >= glen)).any():
            return handler()
        off = gstride * k + pos
        lo, hi = int(off.min()), int(off.max())
        first = base + 4 * lo
        if base & 3 or first < 0:
            return handler()
        r, i0 = mem.locate(first)
        words = mem.f32[r]
        if i0 + (hi - lo) >= len(words):
            return handler()
        if hi_d > lo_d:
            mem.touch(region, lo_d, hi_d)
        dv[...] = words[i0 - lo + off]
        vector(region, n)

    return run


#: Mnemonic -> ``bind(state, *operands)``: the instruction bound for the dispatcher.
BINDERS: dict[str, Callable] = {
    "lui": _bind_lui, "cfgi": _bind_cfgi, "vsadd": _bind_vsadd, "vnorm": _bind_vnorm,
    "vrmsnorm": _bind_vrmsnorm, "vsoftmax": _bind_vsoftmax, "smm": _bind_smm,
    "vgelut": partial(_bind_result, gelu_tanh),
    **{mn: partial(_bind_result, fn) for mn, fn in _UNARY.items()},
    "vfma": partial(_bind_into, _fma, _fma_call, "abc"), "vgather": _bind_vgather,
    "mvm": partial(bind_mvm, False), "mvm.acc": partial(bind_mvm, True), "send": bind_send,
    **{mn: partial(_bind_into, fn, small, ops) for mn, (fn, small, ops) in ELEMENTWISE.items()},
    **{mn: partial(_bind_reduction, kind) for mn, kind in REDUCTIONS.items()}}
