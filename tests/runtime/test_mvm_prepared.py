"""A repeated mvm / mvm.acc runs as the call its first execution prepared (runtime/ops/xbar.py
``_prepared``): the same results as the int64 oracle on every run, through scratch buffers that
grow between two executions, reprogrammed arrays and kernels without ``bind``."""

import numpy as np
import pytest

from runtime.crossbar import NumpyCrossbar
from runtime.widesums import Float64Sums
from tests.runtime.helpers import chip, covers, machine
from tests.runtime.test_xbar_ops import _u

H, W, SMALL, LARGE = 40, 256, 3, 300  # LARGE * W > 2**16 floats: the scratch buffer grows


def _program(prec: str) -> str:
    # Per pass: y1 = x1 @ G1 + x1 @ G2 (vl = SMALL), y2 = x2 @ G2 + x2 @ G1 (vl = LARGE, growing
    # the mvm.acc scratch buffer), y1 += x1 @ G2 again (its prepared call holds the old buffer);
    # G1 (array 1) is programmed at the start of each pass, with W2's cells in the second.
    return f"""
    .input "x1", xa, [{SMALL}, {H}]
    .input "x2", xb, [{LARGE}, {H}]
    .output "y1", ya, [{SMALL}, {W}]
    .output "y2", yb, [{LARGE}, {W}]
        cfgi xbh, {H}
        cfgi xbw, {W}
        cfgi xs, {H}
        cfgi ys, {W}
    {prec}
        cfgi xbarr, 2
        li x5, W2
        wprog x5
        li x5, W1
        li x9, 2
    again:
        cfgi xbarr, 1
        wprog x5
        cfgi vl, {SMALL}
        li x6, xa
        li x7, ya
        mvm x7, x6
        cfgi xbarr, 2
        mvm.acc x7, x6
        cfgi vl, {LARGE}
        li x6, xb
        li x7, yb
        cfgi xbarr, 2
        mvm x7, x6
        cfgi xbarr, 1
        mvm.acc x7, x6
        cfgi xbarr, 2
        cfgi vl, {SMALL}
        li x6, xa
        li x7, ya
        mvm.acc x7, x6
        li x5, W2
        addi x9, x9, -1
        bnez x9, again
        halt
    .data
    xa: .zero {4 * SMALL * H}
    xb: .zero {4 * LARGE * H}
    ya: .zero {4 * SMALL * W}
    yb: .zero {4 * LARGE * W}
    .weights
    W1:
    {_u(np.arange(H * W).reshape(H, W) % 7)}
    W2:
    {_u(np.arange(H * W).reshape(H, W) % 5)}
    """


@covers("mvm", "mvm.acc")
@pytest.mark.parametrize("case", ["float", "float64 sums", "int8", "int8 kept inputs"])
def test_prepared_mvms_give_the_oracle_on_every_run(case):
    rng = np.random.default_rng(3)
    g2 = np.arange(H * W).reshape(H, W) % 5
    prec, cfg, crossbar = "", chip("ideal"), NumpyCrossbar
    if case.startswith("int8"):
        prec = "cfgi ibits, 8\n        cfgi isgn, 1\n        cfgi dacb, 8"
        cfg = chip("ideal-int8", dac_bits=8)
    elif case == "float64 sums":
        crossbar = Float64Sums
    m = machine(_program(prec), cfg, crossbar=crossbar(cfg))
    if case == "int8":  # every input quantized by the kernel itself, none kept
        from runtime.ops import xbar
        m.state.memo.clear()
        keep, xbar._KEEP_QUANTIZED = xbar._KEEP_QUANTIZED, 0
    try:
        for _ in range(3):
            x1 = rng.integers(-100, 101, (SMALL, H)).astype(np.float32)
            x2 = rng.integers(-100, 101, (LARGE, H)).astype(np.float32)
            out = m.run({"x1": x1, "x2": x2})
            a1, a2 = x1.astype(np.int64), x2.astype(np.int64)
            # second pass: G1's array holds W2's cells, the state of the last MVMs
            assert np.array_equal(out["y1"], (a1 @ g2 + 2 * (a1 @ g2)).astype(np.float32))
            assert np.array_equal(out["y2"], (a2 @ g2 + a2 @ g2).astype(np.float32))
    finally:
        if case == "int8":
            xbar._KEEP_QUANTIZED = keep
    prepared = [p[-1] for k, p in m.state.memo.items() if k[0] == "mvm" and p]
    if case != "int8 kept inputs":  # (those reuse their quantized inputs instead)
        assert any(c[0] is not None for c in prepared) and any(c[1] is not None for c in prepared)
