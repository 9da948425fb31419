"""Element types at the machine's edge: how inputs become memory words and words become outputs
(docs/assembly.md, ``.input``/``.output``).

The rule: every declared type but the raw-bits ones is a float32 value in memory, converted by
the host (what the vector unit and compiled programs store): float16, bfloat16 and float64
outputs are rounded to nearest even from the float32 words, the float 8 and 4-bit types (numpy
holds them through ml_dtypes) are exact both ways; ``i32bits`` and ``u32bits`` are the
words themselves, as the scalar unit's ``lw``/``sw`` see them. A conversion that would give a
wrong number (NaN, an infinity, a fraction or a value out of the type's range to an integer
type) is an error, never silent.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from isa.diagnostics import InputError, MachineTrap
from isa.objfile import EXACT_INTEGER, NARROW_DTYPES, RAW_DTYPES


def output_as(values: np.ndarray, dtype: str, name: str = "") -> np.ndarray:
    """An output as its declared element type, from its memory words ``values`` (float32):
    raw-bits types as the words, float32 as it is, ``bool`` "not zero", integer types the whole
    numbers the words hold (a trap otherwise: :func:`check_integers`)."""
    if dtype in RAW_DTYPES:
        return values.view(np.uint32).astype(RAW_DTYPES[dtype])
    if dtype == "float32":
        return values.copy()
    if dtype == "bool":
        return np.asarray(values != 0)  # an array at rank 0 too (numpy gives a scalar)
    if dtype.startswith(("int", "uint")):
        check_integers(values, dtype, name)
        return np.asarray(values.astype(dtype))
    return values.astype(dtype)


def input_values(arr: np.ndarray, dtype: str, name: str) -> np.ndarray:
    """An input array as numbers: a numpy number type, or the declared type ``dtype`` when that
    is one ml_dtypes holds (bfloat16, float 8, 4-bit integers), which float32 holds exactly. A
    finite float beyond float32's range (a float64 input) is an error: it would become an
    infinity."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and arr.size:
        with np.errstate(invalid="ignore"):
            big = np.isfinite(arr) & (np.abs(arr) > np.finfo(np.float32).max)
        if big.any():
            raise InputError(f"input '{name}' ({arr.dtype}) holds {arr[big].flat[0]:g}, beyond "
                             "float32's range (3.4e38): the machine computes float32")
    if arr.dtype.kind in "biuf":
        return arr
    if arr.dtype.name == dtype and dtype in NARROW_DTYPES:
        return arr.astype(np.float32)
    raise InputError(f"input '{name}' has dtype {arr.dtype}; expected numbers")


def raw_input_words(arr: np.ndarray, dtype: str, name: str) -> np.ndarray:
    """The words of a raw-bits input (whole numbers in the range of int32 or uint32), viewed
    as float32 so that the load copies them bit for bit."""
    info = np.iinfo(RAW_DTYPES[dtype])
    if arr.size and (arr.dtype.kind == "f" and not np.array_equal(arr, np.rint(arr))
                     or arr.min() < info.min or arr.max() > info.max):
        raise InputError(f"input '{name}' ({dtype}) must hold whole numbers in "
                         f"{info.min} .. {info.max}")
    return np.asarray(arr).astype(np.int64).astype(np.uint32).view(np.float32)


def check_integers(values: np.ndarray, dtype: str, name: str) -> None:
    """Trap unless every float32 value is a whole number within 2**24 of zero and in the range
    of ``dtype``."""
    info = ml_dtypes.iinfo(dtype) if dtype in NARROW_DTYPES else np.iinfo(dtype)
    lo, hi = max(int(info.min), -EXACT_INTEGER), min(int(info.max), EXACT_INTEGER)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < lo) | (values > hi) | (values != np.rint(values))
    if not bad.any():
        return
    v = values[bad].flat[0]
    where = f"output '{name}' ({dtype}) holds {v:g}"
    if not np.isfinite(v):
        raise MachineTrap(f"{where}, which is no integer",
                          hint="NaN and infinities come from operations left undefined on "
                               "integers (a division by zero), or are the words of negative "
                               "integers stored with sw: an i32bits or u32bits output reads "
                               "the raw words")
    if abs(v) > EXACT_INTEGER:
        raise MachineTrap(f"{where}, beyond the whole numbers the machine's float32 words hold "
                          "exactly (-2**24 .. 2**24)",
                          hint="integer tensors compute exactly only while every value stays "
                               "within 2**24 of zero")
    if v < lo or v > hi:
        raise MachineTrap(f"{where}, outside its range {info.min} .. {info.max}")
    hint = ("the words look like integers stored with sw: declare the output i32bits or "
            "u32bits to read the raw words" if 0 < abs(v) < 2.0**-126 else
            "an integer output reads float32 values and takes whole numbers only")
    raise MachineTrap(f"{where}, not a whole number", hint=hint)
