"""Digital vector unit semantics (docs/machine.md, "Digital vector unit").

Every operand is a float32 view built by the 6-D address generator: operand P at base register
``r`` covers ``r + 4 * sum_k i_k * sP_k`` for ``i_k < n_k``. A handler computes its whole result
with numpy from the source views first and then assigns it to the destination view, so all reads
happen before any write. A destination stride of 0 in a dimension of size > 1 traps.

Element-wise arithmetic is IEEE float32 (``vfma`` rounds the product and the sum separately, as
ONNX ``Mul`` then ``Add`` do). Reductions, row operations (``vsoftmax``, ``vnorm``), ``vsadd``
and ``vcumsum`` accumulate in float64 and round once to float32.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from functools import partial

import numpy as np
from scipy import special

from isa.spec import AGU_RANK, BY_MNEMONIC
from runtime.ops import kernels
from runtime.ops.registry import semantics
from runtime.state import AGU_ELEMENT_LIMIT, CSR_INDEX, Trap

ALL = tuple(range(AGU_RANK))
_OUTER5 = ALL[:5]
_NRED, _CELLB, _WSCH = CSR_INDEX["nred"], CSR_INDEX["cellb"], CSR_INDEX["wsch"]
_EPS, _IBITS, _ISGN = CSR_INDEX["eps"], CSR_INDEX["ibits"], CSR_INDEX["isgn"]
_GSTRIDE, _GLEN = CSR_INDEX["gstride"], CSR_INDEX["glen"]
_SQRT2 = np.float32(math.sqrt(2.0))
_F1, _F2 = np.float32(1.0), np.float32(2.0)


def _bits_to_f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _limit(shape: tuple[int, ...]) -> None:
    n = math.prod(shape)
    if n > AGU_ELEMENT_LIMIT:
        raise Trap(f"operand of {n} elements exceeds the interpreter's limit of "
                   f"{AGU_ELEMENT_LIMIT}")


#: Operands kept per AGU setting (a loop walking through addresses makes a new one per
#: iteration); with ``runtime.state.AGU_LIMIT`` settings, at most some 130,000 views (a
#: compiled decoder step has 130 settings and 900 operands).
PLAN_LIMIT = 1 << 8


def operand(s, agu, op: str, addr: int, dims=ALL) -> tuple[int, np.ndarray, int, int]:
    """``(region, view, lo, hi)`` of operand ``op`` ('d', 'a', 'b', 'c') at byte address
    ``addr`` over the AGU ``dims`` (:meth:`runtime.memory.Memory.extent`), checked; kept in
    ``agu.plans``: the same setting and address give the same view (memory buffers live as
    long as the machine)."""
    key = (op, addr, dims)
    plan = agu.plans.get(key)
    if plan is None:
        shape, strides = agu.dims(op, dims)
        _limit(shape)
        if op == "d":
            for k, n, st in zip(dims, shape, strides):
                if st == 0 and n > 1:
                    raise Trap(f"destination stride sd{k} = 0 in dimension {k} of size {n}")
        plan = s.mem.extent(addr, shape, strides)
        if len(agu.plans) >= PLAN_LIMIT:
            agu.plans.clear()
        agu.plans[key] = plan
    return plan


def src(s, reg: int, op: str, agu, dims=ALL) -> np.ndarray:
    """Source operand ``op`` ('a', 'b', 'c') at register ``reg`` over the AGU ``dims``."""
    return operand(s, agu, op, s.x[reg], dims)[1]


def dest(s, reg: int, agu, dims=ALL) -> tuple[int, np.ndarray]:
    """``(region, view)`` of the destination at register ``reg`` over ``dims``; its words are
    recorded as written."""
    region, view, lo, hi = operand(s, agu, "d", s.x[reg], dims)
    if hi > lo:
        s.mem.touch(region, lo, hi)
    return region, view


def store(s, reg: int, agu, result, dims=ALL, *, work: int | None = None, macs: int = 0,
          sram: bool = False) -> None:
    """Assign ``result`` to the destination at register ``reg`` over ``dims``, then count the
    work (``work`` elements, default the AGU index space)."""
    region, dv = dest(s, reg, agu, dims)
    dv[...] = result
    s.cost.vector(region, agu.elements if work is None else work, macs=macs, sram=sram)


def compute_into(s, reg: int, agu, fn, *srcs) -> None:
    """``fn(dst, *srcs)`` computes D straight into the destination view (the kernels let
    numpy buffer sources that overlap it, so all reads still come before the writes)."""
    region, dv = dest(s, reg, agu)
    fn(dv, *srcs)
    s.cost.vector(region, agu.elements)


def _document(fn, mnemonic: str):
    fn.__name__ = fn.__qualname__ = mnemonic.replace(".", "_")
    fn.__doc__ = BY_MNEMONIC[mnemonic].doc
    return semantics(mnemonic)(fn)


# ---- element-wise ---------------------------------------------------------------------------

_BINARY = {
    "vadd": np.add,
    "vsub": np.subtract,
    "vmul": np.multiply,
    "vdiv": np.divide,
    "vmax": np.maximum,
    "vmin": np.minimum,
    "vpow": lambda a, b, out: _power(a, b, out),
    "vcmplt": np.less,
    "vcmple": np.less_equal,
    "vcmpeq": np.equal,
    "vmod": np.mod,  # A - B * floor(A / B), computed exactly (numpy's floored modulo)
}

_ZERO = np.float32(0.0)

#: Unary operations that are one numpy ufunc: ``(f, before, after)`` computes
#: ``f(*before, A, *after)``.
_UNARY_UFUNC = {
    "vtanh": (np.tanh, (), ()),
    "verf": (special.erf, (), ()),
    "vexp": (np.exp, (), ()),
    "vlog": (np.log, (), ()),
    "vsqrt": (np.sqrt, (), ()),
    "vrecip": (np.divide, (_F1,), ()),
    "vneg": (np.negative, (), ()),
    "vabs": (np.abs, (), ()),
    "vfloor": (np.floor, (), ()),
    "vceil": (np.ceil, (), ()),
    "vround": (np.rint, (), ()),
    "vsign": (np.sign, (), ()),
    "vsin": (np.sin, (), ()),
    "vcos": (np.cos, (), ()),
    "vnot": (np.equal, (), (_ZERO,)),
}


def _unary_ufunc(f, before, after, d, a) -> None:
    kernels.ufunc(f, d, *before, a, *after)


#: Unary operations computed straight into the destination view: ``fn(dst, a)``, and what
#: they are on a destination of fewer than ``kernels.PLAIN_BELOW`` elements, bound to its
#: views: ``small(dst, a)`` returns that call.
_UNARY_INTO = {
    "vcopy": (kernels.copy, lambda d, a: partial(np.copyto, d, a)),
    "vrelu": (lambda d, a: kernels.extremum(np.maximum, d, a, _ZERO),
              lambda d, a: partial(np.maximum, a, _ZERO, out=d)),
    **{mn: (partial(_unary_ufunc, f, before, after),
            partial(lambda f, before, after, d, a: partial(f, *before, a, *after, out=d),
                    f, before, after))
       for mn, (f, before, after) in _UNARY_UFUNC.items()},
}

#: Unary operations of several numpy steps: computed, then stored.
_UNARY = {
    "vsigm": lambda a: _F1 / (_F1 + np.exp(-a)),
    "vgelu": lambda a: a * (_F1 + special.erf(a / _SQRT2)) / _F2,
}


def _power(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out = a ** b``. A constant exponent of 3 (GPT-2's tanh GELU) is the cube computed in
    float64 (one rounding to 53 bits) and rounded to float32: within half an ulp of the exact cube
    but for a rare double rounding, more accurate than the C library's ``powf`` (up to 0.82 ulp
    in glibc), and 100 times faster. Every other exponent goes to ``np.power``."""
    if b.size and not any(st for n, st in zip(b.shape, b.strides) if n > 1) \
            and b.flat[0] == 3.0:
        x = a.astype(np.float64)
        np.multiply(x * x, x, out=out)
    else:
        np.power(a, b, out=out)


