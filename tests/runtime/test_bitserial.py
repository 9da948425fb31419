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
