"""The converters of an MVM (docs/machine.md, "Crossbar arrays", steps 1, 2 and 4): the settings
one ``mvm`` reads from its CSRs (:class:`Precision`), the input quantizer, and the ADC.

The ADC's rule lives here and only here: :func:`adc_codes` is it for every array module (numpy,
CuPy), and :func:`adc_c` writes the same rule as a C expression for the CUDA kernels of
:mod:`runtime.xpcrossbar` (tests/runtime/test_crossbar.py evaluates that expression and compares
it with :func:`adc_codes`).

>>> import numpy as np
>>> p = Precision(ibits=8, isgn=0, iscale=1.0, dacb=1, adcb=4, adcsh=1)
>>> adc_codes(np.array([2.0, 3.0, 5.0, 40.0]), p.adc_down, *p.adc_range)
array([ 1.,  2.,  2., 15.])
>>> adc_c("v", "down", "lo", "hi")
'fmin(fmax(rint((v) * (down)), (lo)), (hi))'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from isa.spec import dac_cycles

F32_EXACT = 2**24  # every integer of magnitude <= 2**24 is a float32


@dataclass(frozen=True)
class Precision:
    """The converter settings of one ``mvm`` (CSRs ``ibits isgn iscale dacb adcb adcsh``)."""

    ibits: int
    isgn: int
    iscale: float
    dacb: int
    adcb: int
    adcsh: int

    @property
    def magnitude_bits(self) -> int:
        """``B = ibits - isgn``: bits of ``|q|``."""
        return self.ibits - self.isgn

    @property
    def cycles(self) -> int:
        """DAC cycles per input vector (:func:`isa.spec.dac_cycles`)."""
        return dac_cycles(self.ibits, self.isgn, self.dacb)

    @property
    def input_range(self) -> tuple[int, int]:
        """``(lo, hi)`` of the quantized input ``q``."""
        if self.isgn:
            m = (1 << (self.ibits - 1)) - 1
            return -m, m
        return 0, (1 << self.ibits) - 1

    @functools.cached_property
    def quantizer(self) -> tuple[np.float32, np.float32, np.float32]:
        """``(iscale, lo, hi)`` of step 1 as float32 scalars."""
        lo, hi = self.input_range
        return np.float32(self.iscale), np.float32(lo), np.float32(hi)

    @property
    def adc_range(self) -> tuple[int, int]:
        """``(clo, chi)`` of the ADC output code."""
        if self.isgn:
            return -(1 << (self.adcb - 1)), (1 << (self.adcb - 1)) - 1
        return 0, (1 << self.adcb) - 1

    @property
    def adc_down(self) -> float:
        """``2**-adcsh``: a current times it is in ADC steps (a power of two: exact)."""
        return 2.0**-self.adcsh

    @property
    def digit_max(self) -> int:
        """The largest digit ``|q_c|`` of one DAC cycle: ``min(2**dacb, 2**B) - 1``."""
        return min((1 << self.magnitude_bits) - 1, (1 << self.dacb) - 1)


# ---- the ADC (step 4) ----------------------------------------------------------------------


def adc_codes(i, down: float, lo: float, hi: float, xp: ModuleType = np, *,
              clip: bool = True):
    """The ADC's rule: the code of a current ``I`` is ``clip(rint(I * down), lo, hi)``, with
    ``down = 2**-adcsh`` and ``lo, hi`` = :attr:`Precision.adc_range` (round half to even;
    ``I * down`` is exact, a power of two). Computed in place in ``i`` (a float array of
    ``xp``) and returned. ``clip=False`` leaves the clip out, for a caller that has proven
    every rounded code in range (the result is then the same)."""
    if down != 1.0:
        xp.multiply(i, down, out=i)
    xp.rint(i, out=i)
    if clip:
        xp.clip(i, lo, hi, out=i)
    return i


def adc_c(v: str, down: str, lo: str, hi: str) -> str:
    """:func:`adc_codes` as a C expression over the C expressions ``v`` (the current), ``down``,
    ``lo`` and ``hi`` (doubles), for CUDA kernels: ``fmin``/``fmax`` are the clip (no NaN
    reaches them: currents are finite)."""
    return f"fmin(fmax(rint(({v}) * ({down})), ({lo})), ({hi}))"


def adc_values(i: np.ndarray, p: Precision, xp: ModuleType = np):
    """Step 4 whole: ``O = code(I) * 2**adcsh`` (:func:`adc_codes`), a new array; ``i`` itself
    when the ADC is ideal (``adcb = 0``)."""
    if p.adcb == 0:
        return i
    o = adc_codes(xp.array(i), p.adc_down, *p.adc_range, xp)
    if p.adcsh:
        o *= 2.0**p.adcsh
    return o


def lossless_adc(p: Precision, colsum: float) -> bool:
    """The ADC never rounds or clips: it is ideal, or ``adcsh = 0`` and the largest current of
    one cycle (:attr:`Precision.digit_max` times the largest column sum) fits its range."""
    return p.adcb == 0 or (p.adcsh == 0 and p.digit_max * colsum <= p.adc_range[1])


# ---- the input quantizer (step 1) ----------------------------------------------------------


def quantize(x: np.ndarray, p: Precision, q: np.ndarray) -> np.ndarray:
    """``q = clip(rint(X / iscale), lo, hi)`` in float32 (round half to even), into ``q``."""
    iscale, lo, hi = p.quantizer
    if iscale != 1.0:
        np.divide(x, iscale, out=q)
        np.rint(q, out=q)
    else:
        np.rint(x, out=q)
    if q.size <= _SMALL_CLIP:  # the same bits: on a tie (a signed zero) both keep q
        np.maximum(lo, q, out=q)
        np.minimum(hi, q, out=q)
    else:
        np.clip(q, lo, hi, out=q)
    return q


#: Up to this many inputs, step 1 clips with maximum and minimum: numpy's clip costs a
#: microsecond more per call, though its loop is several times faster on large arrays.
_SMALL_CLIP = 2048


def magnitude_dtype(p: Precision):
    """The unsigned integer type that holds ``|q|`` (``B`` bits)."""
    b = p.magnitude_bits
    return np.uint8 if b <= 8 else np.uint16 if b <= 16 else np.uint32


def accumulator_dtype(p: Precision, top: float):
    """float32 when the shift-and-add of codes up to ``top`` over the cycles stays below
    ``2**24`` (exact), else float64."""
    weight_sum = sum(1 << (c * p.dacb) for c in range(p.cycles))
    return np.float32 if top * weight_sum <= F32_EXACT else np.float64