def _binary(mnemonic: str, f):
    kernel = partial(kernels.extremum if f in (np.maximum, np.minimum) else kernels.ufunc, f)

    def handler(s, d, a, b):
        agu = s.agu()
        if agu.elements:
            compute_into(s, d, agu, kernel, src(s, a, "a", agu), src(s, b, "b", agu))

    # on a small destination both kernels are f(A, B, out=D)
    ELEMENTWISE[mnemonic] = (kernel, lambda d, a, b: partial(f, a, b, out=d), "ab")
    return _document(handler, mnemonic)


def _unary_into(mnemonic: str, fn, small):
    def handler(s, d, a):
        agu = s.agu()
        if agu.elements:
            compute_into(s, d, agu, fn, src(s, a, "a", agu))

    ELEMENTWISE[mnemonic] = (fn, small, "a")
    return _document(handler, mnemonic)


#: Mnemonic -> ``(fn, small, operands)`` of each element-wise instruction: it computes
#: ``fn(D, A[, B])`` (as :func:`compute_into`), on a destination of fewer than
#: ``kernels.PLAIN_BELOW`` elements the call ``small(D, A[, B])`` returns, over the source
#: operands ``operands`` ('a', 'ab' or 'abc'); :mod:`runtime.ops.bind` binds them.
ELEMENTWISE: dict[str, tuple[Callable, Callable, str]] = {}


