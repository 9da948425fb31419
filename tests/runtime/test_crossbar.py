"""The crossbar model against independent integer oracles (plain numpy int64 arithmetic)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.converters import adc_c, adc_codes, quantize
from runtime.crossbar import NumpyCrossbar, Precision
from runtime.ops import kernels
from runtime.xpcrossbar import ADC_SUM_CUDA
from tests.runtime.helpers import chip


def oracle(x, g, ibits, isgn, iscale, dacb, adcb, adcsh):
    """docs/machine.md's five MVM steps in exact int64 arithmetic (integer cells only)."""
    g = g.astype(np.int64)
    if ibits == 0:
        q_cycles = [(0, x.astype(np.float64))]
    else:
        lo, hi = (-(2 ** (ibits - 1) - 1), 2 ** (ibits - 1) - 1) if isgn else (0, 2**ibits - 1)
        q = np.clip(np.rint(np.float32(x) / np.float32(iscale)), lo, hi).astype(np.int64)
        mag, sign = np.abs(q), np.sign(q)
        cycles = -(-(ibits - isgn) // dacb)
        q_cycles = [(c, sign * ((mag >> (c * dacb)) & (2**dacb - 1))) for c in range(cycles)]
    y = np.zeros((x.shape[0], g.shape[1]), np.int64 if ibits else np.float64)
    for c, qc in q_cycles:
        i = qc @ g
        if adcb:
            clo, chi = (-(2 ** (adcb - 1)), 2 ** (adcb - 1) - 1) if isgn else (0, 2**adcb - 1)
            i = np.clip(np.rint(i / 2**adcsh), clo, chi).astype(np.int64) * 2**adcsh
        y = y + i * 2 ** (c * dacb)
    return y


def _xbar(cfg, **kw):
    return NumpyCrossbar(cfg, **kw)


def _rand_inputs(rng, vl, h, ibits, isgn):
    if isgn:
        m = 2 ** (ibits - 1) - 1
        return rng.integers(-m, m + 1, (vl, h)).astype(np.float32)
    return rng.integers(0, 2**ibits, (vl, h)).astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_lossless_equals_the_integer_matmul(seed):
    rng = np.random.default_rng(seed)
    cell_bits = int(rng.integers(1, 12))
    ibits, isgn = int(rng.integers(2, 17)), int(rng.integers(0, 2))
    dacb = int(rng.integers(1, ibits + 1))
    h, w, vl = int(rng.integers(1, 257)), int(rng.integers(1, 257)), int(rng.integers(1, 40))
    g = rng.integers(0, 2**cell_bits, (h, w))
    x = _rand_inputs(rng, vl, h, ibits, isgn)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=24, input_bits=ibits)
    p = Precision(ibits, isgn, 1.0, dacb, 0, 0)
    expect = x.astype(np.int64) @ g
    for fast in (True, False):
        xb = _xbar(cfg, fast_path=fast)
        xb.program(3, 0, 0, g.astype(np.float32))
        y = xb.mvm(3, 0, 0, h, w, x, p)
        assert y.dtype == np.float32
        assert np.array_equal(y, expect.astype(np.float32)), (fast, cell_bits, ibits, dacb)


