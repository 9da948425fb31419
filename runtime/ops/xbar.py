"""Crossbar semantics: ``wprog`` (programming) and ``mvm`` / ``mvm.acc`` (streaming MVMs).

The numerics live in the injected crossbar backend (:mod:`runtime.crossbar`); these handlers read
and check the CSRs, build the memory views, and count the events.

Besides the checks of docs/machine.md, ``mvm`` enforces the chip's converters: an ideal DAC
(``ibits = 0``) only on a chip with ``input_bits = 0``, ``dacb <= dac_bits``, and on a chip with a
real ADC (``adc_bits > 0``) ``1 <= adcb <= adc_bits``, so a program cannot compute more precisely
than the chip it runs on.
"""

from __future__ import annotations

import math
import operator
import struct
from functools import partial

import numpy as np

from isa.spec import WEIGHT_FORMATS, WEIGHT_FORMATS_TEXT, WEIGHT_PAGE
from runtime.crossbar import Precision
from runtime.ops import kernels
from runtime.ops.registry import semantics
from runtime.ops.vector import shift_add_coefficients
from runtime.state import AGU_ELEMENT_LIMIT, CSR_INDEX, Trap

_ARR, _ROW, _COL = CSR_INDEX["xbarr"], CSR_INDEX["xbrow"], CSR_INDEX["xbcol"]
_H, _W, _FMT = CSR_INDEX["xbh"], CSR_INDEX["xbw"], CSR_INDEX["wfmt"]
_PAGE = CSR_INDEX["wpage"]
_VL, _XS, _YS = CSR_INDEX["vl"], CSR_INDEX["xs"], CSR_INDEX["ys"]
_IBITS, _ISGN, _ISCALE = CSR_INDEX["ibits"], CSR_INDEX["isgn"], CSR_INDEX["iscale"]
_DACB, _ADCB, _ADCSH = CSR_INDEX["dacb"], CSR_INDEX["adcb"], CSR_INDEX["adcsh"]
_SABLK, _CELLB, _WSCH = CSR_INDEX["sablk"], CSR_INDEX["cellb"], CSR_INDEX["wsch"]
_WEIGHT_DTYPES = {k: np.dtype(v).newbyteorder("<") for k, v in WEIGHT_FORMATS.items()}
MAX_INPUT_BITS = 24  # quantized inputs stay exact float32 integers


def region(s) -> tuple[int, int, int, int, int]:
    """``(array, row, col, h, w)`` from the region CSRs; trap if it is not inside the chip."""
    c, chip = s.csr, s.chip
    a, row, col, h, w = c[_ARR], c[_ROW], c[_COL], c[_H], c[_W]
    if a >= chip.total_arrays:
        raise Trap(f"array xbarr = {a} does not exist (the chip has {chip.total_arrays})")
    if h == 0 or w == 0:
        raise Trap(f"empty array region (xbh = {h}, xbw = {w})")
    if row + h > chip.rows or col + w > chip.cols:
        raise Trap(f"array region rows {row}..{row + h - 1}, columns {col}..{col + w - 1} "
                   f"leaves the {chip.rows}x{chip.cols} array")
    return a, row, col, h, w


def precision(s) -> Precision:
    """The mvm converter settings, checked against their ranges and the chip's converters
    (memoized per machine: the same CSR values give the same :class:`Precision`)."""
    c = s.csr
    key = ("precision", c[_IBITS], c[_ISGN], c[_ISCALE], c[_DACB], c[_ADCB], c[_ADCSH])
    p = s.memo.get(key)
    if p is None:
        p = s.memo[key] = _check_precision(s.chip, *key[1:])
    return p


