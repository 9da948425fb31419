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

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from isa import hostlimits
from runtime.bitserial import cycles_exact, cycles_plain
from runtime.blocks import Diagonal, Groups, find_diagonal, find_groups
from runtime.config import ChipConfig
from runtime.converters import F32_EXACT, Precision, adc_values, lossless_adc, quantize
from runtime.products import (
    CyclesKernel,
    ExactKernel,
    FloatKernel,
    _apart,
    _overlap,
    banded_matmul,
)

__all__ = ["F32_EXACT", "Crossbar", "CyclesKernel", "ExactKernel", "FloatKernel", "NumpyCrossbar",
           "Precision", "_overlap"]

_PURPOSES = {"program": 1, "read": 2, "stuck": 3, "drift": 4}


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
        with methods ``quantize(x) -> q`` and ``product(q, out)`` (:class:`ExactKernel`,
        :class:`CyclesKernel`) lets the interpreter reuse the quantized inputs of an unchanged
        operand; one with ``bind(x, out)`` gives the call on two fixed views as a call without
        arguments (:mod:`runtime.products`), which the interpreter keeps for a repeated MVM."""


class NumpyCrossbar:
    """The reference crossbar backend (numpy).

    Random draws come from generators seeded by ``(chip seed, run seed, array, purpose)``; a
    generator lives as long as this object, so a sequence of operations is reproducible. Stuck
    cells and drift exponents are properties of a cell, drawn once per array. Each array keeps
    its programmed conductances (programming noise and stuck cells applied) and the read
    conductances at the current read time ``time_s`` (seconds after programming; ``None``: right
    after programming, no drift): ``G_t = G * (t / t0) ** -nu`` for ``t > t0``, stuck cells
    excepted. :meth:`set_time` moves the read time (the machine does at a program's ``.rerun``
    label). ``fast_path=False`` always runs the plain cycle loop
    (:func:`~runtime.bitserial.cycles_plain`; for tests that compare the two), and
    ``grouped=False`` always the full product of a block-diagonal region (:mod:`runtime.blocks`).
    """

    def __init__(self, config: ChipConfig, *, seed: int = 0, time_s: float | None = None,
                 fast_path: bool = True, grouped: bool = True):
        self.config = config
        self.seed = seed
        self.time_s = time_s
        self.fast_path = fast_path
        self.grouped = grouped
        self._drift_t = self._drift_time(time_s)  # the read time drift applies at, or None
        self._gp: dict[int, np.ndarray] = {}  # array -> programmed conductances, float32
        self._g: dict[int, np.ndarray] = {}  # array -> read conductances (_gp without drift)
        self._exact_prog: dict[int, bool] = {}  # array -> every programmed cell is a level
        self._exact: dict[int, bool] = {}  # array -> every read cell is an exact integer level
        self._gmax: dict[int, float] = {}  # array -> Gmax (float cells: largest programmed)
        self._colsum: dict[tuple[int, int, int, int, int], float] = {}
        self._comb: dict[tuple, tuple[np.ndarray | None, float]] = {}  # mvm_combined's cells
        self._groups: dict[tuple, Groups | None] = {}  # block-diagonal regions (_grouped)
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
        for cache in (self._colsum, self._comb, self._groups):
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
        where it is computed with the region's settings looked up once; None where it is not
        (a real ADC on an ideal DAC, read noise, cells that are not exact integer levels under
        quantized inputs, combined cells that would change a bit). Valid
        until the array is programmed again (:attr:`versions` counts that).

        Ideal DAC and ADC: ``Y = X @ G``. Quantized inputs on exact integer cells through an ADC
        that never rounds or clips: ``Y = q @ G`` exactly (the fast path, one product). Through
        an ADC that may: the cycle loop (:class:`~runtime.products.CyclesKernel`; with ``coef``,
        its columns shift-and-added as the interpreter does). Combined cells: see
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
            return FloatKernel(g, self._buffer)
        if not (self.fast_path and self._exact[array]):
            return None
        colsum = self._max_colsum(array, row, col, h, w, gr)
        qmax = (1 << p.magnitude_bits) - 1
        if not lossless_adc(p, colsum):  # a real ADC that may round or clip: the cycle loop
            return CyclesKernel(self, p, (array, row, col, h, w, None), gr,
                                p.digit_max * colsum, coef)
        if coef is None:
            g, bound = gr, qmax * colsum
        else:
            if qmax * colsum > F32_EXACT:
                return None
            g, csum = self._combined(array, row, col, h, w, coef, gr)
            if g is None or qmax * csum >= 2.0**53:
                return None
            bound = qmax * csum
        if bound <= F32_EXACT:
            g = self._grouped((array, row, col, h, w, coef, "diagonal"), g)
        return ExactKernel(self, p, g, bound)

    def mvm(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
            p: Precision, out: np.ndarray | None = None) -> np.ndarray:
        """The five steps of docs/machine.md (see the module docstring). The result may be
        written into ``out`` (float32, ``len(x) x w``) and returned."""
        f = self.kernel(array, row, col, h, w, p)
        if f is not None:  # the loop as below, or one product bit-identical to it
            return f(_apart(x, out), out)
        gr = self._cells(array)[row : row + h, col : col + w]
        if p.ibits == 0:  # ideal DAC: one cycle with the inputs as they are
            y = adc_values(self._analog(array, np.asarray(x, dtype=np.float32), gr), p)
            return np.asarray(y, dtype=np.float32)
        q = self._quantized(x, p)
        colsum = self._max_colsum(array, row, col, h, w, gr)
        exact = self._exact[array] and not self.config.nonideal.read_noise
        y = self._bit_serial((array, row, col, h, w, None), q, gr, p, exact,
                             p.digit_max * colsum)
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
            qf = quantize(span, p, q)
            return np.lib.stride_tricks.as_strided(qf, x.shape, (4 * xs, 4), writeable=False)
        q = np.empty(x.shape, np.float32) if fresh else self._buffer("q", x.shape, np.float32)
        return quantize(x, p, q)

    def mvm_combined(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
                     p: Precision, coef: np.ndarray,
                     out: np.ndarray | None = None) -> np.ndarray | None:
        """``Y = sum_b coef[b] * O[:, b*wb : (b+1)*wb]`` (``wb = w / len(coef)``, ``O`` what
        :meth:`mvm` gives for the region) as one product with the combined cells
        ``sum_b coef[b] * G_b``, where that is the same; through a real ADC that may round or
        clip, the cycle loop's columns shift-and-added as the caller would
        (:class:`~runtime.products.CyclesKernel`); None elsewhere (the caller then combines
        :meth:`mvm`'s columns itself).

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
        float32 when that is at most ``2**24`` (exact in any order; ``g`` may then be a
        :class:`~runtime.blocks.Diagonal`), else in float64 (exact below ``2**53``) rounded once
        to float32."""
        if isinstance(g, Diagonal):
            return g.product(q, out)
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
        """``x @ g`` (into ``out`` when given), overlapping input rows in bands
        (:func:`~runtime.products.banded_matmul`)."""
        return banded_matmul(x, g, out, self._buffer)

    def _analog(self, array: int, qc: np.ndarray, gr: np.ndarray,
                out: np.ndarray | None = None) -> np.ndarray:
        """``I = qc @ G`` (:meth:`_sums`) plus read noise ``N(0, (read_noise * Gmax *
        ||qc||_2)^2)``."""
        i = self._sums(qc, gr, out)
        rn = self.config.nonideal.read_noise
        if rn:
            sigma = rn * self._gmax[array] * np.linalg.norm(qc.astype(np.float64), axis=1)
            noise = self._rng(array, "read").standard_normal(i.shape) * sigma[:, None]
            i += noise.astype(i.dtype, copy=False)
        return i

    def _sums(self, qc: np.ndarray, gr: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """``qc @ gr`` in float32 (:class:`runtime.widesums.Float64Sums` sums in float64)."""
        return np.matmul(qc, gr, out=out)

    def _bit_serial(self, region: tuple, q: np.ndarray, gr: np.ndarray, p: Precision,
                    exact: bool, cycle_bound: float) -> np.ndarray:
        """The cycle loop (:mod:`runtime.bitserial`) of ``region`` (``(array, row, col, h, w,
        None)``): :func:`cycles_exact` when every product is an exact integer, there is a real
        ADC and the fast path is on (on the diagonal blocks of grouped cells), else
        :func:`cycles_plain`, the plain loop that tests compare it with."""
        if exact and p.adcb and self.fast_path:
            groups = self._grouped(region, gr)
            return cycles_exact(self._buffer, q, gr, p, cycle_bound,
                                groups if isinstance(groups, Groups) else None,
                                cache=(self._groups, region[:5]))  # emptied by _changed
        return cycles_plain(self._buffer, lambda qc, g, out: self._analog(region[0], qc, g, out),
                            q, gr, p, exact, cycle_bound)

    def _grouped(self, region: tuple, g: np.ndarray) -> np.ndarray | Groups | Diagonal:
        """The :class:`~runtime.blocks.Groups` of the cells ``g`` of ``region`` (``(array, row,
        col, h, w, coef or None)``; with a seventh item, their
        :class:`~runtime.blocks.Diagonal`) where they are block-diagonal (depthwise) and
        grouping is on, else ``g``; cached until the array is programmed again."""
        if not self.grouped:
            return g
        key = region[:5] + (None if region[5] is None else region[5].tobytes(), *region[6:])
        hit = self._groups.get(key, False)
        if hit is False:
            hit = self._groups[key] = (find_diagonal if region[6:] else find_groups)(g)
        return g if hit is None else hit