@pytest.mark.parametrize("cell_bits", range(1, 9))
def test_differential_slicing_reconstructs_signed_weights(cell_bits):
    rng = np.random.default_rng(cell_bits)
    w_bits, h, w, vl = 8, 40, 7, 9
    wmax = 2 ** (w_bits - 1) - 1
    weights = rng.integers(-wmax, wmax + 1, (h, w))
    x = _rand_inputs(rng, vl, h, 8, 1)
    cfg = chip("ideal-int8", cell_bits=cell_bits, weight_bits=w_bits)
    xb = _xbar(cfg)
    p = Precision(8, 1, 1.0, 1, 0, 0)
    slices = -(-(w_bits - 1) // cell_bits)
    mask = 2**cell_bits - 1
    y = np.zeros((vl, w), np.int64)
    for s in range(slices):
        for polarity, part in enumerate((np.maximum(weights, 0), np.maximum(-weights, 0))):
            block = (part >> (cell_bits * s)) & mask
            array = 2 * s + polarity
            xb.program(array, 5, 11, block.astype(np.float32))
            out = xb.mvm(array, 5, 11, h, w, x, p)
            y += (-1) ** polarity * 2 ** (cell_bits * s) * out.astype(np.int64)
    assert np.array_equal(y, x.astype(np.int64) @ weights)


def test_offset_scheme_nine_bit_weights_over_three_bit_cells():
    # The seed paper's example: a 9-bit weight stored over three 3-bit arrays.
    rng = np.random.default_rng(9)
    w_bits, cell_bits, h, w, vl = 9, 3, 30, 5, 6
    weights = rng.integers(-(2 ** (w_bits - 1)), 2 ** (w_bits - 1), (h, w))
    shifted = weights + 2 ** (w_bits - 1)  # 0 .. 2**9 - 1
    x = _rand_inputs(rng, vl, h, 8, 1)
    xb = _xbar(chip("ideal-int8", cell_bits=cell_bits, weight_bits=w_bits, signed="offset"))
    p = Precision(8, 1, 1.0, 2, 0, 0)
    y = np.zeros((vl, w), np.int64)
    for s in range(3):
        xb.program(s, 0, 0, ((shifted >> (3 * s)) & 7).astype(np.float32))
        y += 2 ** (3 * s) * xb.mvm(s, 0, 0, h, w, x, p).astype(np.int64)
    xb.program(3, 0, 0, np.ones((h, 1), np.float32))  # reference column
    ref = xb.mvm(3, 0, 0, h, 1, x, p).astype(np.int64)
    y -= 2 ** (w_bits - 1) * ref
    assert np.array_equal(y, x.astype(np.int64) @ weights)


def test_adc_clips_and_rounds_by_the_stated_formula():
    xb = _xbar(chip("ideal-int8", cell_bits=2, adc_bits=0))
    xb.program(0, 0, 0, np.array([[3], [3], [3]], np.float32))  # column sum 9
    x = np.array([[1, 1, 1], [3, 3, 3], [-1, -1, -1]], np.float32)
    # 2-bit unsigned inputs, 1 bit per cycle, 3-bit ADC (codes 0..7): cycle currents 9 clip to 7
    y = xb.mvm(0, 0, 0, 3, 1, x[:2], Precision(2, 0, 1.0, 1, 3, 0))
    assert y.ravel().tolist() == [7.0, 7.0 + 2 * 7.0]
    # LSB of 2 units: 9 / 2 = 4.5 rounds half to even -> 4, times 2 -> 8
    y = xb.mvm(0, 0, 0, 3, 1, x[:1], Precision(2, 0, 1.0, 1, 3, 1))
    assert y.ravel().tolist() == [8.0]
    # signed 3-bit inputs and a signed 3-bit ADC (codes -4..3): -9 clips to -4
    y = xb.mvm(0, 0, 0, 3, 1, x[2:], Precision(3, 1, 1.0, 2, 3, 0))
    assert y.ravel().tolist() == [-4.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("adcsh", [0, 1, 3])
@pytest.mark.parametrize("signed", [0, 1])
def test_the_cuda_adc_expression_is_the_adc_rule(dtype, adcsh, signed):
    # The C expression the CUDA kernels are generated from (converters.adc_c), evaluated with
    # numpy's functions of the same IEEE semantics, against adc_codes and the doc's formula in
    # exact rational arithmetic (ties to even, clip): one rule in three spellings.
    p = Precision(8, signed, 1.0, 1, 4, adcsh)
    lo, hi = p.adc_range
    steps = np.arange(-40, 41) / 2  # every half step: ties, and values past both ends
    i = (steps * 2.0**adcsh).astype(dtype)
    expr = adc_c("v", "down", "lo", "hi")
    c_value = eval(expr, {"fmin": np.minimum, "fmax": np.maximum, "rint": np.rint},
                   {"v": i.astype(np.float64), "down": 2.0**-adcsh, "lo": float(lo),
                    "hi": float(hi)})
    got = adc_codes(i.copy(), p.adc_down, lo, hi)
    expect = [min(max(round(Fraction(float(v)) / 2**adcsh), lo), hi) for v in i]  # half-even
    assert got.dtype == dtype
    assert got.tolist() == expect
    assert c_value.tolist() == expect
    assert expr in ADC_SUM_CUDA


def test_input_quantization_rounds_half_to_even_and_clips():
    xb = _xbar(chip("ideal-int8"))
    xb.program(0, 0, 0, np.eye(6, dtype=np.float32))
    x = np.array([[0.5, 1.5, 2.5, -0.5, 300.0, -3.0]], np.float32)
    y = xb.mvm(0, 0, 0, 6, 6, x, Precision(8, 0, 1.0, 8, 0, 0))
    assert y.ravel().tolist() == [0, 2, 2, 0, 255, 0]
    y = xb.mvm(0, 0, 0, 6, 6, x * 4, Precision(8, 1, 4.0, 8, 0, 0))
    assert y.ravel().tolist() == [0, 2, 2, 0, 127, -3]


@pytest.mark.parametrize("isgn,iscale", [(0, 1.0), (1, 1.0), (0, 0.37), (1, 0.37)])
@pytest.mark.parametrize("n", [7, 300, 5000])  # short inputs clip as max/min, long ones clip
def test_input_quantization_bits_match_numpy_clip(isgn, iscale, n):
    # Step 1 against its formula evaluated with numpy's clip, bit for bit: signed zeros
    # (-0.0, and rint of -0.3) included, and values beyond both ends of the range.
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 200).astype(np.float32)
    x[:6] = [-0.0, 0.0, -0.3, 0.3, -1e9, 1e9]
    p = Precision(8, isgn, iscale, 8, 0, 0)
    lo, hi = p.input_range
    want = np.clip(np.rint(x / np.float32(iscale)) if iscale != 1.0 else np.rint(x), lo, hi)
    got = quantize(x, p, np.empty_like(x))
    assert np.array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("seed", range(8))
def test_quantized_mvm_matches_the_oracle(seed):
    rng = np.random.default_rng(100 + seed)
    cell_bits = int(rng.integers(1, 9))
    ibits, isgn = int(rng.integers(2, 10)), int(rng.integers(0, 2))
    dacb = int(rng.integers(1, ibits + 1))
    adcb, adcsh = int(rng.integers(1, 12)), int(rng.integers(0, 5))
    iscale = float(rng.choice([0.25, 0.7, 1.0, 3.0]))
    h, w, vl = int(rng.integers(1, 64)), int(rng.integers(1, 64)), int(rng.integers(1, 20))
    g = rng.integers(0, 2**cell_bits, (h, w))
    x = (rng.standard_normal((vl, h)) * 2**ibits * iscale / 3).astype(np.float32)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=16, adc_bits=16)
    p = Precision(ibits, isgn, iscale, dacb, adcb, adcsh)
    expect = oracle(x, g, ibits, isgn, iscale, dacb, adcb, adcsh)
    for fast in (True, False):
        xb = _xbar(cfg, fast_path=fast)
        xb.program(0, 1, 2, g.astype(np.float32))
        assert np.array_equal(xb.mvm(0, 1, 2, h, w, x, p), expect.astype(np.float32))


