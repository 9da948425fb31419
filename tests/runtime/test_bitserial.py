"""The exact bit-serial loop's chunks of vectors (runtime/bitserial.py) against the plain loop
and the int64 oracle, bit for bit."""

import numpy as np
import pytest

from runtime import bitserial
from runtime.crossbar import NumpyCrossbar, Precision
from tests.runtime.helpers import chip
from tests.runtime.test_crossbar_groups import _oracle


@pytest.mark.parametrize("isgn,adcsh", [(0, 5), (1, 4), (0, 0)])
def test_chunks_of_vectors_give_the_bits_of_the_plain_loop(isgn, adcsh, monkeypatch):
    rng = np.random.default_rng(isgn * 10 + adcsh)
    h, w = 96, 40
    step = max(bitserial.CHUNK_MIN, bitserial.CHUNK_BYTES // (4 * (h + w)))
    vl = 2 * step + 37  # two whole chunks and a short one
    g = rng.integers(0, 256, (h, w)).astype(np.float32)
    g[:, 3] = 0  # a column without current
    x = (rng.standard_normal((vl, h)) * 30).astype(np.float32)
    x[: step // 2] *= 0.01  # vectors whose high digits are all 0: rows left out differ by chunk
    if not isgn:
        x = np.abs(x)
    p = Precision(8, isgn, 0.5, 1, 8, adcsh)
    cfg = chip("ideal-int8", dac_bits=1, adc_bits=8)
    chunks = []
    inner = bitserial.cycles_exact_block
    monkeypatch.setattr(bitserial, "cycles_exact_block",
                        lambda *a, **k: chunks.append(len(a[1])) or inner(*a, **k))
    out = {}
    for fast in (True, False):
        xb = NumpyCrossbar(cfg, fast_path=fast)
        xb.program(2, 0, 0, g)
        out[fast] = xb.mvm(2, 0, 0, h, w, x, p)
    assert chunks == [step, step, 37]
    assert np.array_equal(out[True].view(np.uint32), out[False].view(np.uint32))
    assert np.array_equal(out[True], _oracle(x, g, p).astype(np.float32))


@pytest.mark.parametrize("isgn,adcsh,h,w", [(0, 1, 200, 90), (1, 2, 130, 128), (0, 5, 256, 80)])
def test_rows_left_out_in_transposed_digits_give_the_bits_of_the_plain_loop(isgn, adcsh, h, w,
                                                                            monkeypatch):
    # The loop that leaves out dead rows takes its digits in rows x vectors layout (a blocked
    # transposing copy, whole-row gathers, the product reading the digits transposed). Against
    # the plain loop (fast_path=False) and the int64 oracle, bit for bit, with currents that
    # round on exact ties, columns that clip at both ends, rows live in some cycles only and a
    # last block of vectors shorter than the others.
    rng = np.random.default_rng(100 * isgn + adcsh)
    vl = 3 * bitserial.TRANSPOSE_BLOCK + 29
    assert vl * w >= bitserial.SKIP_MIN_WORK and vl < 2 * max(
        bitserial.CHUNK_MIN, bitserial.CHUNK_BYTES // (4 * (h + w)))  # one block, rows left out
    g = rng.integers(0, 128, (h, w)).astype(np.float32)
    g[:, 0] = 255  # a column far above the ADC's range: clips high (and low, signed)
    g[:, 1] = 0  # a column without current
    g[::2, 2] = 1  # small currents, odd and even: ties of the rounding at every step
    x = np.abs(rng.standard_normal((vl, h))) * 40
    x[:, : h // 3] = rng.integers(0, 4, (vl, h // 3))  # rows whose high digits are all 0
    x[:, h // 3 : h // 2] = 0  # rows dead in every cycle
    x[5, h - 1] = 255  # one vector keeps one row live in the top cycle
    if isgn:
        x *= rng.choice([-1.0, 1.0], x.shape)
    x = x.astype(np.float32)
    p = Precision(8, isgn, 1.0, 1, 8, adcsh)
    cfg = chip("ideal-int8", dac_bits=1, adc_bits=8)
    gathered = []
    inner = bitserial._live_rows
    monkeypatch.setattr(bitserial, "_live_rows",
                        lambda *a: (lambda r: gathered.append(r is not None) or r)(inner(*a)))
    out = {}
    for fast in (True, False):
        xb = NumpyCrossbar(cfg, fast_path=fast)
        xb.program(2, 0, 0, g)
        out[fast] = xb.mvm(2, 0, 0, h, w, x, p)
    assert any(gathered) and len(gathered) == p.cycles  # rows were left out in some cycle
    expect = _oracle(x, g, p)
    q = np.abs(np.clip(np.rint(x), *p.input_range)).astype(np.int64)
    currents = (q & 1) @ g.astype(np.int64)
    assert np.any(currents % 2**adcsh == 2 ** (adcsh - 1))  # a tie the ADC rounds to even
    clo, chi = p.adc_range
    assert expect[:, 0].max() >= chi * 2**adcsh  # codes at the clip's top
    assert np.array_equal(out[True].view(np.uint32), out[False].view(np.uint32))
    assert np.array_equal(out[True], expect.astype(np.float32))
