"""The crossbar arrays' numerics (docs/machine.md, "Crossbar arrays", "Device nonidealities").

:class:`NumpyCrossbar` holds every array's cell values and computes ``wprog`` and ``mvm``. The
interpreter talks to it only through :class:`Crossbar` (``program``, ``mvm``, ``mvm_combined``,
``kernel``, ``set_time``), so another backend (e.g. CuPy) can be injected with the same interface.

An MVM of inputs ``X`` (``vl x h``) on a region ``G`` (``h x w``) follows the five steps of the
machine doc: input quantization ``q = clip(rint(X / iscale), lo, hi)``; DAC cycles
``q_c = sign(q) * ((|q| >> c*dacb) & (2**dacb - 1))``; analog products ``I_c = q_c @ G_t`` plus
read noise; the ADC ``O_c = clip(rint(I_c / 2**adcsh), clo, chi) * 2**adcsh``; and the digital
shift-and-add ``Y = sum_c 2**(c*dacb) * O_c``.

Fast path: when the region holds exact integer levels, there is no read noise, and the ADC is
ideal or provably never rounds or clips (``adcsh = 0`` and every cycle's column sums fit the ADC
range), ``Y = q @ G`` exactly, and one matrix product replaces the cycle loop. The products are
computed in float32 when every partial sum is an integer below ``2**24`` (float32 is then exact in
any summation order) and in float64 otherwise, so the fast path is bit-identical to the loop.

>>> import numpy as np
>>> from runtime.config import preset
>>> xb = NumpyCrossbar(preset("ideal-int8"))
>>> xb.program(0, 0, 0, np.array([[1, 2], [3, 4]], dtype=np.float32))
>>> p = Precision(ibits=8, isgn=1, iscale=1.0, dacb=1, adcb=0, adcsh=0)
>>> xb.mvm(0, 0, 0, 2, 2, np.array([[1, -1]], dtype=np.float32), p)
array([[-2., -2.]], dtype=float32)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from isa import hostlimits
from isa.spec import dac_cycles
from runtime.config import ChipConfig

F32_EXACT = 2**24  # every integer of magnitude <= 2**24 is a float32
_PURPOSES = {"program": 1, "read": 2, "stuck": 3, "drift": 4}


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


class Crossbar(Protocol):
    """What the interpreter needs from a crossbar backend."""

    def program(self, array: int, row: int, col: int, values: np.ndarray) -> None:
        """Program the region at ``(row, col)`` of ``array`` with target ``values`` (float32,
        already range-checked), applying the device nonidealities."""

    def mvm(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
            p: Precision, out: np.ndarray | None = None) -> np.ndarray:
        """Return ``Y`` (float32, ``len(x) x w``) for inputs ``x`` (``len(x) x h``), possibly
        written into ``out``."""

    def mvm_combined(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
                     p: Precision, coef: np.ndarray,
                     out: np.ndarray | None = None) -> np.ndarray | None:
        """The shift-and-add of ``mvm``'s column blocks with weights ``coef`` computed with
        combined cells, or None where the backend does not (or cannot exactly) do that."""

    #: array -> times its read conductances changed (programmed, or read at a new time); a
    #: kernel is valid while its array's count stays
    versions: dict[int, int]

    def set_time(self, time_s: float | None) -> None:
        """Read the arrays ``time_s`` seconds after programming from now on (``None``: right
        after programming, no drift); calling it again with the same time does nothing."""

    def kernel(self, array: int, row: int, col: int, h: int, w: int, p: Precision,
               coef: np.ndarray | None = None) -> Callable | None:
        """``f(x, out)`` computing what ``mvm`` (``coef`` None) or ``mvm_combined`` computes
        for this region and precision, or None (the interpreter then calls those). An ``f``
        with methods ``quantize(x) -> q`` and ``product(q, out)`` (:class:`ExactKernel`)
        lets the interpreter reuse the quantized inputs of an unchanged operand."""


class ExactKernel:
    """The kernel of an MVM with quantized inputs on exact integer cells through an ADC that
    never rounds or clips: ``f(x, out) = q(x) @ G``, exact. :meth:`quantize` and
    :meth:`product` are its two halves, for a caller that keeps the ``q`` of an input it knows
    to be unchanged (the interpreter does, until a write reaches the input's words)."""

    __slots__ = ("_bound", "_g", "_p", "_xbar")

    def __init__(self, xbar: NumpyCrossbar, p: Precision, g: np.ndarray, bound: float):
        self._xbar, self._p, self._g, self._bound = xbar, p, g, bound

    def __call__(self, x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        xbar = self._xbar
        return xbar._exact_product(xbar._quantized(x, self._p), self._g, self._bound, out)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """``q`` for the inputs ``x``, in an array of its own."""
        return self._xbar._quantized(x, self._p, fresh=True)

    def product(self, q: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``q @ G`` for ``q`` from :meth:`quantize` (of this or another kernel of the same
        precision)."""
        return self._xbar._exact_product(q, self._g, self._bound, out)


class NumpyCrossbar:
    """The reference crossbar backend (numpy).

    Random draws come from generators seeded by ``(chip seed, run seed, array, purpose)``; a
    generator lives as long as this object, so a sequence of operations is reproducible. Stuck
    cells and drift exponents are properties of a cell, drawn once per array. Each array keeps
    its programmed conductances (programming noise and stuck cells applied) and the read
    conductances at the current read time ``time_s`` (seconds after programming; ``None``: right
    after programming, no drift): ``G_t = G * (t / t0) ** -nu`` for ``t > t0``, stuck cells
    excepted. :meth:`set_time` moves the read time (the machine does at a program's ``.rerun``
    label). ``fast_path=False`` always runs the plain cycle loop (:meth:`_cycles`; for tests
    that compare the two).
    """

    def __init__(self, config: ChipConfig, *, seed: int = 0, time_s: float | None = None,
                 fast_path: bool = True):
        self.config = config
        self.seed = seed
        self.time_s = time_s
        self.fast_path = fast_path
        self._drift_t = self._drift_time(time_s)  # the read time drift applies at, or None
        self._gp: dict[int, np.ndarray] = {}  # array -> programmed conductances, float32
        self._g: dict[int, np.ndarray] = {}  # array -> read conductances (_gp without drift)
        self._exact_prog: dict[int, bool] = {}  # array -> every programmed cell is a level
        self._exact: dict[int, bool] = {}  # array -> every read cell is an exact integer level
        self._gmax: dict[int, float] = {}  # array -> Gmax (float cells: largest programmed)
        self._colsum: dict[tuple[int, int, int, int, int], float] = {}
        self._comb: dict[tuple, tuple[np.ndarray | None, float]] = {}  # mvm_combined's cells
        self._rngs: dict[tuple[int, str], np.random.Generator] = {}
        self._cell_props: dict[int, tuple] = {}
        self._scratch: dict[str, np.ndarray] = {}  # reused temporaries, never returned
        self.versions: dict[int, int] = {}  # array -> changes of its read conductances

    # ---- state ----------------------------------------------------------------------------

    def _rng(self, array: int, purpose: str) -> np.random.Generator:
        key = (array, purpose)
        rng = self._rngs.get(key)
        if rng is None:
            entropy = [self.config.nonideal.seed, self.seed, array, _PURPOSES[purpose]]
            rng = self._rngs[key] = np.random.default_rng(entropy)
        return rng

    def _cells(self, array: int) -> np.ndarray:
        """The array's read conductances (all zero until programmed)."""
        g = self._g.get(array)
        if g is None:
            cfg = self.config
            ni = cfg.nonideal
            per_array = cfg.rows * cfg.cols * (4 * (1 + (self._drift_t is not None))
                                               + 8 * bool(ni.stuck_on or ni.stuck_off)
                                               + 8 * ni.has_drift)
            hostlimits.check_total_bytes((len(self._gp) + 1) * per_array,
                                         f"the {len(self._gp) + 1} arrays the program "
                                         f"programs on chip '{cfg.name}' together")
            gp = self._gp[array] = np.zeros((self.config.rows, self.config.cols), np.float32)
            g = self._g[array] = gp if self._drift_t is None else np.zeros_like(gp)
            self._exact[array] = self._exact_prog[array] = True
            self._gmax[array] = float(self.config.max_level) if not self.config.float_cells \
                else 0.0
        return g

    def _drift_time(self, time_s: float | None) -> float | None:
        """The read time at which drift changes the cells, or None where it changes nothing
        (no drift on this chip, no read time, or ``t <= t0``)."""
        ni = self.config.nonideal
        if not ni.has_drift or time_s is None or not time_s > ni.drift_t0:
            return None
        return float(time_s)

    def _drifted(self, array: int, region: tuple[slice, slice], gp: np.ndarray) -> np.ndarray:
        """``G * (t / t0) ** -nu`` of the programmed cells ``gp`` of ``region`` at the current
        read time (float64 product, rounded once to float32); stuck cells keep their value."""
        on, off, nu = self._properties(array)
        f = (self._drift_t / self.config.nonideal.drift_t0) ** -nu[region]
        if on is not None:
            f[on[region] | off[region]] = 1.0
        return (gp.astype(np.float64) * f).astype(np.float32)

    def set_time(self, time_s: float | None) -> None:
        """Read the arrays ``time_s`` seconds after programming from now on (``None``: right
        after programming, no drift). The read conductances of every programmed array are
        derived again from its programmed ones when the drift they see changes; otherwise
        (the same time, or another time without drift) nothing is recomputed."""
        self.time_s = time_s
        t = self._drift_time(time_s)
        if t == self._drift_t:
            return
        self._drift_t = t
        everything = (slice(None), slice(None))
        for array, gp in self._gp.items():
            self._g[array] = gp if t is None else self._drifted(array, everything, gp)
            self._exact[array] = self._exact_prog[array] and t is None
            self._changed(array)

    def _changed(self, array: int) -> None:
        """The read conductances of ``array`` changed: kernels, column sums and combined cells
        computed from them are stale."""
        self.versions[array] = self.versions.get(array, 0) + 1
        for cache in (self._colsum, self._comb):
            for key in [k for k in cache if k[0] == array]:
                del cache[key]

    def _properties(self, array: int):
        """Per-cell device properties of an array: (stuck-on mask, stuck-off mask, drift nu)."""
        props = self._cell_props.get(array)
        if props is None:
            ni, shape = self.config.nonideal, (self.config.rows, self.config.cols)
            on = off = nu = None
            if ni.stuck_on or ni.stuck_off:
                u = self._rng(array, "stuck").random(shape)
                on = u < ni.stuck_on
                off = (u >= ni.stuck_on) & (u < ni.stuck_on + ni.stuck_off)
            if ni.has_drift:
                nu = self._rng(array, "drift").normal(ni.drift_nu, ni.drift_nu_std, shape)
            props = self._cell_props[array] = (on, off, nu)
        return props

    def _buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A scratch array for ``name``: a view of one flat buffer per name and dtype that
        only grows (fresh multi-megabyte temporaries would pay a page fault per 4 KiB on every
        MVM, and MVMs of one program come in many shapes)."""
        n = math.prod(shape)
        key = (name, dtype)
        buf = self._scratch.get(key)
        if buf is None or buf.size < n:
            buf = self._scratch[key] = np.empty(max(n, 1 << 12), dtype)
        return buf[:n].reshape(shape)

    def cells(self, array: int) -> np.ndarray:
        """A copy of the array's read conductances at the current read time
        (``rows x cols``)."""
        return self._cells(array).copy()

    def device_properties(self, array: int) -> tuple:
        """The array's cell properties, drawn once: ``(stuck-on mask, stuck-off mask, drift
        exponents nu)``, each ``rows x cols`` or None where the chip has no such cells."""
        return self._properties(array)

    # ---- programming ------------------------------------------------------------------------

    def program(self, array: int, row: int, col: int, values: np.ndarray) -> None:
        """``G = clip(G_target + N(0, (program_noise*Gmax)^2), 0, Gmax)``, then stuck cells
        forced to ``Gmax`` / 0; read at the current read time (drift, stuck cells excepted)."""
        cfg, ni = self.config, self.config.nonideal
        g = self._cells(array)
        gp = self._gp[array]
        h, w = values.shape
        target = values.astype(np.float64)
        if cfg.float_cells:
            top = np.abs(target) if cfg.signed_cells else target
            gmax = max(float(top.max(initial=0.0)), 0.0)
            self._gmax[array] = max(self._gmax[array], gmax)
        else:
            gmax = float(cfg.max_level)
        gmin = -gmax if cfg.signed_cells else 0.0  # signed float cells span -Gmax .. Gmax
        exact = bool(np.array_equal(target, np.rint(target)))
        if ni.program_noise:
            noise = self._rng(array, "program").normal(0.0, ni.program_noise * gmax, target.shape)
            target = np.clip(target + noise, gmin, gmax)
            exact = False
        on, off, _ = self._properties(array)
        region = (slice(row, row + h), slice(col, col + w))
        if on is not None:
            target = np.where(on[region], gmax, np.where(off[region], 0.0, target))
        gp[region] = target
        if g is not gp:
            g[region] = self._drifted(array, region, gp[region])
        self._exact_prog[array] = self._exact_prog[array] and exact
        self._exact[array] = self._exact_prog[array] and g is gp
        self._changed(array)

    # ---- matrix-vector products ------------------------------------------------------------

    def _max_colsum(self, array: int, row: int, col: int, h: int, w: int, gr: np.ndarray):
        key = (array, row, col, h, w)
        s = self._colsum.get(key)
        if s is None:
            g = np.abs(gr) if self.config.signed_cells else gr
            s = self._colsum[key] = float(g.sum(axis=0, dtype=np.float64).max(initial=0.0))
        return s

    def kernel(self, array: int, row: int, col: int, h: int, w: int, p: Precision,
               coef: np.ndarray | None = None) -> Callable | None:
        """What :meth:`mvm` (``coef`` None) or :meth:`mvm_combined` computes for this region
        and precision, as a function ``f(x, out) -> Y`` (``out`` None or not overlapping ``x``),
        where that is one matrix product; None where it is not (the cycle loop, a real ADC on
        an ideal DAC, read noise, combined cells that would change a bit). Valid until the array
        is programmed again (:attr:`versions` counts that).

        Ideal DAC and ADC: ``Y = X @ G``. Quantized inputs on exact integer cells through an ADC
        that never rounds or clips: ``Y = q @ G`` exactly (the fast path). Combined cells: see
        :meth:`mvm_combined`."""
        if self.config.nonideal.read_noise or (coef is not None and not self.fast_path):
            return None
        gr = self._cells(array)[row : row + h, col : col + w]
        if p.ibits == 0:
            if p.adcb:
                return None
            g = gr if coef is None else self._combined(array, row, col, h, w, coef, gr)[0]
            if g is None:
                return None
            return lambda x, out: self._matmul(np.asarray(x, dtype=np.float32), g, out)
        if not (self.fast_path and self._exact[array]):
            return None
        colsum = self._max_colsum(array, row, col, h, w, gr)
        qmax = (1 << p.magnitude_bits) - 1
        if not _lossless_adc(p, colsum):
            return None
        if coef is None:
            g, bound = gr, qmax * colsum
        else:
            if qmax * colsum > F32_EXACT:
                return None
            g, csum = self._combined(array, row, col, h, w, coef, gr)
            if g is None or qmax * csum >= 2.0**53:
                return None
            bound = qmax * csum
        return ExactKernel(self, p, g, bound)

    def mvm(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
            p: Precision, out: np.ndarray | None = None) -> np.ndarray:
        """The five steps of docs/machine.md (see the module docstring). The result may be
        written into ``out`` (float32, ``len(x) x w``) and returned."""
        f = self.kernel(array, row, col, h, w, p)
        if f is not None:  # bit-identical to the loop
            return f(_apart(x, out), out)
        gr = self._cells(array)[row : row + h, col : col + w]
        if p.ibits == 0:  # ideal DAC: one cycle with the inputs as they are
            y = self._adc(self._analog(array, np.asarray(x, dtype=np.float32), gr), p)
            return np.asarray(y, dtype=np.float32)
        q = self._quantized(x, p)
        colsum = self._max_colsum(array, row, col, h, w, gr)
        qmax = (1 << p.magnitude_bits) - 1
        exact = self._exact[array] and not self.config.nonideal.read_noise
        y = self._bit_serial(array, q, gr, p, exact, min(qmax, (1 << p.dacb) - 1) * colsum)
        if out is None:
            return y.astype(np.float32)  # a copy: y is a scratch buffer
        out[...] = y
        return out

    def _quantized(self, x: np.ndarray, p: Precision, *, fresh: bool = False) -> np.ndarray:
        """Step 1, ``q`` for the inputs ``x``: a view of a scratch buffer, or with ``fresh``
        of an array of its own."""
        xs = _overlap(x)
        if xs:  # quantize each element of the overlapping rows once
            n = (x.shape[0] - 1) * xs + x.shape[1]
            span = np.lib.stride_tricks.as_strided(x, (n,), (x.itemsize,), writeable=False)
            q = np.empty(n, np.float32) if fresh else self._buffer("q", (n,), np.float32)
            qf = self._quantize(span, p, q)
            return np.lib.stride_tricks.as_strided(qf, x.shape, (4 * xs, 4), writeable=False)
        q = np.empty(x.shape, np.float32) if fresh else self._buffer("q", x.shape, np.float32)
        return self._quantize(x, p, q)

    def mvm_combined(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
                     p: Precision, coef: np.ndarray,
                     out: np.ndarray | None = None) -> np.ndarray | None:
        """``Y = sum_b coef[b] * O[:, b*wb : (b+1)*wb]`` (``wb = w / len(coef)``, ``O`` what
        :meth:`mvm` gives for the region) as one product with the combined cells
        ``sum_b coef[b] * G_b``, where that is the same; None where it is not (the caller then
        combines :meth:`mvm`'s columns itself).

        Quantized inputs: the cells are exact integer levels, there is no read noise, the ADC
        never rounds or clips, and every column's output is an integer below ``2**24``; both
        sides are then the exact integer sum rounded once to float32, so the result is
        bit-identical. Ideal DAC and ADC (``ibits = adcb = 0``, no read noise): the product with
        the combined cells is the same real-valued sum evaluated in float32 in another order
        (the column currents are subtracted before an ideal converter, as a differential sense
        amplifier does), so it differs from the columns' by float32 rounding only."""
        f = self.kernel(array, row, col, h, w, p, coef)
        return None if f is None else f(_apart(x, out), out)

    def _exact_product(self, q: np.ndarray, g: np.ndarray, bound: float,
                       out: np.ndarray | None) -> np.ndarray:
        """``q @ g`` for integer operands whose partial sums are bounded by ``bound``: in
        float32 when that is at most ``2**24`` (exact in any order), else in float64 (exact
        below ``2**53``) rounded once to float32."""
        if bound <= F32_EXACT:
            return self._matmul(q, g, out)
        y = q.astype(np.float64) @ g.astype(np.float64)
        if out is None:
            return y.astype(np.float32)
        out[...] = y
        return out

    def _combined(self, array: int, row: int, col: int, h: int, w: int, coef: np.ndarray,
                  gr: np.ndarray) -> tuple[np.ndarray | None, float]:
        """``sum_b coef[b] * G_b`` as float32 (None when integer cells give a value float32
        does not hold) and its largest column sum of magnitudes; cached until the array is
        programmed again."""
        key = (array, row, col, h, w, coef.tobytes())
        hit = self._comb.get(key)
        if hit is None:
            wb = w // len(coef)
            acc = np.zeros((h, wb), np.float64)
            for b, c in enumerate(coef):
                acc += c * gr[:, b * wb : (b + 1) * wb].astype(np.float64)
            gc = acc.astype(np.float32)
            if self._exact[array] and not np.array_equal(gc, acc):
                gc = None
            hit = self._comb[key] = (gc, float(np.abs(acc).sum(axis=0).max(initial=0.0)))
        return hit

    def _matmul(self, x: np.ndarray, g: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``x @ g`` (into ``out`` when given). Inputs whose rows overlap (a convolution's
        shifted windows: row ``m + 1`` starts ``xs < h`` elements after row ``m``) are no matrix
        BLAS takes, and numpy would copy them whole; their product is summed over bands of
        ``xs`` columns instead, each an ordinary strided matrix. (Integer products below
        ``2**24`` stay exact in any order.)"""
        xs = _overlap(x)
        if xs < _BAND_MIN:
            return np.matmul(x, g, out=out)
        out = np.matmul(x[:, :xs], g[:xs], out=out)
        tmp = self._buffer("band", out.shape, out.dtype)
        for j in range(xs, x.shape[1], xs):
            np.matmul(x[:, j : j + xs], g[j : j + xs], out=tmp)
            out += tmp
        return out

    @staticmethod
    def _quantize(x: np.ndarray, p: Precision, q: np.ndarray) -> np.ndarray:
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

    def _analog(self, array: int, qc: np.ndarray, gr: np.ndarray,
                out: np.ndarray | None = None) -> np.ndarray:
        """``I = qc @ G`` plus read noise ``N(0, (read_noise * Gmax * ||qc||_2)^2)``."""
        i = np.matmul(qc, gr, out=out)
        rn = self.config.nonideal.read_noise
        if rn:
            sigma = rn * self._gmax[array] * np.linalg.norm(qc.astype(np.float64), axis=1)
            noise = self._rng(array, "read").standard_normal(i.shape) * sigma[:, None]
            i += noise.astype(i.dtype, copy=False)
        return i

    @staticmethod
    def _adc(i: np.ndarray, p: Precision) -> np.ndarray:
        """``O = clip(rint(I / 2**adcsh), clo, chi) * 2**adcsh`` (identity when ``adcb = 0``)."""
        if p.adcb == 0:
            return i
        clo, chi = p.adc_range
        o = i * (2.0 ** -p.adcsh) if p.adcsh else np.array(i)  # exact: a power of two
        np.rint(o, out=o)
        np.clip(o, clo, chi, out=o)
        if p.adcsh:
            o *= 2.0**p.adcsh
        return o

    def _bit_serial(self, array: int, q: np.ndarray, gr: np.ndarray, p: Precision,
                    exact: bool, cycle_bound: float) -> np.ndarray:
        """The cycle loop (:meth:`_cycles_exact` when every product is an exact integer, there
        is a real ADC and the fast path is on, else :meth:`_cycles`, the plain loop that tests
        compare it with)."""
        if exact and p.adcb and self.fast_path:
            return self._cycles_exact(q, gr, p, cycle_bound)
        return self._cycles(array, q, gr, p, exact, cycle_bound)

    def _signs(self, q: np.ndarray, dtype) -> np.ndarray:
        """``-1`` where ``q < 0``, else ``1``: a digit times it is ``sign(q) * digit`` (a
        multiplication is far faster than numpy's masked ``negative(where=)``)."""
        neg = np.less(q, 0, out=self._buffer("neg", q.shape, np.bool_))
        sgn = self._buffer("sgn", q.shape, dtype)
        sgn.fill(1)
        np.copyto(sgn, -1, where=neg)
        return sgn

    def _cycles_exact(self, q: np.ndarray, gr: np.ndarray, p: Precision,
                      cycle_bound: float) -> np.ndarray:
        """The cycle loop for exact integer cells, no read noise and a real ADC, bit-identical
        to :meth:`_cycles` with fewer passes over the data.

        Every product, ADC code and partial sum is then an exact integer (or an integer times a
        power of two) in its dtype, which allows rewrites that change no bit: the
        ``2**-adcsh`` of the ADC is applied to the cells once per MVM instead of to every
        cycle's currents (``I_c / 2**adcsh = q_c @ (G / 2**adcsh)``); the shift-and-add runs
        from the most significant cycle down (Horner's scheme, ``y = 2**dacb * y + O_c``)
        instead of multiplying each cycle by ``2**(c*dacb)``; and the array rows whose digit is
        0 in every vector of a cycle are left out of that cycle's product (the high-order
        digits of quantized activations are mostly zero). And the ADC's clip is left out where
        the column range proves that no rounded current leaves its range (``|I_c| <=
        cycle_bound``: a bound within ``[clo, chi]``, or nonnegative inputs and cells and a
        bound up to ``chi``; ``chi`` is an integer, so rounding cannot pass it)."""
        cycles, dacb = p.cycles, p.dacb
        b = p.magnitude_bits
        itype = np.uint8 if b <= 8 else np.uint16 if b <= 16 else np.uint32
        shape, out_shape = q.shape, (q.shape[0], gr.shape[1])
        dtype = np.float32 if cycle_bound <= F32_EXACT else np.float64
        clo, chi = p.adc_range
        top = float(max(-clo, chi))
        weight_sum = sum(1 << (c * dacb) for c in range(cycles))
        acc = np.float32 if top * weight_sum <= F32_EXACT else np.float64
        g = self._buffer("gs", gr.shape, dtype)
        np.multiply(gr, 2.0**-p.adcsh, out=g)
        mag = self._buffer("mag", shape, itype)
        mag[...] = np.abs(q) if p.isgn else q
        sgn = self._signs(q, dtype) if p.isgn else None
        lo, hi = dtype(clo), dtype(chi)
        bits = self._buffer("bits", shape, itype)
        qc = self._buffer("qc", shape, dtype)
        i = self._buffer("i", out_shape, dtype)
        y = self._buffer("y", out_shape, acc)
        mask = itype(min((1 << dacb) - 1, np.iinfo(itype).max))  # |q| has no higher bits
        skip = shape[0] * gr.shape[1] >= _SKIP_MIN_WORK
        bound = cycle_bound * 2.0**-p.adcsh  # |I_c| in ADC steps
        signed = sgn is not None or gr.min(initial=0) < 0  # currents, codes may be negative
        clip = not (bound <= chi and (bound <= -clo or not signed))
        pending = None  # y is 0 until the first nonzero cycle; then 2**dacb steps not yet applied
        for c in reversed(range(cycles)):
            if pending is not None:
                pending += dacb
            np.right_shift(mag, itype(c * dacb), out=bits)
            np.bitwise_and(bits, mask, out=bits)
            rows = _live_rows(bits) if skip else None
            if rows is None:
                qc[...] = bits
                if sgn is not None:
                    qc *= sgn
                np.matmul(qc, g, out=i)
            elif rows.size:
                qs = bits[:, rows].astype(dtype)
                if sgn is not None:
                    qs *= sgn[:, rows]
                np.matmul(qs, g[rows], out=i)
            else:
                continue  # every digit is 0: I = 0 and the ADC's code is 0
            np.rint(i, out=i)
            if clip:
                np.clip(i, lo, hi, out=i)
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
        return y

    def _cycles(self, array: int, q: np.ndarray, gr: np.ndarray, p: Precision,
                exact: bool, cycle_bound: float) -> np.ndarray:
        """The cycle loop: one matrix product per DAC cycle, the ADC on each, shift-and-add.

        ``cycle_bound`` bounds ``|I_c|``. Products run in float32 when the cells are exact
        integers and every partial sum stays below ``2**24`` (or when the cells are not exact
        anyway), else in float64. The shift-and-add sums ADC codes times ``2**(c*dacb)`` and
        applies the common factor ``2**adcsh`` once at the end (a power of two: exact); it runs
        in float32 when that sum is bounded by ``2**24``, so exact settings give exact
        integers."""
        cycles, dacb = p.cycles, p.dacb
        b = p.magnitude_bits
        itype = np.uint8 if b <= 8 else np.uint16 if b <= 16 else np.uint32
        shape, out_shape = q.shape, (q.shape[0], gr.shape[1])
        mag = self._buffer("mag", shape, itype)
        mag[...] = np.abs(q) if p.isgn else q
        dtype = np.float32 if not exact or cycle_bound <= F32_EXACT else np.float64
        sgn = self._signs(q, dtype) if p.isgn else None
        g = gr.astype(dtype, copy=False)
        weight_sum = sum(1 << (c * dacb) for c in range(cycles))
        if p.adcb:
            clo, chi = p.adc_range
            top = float(max(-clo, chi))
        else:
            top = cycle_bound if exact else 0.0
        acc = np.float32 if top * weight_sum <= F32_EXACT else np.float64
        y = self._buffer("y", out_shape, acc)
        y[...] = 0
        bits = self._buffer("bits", shape, itype)
        qc = self._buffer("qc", shape, dtype)
        i = self._buffer("i", out_shape, dtype)
        mask = itype(min((1 << dacb) - 1, np.iinfo(itype).max))  # |q| has no higher bits
        for c in range(cycles):
            np.right_shift(mag, itype(c * dacb), out=bits)
            np.bitwise_and(bits, mask, out=bits)
            qc[...] = bits
            if sgn is not None:
                qc *= sgn
            self._analog(array, qc, g, out=i)
            if p.adcb:  # the ADC's code; its 2**adcsh step is applied after the sum
                if p.adcsh:
                    i *= 2.0**-p.adcsh
                np.rint(i, out=i)
                np.clip(i, clo, chi, out=i)
            if c:
                i *= float(1 << (c * dacb))
            np.add(y, i, out=y, casting="unsafe")
        if p.adcb and p.adcsh:
            y *= 2.0**p.adcsh
        return y


#: Leave out zero input rows only for products of at least this many outputs (vectors x
#: columns); below it, gathering the rows costs more than it saves.
_SKIP_MIN_WORK = 1 << 14
#: ... and only when at most this share of the rows is live.
_SKIP_MAX_LIVE = 0.9


#: Up to this many inputs, step 1 clips with maximum and minimum: numpy's clip costs a
#: microsecond more per call, though its loop is several times faster on large arrays.
_SMALL_CLIP = 2048

#: Narrower bands than this (a conv on a few input channels) are slower than numpy's copy.
_BAND_MIN = 32


def _lossless_adc(p: Precision, colsum: float) -> bool:
    """The ADC never rounds or clips: it is ideal, or ``adcsh = 0`` and the largest current of
    one cycle (``min(2**dacb - 1, 2**B - 1)`` times the largest column sum) fits its range."""
    cyc_max = min((1 << p.magnitude_bits) - 1, (1 << p.dacb) - 1)
    return p.adcb == 0 or (p.adcsh == 0 and cyc_max * colsum <= p.adc_range[1])


def _apart(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``x``, or a copy of it where it overlaps ``out`` (a product written over its own
    inputs)."""
    return x if out is None or not np.may_share_memory(x, out) else np.array(x)


def _overlap(x: np.ndarray) -> int:
    """The row stride ``xs`` (in elements) of a 2-D view of contiguous rows that overlap (``0 <
    xs < h``), else 0."""
    if x.ndim != 2 or x.shape[0] < 2:
        return 0
    s0, s1 = x.strides
    item = x.itemsize
    if s1 != item or s0 % item or not 0 < s0 < x.shape[1] * item:
        return 0
    return s0 // item


def _live_rows(bits: np.ndarray) -> np.ndarray | None:
    """Indices of the array rows (input elements) with a nonzero digit in some vector, or None
    when too many are live for leaving the others out to pay."""
    live = np.flatnonzero(bits.any(axis=0))
    return live if live.size <= _SKIP_MAX_LIVE * bits.shape[1] else None