@pytest.mark.parametrize(
    "cell_bits, ibits, isgn, dacb, adcb, h",
    [(11, 16, 1, 4, 0, 256), (11, 24, 0, 24, 0, 256), (8, 8, 0, 1, 0, 256),
     (4, 8, 1, 1, 13, 256), (2, 8, 0, 2, 12, 200), (1, 4, 1, 3, 9, 100)],
)
def test_fast_path_is_bit_identical_to_the_cycle_loop(cell_bits, ibits, isgn, dacb, adcb, h):
    # Includes products above 2**24 (float64 inside, rounded to float32 on output) and ADCs
    # wide enough never to clip, where the fast path also applies.
    rng = np.random.default_rng(cell_bits * 100 + ibits)
    g = rng.integers(0, 2**cell_bits, (h, 97)).astype(np.float32)
    x = _rand_inputs(rng, 33, h, ibits, isgn)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=24, adc_bits=0)
    p = Precision(ibits, isgn, 1.0, dacb, adcb, 0)
    ys = []
    for fast in (True, False):
        xb = _xbar(cfg, fast_path=fast)
        xb.program(0, 0, 0, g)
        ys.append(xb.mvm(0, 0, 0, h, 97, x, p))
    assert ys[0].dtype == ys[1].dtype == np.float32
    assert np.array_equal(ys[0], ys[1])
    exact = x.astype(np.int64) @ g.astype(np.int64)
    assert np.array_equal(ys[0], exact.astype(np.float32))


