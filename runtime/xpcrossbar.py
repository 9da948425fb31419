"""A crossbar backend over any numpy-like array module, for GPUs (``--backend cupy``).

:class:`ArrayCrossbar` computes the same five steps as :class:`~runtime.crossbar.NumpyCrossbar`
(docs/machine.md) with the array module ``xp`` it is given (CuPy for a GPU; numpy itself, which is
how the test suite checks it on machines without one). Programming stays on the host with the
reference code, so programming noise, stuck cells and drift are drawn from the same generators
and are the same cell for cell; each array's read conductances are copied to the device on the
first MVM after they change (programming, or a new read time). An MVM copies its inputs to the
device (for a convolution's shifted windows, whose rows overlap, only the span they cover),
computes there, and copies its outputs back into machine memory.

The bit-serial loop is reorganised for a device that wants few, large operations: the DAC digits
of all cycles are stacked into one ``(cycles * vl) x h`` matrix, multiplied by the cells in one
matrix product, passed through the ADC as one array, and shifted and added per cycle. With exact
integer cells and no read noise every intermediate is an exact integer (or an integer times a
power of two) in its dtype, chosen by the same bounds as the reference, so the outputs are
bit-identical to it; with float cells or noise they agree up to float rounding. Read noise is
drawn on the host from the reference's generators, in the reference's order, and copied over.

>>> import numpy as np
>>> from runtime.config import preset
>>> xb = ArrayCrossbar(preset("ideal-int8"), np)
>>> xb.program(0, 0, 0, np.array([[1, 2], [3, 4]], dtype=np.float32))
>>> p = Precision(ibits=8, isgn=1, iscale=1.0, dacb=1, adcb=0, adcsh=0)
>>> xb.mvm(0, 0, 0, 2, 2, np.array([[1, -1]], dtype=np.float32), p)
array([[-2., -2.]], dtype=float32)
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from isa.diagnostics import ConfigError
from runtime.config import ChipConfig
from runtime.converters import (
    F32_EXACT,
    Precision,
    accumulator_dtype,
    adc_c,
    adc_codes,
    adc_values,
    lossless_adc,
)
from runtime.costonly import CostOnlyCrossbar
from runtime.crossbar import Crossbar, NumpyCrossbar, _overlap
from runtime.widesums import ACCUMULATE, Float64Sums

BACKENDS = ("numpy", "cupy", "cost")
#: Most elements of one stacked digit matrix (``cycles x rows x h``); larger MVMs are computed
#: in chunks of rows (2**27 float32 elements: 512 MiB of device memory per temporary).
STACK_ELEMENTS = 1 << 27


def make_crossbar(backend: str, config: ChipConfig, *, seed: int = 0,
                  time_s: float | None = None, accumulate: str = "float32") -> Crossbar:
    """The crossbar backend named ``backend`` (``numpy``, ``cupy``, or ``cost``: the cost model
    alone, :mod:`runtime.costonly`) for ``config``, its float
    products summed in ``accumulate`` (``float32``, or ``float64`` on numpy:
    :mod:`runtime.widesums`); a :class:`~isa.diagnostics.ConfigError` when CuPy or a GPU is
    missing."""
    if accumulate not in ACCUMULATE:
        raise ConfigError(f"accumulate {accumulate!r}: the crossbar sums in "
                          f"{' or '.join(ACCUMULATE)}")
    if accumulate == "float64":
        if backend != "numpy":
            raise ConfigError(f"accumulate float64 runs on the numpy backend, not {backend!r}",
                              hint="use backend numpy, or accumulate float32")
        return Float64Sums(config, seed=seed, time_s=time_s)
    if backend == "numpy":
        return NumpyCrossbar(config, seed=seed, time_s=time_s)
    if backend == "cost":
        return CostOnlyCrossbar(config, seed=seed, time_s=time_s)
    if backend != "cupy":
        raise ConfigError(f"unknown crossbar backend '{backend}'",
                          hint=f"choose one of {', '.join(BACKENDS)}")
    try:
        import cupy
    except ImportError:
        raise ConfigError("--backend cupy needs CuPy, which is not installed",
                          hint="install the CuPy wheel for your CUDA version (e.g. pip install "
                               "cupy-cuda12x), or use --backend numpy") from None
    try:
        gpus = cupy.cuda.runtime.getDeviceCount()
    except (RuntimeError, OSError) as e:  # CUDA driver missing or broken (CUDARuntimeError)
        raise ConfigError(f"--backend cupy: CUDA is not usable here ({e})",
                          hint="run on a machine with an NVIDIA GPU, or use --backend numpy") \
            from None
    if gpus < 1:
        raise ConfigError("--backend cupy: no GPU found",
                          hint="run on a machine with an NVIDIA GPU, or use --backend numpy")
    return ArrayCrossbar(config, cupy, seed=seed, time_s=time_s)


class ArrayCrossbar(NumpyCrossbar):
    """The crossbar numerics computed with the array module ``xp`` (see the module docstring).
    Host-side state (programming, generators, cell properties) is the reference's."""

    def __init__(self, config: ChipConfig, xp: ModuleType, *, seed: int = 0,
                 time_s: float | None = None, stack_elements: int = STACK_ELEMENTS):
        super().__init__(config, seed=seed, time_s=time_s)
        self.xp = xp
        self.stack_elements = stack_elements
        self._device: dict[int, object] = {}  # array -> its cells on the device
        self._k = _cuda_kernels(xp)
        self._pin: np.ndarray | None = None  # page-locked staging buffer (CUDA only)

    def _changed(self, array: int) -> None:
        super()._changed(array)
        self._device.pop(array, None)  # copied again on its next MVM

    def _device_cells(self, array: int):
        g = self._device.get(array)
        if g is None:
            g = self._device[array] = self.xp.array(self._cells(array))  # a copy
        return g

    def _staging(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 host array of ``shape`` in page-locked memory (one buffer that only grows):
        copies between it and the GPU run at the bus's speed, not through a bounce buffer."""
        n = math.prod(shape)
        if self._pin is None or self._pin.size < n:
            mem = self.xp.cuda.alloc_pinned_memory(4 * max(n, 1 << 20))
            self._pin = np.frombuffer(mem, np.float32, max(n, 1 << 20))
        return self._pin[:n].reshape(shape)

    def _to_device(self, a: np.ndarray):
        if self._k is None:
            return self.xp.asarray(np.asarray(a, dtype=np.float32))
        buf = self._staging(a.shape)
        np.copyto(buf, a)
        d = self.xp.empty(a.shape, self.xp.float32)
        d.set(buf)
        return d

    def _upload(self, x: np.ndarray):
        """``x`` on the device as float32. Rows that overlap are sent as the span they cover and
        viewed with the same row stride there."""
        xp = self.xp
        xs = _overlap(x)
        if not xs:
            return self._to_device(x)
        n = (x.shape[0] - 1) * xs + x.shape[1]
        span = np.lib.stride_tricks.as_strided(x, (n,), (x.itemsize,), writeable=False)
        view = xp.lib.stride_tricks.as_strided(self._to_device(span), x.shape, (4 * xs, 4))
        return xp.ascontiguousarray(view)  # the rows as a matrix, copied on the device

    def _download(self, y, out: np.ndarray | None) -> np.ndarray:
        if self._k is None:
            host = np.asarray(y, dtype=np.float32)
        else:
            y = self.xp.ascontiguousarray(y, dtype=self.xp.float32)
            host = y.get(out=self._staging(y.shape))
        if out is None:
            return host.copy() if self._k is not None else host
        out[...] = host
        return out

    # ---- matrix-vector products ------------------------------------------------------------

    def mvm(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
            p: Precision, out: np.ndarray | None = None) -> np.ndarray:
        xp = self.xp
        gr = self._device_cells(array)[row : row + h, col : col + w]
        xd = self._upload(x)
        read_noise = self.config.nonideal.read_noise
        if p.ibits == 0:  # ideal DAC: one cycle with the inputs as they are
            i = self._noisy(array, xp.matmul(xd, gr)[None], xd[None], np.float32)[0]
            return self._download(adc_values(i, p, xp), out)
        q = self._quantize_xp(xd, p)
        host_region = self._cells(array)[row : row + h, col : col + w]
        colsum = self._max_colsum(array, row, col, h, w, host_region)
        qmax = (1 << p.magnitude_bits) - 1
        exact = self._exact[array] and not read_noise
        if self.fast_path and exact and lossless_adc(p, colsum):  # Y = q @ G, as the reference
            if qmax * colsum <= F32_EXACT:
                return self._download(xp.matmul(q, gr), out)
            return self._download(xp.matmul(q.astype(xp.float64), gr.astype(xp.float64)), out)
        vl, bound = q.shape[0], p.digit_max * colsum
        step = max(1, self.stack_elements // (p.cycles * max(h, w)))
        if step >= vl:
            return self._download(self._stacked(array, q, gr, p, exact, bound), out)
        # chunks of vectors; the read noise of the whole MVM is drawn first, in cycle order
        draw = self._draw(array, (p.cycles, vl, w))
        parts = [self._stacked(array, q[m : m + step], gr, p, exact, bound,
                               None if draw is None else draw[:, m : m + step])
                 for m in range(0, vl, step)]
        return self._download(xp.concatenate(parts), out)

    def kernel(self, array: int, row: int, col: int, h: int, w: int, p: Precision,
               coef: np.ndarray | None = None) -> None:
        """None: no product runs on the host (the interpreter calls :meth:`mvm`)."""

    def mvm_combined(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
                     p: Precision, coef: np.ndarray, out: np.ndarray | None = None) -> None:
        """Not done on the device: the caller combines :meth:`mvm`'s columns (bit-identical to
        the reference, which combines cells only where that changes no bit or, with float
        cells, where the two differ by float32 rounding only)."""

    def _quantize_xp(self, x, p: Precision):
        """``q = clip(rint(X / iscale), lo, hi)`` in float32, as the reference."""
        xp = self.xp
        lo, hi = p.input_range
        q = xp.divide(x, np.float32(p.iscale)) if p.iscale != 1.0 else x
        return xp.clip(xp.rint(q), lo, hi).astype(xp.float32, copy=False)

    def _draw(self, array: int, shape: tuple[int, int, int]) -> np.ndarray | None:
        """Standard normal read noise for ``cycles x vl x w`` currents from the reference's
        generator (one draw of the whole is the reference's draws cycle after cycle), or None
        without read noise."""
        if not self.config.nonideal.read_noise:
            return None
        return self._rng(array, "read").standard_normal(shape)

    def _noisy(self, array: int, i, qc, dtype, draw: np.ndarray | None = None):
        """``I = qc @ G`` (given as ``i``, ``cycles x vl x w``) plus read noise: ``draw`` (or a
        fresh one) scaled by ``read_noise * Gmax * ||qc[c, m]||_2``."""
        rn = self.config.nonideal.read_noise
        if not rn:
            return i
        xp = self.xp
        if draw is None:
            draw = self._draw(array, i.shape)
        sigma = rn * self._gmax[array] * xp.linalg.norm(qc.astype(xp.float64), axis=2)
        noise = xp.asarray(draw) * sigma[:, :, None]
        return i + noise.astype(dtype)

    def _stacked(self, array: int, q, gr, p: Precision, exact: bool, cycle_bound: float,
                 draw: np.ndarray | None = None):
        """The DAC cycles of ``q`` (``vl x h``) as one stacked product (module docstring);
        ``draw``: the read noise drawn for them, if drawn already."""
        xp = self.xp
        cycles, dacb = p.cycles, p.dacb
        vl, w = q.shape[0], gr.shape[1]
        dtype = xp.float32 if not exact or cycle_bound <= F32_EXACT else xp.float64
        shifts = (xp.arange(cycles, dtype=xp.int32) * dacb)[:, None, None]
        if self._k is not None:  # one fused pass
            qc = xp.empty((cycles, *q.shape), dtype)
            self._k.digits(q[None], shifts, np.int32((1 << dacb) - 1), qc)
        else:
            mag = (xp.abs(q) if p.isgn else q).astype(xp.int32)  # |q| < 2**24
            qc = xp.bitwise_and(xp.right_shift(mag[None], shifts), (1 << dacb) - 1).astype(dtype)
            if p.isgn:
                qc *= xp.where(q < 0, -1, 1).astype(dtype)[None]
        i = xp.matmul(qc.reshape(cycles * vl, -1), gr.astype(dtype)).reshape(cycles, vl, w)
        i = self._noisy(array, i, qc, dtype, draw)
        if p.adcb:  # the ADC's code; its 2**adcsh step is applied after the sum
            clo, chi = p.adc_range
            top = float(max(-clo, chi))
        else:
            top = cycle_bound if exact else 0.0
        acc = accumulator_dtype(p, top)
        if self._k is not None:  # ADC and shift-and-add in one pass (Horner's scheme)
            y = xp.empty((vl, w), acc)
            lo, hi = p.adc_range if p.adcb else (0, 0)
            self._k.adc_sum(i, np.int32(cycles), np.int64(vl * w), p.adc_down, float(lo),
                            float(hi), float(1 << dacb), bool(p.adcb), y)
            return y * (2.0**p.adcsh) if p.adcb and p.adcsh else y
        if p.adcb:
            i = adc_codes(i, p.adc_down, clo, chi, xp)
        y = i[0].astype(acc)
        for c in range(1, cycles):
            y += (i[c] * float(1 << (c * dacb))).astype(acc)
        if p.adcb and p.adcsh:
            y *= 2.0**p.adcsh
        return y


#: The body of the fused ADC-and-sum kernel: each cycle's ADC code (the rule of
#: :func:`runtime.converters.adc_c`) summed from the top cycle down, ``y = base * y + code``.
ADC_SUM_CUDA = f"""
        double acc = 0;
        for (int c = cycles - 1; c >= 0; --c) {{
            double v = (double)cur[(long long)c * n + i];
            if (adc) {{ v = {adc_c("v", "down", "lo", "hi")}; }}
            acc = (double)(A)(acc * base + v);
        }}
        y = (A)acc;
        """


def _cuda_kernels(xp):
    """CuPy's fused kernels for the stacked cycles, or None for a module without them:
    ``digits`` (``sign(q) * ((|q| >> shift) & mask)``, per cycle) and ``adc_sum``
    (:data:`ADC_SUM_CUDA`). Every value is an exact integer (times a power of two) where the
    reference's is, so the results are the same."""
    if not hasattr(xp, "ElementwiseKernel"):
        return None
    from types import SimpleNamespace

    digits = xp.ElementwiseKernel(
        "float32 q, int32 shift, int32 mask", "T d",
        "int m = (int)fabsf(q); T v = (T)((m >> shift) & mask); d = q < 0 ? -v : v;",
        "imcc_digits")
    adc_sum = xp.ElementwiseKernel(
        "raw T cur, int32 cycles, int64 n, float64 down, float64 lo, float64 hi, "
        "float64 base, bool adc", "A y", ADC_SUM_CUDA, "imcc_adc_sum")
    return SimpleNamespace(digits=digits, adc_sum=adc_sum)


def device_name(crossbar: Crossbar) -> str:
    """A short description of where ``crossbar`` computes (for benchmark output)."""
    xp = getattr(crossbar, "xp", np)
    if xp is np:
        return "host (numpy)"
    try:
        dev = xp.cuda.Device()
        props = xp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"{name} ({math.floor(props['totalGlobalMem'] / 2**30)} GiB), CuPy {xp.__version__}"
    except (AttributeError, KeyError, RuntimeError):  # a module without the CUDA API
        return xp.__name__
