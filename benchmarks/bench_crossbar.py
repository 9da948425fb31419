"""Interpreter speed of one streaming MVM against plain numpy, measured in the same run.

A program streams 4096 input vectors through a 256x256 array region with one ``mvm``; the
machine time of a run (loading the inputs, executing, copying the outputs out) is compared with
``x @ W`` in numpy float32 of the same size. Weights are programmed by the first run, which is not
timed (later runs start at ``.rerun``).

Modes:

* ``lossless``: the ideal-int8 chip, 8-bit inputs, ideal ADC: the fast path (target <= 1.5x);
* ``adc8-dacN``: an 8-bit ADC with N input bits per DAC cycle, so ceil(8 / N) cycles, each a
  full matrix product plus the ADC (target for the quantized mode: <= 10x; 8 cycles of 1 bit cost
  at least 8 products, so that target applies to multi-bit DACs);
* ``float``: the ideal chip's float path (float32 cells, unquantized inputs).

Run: ``python benchmarks/bench_crossbar.py [--repeat N] [--blas-threads T]``. On a machine shared
with other work, ``--blas-threads 1`` (through threadpoolctl, for both sides) gives steadier
ratios, since a multi-threaded matrix product suffers most when a core is taken.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from isa.assembler import assemble
from runtime.config import preset
from runtime.machine import Machine

N, K, M = 4096, 256, 256

PROGRAM = """
.input "x", 0x100000, [{n}, {k}]
.output "y", 0x600000, [{n}, {m}]
    cfgi xbh, {k}
    cfgi xbw, {m}
    cfgi wfmt, {wfmt}
    li x5, W
    wprog x5
infer:
    cfgi vl, {n}
    cfgi xs, {k}
    cfgi ys, {m}
    cfgi ibits, {ibits}
    cfgi isgn, 0
    cfgi dacb, {dacb}
    cfgi adcb, {adcb}
    cfgi adcsh, {adcsh}
    li x6, 0x100000
    li x7, 0x600000
    mvm x7, x6
    halt
.rerun infer
.weights
W:  .npy "w.npy"
"""


def _interleaved(fn, base, repeat: int) -> tuple[float, float]:
    """Best times of ``fn`` and of the baseline ``base``, measured alternately so that load from
    other processes affects both alike."""
    fn()
    base()
    t_fn, t_base = [], []
    for _ in range(repeat):
        for f, times in ((fn, t_fn), (base, t_base)):
            t = time.perf_counter()
            f()
            times.append(time.perf_counter() - t)
    return min(t_fn), min(t_base)


def _machine(chip, weights: np.ndarray, **settings) -> Machine:
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "w.npy", weights)
        wfmt = 2 if weights.dtype == np.float32 else 0
        src = PROGRAM.format(n=N, k=K, m=M, wfmt=wfmt, **settings)
        obj = assemble(src, "bench.s", d).obj
    return Machine(chip, obj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit BLAS threads for both sides (needs threadpoolctl)")
    args = ap.parse_args()
    limit = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=args.blas_threads, user_api="blas")
    with limit:
        _measure(args.repeat, args.blas_threads)


def _measure(repeat: int, threads: int | None) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (N, K)).astype(np.float32)
    w_levels = rng.integers(0, 256, (K, M)).astype(np.uint8)
    w_float = w_levels.astype(np.float32)
    print(f"baseline: numpy x @ W, float32 [{N}x{K}] @ [{K}x{M}], measured beside each mode"
          + (f"; BLAS threads: {threads}" if threads else ""))

    int8 = preset("ideal-int8")
    adc8 = dataclasses.replace(int8, name="adc8", adc_bits=8)
    modes = [
        ("lossless", int8, w_levels, dict(ibits=8, dacb=8, adcb=0, adcsh=0), 1.5),
        ("adc8-dac8", adc8, w_levels, dict(ibits=8, dacb=8, adcb=8, adcsh=16), 10.0),
        ("adc8-dac4", adc8, w_levels, dict(ibits=8, dacb=4, adcb=8, adcsh=12), 10.0),
        ("adc8-dac2", adc8, w_levels, dict(ibits=8, dacb=2, adcb=8, adcsh=10), 10.0),
        ("adc8-dac1", adc8, w_levels, dict(ibits=8, dacb=1, adcb=8, adcsh=9), None),
        ("float", preset("ideal"), w_float, dict(ibits=0, dacb=1, adcb=0, adcsh=0), None),
    ]
    for name, chip, weights, settings, target in modes:
        m = _machine(chip, weights, **settings)
        feed = {"x": x}
        m.run(feed)  # programs the array
        t, base = _interleaved(lambda: m.run(feed), lambda: x @ w_float, repeat)
        ratio = t / base
        verdict = "" if target is None else \
            f"  target <= {target:g}x: {'met' if ratio <= target else 'MISSED'}"
        print(f"{name:<10} {t * 1e3:8.2f} ms  (numpy {base * 1e3:6.2f} ms)  {ratio:6.2f}x{verdict}")


if __name__ == "__main__":
    main()