def _unary(mnemonic: str, f):
    def handler(s, d, a):
        agu = s.agu()
        if agu.elements:
            store(s, d, agu, f(src(s, a, "a", agu)))

    return _document(handler, mnemonic)


for _mn, _f in _BINARY.items():
    _binary(_mn, _f)
for _mn, (_f, _small) in _UNARY_INTO.items():
    _unary_into(_mn, _f, _small)
for _mn, _f in _UNARY.items():
    _unary(_mn, _f)


@semantics("vfma")
def vfma(s, d, a, b, c):
    """D = A * B + C (float32, product and sum rounded separately)"""
    agu = s.agu()
    if agu.elements:
        compute_into(s, d, agu, _fma, src(s, a, "a", agu), src(s, b, "b", agu),
                     src(s, c, "c", agu))


def _fma(dst: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
    """``dst = a * b + c``: the product rounded to float32 into ``dst`` itself, then ``c``
    added in place (no temporary of the operand's size), where ``c`` does not share ``dst``'s
    memory; else through a temporary product."""
    if np.may_share_memory(dst, c):
        kernels.ufunc(np.add, dst, a * b, c)
        return
    kernels.ufunc(np.multiply, dst, a, b)
    kernels.ufunc(np.add, dst, dst, c)


@semantics("vclip")
def vclip(s, d, a, b, c):
    """D = min(max(A, B), C), each step keeping its first operand where the two are equal (a
    signed zero equal to a bound keeps its sign; vmax then vmin give the bound there, and
    otherwise the same bits); the first NaN of A, B, C"""
    agu = s.agu()
    if agu.elements:
        compute_into(s, d, agu, _clip, src(s, a, "a", agu), src(s, b, "b", agu),
                     src(s, c, "c", agu))


def _clip(dst: np.ndarray, a: np.ndarray, b, c) -> None:
    """``vclip``: numpy's clip by bounds that are one value each (its loop for scalar bounds
    keeps ``A``, then ``max(A, B)``, on a tie, and gives the first NaN: the instruction's
    rule, tested in tests/runtime/test_vector_clip.py); by bounds that vary (where numpy's
    loop over arrays gives the bound on a tie), the rule step by step."""
    lo, hi = kernels.single_value(b), kernels.single_value(c)
    if lo is not None and hi is not None:
        kernels.ufunc(np.clip, dst, a, lo, hi)
        return
    m = _keep_first(np.array(a), np.greater, b)
    dst[...] = _keep_first(m, np.less, c)


def _keep_first(x: np.ndarray, beyond, bound) -> np.ndarray:
    """``x`` with ``bound`` where ``beyond(bound, x)`` or ``bound`` is NaN and ``x`` is not (in
    place in ``x``, a fresh array)."""
    take = beyond(bound, x) | (np.isnan(bound) & ~np.isnan(x))
    np.copyto(x, np.broadcast_to(bound, x.shape), where=take)
    return x


ELEMENTWISE["vclip"] = (_clip, lambda d, a, b, c: partial(_clip, d, a, b, c), "abc")


@semantics("vsel")
def vsel(s, d, a, b, c):
    """D = B if A != 0 else C"""
    agu = s.agu()
    if agu.elements:
        store(s, d, agu, np.where(src(s, a, "a", agu) != 0, src(s, b, "b", agu),
                                  src(s, c, "c", agu)))


@semantics("vfill")
def vfill(s, d, a):
    """D = the float32 whose bits are register a"""
    agu = s.agu()
    if agu.elements:
        store(s, d, agu, np.float32(_bits_to_f32(s.x[a])))


# ---- reductions and row operations ------------------------------------------------------------


def reduced_dims(s, agu) -> int:
    """``nred``, the innermost AGU dimensions a reduction or row operation spans; trap unless
    it is 1 to 6."""
    k = agu.nred
    if not 1 <= k <= AGU_RANK:
        raise Trap(f"invalid nred = {k} (1..{AGU_RANK})")
    return k


#: Reduction mnemonic -> what :func:`kernels.reduce_window` computes.
REDUCTIONS = {"vrsum": "sum", "vrmax": "max", "vrmin": "min", "vrmean": "mean"}


def _reduction(mnemonic: str, kind: str):
    def handler(s, d, a):
        agu = s.agu()
        k = reduced_dims(s, agu)
        if agu.elements:
            result = kernels.reduce_window(kind, src(s, a, "a", agu), k)
            store(s, d, agu, result, ALL[: AGU_RANK - k])

    return _document(handler, mnemonic)


for _mn, _f in REDUCTIONS.items():
    _reduction(_mn, _f)


@semantics("vsoftmax")
def vsoftmax(s, d, a):
    """D = exp(A - max) / sum(exp(A - max)) over the innermost nred dims"""
    agu = s.agu()
    axes = ALL[AGU_RANK - reduced_dims(s, agu):]
    if agu.elements:
        store(s, d, agu, softmax(src(s, a, "a", agu), axes))


def softmax(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``vsoftmax``'s float64 result over ``axes`` (one array, worked in place)."""
    e = a.astype(np.float64)
    np.subtract(e, e.max(axes, keepdims=True), out=e)
    np.exp(e, out=e)
    return np.divide(e, e.sum(axes, keepdims=True), out=e)


@semantics("vnorm")
def vnorm(s, d, a):
    """D = (A - mean) / sqrt(var + eps) over the innermost nred dims (biased variance)"""
    agu = s.agu()
    axes = ALL[AGU_RANK - reduced_dims(s, agu):]
    if agu.elements:
        c = src(s, a, "a", agu).astype(np.float64)  # centered in place
        np.subtract(c, c.mean(axes, keepdims=True), out=c)
        var = np.mean(c * c, axes, keepdims=True)
        eps = np.float64(np.float32(_bits_to_f32(s.csr[_EPS])))
        store(s, d, agu, np.divide(c, np.sqrt(var + eps), out=c))


def shift_add_coefficients(s, blocks: int) -> np.ndarray:
    """``c_b = 2**(cellb * (b // p)) * (-1 if wsch and b odd else 1)``, ``p = 1 + wsch``, for
    ``b < blocks`` (float64, exact, read-only; memoized per machine): the weights of ``vsadd``
    and of ``mvm`` with ``sablk``."""
    wsch, cellb = s.csr[_WSCH], s.csr[_CELLB]
    key = ("shift-add", wsch, cellb, blocks)
    coef = s.memo.get(key)
    if coef is not None:
        return coef
    if wsch > 1 or cellb > 32:
        raise Trap(f"invalid shift-and-add setting wsch = {wsch}, cellb = {cellb} "
                   "(wsch 0 or 1, cellb <= 32)")
    b = np.arange(blocks)
    coef = np.ldexp(1.0, cellb * (b // (1 + wsch)))
    if wsch:
        coef[1::2] *= -1.0
    coef.flags.writeable = False
    s.memo[key] = coef
    return coef


@semantics("vsadd")
def vsadd(s, d, a):
    """D[i0..i4] = sum_b c_b * A[i0..i4, b] over dim 5, c_b = 2**(cellb * (b // p)) *
    (-1 if wsch and b odd else 1), p = 1 + wsch; D is indexed by dims 0..4"""
    agu = s.agu()
    coef = shift_add_coefficients(s, agu.n[5] if agu.elements else 0)  # checks the settings
    if agu.elements:
        region, dv = dest(s, d, agu, _OUTER5)
        kernels.weighted_sum(dv, src(s, a, "a", agu), coef)
        s.cost.vector(region, agu.elements)


@semantics("vcumsum")
def vcumsum(s, d, a):
    """D = inclusive cumulative sum of A along dim 5"""
    agu = s.agu()
    if agu.elements:
        store(s, d, agu, np.cumsum(src(s, a, "a", agu), axis=5, dtype=np.float64))


# ---- gather, quantize (the matrix products: runtime/ops/matmul.py) -------------------------

@semantics("vgather")
def vgather(s, d, a, b):
    """D[i] = A[i + gstride * k] with k = B[i] truncated to an integer (k < 0 means k + glen;
    k outside 0..glen-1 traps)"""
    agu = s.agu()
    if not agu.elements:
        return
    glen, gstride = s.csr[_GLEN], s.stride(_GSTRIDE)
    kf = src(s, b, "b", agu)
    if not np.isfinite(kf).all():
        raise Trap("vgather index is not a finite number")
    k = np.trunc(kf).astype(np.int64)
    k = np.where(k < 0, k + glen, k)
    bad = (k < 0) | (k >= glen)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise Trap(f"vgather index {kf[i]} at {i} is outside 0..{glen - 1} (glen = {glen})")
    sa = agu.strides["a"]
    off = gstride * k
    for dim in range(AGU_RANK):
        shape = [1] * AGU_RANK
        shape[dim] = agu.n[dim]
        off = off + (np.arange(agu.n[dim], dtype=np.int64) * sa[dim]).reshape(shape)
    lo, hi = int(off.min()), int(off.max())
    base = s.x[a]
    first = base + 4 * lo
    if base & 3 or first < 0:
        raise Trap(f"vgather source at {base:#x} is misaligned or reaches below address 0")
    region, i0 = s.mem.locate(first)
    words = s.mem.f32[region]
    if i0 + (hi - lo) >= len(words):
        raise Trap(f"vgather reads {first:#x}..{base + 4 * hi + 3:#x}, leaving "
                   f"{s.mem.describe(region)}")
    store(s, d, agu, words[i0 - lo + off])


@semantics("vquant")
def vquant(s, d, a, b):
    """D = clip(rint(A * B), lo, hi) with the ibits/isgn range of mvm (signed: +-(2**(ibits-1)
    - 1), unsigned: 0..2**ibits - 1); with ibits = 0 (unquantized), D = A * B"""
    agu = s.agu()
    ibits, isgn = s.csr[_IBITS], s.csr[_ISGN]
    if ibits > 24 or isgn > 1 or (ibits and ibits - isgn < 1):
        raise Trap(f"invalid input precision ibits = {ibits}, isgn = {isgn} for vquant")
    if not agu.elements:
        return
    y = src(s, a, "a", agu) * src(s, b, "b", agu)
    if ibits:
        lo, hi = (-((1 << (ibits - 1)) - 1), (1 << (ibits - 1)) - 1) if isgn else \
            (0, (1 << ibits) - 1)
        y = np.clip(np.rint(y), lo, hi)
    store(s, d, agu, y)


# ---- address generator setup ------------------------------------------------------------------


#: vsetli's settings: ``(CSR slot, value)``, the value ``None`` where it is the length.
_LENGTH_SETTING = tuple(
    [(CSR_INDEX[f"n{k}"], None if k == AGU_RANK - 1 else 1) for k in range(AGU_RANK)]
    + [(CSR_INDEX[f"s{op}{k}"], 1 if k == AGU_RANK - 1 else 0)
       for k in range(AGU_RANK) for op in "dabc"]
    + [(_NRED, 1)])


def _set_length(s, n: int) -> None:
    for slot, value in _LENGTH_SETTING:
        s.write_csr(slot, n if value is None else value)


@semantics("vsetli")
def vsetli(s, imm):
    """AGU := one contiguous dim of imm elements (n5 = imm, other n = 1, every operand's
    stride of dim 5 = 1, other strides 0, nred = 1)"""
    if imm < 0:
        raise Trap(f"vsetli {imm}: the length must be >= 0")
    _set_length(s, imm)


@semantics("vsetl")
def vsetl(s, rs1):
    """as vsetli with n5 = rs1"""
    _set_length(s, s.x[rs1])
