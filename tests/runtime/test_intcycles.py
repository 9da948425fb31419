"""The bit-serial loop on integer products (runtime/intcycles.py, runtime/intgemm.py) against the
plain loop (runtime/bitserial.cycles_plain) and the int64 oracle, bit for bit."""

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import bitserial, intcycles, intgemm
from runtime.converters import Precision, quantize
from runtime.crossbar import NumpyCrossbar
from tests.runtime.helpers import chip
from tests.runtime.test_crossbar_groups import _oracle

pytestmark = pytest.mark.skipif(not intgemm.available(), reason="onnxruntime not installed")
ROOT = Path(__file__).resolve().parents[2]


def _buffer():
    bufs = {}

    def buffer(name, shape, dtype):
        n = math.prod(shape)
        a = bufs.get((name, dtype))
        if a is None or a.size < n:
            a = bufs[(name, dtype)] = np.empty(max(n, 1), dtype)
        return a[:n].reshape(shape)

    return buffer


def _both(x, g, p):
    """``(integer loop, plain loop)`` outputs (copies) and the quantized inputs."""
    q = quantize(x, p, np.empty(x.shape, np.float32))
    bound = p.digit_max * float(np.abs(g).sum(axis=0).max(initial=0.0))
    assert intcycles.usable(p, bound)
    g8, negative = intcycles.int_cells(g, None)
    assert g8 is not None
    y = intcycles.cycles_int(_buffer(), q, g8, p, bound, negative).copy()
    ref = bitserial.cycles_plain(_buffer(), lambda qc, gg, out: np.matmul(qc, gg, out=out),
                                 q, g, p, True, bound).copy()
    return y, ref


