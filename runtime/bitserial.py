"""The DAC cycle loop of an MVM (docs/machine.md, "Crossbar arrays", steps 2 to 5) for
:class:`~runtime.crossbar.NumpyCrossbar`: one matrix product per cycle, the ADC on each,
shift-and-add.

:func:`cycles_plain` is the loop as the doc states it, with read noise; :func:`cycles_exact` the
same for exact integer cells, no read noise and a real ADC, rewritten for speed with no bit
changed (tests/runtime/test_crossbar.py compares the two and an int64 oracle bit for bit).
``buffer(name, shape, dtype)`` gives scratch arrays (the crossbar's, reused across MVMs); the
results are scratch views too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from runtime import intcycles
from runtime.blocks import Groups
from runtime.converters import (
    F32_EXACT,
    Precision,
    accumulator_dtype,
    adc_codes,
    magnitude_dtype,
)

Buffer = Callable[[str, tuple, type], np.ndarray]

#: Bytes of one cycle's float32 digits and currents in one chunk of :func:`cycles_exact`
#: (within a core's 2 MiB L2 cache beside the chunk's other temporaries) ...
CHUNK_BYTES = 1 << 20
#: ... and the fewest vectors in a chunk.
CHUNK_MIN = 64
#: Small MVMs (no rows left out) whose digits of all cycles are at most this many elements run
#: as one stacked product.
STACK_ELEMENTS = 1 << 20
#: Leave out zero input rows only for products of at least this many outputs (vectors x
#: columns); below it, gathering the rows costs more than it saves.
SKIP_MIN_WORK = 1 << 14
#: ... and only when at most this share of the rows is live.
SKIP_MAX_LIVE = 0.9
#: Vectors per block of the transposing copy into rows x vectors layout (:func:`_transposed`;
#: numpy's strided copy of a whole transposed matrix is several times slower).
TRANSPOSE_BLOCK = 64


def signs(buffer: Buffer, q: np.ndarray, dtype, one: float = 1.0) -> np.ndarray:
    """``-one`` where ``q < 0``, else ``one``: a digit times it is ``sign(q) * digit * one`` (a
    multiplication is far faster than numpy's masked ``negative(where=)``; ``one``, a power of
    two, scales the digits exactly)."""
    neg = np.less(q, 0, out=buffer("neg", q.shape, np.bool_))
    sgn = buffer("sgn", q.shape, dtype)
    sgn.fill(one)
    np.copyto(sgn, -one, where=neg)
    return sgn


def magnitudes(buffer: Buffer, q: np.ndarray, p: Precision) -> np.ndarray:
    """``|q|`` as :func:`~runtime.converters.magnitude_dtype` (a scratch view)."""
    mag = buffer("mag", q.shape, magnitude_dtype(p))
    if p.isgn:
        mag[...] = np.abs(q, out=buffer("absq", q.shape, q.dtype))
    else:
        mag[...] = q  # q >= 0: the input range of isgn = 0
    return mag


def cycles_exact(buffer: Buffer, q: np.ndarray, gr: np.ndarray, p: Precision,
                 cycle_bound: float, groups: Groups | None = None,
                 cache: tuple[dict, tuple] | None = None) -> np.ndarray:
    """The cycle loop for exact integer cells, no read noise and a real ADC, bit-identical to
    :func:`cycles_plain`: on integer products (:func:`runtime.intcycles.cycles_int`, the full
    product even for grouped cells) where they are available and the cells are int8 (``cache``:
    where to keep the int8 cells, :func:`runtime.intcycles.int_cells`), else in float:
    :func:`cycles_exact_block` over chunks of at most :data:`CHUNK_BYTES` of digits and
    currents per cycle, so that a chunk's temporaries stay in the core's cache through all its
    cycles (each vector's outputs depend on that vector only: the same bits)."""
    if intcycles.usable(p, cycle_bound):
        g8, negative = intcycles.int_cells(gr, cache)
        if g8 is not None:
            return intcycles.cycles_int(buffer, q, g8, p, cycle_bound, negative)
    vl, w = q.shape[0], gr.shape[1]
    step = max(CHUNK_MIN, CHUNK_BYTES // (4 * (q.shape[1] + w)))
    if groups is not None or vl < 2 * step:
        return cycles_exact_block(buffer, q, gr, p, cycle_bound, groups)
    clo, chi = p.adc_range
    y = buffer("ychunks", (vl, w), accumulator_dtype(p, float(max(-clo, chi))))
    cells = _scaled(buffer, "gchunks", gr, p, cycle_bound)  # once for all chunks
    for m in range(0, vl, step):
        y[m : m + step] = cycles_exact_block(buffer, q[m : m + step], gr, p, cycle_bound,
                                             cells=cells)
    return y


def _scaled(buffer: Buffer, name: str, gr: np.ndarray, p: Precision,
            cycle_bound: float) -> tuple[np.ndarray, bool]:
    """The cells in the loop's dtype, times ``2**-adcsh`` for unsigned inputs (signed inputs'
    digits carry it: their :func:`signs` are ``+-2**-adcsh``, and the cells are used as they
    are), and whether any is negative."""
    dtype = np.float32 if cycle_bound <= F32_EXACT else np.float64
    negative = bool(gr.min(initial=0) < 0)
    if p.isgn:
        return (gr if gr.dtype == dtype else gr.astype(dtype)), negative
    return np.multiply(gr, p.adc_down, out=buffer(name, gr.shape, dtype)), negative


def cycles_exact_block(buffer: Buffer, q: np.ndarray, gr: np.ndarray, p: Precision,
                       cycle_bound: float, groups: Groups | None = None,
                       cells: tuple[np.ndarray, bool] | None = None) -> np.ndarray:
    """The cycle loop for exact integer cells, no read noise and a real ADC, bit-identical to
    :func:`cycles_plain` with fewer passes over the data.

    Every product, ADC code and partial sum is then an exact integer (or an integer times a
    power of two) in its dtype, which allows rewrites that change no bit: the ``2**-adcsh`` of
    the ADC is applied to the cells once per MVM instead of to every cycle's currents
    (``I_c / 2**adcsh = q_c @ (G / 2**adcsh)``), or for signed inputs to the signs their
    digits are multiplied with anyway (:func:`_scaled`); the shift-and-add runs from the most
    significant cycle down (Horner's scheme, ``y = 2**dacb * y + O_c``) instead of multiplying
    each cycle by ``2**(c*dacb)``; and the array rows whose digit is 0 in every vector of a
    cycle are left out of that cycle's product (:func:`_live_currents`: the digits are taken
    in rows x vectors layout, where a live row is one contiguous copy). And the ADC's clip is left
    out where the column range proves that no rounded current leaves its range (``|I_c| <=
    cycle_bound``: a bound within ``[clo, chi]``, or nonnegative inputs and cells and a bound
    up to ``chi``; ``chi`` is an integer, so rounding cannot pass it). With ``groups`` (the
    region's cells block-diagonal, :mod:`runtime.blocks`) every cycle multiplies the diagonal
    blocks only, in block-major layout (the same exact integers); an MVM too small to leave
    rows out runs all its cycles as one product (:func:`_stacked`). ``cells``: :func:`_scaled`
    of ``gr``, where the caller has it."""
    vl = q.shape[0]
    if groups is not None:
        q = groups.gather(q, buffer("gq", groups.shape(vl)[0], q.dtype))
        gr = groups.cells
    out_shape = (*q.shape[:-1], gr.shape[-1])
    dtype = np.float32 if cycle_bound <= F32_EXACT else np.float64
    clo, chi = p.adc_range
    acc = accumulator_dtype(p, float(max(-clo, chi)))
    g, negative = cells or _scaled(buffer, "gs", gr, p, cycle_bound)
    if groups is None and vl * gr.shape[1] >= SKIP_MIN_WORK:  # rows left out, rows x vectors
        mag, sgn = _transposed(buffer, q, p, dtype)
        live = np.bitwise_or.reduce(mag, axis=1)
    else:
        mag = magnitudes(buffer, q, p)
        sgn = signs(buffer, q, dtype, p.adc_down) if p.isgn else None
        live = None
    y = buffer("y", out_shape, acc)
    bound = cycle_bound * p.adc_down  # |I_c| in ADC steps
    signed = sgn is not None or negative  # currents, codes may be negative
    clip = not (bound <= chi and (bound <= -clo or not signed))
    if live is None and groups is None and vl * p.cycles * q.shape[-1] <= STACK_ELEMENTS:
        return _stacked(buffer, mag, sgn, g, p, dtype, y, clip, signed)
    itype = mag.dtype.type
    mask = itype(min((1 << p.dacb) - 1, np.iinfo(itype).max))  # |q| has no higher bits
    pending = None  # y is 0 until the first nonzero cycle; then 2**dacb steps not yet applied
    for c in reversed(range(p.cycles)):
        if pending is not None:
            pending += p.dacb
        shift = itype(c * p.dacb)
        i = _currents(buffer, mag, sgn, g, shift, mask, dtype) if live is None \
            else _live_currents(buffer, mag, sgn, live, g, shift, mask, dtype)
        if i is None:
            continue  # every digit is 0: I = 0 and the ADC's code is 0
        adc_codes(i, 1.0, clo, chi, clip=clip)  # 2**-adcsh is in g or in the signs
        if pending is None:
            y[...] = i
            pending = 0
            continue
        if pending:
            y *= float(1 << pending)
        pending = 0
        np.add(y, i, out=y, casting="unsafe")
    if pending is None:
        y[...] = 0
    else:
        if signed:  # a code of -0.0 (a small negative current rounded) stays -0.0 in y;
            y += 0.0  # the plain loop adds the codes to 0, which gives 0.0
        y *= 2.0 ** (pending + p.adcsh)
    if groups is not None:
        return groups.scatter(y, buffer("ys", (vl, groups.w), acc))
    return y


def _stacked(buffer: Buffer, mag: np.ndarray, sgn: np.ndarray | None, g: np.ndarray,
             p: Precision, dtype, y: np.ndarray, clip: bool, signed: bool) -> np.ndarray:
    """The cycle loop of a small MVM (no rows left out) as one product: all cycles' digits
    stacked (``cycles x vl`` rows), one ``matmul``, the ADC on all currents at once, and the
    shift-and-add as one product of the codes with the weights ``2**(c*dacb)`` (integers whose
    sums stay exact in the accumulator's dtype in any order, as in the loop)."""
    cycles, itype = p.cycles, mag.dtype.type
    mask = itype(min((1 << p.dacb) - 1, np.iinfo(itype).max))
    shifts = (np.arange(cycles, dtype=itype) * itype(p.dacb))[:, None, None]
    shape = (cycles, *mag.shape)
    bits = np.right_shift(mag[None], shifts, out=buffer("sbits", shape, itype))
    qc = buffer("sqc", shape, dtype)
    qc[...] = np.bitwise_and(bits, mask, out=bits)
    if sgn is not None:
        qc *= sgn
    i = np.matmul(qc.reshape(-1, mag.shape[1]), g,
                  out=buffer("si", (cycles * mag.shape[0], g.shape[1]), dtype))
    adc_codes(i, 1.0, *p.adc_range, clip=clip)  # 2**-adcsh is in g or in the signs
    weights = np.ldexp(1.0, np.arange(cycles) * p.dacb).astype(y.dtype)
    np.matmul(weights, i.reshape(cycles, -1).astype(y.dtype, copy=False),
              out=y.reshape(-1))
    if signed:  # -0.0 codes give -0.0 where every code is 0; the plain loop gives 0.0
        y += 0.0
    y *= 2.0**p.adcsh
    return y


def _currents(buffer: Buffer, mag: np.ndarray, sgn: np.ndarray | None, g: np.ndarray,
              shift, mask, dtype) -> np.ndarray:
    """One cycle's currents ``q_c @ g`` (a scratch array), every row in the product."""
    bits = np.right_shift(mag, shift, out=buffer("bits", mag.shape, mag.dtype))
    qc = buffer("qc", mag.shape, dtype)
    qc[...] = np.bitwise_and(bits, mask, out=bits)
    if sgn is not None:
        qc *= sgn
    return np.matmul(qc, g, out=buffer("i", (*mag.shape[:-1], g.shape[-1]), dtype))


def _transposed(buffer: Buffer, q: np.ndarray, p: Precision,
                dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`magnitudes` and :func:`signs` of ``q`` (``vl x h``) in rows x vectors layout
    (``h x vl``, scratch arrays), copied in blocks of :data:`TRANSPOSE_BLOCK` vectors."""
    if p.isgn:
        qt = _transpose(buffer, "qt", q)
        return magnitudes(buffer, qt, p), signs(buffer, qt, dtype, p.adc_down)
    return _transpose(buffer, "magt", magnitudes(buffer, q, p)), None


def _transpose(buffer: Buffer, name: str, a: np.ndarray) -> np.ndarray:
    out = buffer(name, a.shape[::-1], a.dtype)
    for j in range(0, a.shape[0], TRANSPOSE_BLOCK):
        np.copyto(out[:, j : j + TRANSPOSE_BLOCK], a[j : j + TRANSPOSE_BLOCK].T)
    return out


def _live_currents(buffer: Buffer, magt: np.ndarray, sgnt: np.ndarray | None,
                   live: np.ndarray, g: np.ndarray, shift, mask, dtype) -> np.ndarray | None:
    """One cycle's currents ``q_c @ g`` (a scratch array, ``vl x w``) from the magnitudes and
    signs in rows x vectors layout (``magt``, ``sgnt``: ``h x vl``), None where every digit is
    0. The array rows whose digit is 0 in every vector are left out of the product (the
    high-order digits of quantized activations are mostly zero; ``live``, the OR of the
    magnitudes over the vectors, finds them): the live rows of the magnitudes, the signs and
    the cells are gathered (each a contiguous row) before the digits are taken, and the
    product reads the digits transposed (BLAS takes either layout)."""
    rows = _live_rows(live, shift, mask)
    vl = magt.shape[1]
    if rows is None:
        bits = np.right_shift(magt, shift, out=buffer("tbits", magt.shape, magt.dtype))
        gm, sg = g, sgnt
    elif rows.size:
        bits = np.take(magt, rows, axis=0, mode="clip",
                       out=buffer("tbits", (rows.size, vl), magt.dtype))
        np.right_shift(bits, shift, out=bits)
        gm = np.take(g, rows, axis=0, mode="clip",
                     out=buffer("tcells", (rows.size, g.shape[1]), g.dtype))
        sg = None if sgnt is None else np.take(sgnt, rows, axis=0, mode="clip",
                                               out=buffer("tsgn", bits.shape, sgnt.dtype))
    else:
        return None
    qc = buffer("tqc", bits.shape, dtype)
    qc[...] = np.bitwise_and(bits, mask, out=bits)
    if sg is not None:
        qc *= sg
    return np.matmul(qc.T, gm, out=buffer("i", (vl, g.shape[1]), dtype))


def _live_rows(live: np.ndarray, shift, mask) -> np.ndarray | None:
    """Indices of the rows whose digit at ``shift`` is nonzero in some vector (``live``: the OR
    of the magnitudes over the vectors), or None when too many are live for leaving the others
    out to pay."""
    rows = np.flatnonzero((live >> shift) & mask)
    return rows if rows.size <= SKIP_MAX_LIVE * live.size else None


def cycles_plain(buffer: Buffer, analog: Callable, q: np.ndarray, gr: np.ndarray,
                 p: Precision, exact: bool, cycle_bound: float) -> np.ndarray:
    """The cycle loop: one matrix product per DAC cycle (``analog(qc, g, out)``: the product
    and the read noise), the ADC on each, shift-and-add.

    ``cycle_bound`` bounds ``|I_c|``. Products run in float32 when the cells are exact
    integers and every partial sum stays below ``2**24`` (or when the cells are not exact
    anyway), else in float64. The shift-and-add sums ADC codes times ``2**(c*dacb)`` and
    applies the common factor ``2**adcsh`` once at the end (a power of two: exact); it runs
    in float32 when that sum is bounded by ``2**24``, so exact settings give exact
    integers."""
    dacb = p.dacb
    shape, out_shape = q.shape, (q.shape[0], gr.shape[1])
    mag = magnitudes(buffer, q, p)
    itype = mag.dtype.type
    dtype = np.float32 if not exact or cycle_bound <= F32_EXACT else np.float64
    sgn = signs(buffer, q, dtype) if p.isgn else None
    g = gr.astype(dtype, copy=False)
    if p.adcb:
        clo, chi = p.adc_range
        top = float(max(-clo, chi))
    else:
        top = cycle_bound if exact else 0.0
    y = buffer("y", out_shape, accumulator_dtype(p, top))
    y[...] = 0
    bits = buffer("bits", shape, itype)
    qc = buffer("qc", shape, dtype)
    i = buffer("i", out_shape, dtype)
    mask = itype(min((1 << dacb) - 1, np.iinfo(itype).max))  # |q| has no higher bits
    for c in range(p.cycles):
        np.right_shift(mag, itype(c * dacb), out=bits)
        np.bitwise_and(bits, mask, out=bits)
        qc[...] = bits
        if sgn is not None:
            qc *= sgn
        analog(qc, g, i)
        if p.adcb:  # the ADC's code; its 2**adcsh step is applied after the sum
            adc_codes(i, p.adc_down, clo, chi)
        if c:
            i *= float(1 << (c * dacb))
        np.add(y, i, out=y, casting="unsafe")
    if p.adcb and p.adcsh:
        y *= 2.0**p.adcsh
    return y