def _check_precision(chip, ibits, isgn, iscale_bits, dacb, adcb, adcsh) -> Precision:
    iscale = struct.unpack("<f", struct.pack("<I", iscale_bits))[0]
    if ibits > MAX_INPUT_BITS or isgn > 1 or (ibits and ibits - isgn < 1):
        raise Trap(f"invalid input precision ibits = {ibits}, isgn = {isgn} "
                   f"(need isgn 0 or 1 and isgn < ibits <= {MAX_INPUT_BITS}, or ibits = 0)")
    if ibits and not (math.isfinite(iscale) and iscale > 0):
        raise Trap(f"invalid iscale = {iscale} (must be finite and > 0)")
    if ibits == 0 and chip.input_bits:
        raise Trap(f"ibits = 0 asks for an ideal DAC; chip '{chip.name}' quantizes inputs "
                   f"(input_bits = {chip.input_bits})")
    if ibits and not 1 <= dacb <= chip.dac_bits:
        raise Trap(f"dacb = {dacb}: chip '{chip.name}' applies 1..{chip.dac_bits} bits per "
                   "DAC cycle")
    if chip.adc_bits and not 1 <= adcb <= chip.adc_bits:
        raise Trap(f"adcb = {adcb}: chip '{chip.name}' has {chip.adc_bits}-bit ADCs "
                   f"(use 1..{chip.adc_bits})")
    if adcb > 32 or adcsh > 62:
        raise Trap(f"invalid ADC setting adcb = {adcb}, adcsh = {adcsh} (adcb <= 32, "
                   "adcsh <= 62)")
    return Precision(ibits, isgn, iscale, dacb, adcb, adcsh)


def _scratch(s, shape: tuple[int, int], name: str = "mvm") -> np.ndarray:
    """A float32 temporary of ``shape`` from one buffer per ``name`` kept by the machine state
    (fresh multi-megabyte arrays would pay a page fault per 4 KiB on every instruction)."""
    n = shape[0] * shape[1]
    buf = s.scratch.get(name)
    if buf is None or buf.size < n:
        buf = s.scratch[name] = np.empty(max(n, 1 << 16), np.float32)
    return buf[:n].reshape(shape)