def test_lossless_settings_skip_the_cycle_loop():
    # An mvm runs the cycle loop exactly when the array's kernel for its settings is not one
    # product (ExactKernel, bit-identical to the loop).
    from runtime.products import CyclesKernel, ExactKernel

    xb = _xbar(chip("ideal-int8"))
    xb.program(0, 0, 0, np.full((256, 4), 255, np.float32))
    x = np.full((2, 256), 255, np.float32)
    ideal = Precision(8, 0, 1.0, 1, 0, 0)
    assert isinstance(xb.kernel(0, 0, 0, 256, 4, ideal), ExactKernel)
    y = xb.mvm(0, 0, 0, 256, 4, x, ideal)
    assert y[0, 0] == 255 * 255 * 256
    # a 16-bit ADC provably never clips 1-bit cycles over 256 cells of 255: fast path
    assert isinstance(xb.kernel(0, 0, 0, 256, 4, Precision(8, 0, 1.0, 1, 16, 0)), ExactKernel)
    # a 15-bit ADC might clip: the loop, as a kernel of its own
    loop = Precision(8, 0, 1.0, 1, 15, 0)
    k = xb.kernel(0, 0, 0, 256, 4, loop)
    assert isinstance(k, CyclesKernel)
    plain = _xbar(chip("ideal-int8"), fast_path=False)
    plain.program(0, 0, 0, np.full((256, 4), 255, np.float32))
    want = plain.mvm(0, 0, 0, 256, 4, x, loop)
    assert want[0, 0] < 255 * 255 * 256  # the 15-bit ADC clipped
    assert np.array_equal(k(x, None), want)
    assert np.array_equal(k.product(k.quantize(x), np.empty_like(want)), want)
    assert np.array_equal(xb.mvm(0, 0, 0, 256, 4, x, loop), want)


def _combine(cols, coef):
    """The shift-and-add of column blocks in exact int64 (float64 for float outputs)."""
    vl, w = cols.shape[0], cols.shape[1] // len(coef)
    blocks = cols.reshape(vl, len(coef), w)
    return np.einsum("mbj,b->mj", blocks, np.asarray(coef, blocks.dtype))


