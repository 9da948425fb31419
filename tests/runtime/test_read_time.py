"""When the arrays are read: the code before ``.rerun`` right after programming, the code after it
(or a program without ``.rerun``) at the machine's read time; the memory the code before
``.rerun`` wrote survives reruns. Oracles: numpy products with ``G * (t / t0) ** -nu``."""

import numpy as np
import pytest

from runtime.crossbar import NumpyCrossbar, Precision
from runtime.xpcrossbar import ArrayCrossbar
from tests.runtime.helpers import chip, machine

T0, T = 20.0, 86400.0
DRIFT = {"drift_nu": 0.05, "drift_nu_std": 0.02, "drift_t0": T0, "stuck_on": 0.05,
         "stuck_off": 0.05, "seed": 3}
H, W = 16, 8
LEVELS = np.random.default_rng(0).integers(0, 256, (H, W))
X = np.random.default_rng(1).integers(0, 256, (2, H)).astype(np.float32)


def _program(rerun: bool) -> str:
    """Program array 2, read it into y0, then (after .rerun infer, if any) into y1 (both
    through t)."""
    levels = ", ".join(str(int(v)) for v in LEVELS.ravel())
    return f"""
    .input "x", x, [2, {H}]
    .output "y0", y0, [2, {W}]
    .output "y1", y1, [2, {W}]
        cfgi xbarr, 2
        cfgi xbrow, 5
        cfgi xbcol, 7
        cfgi xbh, {H}
        cfgi xbw, {W}
        li x5, W
        wprog x5
        cfgi ibits, 8
        cfgi dacb, 8
        cfgi vl, 2
        cfgi xs, {H}
        cfgi ys, {W}
        li x6, x
        li x7, t
        mvm x7, x6
        vsetli {2 * W}
        li x8, y0
        vcopy x8, x7
    infer:
        li x6, x
        li x7, t
        mvm x7, x6               # the same mvm (one plan) before and after the read time
        li x8, y1
        vcopy x8, x7
        halt
    {".rerun infer" if rerun else ""}
    .data
    x:  .zero {4 * 2 * H}
    y0: .zero {4 * 2 * W}
    y1: .zero {4 * 2 * W}
    t:  .zero {4 * 2 * W}
    .weights
    W:  .u8 {levels}
    """


def _oracle(m, time_s):
    """x @ G at the read time, from the cell properties the machine drew: stuck cells at Gmax
    or 0, the others ``G * (t / t0) ** -nu`` (no drift without a time or for t <= t0)."""
    on, off, nu = m.xbar.device_properties(2)
    region = (slice(5, 5 + H), slice(7, 7 + W))
    on, off, nu = on[region], off[region], nu[region]
    g = np.where(on, 255.0, np.where(off, 0.0, LEVELS.astype(np.float64)))
    if time_s is not None and time_s > T0:
        g = np.where(on | off, g, g * (time_s / T0) ** -nu)
    return X.astype(np.float64) @ g


def test_reads_before_rerun_are_undrifted_and_after_it_drifted():
    m = machine(_program(rerun=True), chip("ideal-int8", nonideal=DRIFT), time_s=T)
    first = m.run({"x": X})
    np.testing.assert_array_equal(first["y0"], _oracle(m, None).astype(np.float32))
    np.testing.assert_allclose(first["y1"], _oracle(m, T), rtol=1e-6)
    assert np.abs(first["y1"] - first["y0"]).max() > 0.2 * np.abs(first["y0"]).max()
    for _ in range(2):  # reruns start at .rerun: y0 as the first run left it at .rerun
        again = m.run({"x": X})
        np.testing.assert_array_equal(again["y0"], first["y0"])
        np.testing.assert_array_equal(again["y1"], first["y1"])


def test_a_program_without_rerun_reads_at_the_read_time_from_the_start():
    m = machine(_program(rerun=False), chip("ideal-int8", nonideal=DRIFT), time_s=T)
    for _ in range(2):
        y = m.run({"x": X})
        for name in ("y0", "y1"):
            np.testing.assert_allclose(y[name], _oracle(m, T), rtol=1e-6)


@pytest.mark.parametrize("time_s", [None, 5.0, T0])
def test_no_drift_without_a_read_time_or_before_t0(time_s):
    for rerun in (True, False):
        m = machine(_program(rerun), chip("ideal-int8", nonideal=DRIFT), time_s=time_s)
        y = m.run({"x": X})
        exact = _oracle(m, None).astype(np.float32)
        np.testing.assert_array_equal(y["y0"], exact)
        np.testing.assert_array_equal(y["y1"], exact)