@semantics("wprog")
def wprog(s, rs1):
    """program region (xbarr, xbrow, xbcol, xbh x xbw) with xbh*xbw row-major elements of
    format wfmt (isa.spec.WEIGHT_FORMATS) from weight memory at byte wpage * 2**32 + rs1; integer
    levels must be <= 2**cell_bits - 1, float32 values (float-cell chips only) finite and >= 0"""
    a, row, col, h, w = region(s)
    fmt = s.csr[_FMT]
    dtype = _WEIGHT_DTYPES.get(fmt)
    if dtype is None:
        raise Trap(f"invalid wfmt = {fmt} ({WEIGHT_FORMATS_TEXT})")
    off, n = s.csr[_PAGE] * WEIGHT_PAGE + s.x[rs1], h * w
    if off % dtype.itemsize:
        raise Trap(f"weight offset {off:#x} is not aligned to {dtype.itemsize} bytes")
    if off + n * dtype.itemsize > len(s.weights):
        raise Trap(f"{n} weights of {dtype.itemsize} bytes at offset {off:#x} run past the end "
                   f"of weight memory ({len(s.weights)} bytes)")
    vals = np.frombuffer(s.weights, dtype, n, off).reshape(h, w)
    if dtype.kind == "f":
        if not s.chip.float_cells:
            raise Trap(f"float32 weights need a float-cell chip (weight_bits = 0); chip "
                       f"'{s.chip.name}' stores {s.chip.cell_bits}-bit levels")
        bad = ~np.isfinite(vals) if s.chip.signed_cells else ~np.isfinite(vals) | (vals < 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            what = "finite" if s.chip.signed_cells else "a finite value >= 0"
            raise Trap(f"weight {vals[i, j]} at region ({i}, {j}) is not {what}")
    else:
        top = s.chip.max_level
        if int(vals.max()) > top:
            i, j = np.argwhere(vals > top)[0]
            raise Trap(f"level {vals[i, j]} at region ({i}, {j}) exceeds 2**cell_bits - 1 = "
                       f"{top}")
    s.xbar.program(a, row, col, vals.astype(np.float32))
    s.cost.program(a, h, w)


#: The CSRs an mvm reads; with its two address registers they determine everything it checks
#: and the views it builds (its plan).
_MVM_CSRS = operator.itemgetter(_ARR, _ROW, _COL, _H, _W, _VL, _XS, _YS, _IBITS, _ISGN, _ISCALE,
                                _DACB, _ADCB, _ADCSH, _SABLK, _CELLB, _WSCH)
#: Largest input (in words) whose quantized values are kept for the next MVM on it: above it the
#: three passes of quantizing cost less than keeping the result outside the caches.
_KEEP_QUANTIZED = 1 << 16


def _plan(s, key: tuple, d: int, x: int) -> tuple:
    """Check an mvm's operands and settings and prepare it: ``(array, row, col, h, w, p, coef,
    input view, output view, output region, first word, end word, kernel, array version,
    input apart from output, cost event, key of its quantized input or None, prepared calls
    (:func:`_prepared`) of mvm and mvm.acc or None)``, or ``()`` for
    ``vl = 0``. Memoized by the caller under ``key``: the same CSRs and addresses give the same
    plan (the views stay valid, memory buffers live as long as the machine; the kernel while
    the array's version is the same)."""
    a, row, col, h, w = region(s)
    p = precision(s)
    c = s.csr
    blocks = c[_SABLK]
    if blocks == 0 or w % blocks:
        raise Trap(f"sablk = {blocks} does not divide the region's xbw = {w} columns into "
                   "equal blocks")
    coef = None
    if blocks > 1:
        coef = shift_add_coefficients(s, blocks)
        coef.flags.writeable = False
    vl = c[_VL]
    if vl == 0:
        plan = ()
    else:
        if vl * max(h, w) > AGU_ELEMENT_LIMIT:
            raise Trap(f"mvm of vl = {vl} vectors of {max(h, w)} elements exceeds the "
                       f"interpreter's limit of {AGU_ELEMENT_LIMIT} elements; split it")
        ys = s.stride(_YS)
        if ys == 0 and vl > 1:
            raise Trap(f"output row stride ys = 0 with vl = {vl} writes one row {vl} times")
        rx, xv, xlo, xhi = s.mem.extent(s.x[x], (vl, h), (s.stride(_XS), 1))
        ry, yv, lo, hi = s.mem.extent(s.x[d], (vl, w // blocks), (ys, 1))
        own = 1 + a // s.chip.arrays_per_tile
        for r, what in ((rx, "input"), (ry, "output")):
            if r not in (0, own):
                raise Trap(f"{what} in {s.mem.describe(r)}, but array {a} belongs to tile "
                           f"{own - 1}: use global memory or tile {own - 1}'s buffer")
        xbar = s.xbar
        kernel = xbar.kernel(a, row, col, h, w, p, coef)
        apart = not np.may_share_memory(xv, yv)
        # Quantized inputs are kept (Memory.remember) while no write reaches their words, for
        # the other MVMs on the same operand (a layer's column tiles); not when this MVM's own
        # output may overwrite them.
        qkey = (rx, xlo, xhi, xv.shape, xv.strides, p.quantizer) \
            if apart and xhi - xlo <= _KEEP_QUANTIZED and hasattr(kernel, "quantize") else None
        plan = (a, row, col, h, w, p, coef, xv, yv, ry, lo, hi, kernel, xbar.versions.get(a, 0),
                apart, s.cost.mvm_event(vl, h, w, p), qkey, [None, None])
    if len(s.memo) >= s.memo_limits.plans:
        s.memo.clear()
    s.memo[key] = plan
    return plan


def _mvm(s, d: int, x: int, accumulate: bool) -> None:
    key = ("mvm", s.x[d], s.x[x], *_MVM_CSRS(s.csr))
    plan = s.memo.get(key)
    if plan is None:
        plan = _plan(s, key, d, x)
    if not plan:
        return
    a, _, _, _, w, _, coef, _, yv, ry, lo, hi, _, version, _, event, _, calls = plan
    s.mem.touch(ry, lo, hi)
    call = calls[accumulate]
    if call is not None and s.xbar.versions.get(a, 0) == version \
            and (not accumulate or call[1] is s.scratch.get("mvm")):
        call[0]()
    else:
        _compute(s, key, plan, accumulate)
    if coef is not None:
        s.cost.shift_add(len(yv) * w)
    s.cost.mvm_apply(a, event)


def bind_mvm(accumulate: bool, s, d: int, x: int):
    """``mvm`` (``mvm.acc`` with ``accumulate``) bound for the dispatcher: the plan of its
    last execution kept while its CSRs and address registers are the same; where that plan
    has a prepared call (:func:`_prepared`) still valid, the call, the written words and the
    cost as :func:`_mvm` counts them, else :func:`_mvm` itself."""
    xs, csr, scratch, touch, cost = s.x, s.csr, s.scratch, s.mem.touch, s.cost
    kd = kx = kcsrs = plan = call = None  # the last execution's registers, CSRs, plan, call

    def run() -> None:
        nonlocal kd, kx, kcsrs, plan, call
        csrs = _MVM_CSRS(csr)
        if csrs == kcsrs and xs[d] == kd and xs[x] == kx and call is not None \
                and s.xbar.versions.get(plan[0], 0) == plan[13] \
                and (not accumulate or call[1] is scratch.get("mvm")):
            touch(plan[9], plan[10], plan[11])
            call[0]()
            if plan[6] is not None:
                cost.shift_add(len(plan[8]) * plan[4])
            cost.mvm_apply(plan[0], plan[15])
            return
        _mvm(s, d, x, accumulate)
        plan = s.memo.get(("mvm", xs[d], xs[x], *csrs))
        if plan:
            kd, kx, kcsrs, call = xs[d], xs[x], csrs, plan[17][accumulate]
        else:
            kcsrs = call = None

    return run


def _compute(s, key: tuple, plan: tuple, accumulate: bool) -> None:
    """An mvm of ``plan`` (:func:`_plan`) through its kernel or the crossbar's entry points;
    where it is one kernel call on the plan's views, that call (with the accumulation) is
    kept in the plan for the next execution (:func:`_mvm`)."""
    a, row, col, h, w, p, coef, xv, yv, _, _, _, kernel, version, apart, _, qkey, calls = plan
    mem = s.mem
    vl, wo = yv.shape
    dst = _scratch(s, (vl, wo)) if accumulate else yv
    xbar = s.xbar
    if kernel is not None and xbar.versions.get(a, 0) != version:
        del s.memo[key]  # the array was programmed since: prepare again next time
        kernel = None
    if kernel is not None and qkey is not None:
        q = mem.derived.get(qkey)
        if q is None:
            q = mem.remember(qkey, qkey[0], qkey[1], qkey[2], kernel.quantize(xv))
        y = kernel.product(q, dst)
    elif kernel is not None and (accumulate or apart):
        calls[accumulate] = _prepared(s, kernel, xv, yv, dst, accumulate)
        calls[accumulate][0]()
        return
    elif coef is None:
        y = xbar.mvm(a, row, col, h, w, xv, p, out=dst)
    else:
        y = xbar.mvm_combined(a, row, col, h, w, xv, p, coef, out=dst)
        if y is None:  # the columns, then the shift-and-add (as vsadd)
            cols = xbar.mvm(a, row, col, h, w, xv, p, out=_scratch(s, (vl, w), "sablk"))
            kernels.weighted_sum(dst, cols.reshape(vl, len(coef), wo).transpose(0, 2, 1), coef)
            y = dst
    if accumulate:
        np.add(yv, y, out=yv)
    elif y is not yv:
        yv[...] = y


def _prepared(s, kernel, xv: np.ndarray, yv: np.ndarray, dst: np.ndarray,
              accumulate: bool) -> tuple:
    """``(call, scratch buffer or None)``: the kernel's product of ``xv`` into ``dst`` (the
    output view ``yv``, or with ``accumulate`` a view of the machine's ``mvm`` scratch buffer,
    then added to ``yv``) as a call without arguments, valid while the kernel is and, with
    ``accumulate``, while that buffer is the machine's (it only grows)."""
    bind = getattr(kernel, "bind", None)
    product = bind(xv, dst) if bind is not None else partial(kernel, xv, dst)
    if not accumulate:
        return product, None
    add = partial(np.add, yv, dst, out=yv)

    def call() -> None:
        product()
        add()

    return call, s.scratch["mvm"]


@semantics("mvm")
def mvm(s, d, x):
    """for m < vl: Y[m, :xbw] = xbar(X[m, :xbh]), X[m, k] at x + 4*(m*xs + k), Y[m, j] at
    d + 4*(m*ys + j), through input quantization, DAC cycles, the array, the ADC and
    shift-and-add (docs/machine.md); with sablk > 1, Y[m, j] = sum_b c_b * xbar(X[m])[b * wb +
    j] for j < wb = xbw / sablk, c_b as vsadd's"""
    _mvm(s, d, x, False)


@semantics("mvm.acc")
def mvm_acc(s, d, x):
    """as mvm, but Y[m, :] += xbar(X[m, :])"""
    _mvm(s, d, x, True)