@pytest.mark.parametrize(
    "cell_bits, slices, ibits, h, adcb, fused",
    [(2, 4, 8, 64, 0, True),  # 8-bit weights on 2-bit cells, float32 inside
     (4, 4, 4, 100, 0, True),  # combined column sums above 2**24: float64 inside
     (11, 1, 16, 256, 0, False),  # a column's own output above 2**24: column by column
     (2, 4, 8, 64, 6, False)],  # an ADC that rounds: column by column
)
def test_combined_cells_only_where_no_bit_changes(cell_bits, slices, ibits, h, adcb, fused):
    rng = np.random.default_rng(cell_bits * 10 + slices)
    nb, w, vl = 2 * slices, 9, 21
    g = rng.integers(0, 2**cell_bits, (h, nb * w)).astype(np.float32)
    coef = np.array([(1 << (cell_bits * (b // 2))) * (-1 if b % 2 else 1) for b in range(nb)],
                    np.float64)
    x = _rand_inputs(rng, vl, h, ibits, 1)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=8, adc_bits=adcb)
    p = Precision(ibits, 1, 1.0, 1, adcb, 2 if adcb else 0)
    xb = _xbar(cfg)
    xb.program(0, 0, 0, g)
    y = xb.mvm_combined(0, 0, 0, h, nb * w, x, p, coef)
    assert (y is not None) == (fused or adcb > 0)
    cols = oracle(x, g, ibits, 1, 1.0, 1, adcb, p.adcsh)
    if fused:
        assert y.dtype == np.float32
        assert np.array_equal(y, _combine(cols, coef).astype(np.float32))
    if adcb:  # the cycle loop's columns, shift-and-added as the interpreter does (vsadd)
        assert np.array_equal(y, _combine(cols, coef).astype(np.float32))
        want = np.empty_like(y)
        kernels.weighted_sum(want, xb.mvm(0, 0, 0, h, nb * w, x, p).reshape(vl, nb, w)
                             .transpose(0, 2, 1), coef)
        assert np.array_equal(y, want)
    slow = _xbar(cfg, fast_path=False)
    slow.program(0, 0, 0, g)
    assert slow.mvm_combined(0, 0, 0, h, nb * w, x, p, coef) is None  # no fast path asked
    noisy = _xbar(chip("ideal-int8", cell_bits=cell_bits, nonideal={"read_noise": 0.01}))
    noisy.program(0, 0, 0, g)
    assert noisy.mvm_combined(0, 0, 0, h, nb * w, x, p, coef) is None


def test_combined_cells_follow_reprogramming():
    rng = np.random.default_rng(3)
    g = rng.random((30, 8)).astype(np.float32)
    x = rng.standard_normal((4, 30)).astype(np.float32)
    p, coef = Precision(0, 0, 1.0, 1, 0, 0), np.array([1.0, -1.0])
    xb = _xbar(chip("ideal"))
    for _ in range(2):  # the second time, the region holds new cells
        xb.program(1, 0, 0, g)
        y = xb.mvm_combined(1, 0, 0, 30, 8, x, p, coef)
        want = _combine(x.astype(np.float64) @ g.astype(np.float64), coef)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
        g = g[:, ::-1].copy()


@pytest.mark.parametrize("xs", [40, 64, 5])  # bands of 40 (last one 20), of 64; numpy's copy
@pytest.mark.parametrize("ibits,dacb,adcb", [(0, 1, 0), (8, 8, 0), (8, 2, 0), (8, 1, 9)])
def test_overlapping_input_rows_give_the_product_of_their_copy(xs, ibits, dacb, adcb):
    """Rows that overlap (row m + 1 starts xs < h elements after row m, as a convolution's
    shifted windows read an image in place) give exactly what the same rows copied out give:
    against the int64 oracle on integer cells, against numpy's float64 product on float
    cells."""
    rng = np.random.default_rng(xs * 10 + ibits + dacb)
    vl, h, w = 37, 100, 23
    flat = rng.standard_normal((vl - 1) * xs + h).astype(np.float32) * 20
    x = np.lib.stride_tricks.as_strided(flat, (vl, h), (4 * xs, 4))
    xc = np.ascontiguousarray(x)
    if ibits:
        cfg = chip("ideal-int8", dac_bits=8, adc_bits=adcb)
        g = rng.integers(0, 256, (h, w)).astype(np.float32)
        p = Precision(ibits, 1, 0.5, dacb, adcb, 8 if adcb else 0)
        want = oracle(xc, g, ibits, 1, 0.5, dacb, adcb, p.adcsh).astype(np.float32)
    else:
        cfg = chip("ideal")
        g = rng.random((h, w)).astype(np.float32)
        p = Precision(0, 0, 1.0, 1, 0, 0)
        want = xc.astype(np.float64) @ g
    for fast in (True, False):
        xb = _xbar(cfg, fast_path=fast)
        xb.program(2, 0, 0, g)
        out = np.full((vl, w), np.nan, np.float32)
        got = xb.mvm(2, 0, 0, h, w, x, p, out=out)
        if ibits:
            assert np.array_equal(got, want), (fast, np.abs(got - want).max())
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert np.array_equal(x, xc)  # the input is only read


@pytest.mark.parametrize("preset_name", ["ideal", "ideal-signed"])
def test_float_cells_compute_the_float_product(preset_name):
    """Non-negative float cells; and, with ``signed = "direct"``, cells holding W itself,
    negative values included: one product against numpy's in float64."""
    rng = np.random.default_rng(5)
    g = rng.random((50, 20)).astype(np.float32)
    if preset_name == "ideal-signed":
        g -= 0.5
    x = rng.standard_normal((8, 50)).astype(np.float32)
    xb = _xbar(chip(preset_name))
    xb.program(7, 0, 0, g)
    y = xb.mvm(7, 0, 0, 50, 20, x, Precision(0, 0, 1.0, 1, 0, 0))
    np.testing.assert_allclose(y, x.astype(np.float64) @ g, rtol=1e-5, atol=1e-5)


def test_program_noise_on_signed_cells_is_symmetric_and_clipped():
    """Noise of std ``program_noise * Gmax`` (Gmax = max |W|) around each signed target, clipped
    to ``-Gmax .. Gmax``: negative cells are not pushed to zero as non-negative cells are."""
    g = np.full((200, 200), -0.5, np.float32)
    g[0, 0] = 1.0  # Gmax = 1
    cfg = chip("ideal-signed", nonideal={"program_noise": 0.1, "seed": 1})
    xb = NumpyCrossbar(cfg)
    xb.program(0, 0, 0, g)
    eye = np.eye(200, dtype=np.float32)
    got = xb.mvm(0, 0, 0, 200, 200, eye, Precision(0, 0, 1.0, 1, 0, 0))
    err = (got - g)[1:, 1:]
    assert abs(err.mean()) < 0.002 and 0.09 < err.std() < 0.11
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_unprogrammed_cells_are_zero():
    xb = _xbar(chip("ideal-int8"))
    y = xb.mvm(2, 0, 0, 16, 16, np.ones((3, 16), np.float32), Precision(8, 0, 1.0, 1, 0, 0))
    assert not y.any()


# ---- nonidealities ---------------------------------------------------------------------------

NOISY = {
    "program_noise": {"program_noise": 0.05},
    "read_noise": {"read_noise": 0.01},
    "stuck_on": {"stuck_on": 0.05},
    "stuck_off": {"stuck_off": 0.05},
    "drift": {"drift_nu": 0.05, "drift_nu_std": 0.01, "drift_t0": 1.0},
}


def _noisy_run(nonideal, *, seed=0, time_s=1e4, chip_seed=7, n=64):
    rng = np.random.default_rng(42)
    g = rng.integers(0, 256, (n, n)).astype(np.float32)
    x = rng.integers(0, 256, (64, n)).astype(np.float32)
    cfg = chip("ideal-int8", nonideal={"seed": chip_seed, **nonideal})
    xb = NumpyCrossbar(cfg, seed=seed, time_s=time_s)
    xb.program(1, 0, 0, g)
    y = xb.mvm(1, 0, 0, n, n, x, Precision(8, 0, 1.0, 1, 0, 0))
    return y, x.astype(np.int64) @ g.astype(np.int64)


@pytest.mark.parametrize("name", sorted(NOISY))
def test_zero_magnitude_nonidealities_are_exact(name):
    zeroed = {k: (1.0 if k == "drift_t0" else 0.0) for k in NOISY[name]}
    y, exact = _noisy_run(zeroed, seed=3)
    assert np.array_equal(y, exact.astype(np.float32))


def test_drift_before_t0_and_without_a_read_time_is_exact():
    drift = NOISY["drift"]
    for time_s in (None, 0.5, 1.0):
        y, exact = _noisy_run(drift, time_s=time_s)
        assert np.array_equal(y, exact.astype(np.float32))


@pytest.mark.parametrize("name", sorted(NOISY))
def test_nonidealities_are_reproducible_and_seeded(name):
    a, exact = _noisy_run(NOISY[name], seed=1)
    b, _ = _noisy_run(NOISY[name], seed=1)
    assert not np.array_equal(a, exact.astype(np.float32))
    assert np.array_equal(a, b)
    c, _ = _noisy_run(NOISY[name], seed=2)
    d, _ = _noisy_run(NOISY[name], seed=1, chip_seed=8)
    if name != "drift" or NOISY[name]["drift_nu_std"]:
        assert not np.array_equal(a, c) and not np.array_equal(a, d)


@pytest.mark.parametrize(
    "name, key, values",
    [
        ("program_noise", "program_noise", (0.005, 0.02, 0.08)),
        ("read_noise", "read_noise", (0.001, 0.004, 0.016)),
        ("stuck_on", "stuck_on", (0.01, 0.04, 0.16)),
        ("stuck_off", "stuck_off", (0.01, 0.04, 0.16)),
        ("drift", "drift_nu", (0.01, 0.04, 0.16)),
    ],
)
def test_error_grows_with_magnitude(name, key, values):
    errors = []
    for v in values:
        y, exact = _noisy_run({**NOISY[name], key: v})
        errors.append(float(np.mean(np.abs(y - exact)) / np.mean(np.abs(exact))))
    assert errors[0] > 0 and errors == sorted(errors) and errors[2] > 2 * errors[0], errors


def test_drift_grows_with_time():
    errors = []
    for t in (10.0, 1e3, 1e5):
        y, exact = _noisy_run(NOISY["drift"], time_s=t)
        errors.append(float(np.mean(np.abs(y - exact))))
    assert errors == sorted(errors) and errors[0] > 0


def test_program_noise_and_stuck_cells_follow_their_parameters():
    cfg = chip("ideal-int8", rows=512, cols=512,
               nonideal={"program_noise": 0.01, "stuck_on": 0.1, "stuck_off": 0.2})
    xb = NumpyCrossbar(cfg, seed=4)
    xb.program(0, 0, 0, np.full((512, 512), 128, np.float32))
    g = xb.cells(0)
    on, off = g == 255, g == 0
    assert abs(on.mean() - 0.1) < 0.005 and abs(off.mean() - 0.2) < 0.005
    free = g[~on & ~off]
    assert abs(free.mean() - 128) < 0.05
    assert abs(free.std() - 0.01 * 255) < 0.05 * 2.55


def test_read_noise_has_the_stated_deviation():
    cfg = chip("ideal-int8", nonideal={"read_noise": 0.02})
    xb = NumpyCrossbar(cfg, seed=5)
    h = 64
    y = xb.mvm(0, 0, 0, h, 256, np.ones((64, h), np.float32), Precision(8, 0, 1.0, 8, 0, 0))
    expected = 0.02 * 255 * np.sqrt(h)  # one cycle, ||q|| = sqrt(h), all cells 0
    assert abs(y.mean()) < 0.05 * expected
    assert abs(y.std() / expected - 1) < 0.05


def test_drift_follows_the_power_law():
    cfg = chip("ideal-int8", nonideal={"drift_nu": 0.06, "drift_t0": 20.0})
    xb = NumpyCrossbar(cfg, time_s=2000.0)
    target = np.arange(1, 101, dtype=np.float32).reshape(10, 10)
    xb.program(0, 3, 4, target)
    g = xb.cells(0)[3:13, 4:14]
    np.testing.assert_allclose(g, target * (2000.0 / 20.0) ** -0.06, rtol=1e-6)


@settings(max_examples=80, deadline=None)
@given(cell_bits=st.integers(1, 8), ibits=st.integers(2, 9), isgn=st.integers(0, 1),
       dacb=st.integers(1, 3), adcb=st.integers(1, 10), adcsh=st.integers(0, 6),
       h=st.integers(1, 256), w=st.integers(1, 160), vl=st.sampled_from([1, 7, 40, 130]),
       sparse=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_bit_serial_loop_is_bit_identical_to_the_plain_loop(cell_bits, ibits, isgn, dacb, adcb,
                                                           adcsh, h, w, vl, sparse, seed):
    # The optimized loop (digits skipped by row, the clip left out where the column range
    # proves it idle) against the plain loop and the int64 oracle, bit for bit; small cells
    # and few rows give ADC ranges the currents never leave, large ones clip.
    dacb = min(dacb, ibits - isgn)
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2**cell_bits, (h, w))
    x = _rand_inputs(rng, vl, h, ibits, isgn)
    if sparse:  # small activations: the high digits of most rows are 0
        x = np.where(rng.random(x.shape) < 0.8, np.rint(x / 2 ** (ibits // 2)), x)
    cfg = chip("ideal-int8", cell_bits=cell_bits, dac_bits=16, adc_bits=16)
    p = Precision(ibits, isgn, 1.0, dacb, adcb, adcsh)
    ys = []
    for fast in (True, False):
        xb = _xbar(cfg, fast_path=fast)
        xb.program(0, 0, 0, g.astype(np.float32))
        ys.append(xb.mvm(0, 0, 0, h, w, x, p))
    assert np.array_equal(ys[0].view(np.uint32), ys[1].view(np.uint32))
    expect = oracle(x, g, ibits, isgn, 1.0, dacb, adcb, adcsh).astype(np.float32)
    assert np.array_equal(ys[0], expect)