@pytest.mark.parametrize("backend", ["numpy", "array"])
def test_the_machine_takes_an_injected_crossbars_read_time(backend):
    """Both backends (the array backend with numpy as its module) switch at .rerun."""
    from isa.assembler import assemble
    from runtime.machine import Machine

    cfg = chip("ideal-int8", nonideal=DRIFT)
    xb = NumpyCrossbar(cfg, time_s=T) if backend == "numpy" else ArrayCrossbar(cfg, np, time_s=T)
    m = Machine(cfg, assemble(_program(rerun=True)).obj, crossbar=xb)
    for _ in range(2):
        y = m.run({"x": X})
        np.testing.assert_array_equal(y["y0"], _oracle(m, None).astype(np.float32))
        np.testing.assert_allclose(y["y1"], _oracle(m, T), rtol=1e-6)


def test_memory_written_before_rerun_survives_reruns():
    """A rerun starts from memory as the first run had it at .rerun: .data, then what the
    code before .rerun wrote (also over .data), then the inputs; what the inference writes is
    gone."""
    src = """
    .input "x", x, [1]
    .output "y", y, [3]
        li x1, kept
        li x2, 40
        sw x2, 0(x1)             # outside .data: kept
        li x1, y
        li x2, 0x3f800000        # 1.0 over the .data value of y[0]
        sw x2, 0(x1)
    infer:
        li x1, kept
        lw x2, 0(x1)
        addi x2, x2, 2
        sw x2, 4(x1)             # kept + 4: written by the inference only
        lw x3, 4(x1)
        li x4, y
        sw x3, 4(x4)
        li x5, y + 8
        li x6, x
        vsetli 1
        vcopy x5, x6
        halt
    .rerun infer
    .data
    x: .zero 4
    y: .float 7, 0, 0
    .equ kept, 0x1000
    """
    m = machine(src)
    for v in (1.5, 2.5, 3.5):
        y = m.run({"x": np.array([v], np.float32)})["y"]
        assert y[0] == 1.0 and y.view(np.uint32)[1] == 42 and y[2] == v
    assert m.state.mem.load_word(0x1004) == 42  # still there after the last run


def test_set_time_is_idempotent_and_keeps_the_caches_right():
    """Fast-path kernels, column sums and combined cells follow the read time; going back to
    no drift gives the exact integer results again, bit for bit."""
    cfg = chip("ideal-int8", nonideal={"drift_nu": 0.05, "drift_t0": T0})
    rng = np.random.default_rng(5)
    g = rng.integers(0, 256, (32, 16)).astype(np.float32)
    x = rng.integers(0, 256, (4, 32)).astype(np.float32)
    p = Precision(8, 0, 1.0, 8, 0, 0)
    coef = np.array([1.0, -1.0])
    for xb in (NumpyCrossbar(cfg), ArrayCrossbar(cfg, np)):
        xb.program(0, 0, 0, g)
        exact = x.astype(np.int64) @ g.astype(np.int64)
        assert np.array_equal(xb.mvm(0, 0, 0, 32, 16, x, p), exact)
        version = xb.versions[0]
        xb.set_time(10.0)  # before t0: nothing changes
        assert xb.versions[0] == version
        xb.set_time(T)
        f = (T / T0) ** -0.05
        np.testing.assert_allclose(xb.mvm(0, 0, 0, 32, 16, x, p), exact * f, rtol=1e-6)
        comb = xb.mvm_combined(0, 0, 0, 32, 16, x, p, coef)
        if comb is not None:
            np.testing.assert_allclose(comb, (exact[:, :8] - exact[:, 8:]) * f, rtol=1e-4,
                                       atol=1e-2)
        version = xb.versions[0]
        xb.set_time(T)
        assert xb.versions[0] == version
        xb.set_time(None)
        assert np.array_equal(xb.mvm(0, 0, 0, 32, 16, x, p), exact)
        if type(xb) is NumpyCrossbar:  # the device backend combines no cells
            assert np.array_equal(xb.mvm_combined(0, 0, 0, 32, 16, x, p, coef),
                                  exact[:, :8] - exact[:, 8:])
        assert np.array_equal(xb.cells(0)[:32, :16], g)
