"""The DAC cycle loop of an MVM on integer products (:mod:`runtime.intgemm`): all cycles' digits
of a block of vectors stacked into one ``(cycles * m) x h`` uint8 matrix, one exact integer
product with the int8 cells, the ADC on all its currents, and the shift-and-add as one product
of the codes with the cycle weights.

It computes what :func:`runtime.bitserial.cycles_plain` computes for exact integer cells without
read noise and a real ADC, bit for bit: every current is an exact integer in both (int32 here,
float32 or float64 below ``2**24`` or ``2**53`` there), the ADC's rule
(:func:`runtime.converters.adc_codes`) is applied to the same values in the same float dtype, and
the shift-and-add sums exact integers (in any order, as the stacked float loop does). Signed
digits ride on the product's zero point: a digit ``s * d`` (``d`` in ``[0, 2**dacb)``) is stored
as ``mask + s * d`` with ``mask = 2**dacb - 1`` and the product subtracts ``mask``; for a negative
input that is ``~|q|``'s digit (``mask - d``; ``~|q|`` is ``q - 1`` in two's complement, in 16
bits where the top cycle's digit reaches past bit 7), for the others ``d + mask``, so one
encoding of the inputs per MVM serves every cycle. Cycles above the highest set bit of every
magnitude are left out (their digits are 0, so are their currents and codes).

:func:`usable` says where this loop applies; :func:`int_cells` gives the cells as int8.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from runtime import intgemm
from runtime.converters import F32_EXACT, Precision, accumulator_dtype, adc_codes

Buffer = Callable[[str, tuple, type], np.ndarray]

#: Digits x columns (the int32 currents) of one block of vectors: the block's currents and
#: codes stay in the core's L2 cache between the product, the ADC and the shift-and-add ...
BLOCK_CURRENTS = 1 << 18
#: ... and the fewest vectors in a block (a product call costs about 10 us).
BLOCK_MIN = 16


def usable(p: Precision, cycle_bound: float) -> bool:
    """Whether :func:`cycles_int` runs ``p``'s loop with currents bounded by ``cycle_bound``:
    integer products are available, the magnitudes fit uint8, a stored digit (digit plus zero
    point) fits :data:`~runtime.intgemm.A_MAX`, and the product's sums (up to twice the bound
    with the zero point) fit int32."""
    mask = (1 << p.dacb) - 1
    return (p.magnitude_bits <= 8 and mask * (1 + p.isgn) <= intgemm.A_MAX
            and 2 * cycle_bound <= intgemm.SUM_MAX and intgemm.available())


def int_cells(gr: np.ndarray, cache: tuple[dict, tuple] | None) -> tuple[np.ndarray | None, bool]:
    """The cells ``gr`` (exact integers) as int8 (None where one is outside int8) and whether
    any is negative; with ``cache`` (``(store, key)``: a dict the caller empties of a region's
    keys, which start with the array, when its cells change), kept there under ``(*key,
    "int8")``."""
    if cache is None:
        return intgemm.int8(gr), bool(gr.min(initial=0) < 0)
    store, key = cache
    key = (*key, "int8")
    hit = store.get(key)
    if hit is None:
        hit = store[key] = (intgemm.int8(gr), bool(gr.min(initial=0) < 0))
    return hit


def cycles_int(buffer: Buffer, q: np.ndarray, g8: np.ndarray, p: Precision,
               cycle_bound: float, negative: bool) -> np.ndarray:
    """The cycle loop of ``q`` (``vl x h`` quantized inputs) on the int8 cells ``g8`` (``h x
    w``): ``y = sum_c 2**(c*dacb + adcsh) * code(I_c)`` (a scratch view, the accumulator's
    dtype; the power of two ``2**adcsh`` rides on the cycle weights: the same exact integers
    times it), in blocks of vectors. ``cycle_bound`` bounds ``|I_c|``; ``negative``: some cell
    is negative."""
    vl, h = q.shape
    w = g8.shape[1]
    clo, chi = p.adc_range
    y = buffer("y", (vl, w), _accumulator(p))
    src, plus, top = _digit_source(buffer, q, p)
    cycles = min(p.cycles, -(-top.bit_length() // p.dacb))
    if cycles == 0:  # every digit is 0: so is every code
        y[...] = 0
        return y
    mask = np.uint8((1 << p.dacb) - 1)
    bound = cycle_bound * p.adc_down  # |I_c| in ADC steps
    signed = bool(p.isgn) or negative  # currents, codes may be negative
    clip = not (bound <= chi and (bound <= -clo or not signed))
    dtype = np.float32 if cycle_bound <= F32_EXACT else np.float64
    weights, shifts = _weights(cycles, p.dacb, p.adcsh, y.dtype), _shifts(cycles, p.dacb)
    step = max(BLOCK_MIN, BLOCK_CURRENTS // (cycles * w))
    for m in range(0, vl, step):
        n = min(step, vl - m)
        a = buffer("digits", (cycles, n, h), np.uint8)
        np.right_shift(src[None, m : m + n], shifts, out=a, casting="unsafe")  # low 8 bits
        np.bitwise_and(a, mask, out=a)
        if plus is not None:
            np.add(a, plus[None, m : m + n], out=a)
        codes = _currents(buffer, a.reshape(cycles * n, h), g8, 0 if plus is None else int(mask),
                          p.adc_down, dtype)  # in ADC steps: I_c * 2**-adcsh
        if p.adcsh or clip:  # else every code is its current, an integer in range
            adc_codes(codes, 1.0, clo, chi, clip=clip)
        np.matmul(weights, codes.reshape(cycles, -1).astype(y.dtype, copy=False),
                  out=y[m : m + n].reshape(-1))
    if signed:  # -0.0 codes give -0.0 where every code is 0; the plain loop gives 0.0
        y += 0.0
    return y


def _digit_source(buffer: Buffer, q: np.ndarray,
                  p: Precision) -> tuple[np.ndarray, np.ndarray | None, int]:
    """What the digits are taken from (scratch arrays), and the largest ``|q|``: unsigned
    inputs, ``q`` as uint8, no zero point; signed ones, ``~|q|`` for negative inputs (``q - 1``
    in two's complement) and ``q`` for the others, as the unsigned type of 8 bits (16 where
    ``|q|`` has 8 bits or the cycles' digits reach past bit 7), and ``plus``: the zero point ``2**dacb - 1`` for
    nonnegative inputs, 0 for negative ones (uint8)."""
    if not p.isgn:
        src = buffer("mag8", q.shape, np.uint8)
        src[...] = q
        return src, None, int(src.max(initial=0))
    itype = np.int16 if p.magnitude_bits > 7 or p.cycles * p.dacb > 8 else np.int8
    qi = buffer("qi", q.shape, itype)
    qi[...] = q
    top = max(int(qi.max(initial=0)), -int(qi.min(initial=0)))
    sign = np.right_shift(qi, 8 * qi.itemsize - 1, out=buffer("qsign", q.shape, itype))
    np.add(qi, sign, out=qi)  # -1 for negative inputs, 0 for the others
    plus = buffer("plus", q.shape, np.uint8)
    np.bitwise_and(np.invert(sign, out=sign), (1 << p.dacb) - 1, out=plus, casting="unsafe")
    return qi.view(np.uint16 if itype == np.int16 else np.uint8), plus, top


@functools.cache
def _accumulator(p: Precision):
    """The shift-and-add's dtype for codes of ``p``'s ADC range."""
    clo, chi = p.adc_range
    return accumulator_dtype(p, float(max(-clo, chi)))


@functools.cache
def _weights(cycles: int, dacb: int, adcsh: int, dtype) -> np.ndarray:
    """The shift-and-add's weights ``2**(c*dacb + adcsh)`` (powers of two: exact)."""
    w = np.ldexp(1.0, np.arange(cycles) * dacb + adcsh).astype(dtype)
    w.flags.writeable = False
    return w


@functools.cache
def _shifts(cycles: int, dacb: int) -> np.ndarray:
    """Each cycle's shift of the magnitudes, ``cycles x 1 x 1``."""
    s = (np.arange(cycles, dtype=np.uint8) * np.uint8(dacb))[:, None, None]
    s.flags.writeable = False
    return s


def _currents(buffer: Buffer, a: np.ndarray, g8: np.ndarray, za: int, down: float,
              dtype) -> np.ndarray:
    """``((a - za) @ g8) * down`` in ``dtype``: float32 where every current is at most
    ``2**24`` (converted and scaled in the product's output pass), else float64 from the int32
    sums; exact either way (``down`` is a power of two)."""
    if dtype == np.float32:
        return intgemm.matmul_scaled(a, g8, za, down)
    i = intgemm.matmul(a, g8, za)
    codes = buffer("codes", i.shape, dtype)
    np.multiply(i, down, out=codes)
    return codes