def _same_bits(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    ui = {4: np.uint32, 8: np.uint64}[a.itemsize]
    assert np.array_equal(a.view(ui), b.view(ui))


@settings(max_examples=120, deadline=None)
@given(ibits=st.integers(2, 9), isgn=st.integers(0, 1), dacb=st.integers(1, 7),
       adcb=st.integers(1, 10), adcsh=st.integers(0, 9), h=st.integers(1, 300),
       w=st.integers(1, 200), vl=st.sampled_from([1, 3, 40, 130, 700]),
       cells=st.sampled_from(["u7", "u4", "s8", "ones"]), sparse=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_integer_loop_is_bit_identical_to_the_plain_loop(ibits, isgn, dacb, adcb, adcsh, h, w,
                                                         vl, cells, sparse, seed):
    # Shapes across one and several blocks of vectors, every DAC width the zero point allows,
    # ADC ranges the currents never leave and ones they clip, cells of both signs.
    ibits = min(ibits, 8 + isgn)  # |q| within uint8
    dacb = min(dacb, ibits - isgn, 6 if isgn else 7)
    rng = np.random.default_rng(seed)
    lo, hi = {"u7": (0, 128), "u4": (0, 16), "s8": (-128, 128), "ones": (1, 2)}[cells]
    g = rng.integers(lo, hi, (h, w)).astype(np.float32)
    top = 2 ** (ibits - isgn) - 1
    x = rng.integers(-top if isgn else 0, top + 1, (vl, h)).astype(np.float32)
    if sparse:  # small activations: the high cycles of every vector are 0
        x = np.rint(x / 2 ** (ibits // 2))
    p = Precision(ibits, isgn, 1.0, dacb, adcb, adcsh)
    y, ref = _both(x, g, p)
    _same_bits(y, ref)
    assert np.array_equal(y, _oracle(x, g.astype(np.int64), p).astype(y.dtype))


@pytest.mark.parametrize("isgn,adcsh", [(0, 5), (1, 4), (0, 0), (1, 0)])
def test_ties_clips_and_idle_cycles(isgn, adcsh):
    # Currents that round on exact ties, columns clipping at both ends, vectors whose high
    # cycles are all 0 (the loop leaves out the cycles above the highest set bit), and blocks of
    # vectors with a short last one.
    rng = np.random.default_rng(7 + isgn + adcsh)
    h, w = 256, 100
    vl = 2 * intcycles.BLOCK_CURRENTS // (8 * w) + 23
    g = rng.integers(0, 128, (h, w)).astype(np.float32)
    g[:, 0] = 127  # far above the ADC's range: clips high (low too, signed)
    g[:, 1] = 0  # a column without current
    g[::2, 2] = 1  # small currents, odd and even: ties of the rounding
    x = np.abs(rng.standard_normal((vl, h))) * 40
    x[:, : h // 2] = rng.integers(0, 4, (vl, h // 2))
    if isgn:
        x *= rng.choice([-1.0, 1.0], x.shape)
    x = np.clip(np.rint(x), -127 if isgn else 0, 127 if isgn else 255).astype(np.float32)
    p = Precision(8, isgn, 1.0, 1, 8, adcsh)
    y, ref = _both(x, g, p)
    _same_bits(y, ref)
    expect = _oracle(x, g, p)
    assert np.array_equal(y, expect.astype(y.dtype))
    if adcsh:
        q = np.abs(x).astype(np.int64)
        currents = (q & 1) @ g.astype(np.int64)
        assert np.any(currents % 2**adcsh == 2 ** (adcsh - 1))  # a tie the ADC rounds to even
    assert expect[:, 0].max() >= p.adc_range[1] * 2**adcsh  # codes at the clip's top
    small = x.copy()
    small[:] = np.sign(x) * (np.abs(x) % 4)  # two cycles of eight hold every set bit
    y, ref = _both(small, g, p)
    _same_bits(y, ref)
    zero = np.zeros_like(x)  # no set bit at all
    y, ref = _both(zero, g, p)
    _same_bits(y, ref)
    assert not y.any()


def test_currents_past_float32_run_in_float64():
    # 1,300 rows near 127 with 7-bit digits: currents up to 18.8 million, past 2**24; the codes
    # then come from the int32 sums in float64, as the plain loop's currents do.
    rng = np.random.default_rng(3)
    h, w, vl = 1300, 24, 9
    g = rng.integers(100, 128, (h, w)).astype(np.float32)
    x = rng.integers(0, 256, (vl, h)).astype(np.float32)
    p = Precision(8, 0, 1.0, 7, 10, 12)
    assert p.digit_max * g.sum(axis=0).max() > 2**24
    y, ref = _both(x, g, p)
    _same_bits(y, ref)
    assert np.array_equal(y, _oracle(x, g.astype(np.int64), p).astype(y.dtype))


def test_product_without_the_scaled_operator_gives_the_same_bits(monkeypatch):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (300, 70)).astype(np.uint8)
    b = rng.integers(-128, 128, (70, 50)).astype(np.int8)
    ref = ((a.astype(np.int64) - 1) @ b.astype(np.int64)) * 2.0**-3
    y = intgemm.matmul_scaled(a, b, 1, 2.0**-3)
    assert y.dtype == np.float32 and np.array_equal(y, ref)
    session = intgemm._session
    monkeypatch.setattr(intgemm, "_session", lambda scaled=False: None if scaled else session())
    _same_bits(intgemm.matmul_scaled(a, b, 1, 2.0**-3), y)


@pytest.mark.parametrize("cells", ["int8", "wide"])
def test_crossbar_takes_the_integer_loop_for_int8_cells_only(cells, monkeypatch):
    # Through the crossbar: int8 cells take the integer loop, wider ones the float loop; both
    # give the plain loop's bits, and cells programmed again are not read from a stale copy.
    rng = np.random.default_rng(11)
    h, w, vl = 200, 64, 50
    top = 128 if cells == "int8" else 256
    cfg = chip("ideal-int8", dac_bits=1, adc_bits=8)
    p = Precision(8, 1, 0.5, 1, 8, 5)
    calls = []
    inner = intgemm.matmul_scaled
    monkeypatch.setattr(intgemm, "matmul_scaled", lambda *a: calls.append(1) or inner(*a))
    xb = {fast: NumpyCrossbar(cfg, fast_path=fast) for fast in (True, False)}
    for _ in range(2):  # programmed, run, programmed again, run
        g = rng.integers(0, top, (h, w)).astype(np.float32)
        x = (rng.standard_normal((vl, h)) * 20).astype(np.float32)
        out = {}
        for fast, b in xb.items():
            b.program(1, 0, 0, g)
            out[fast] = b.mvm(1, 0, 0, h, w, x, p)
        _same_bits(out[True], out[False])
        assert np.array_equal(out[True], _oracle(x, g, p).astype(np.float32))
    assert bool(calls) == (cells == "int8")


def test_no_integer_products_falls_back_to_the_float_loop(monkeypatch):
    rng = np.random.default_rng(13)
    g = rng.integers(0, 128, (64, 32)).astype(np.float32)
    x = rng.integers(0, 256, (20, 64)).astype(np.float32)
    p = Precision(8, 0, 1.0, 1, 8, 4)
    monkeypatch.setattr(intgemm, "available", lambda: False)
    assert not intcycles.usable(p, 1000.0)
    xb = NumpyCrossbar(chip("ideal-int8", dac_bits=1, adc_bits=8))
    xb.program(0, 0, 0, g)
    assert np.array_equal(xb.mvm(0, 0, 0, 64, 32, x, p), _oracle(x, g, p).astype(np.float32))


def test_a_forked_child_runs_its_own_products():
    # onnxruntime's intra-op threads do not survive a fork: a child that used (or destroyed)
    # its parent's session would wait on them forever. Default threads (no OMP_NUM_THREADS),
    # in a subprocess with a timeout, so that a hang fails instead of blocking the suite.
    script = (
        "import os, numpy as np\n"
        "from runtime import intgemm\n"
        "a, b = np.ones((4, 3), np.uint8), np.ones((3, 2), np.int8)\n"
        "assert (intgemm.matmul(a, b) == 3).all()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0 if (intgemm.matmul_scaled(a, b, 1, 0.5) == 0).all() else 1)\n"
        "assert os.waitpid(pid, 0)[1] == 0\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
