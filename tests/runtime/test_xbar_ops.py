"""wprog / mvm / mvm.acc / send / barrier through assembled programs, against numpy."""

import numpy as np
import pytest

from tests.runtime.helpers import chip, covers, f32_bits, machine, run
from tests.runtime.test_crossbar import oracle


def _u(values, directive=".u8", per_line=32):
    flat = [str(int(v)) for v in np.ravel(values)]
    return "\n".join(f"    {directive} " + ", ".join(flat[k : k + per_line])
                     for k in range(0, len(flat), per_line))


def _mvm_program(h, w, vl, xs, ys, *, array=3, row=7, col=20, fmt=0, weights="",
                 precision=""):
    return f"""
    .input "x", x, [{vl}, {xs}]
    .output "y", y, [{vl}, {ys}]
        cfgi xbarr, {array}
        cfgi xbrow, {row}
        cfgi xbcol, {col}
        cfgi xbh, {h}
        cfgi xbw, {w}
        cfgi wfmt, {fmt}
        li x5, W
        wprog x5
        cfgi vl, {vl}
        cfgi xs, {xs}
        cfgi ys, {ys}
    {precision}
        li x6, x
        li x7, y
        mvm x7, x6
        mvm.acc x7, x6
        halt
    .data
    x: .zero {4 * vl * xs}
    y: .zero {4 * vl * ys}
    .weights
    W:
    {weights}
    """


@covers("wprog", "mvm", "mvm.acc")
def test_quantized_mvm_program_matches_the_oracle():
    rng = np.random.default_rng(0)
    h, w, vl, xs, ys = 37, 19, 6, 40, 23  # padded rows: strides larger than the region
    g = rng.integers(0, 256, (h, w))
    x = (rng.standard_normal((vl, xs)) * 40).astype(np.float32)
    prec = f"""
        cfgi ibits, 8
        cfgi isgn, 1
        li x1, {f32_bits(0.5)}
        csrw iscale, x1
        cfgi dacb, 2
        cfgi adcb, 14
        cfgi adcsh, 1"""
    cfg = chip("ideal-int8", dac_bits=2, adc_bits=14)
    src = _mvm_program(h, w, vl, xs, ys, weights=_u(g), precision=prec)
    _, out = run(src, {"x": x}, cfg)
    once = oracle(x[:, :h], g, 8, 1, 0.5, 2, 14, 1).astype(np.float32)
    assert np.array_equal(out["y"][:, :w], once + once)
    assert not out["y"][:, w:].any()  # the padding of each output row is untouched


@covers("wprog", "mvm")
def test_weight_formats_on_a_float_chip():
    rng = np.random.default_rng(1)
    h, w, vl = 12, 9, 4
    x = rng.standard_normal((vl, h)).astype(np.float32)
    g16 = rng.integers(0, 2048, (h, w))  # 11-bit levels from uint16 weight memory
    src16 = _mvm_program(h, w, vl, h, w, fmt=1, weights=_u(g16, ".u16"))
    _, out = run(src16, {"x": x}, "ideal")
    scale = (np.abs(x).astype(np.float64) @ g16).max()  # float32 sums lose ~1e-7 of this
    np.testing.assert_allclose(out["y"], 2 * (x.astype(np.float64) @ g16), atol=1e-6 * scale)
    gf = rng.random((h, w)).astype(np.float32)
    flat = ", ".join(repr(float(v)) for v in gf.ravel())
    srcf = _mvm_program(h, w, vl, h, w, fmt=2, weights=f"    .f32 {flat}")
    _, out = run(srcf, {"x": x}, "ideal")
    scale = (np.abs(x).astype(np.float64) @ gf).max()
    np.testing.assert_allclose(out["y"], 2 * (x.astype(np.float64) @ gf), atol=1e-6 * scale)


@covers("mvm", "vsadd")
def test_sliced_signed_weights_recombined_by_vsadd():
    # 8-bit signed weights, differential pairs of 2-bit cells: S = ceil(7 / 2) = 4 slices,
    # 8 column blocks b = 2*s + p side by side in one array; vsadd recombines them.
    rng = np.random.default_rng(2)
    h, w, vl, cell = 50, 6, 5, 2
    weights = rng.integers(-127, 128, (h, w))
    blocks = []
    for s in range(4):
        for part in (np.maximum(weights, 0), np.maximum(-weights, 0)):
            blocks.append((part >> (cell * s)) & 3)
    g = np.concatenate(blocks, axis=1)  # h x 8w
    x = rng.integers(-127, 128, (vl, h)).astype(np.float32)
    src = f"""
    .input "x", x, [{vl}, {h}]
    .output "y", y, [{vl}, {w}]
        cfgi xbh, {h}
        cfgi xbw, {8 * w}
        li x5, W
        wprog x5
        cfgi vl, {vl}
        cfgi xs, {h}
        cfgi ys, {8 * w}
        cfgi ibits, 8
        cfgi isgn, 1
        cfgi dacb, 1
        li x6, x
        li x7, p
        mvm x7, x6
        # D[m, j] = sum_b c_b P[m, b*w + j]: dims 3 (m), 4 (j), 5 (b)
        cfgi n3, {vl}
        cfgi n4, {w}
        cfgi n5, 8
        cfgi sa3, {8 * w}
        cfgi sa4, 1
        cfgi sa5, {w}
        cfgi sd3, {w}
        cfgi sd4, 1
        cfgi cellb, {cell}
        cfgi wsch, 1
        li x8, y
        vsadd x8, x7
        halt
    .data
    x: .zero {4 * vl * h}
    y: .zero {4 * vl * w}
    p: .zero {4 * vl * 8 * w}
    .weights
    W:
    {_u(g)}
    """
    _, out = run(src, {"x": x}, chip("ideal-int8", cell_bits=cell, dac_bits=1))
    assert np.array_equal(out["y"], (x.astype(np.int64) @ weights).astype(np.float32))


@covers("send", "barrier")
def test_send_between_memory_regions():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(16).astype(np.float32)
    src = """
    .input "x", x, [16]
    .output "y", y, [16]
    .output "z", z, [16]
        li x5, x
        li x6, 0x81000040       # tile 1's buffer
        li x7, 16
        send x6, x5, x7
        barrier
        li x8, y
        send x8, x6, x7
        li x9, z
        send x9, x5, x7
        addi x10, x9, 8
        li x11, 14
        send x10, x9, x11       # overlapping: a memmove by two words
        li x12, 0
        send x8, x5, x12        # zero words: nothing happens
        halt
    .data
    x: .zero 64
    y: .zero 64
    z: .zero 64
    """
    m, out = run(src, {"x": x})
    assert np.array_equal(out["y"], x)
    assert np.array_equal(out["z"], np.concatenate([x[:2], x[:14]]))
    assert m.cost.bytes_sent == 4 * (16 + 16 + 16 + 14)


def _sablk_programs(h, w, nb, vl, precision, weights, fmt=0, cellb=1, wsch=1, acc=False):
    """The same MVM of ``nb`` column blocks recombined two ways: by the mvm itself (``sablk``)
    and by ``mvm`` into partial sums then ``vsadd``. With ``acc``, the sablk program runs the
    MVM twice, the second accumulating (``mvm.acc``)."""
    head = f"""
    .input "x", x, [{vl}, {h}]
    .output "y", y, [{vl}, {w}]
        cfgi xbarr, 2
        cfgi xbcol, 3
        cfgi xbh, {h}
        cfgi xbw, {nb * w}
        cfgi wfmt, {fmt}
        li x5, W
        wprog x5
        cfgi vl, {vl}
        cfgi xs, {h}
        cfgi cellb, {cellb}
        cfgi wsch, {wsch}
    {precision}
        li x6, x
        li x8, y
    """
    tail = f"""
        halt
    .data
    x: .zero {4 * vl * h}
    y: .zero {4 * vl * w}
    p: .zero {4 * vl * nb * w}
    .weights
    W:
    {weights}
    """
    combined = head + f"""
        cfgi ys, {w}
        cfgi sablk, {nb}
        mvm x8, x6
        {"mvm.acc x8, x6" if acc else ""}
    """ + tail
    split = head + f"""
        cfgi ys, {nb * w}
        li x7, p
        mvm x7, x6
        cfgi n3, {vl}
        cfgi n4, {w}
        cfgi n5, {nb}
        cfgi sa3, {nb * w}
        cfgi sa4, 1
        cfgi sa5, {w}
        cfgi sd3, {w}
        cfgi sd4, 1
        vsadd x8, x7
    """ + tail
    return combined, split


def _differential(weights, cell, slices):
    """Blocks ``b = 2*s + p`` of a differential pair of ``slices`` slices of ``cell`` bits."""
    top = (1 << cell) - 1
    return np.concatenate([(part >> (cell * s)) & top for s in range(slices)
                           for part in (np.maximum(weights, 0), np.maximum(-weights, 0))], axis=1)


_PREC = """
        cfgi ibits, 8
        cfgi isgn, 1
        cfgi dacb, 1
        cfgi adcb, {adcb}
        cfgi adcsh, {adcsh}"""


@covers("mvm", "mvm.acc", "vsadd")
@pytest.mark.parametrize("adcb,adcsh,noise", [(0, 0, 0.0),  # lossless: combined cells
                                              (9, 0, 0.0),  # ADC wide enough: still lossless
                                              (6, 3, 0.0),  # rounding ADC: column by column
                                              (0, 0, 0.02)])  # read noise: column by column
def test_mvm_shift_adds_its_column_blocks_like_vsadd(adcb, adcsh, noise):
    # 8-bit signed weights as differential pairs of 2-bit cells: 4 slices, 8 blocks.
    rng = np.random.default_rng(7)
    h, w, vl, cell = 40, 5, 6, 2
    weights = rng.integers(-127, 128, (h, w))
    g = _differential(weights, cell, 4)
    x = rng.integers(-127, 128, (vl, h)).astype(np.float32)
    cfg = chip("ideal-int8", cell_bits=cell, dac_bits=1, adc_bits=adcb,
               nonideal={"read_noise": noise})
    prec = _PREC.format(adcb=adcb, adcsh=adcsh)
    combined, split = _sablk_programs(h, w, 8, vl, prec, _u(g), cellb=cell)
    _, want = run(split, {"x": x}, cfg)
    m, got = run(combined, {"x": x}, cfg)
    assert np.array_equal(got["y"], want["y"])  # the same bits, whichever way it is computed
    coef = np.array([(1 << (cell * (b // 2))) * (-1 if b % 2 else 1) for b in range(8)])
    cols = oracle(x, g, 8, 1, 1.0, 1, adcb, adcsh).reshape(vl, 8, w)
    exact = np.einsum("mbj,b->mj", cols, coef)
    if noise:
        assert not np.array_equal(got["y"], exact)  # the noise reached the result
    else:
        assert np.array_equal(got["y"], exact.astype(np.float32))
        if not adcb or adcsh == 0:
            assert np.array_equal(got["y"], (x.astype(np.int64) @ weights).astype(np.float32))
    assert m.cost.adc_conversions == vl * 8 * w * 7  # every physical column, every cycle
    _, twice = run(_sablk_programs(h, w, 8, vl, prec, _u(g), cellb=cell, acc=True)[0],
                   {"x": x}, cfg)
    if not noise:
        assert np.array_equal(twice["y"], 2 * got["y"])


@covers("mvm", "vsadd")
def test_mvm_subtracts_float_differential_columns():
    # Float cells, ideal converters: the combined product is the columns' difference up to
    # float32 rounding.
    rng = np.random.default_rng(8)
    h, w, vl = 60, 7, 5
    weights = rng.standard_normal((h, w)).astype(np.float32)
    g = np.concatenate([np.maximum(weights, 0), np.maximum(-weights, 0)], axis=1)
    x = rng.standard_normal((vl, h)).astype(np.float32)
    flat = ", ".join(repr(float(v)) for v in g.ravel())
    combined, split = _sablk_programs(h, w, 2, vl, "", f"    .f32 {flat}", fmt=2)
    _, got = run(combined, {"x": x}, "ideal")
    _, want = run(split, {"x": x}, "ideal")
    exact = x.astype(np.float64) @ weights.astype(np.float64)
    scale = np.abs(x).astype(np.float64) @ np.abs(weights).astype(np.float64)
    assert np.all(np.abs(got["y"] - exact) <= 1e-6 * scale)
    assert np.all(np.abs(want["y"] - exact) <= 1e-6 * scale)


@covers("wprog", "mvm", "mvm.acc")
@pytest.mark.parametrize("adcb", [None, 0, 10])  # float chip; ideal ADC; an ADC that clips G2
def test_mvm_after_reprogramming_and_across_runs(adcb):
    # The same mvm (same settings, same addresses) before and after its region is programmed
    # again must see the new cells, combined (sablk 2, a differential pair) or not, even where
    # the new cells make its ADC clip; a second run must start from zeroed memory (z sums in
    # tile 0's buffer, which no .data section rewrites).
    rng = np.random.default_rng(11)
    h, w, vl = 24, 5, 3
    g1 = rng.integers(0, 16, (h, 2 * w))  # small: a 10-bit ADC never clips (1-bit cycles)
    g2 = rng.integers(0, 256, (h, 2 * w))
    x = rng.integers(-100, 101, (vl, h)).astype(np.float32)
    if adcb is None:
        cfg, prec = chip("ideal"), ""
    else:
        cfg = chip("ideal-int8", dac_bits=1, adc_bits=adcb)
        prec = f"""
        cfgi ibits, 8
        cfgi isgn, 1
        cfgi dacb, 1
        cfgi adcb, {adcb}"""
    src = f"""
    .input "x", x, [{vl}, {h}]
    .output "y", y, [{vl}, {w}]
    .output "z", z, [{vl}, {2 * w}]
        cfgi xbarr, 2
        cfgi xbh, {h}
        cfgi xbw, {2 * w}
        cfgi vl, {vl}
        cfgi xs, {h}
        cfgi wsch, 1
    {prec}
        li x6, x
        li x5, W1
        li x8, W2
        li x9, 2
    again:
        wprog x5
        cfgi sablk, 2
        cfgi ys, {w}
        li x7, y
        mvm.acc x7, x6
        mvm x7, x6
        mvm.acc x7, x6
        cfgi sablk, 1
        cfgi ys, {2 * w}
        li x7, 0x80000000
        mvm.acc x7, x6
        mv x5, x8
        addi x9, x9, -1
        bnez x9, again
        cfgi n5, {vl * 2 * w}
        cfgi sd5, 1
        cfgi sa5, 1
        li x5, z
        vcopy x5, x7
        halt
    .data
    x: .zero {4 * vl * h}
    y: .zero {4 * vl * w}
    z: .zero {4 * vl * 2 * w}
    .weights
    W1:
    {_u(g1)}
    W2:
    {_u(g2)}
    """
    m = machine(src, cfg)
    out = m.run({"x": x})
    cols = [oracle(x, g, 8, 1, 1.0, 1, adcb or 0, 0) for g in (g1, g2)]
    if adcb:
        assert np.array_equal(cols[0], x.astype(np.int64) @ g1)  # G1: lossless
        assert not np.array_equal(cols[1], x.astype(np.int64) @ g2)  # G2: clipped
    pair = cols[1][:, :w] - cols[1][:, w:]
    assert np.array_equal(out["y"], (2 * pair).astype(np.float32))
    assert np.array_equal(out["z"], (cols[0] + cols[1]).astype(np.float32))
    again = m.run({"x": x})
    assert np.array_equal(again["y"], out["y"]) and np.array_equal(again["z"], out["z"])


@covers("mvm")
def test_mvm_in_a_loop_over_addresses():
    # A loop whose mvm writes a new address each iteration: one prepared mvm per address, the
    # memo emptied whenever it is full (here every 3), each result still right.
    from runtime.state import MemoLimits

    rng = np.random.default_rng(12)
    h, w, n = 16, 6, 8
    g = rng.integers(0, 256, (h, w))
    x = rng.standard_normal((n, h)).astype(np.float32)
    src = f"""
    .input "x", x, [{n}, {h}]
    .output "y", y, [{n}, {w}]
        cfgi xbarr, 1
        cfgi xbh, {h}
        cfgi xbw, {w}
        li x5, W
        wprog x5
        cfgi vl, 1
        li x6, x
        li x7, y
        li x9, {n}
    loop:
        mvm x7, x6
        addi x6, x6, {4 * h}
        addi x7, x7, {4 * w}
        addi x9, x9, -1
        bnez x9, loop
        halt
    .data
    x: .zero {4 * n * h}
    y: .zero {4 * n * w}
    .weights
    W:
    {_u(g)}
    """
    m = machine(src)
    m.state.memo_limits = MemoLimits(plans=3)
    out = m.run({"x": x})
    scale = np.abs(x).astype(np.float64) @ g
    assert np.all(np.abs(out["y"] - x.astype(np.float64) @ g) <= 1e-6 * scale)
    assert len(m.state.memo) <= 3


@covers("mvm", "sw", "vcopy")
@pytest.mark.parametrize("adcb, adcsh, kind", [(0, 0, "ExactKernel"),
                                               (8, 5, "CyclesKernel")])  # an ADC that rounds
def test_quantized_inputs_kept_only_while_unwritten(monkeypatch, adcb, adcsh, kind):
    # Two arrays multiply the same quantized operand (a layer's column tiles): the interpreter
    # quantizes it once and keeps the result while no write reaches the operand, with one
    # product (lossless) or the DAC cycle loop (a real ADC). A scalar store into one element,
    # a vector copy over it and a new run with other inputs must each be seen by the next mvm;
    # a write elsewhere must not drop it.
    rng = np.random.default_rng(13)
    h, w, vl = 20, 6, 3
    g1, g2 = rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))
    x = rng.integers(-150, 151, (vl, h)).astype(np.float32)  # some beyond the 8-bit range
    alt = rng.integers(-127, 128, (vl, h)).astype(np.float32)
    src = f"""
    .input "x", x, [{vl}, {h}]
    .input "alt", alt, [{vl}, {h}]
    .output "y", y, [6, {vl}, {w}]
        cfgi xbh, {h}
        cfgi xbw, {w}
        cfgi vl, {vl}
        cfgi xs, {h}
        cfgi ys, {w}
        cfgi ibits, 8
        cfgi isgn, 1
        cfgi dacb, 8
        cfgi adcb, {adcb}
        cfgi adcsh, {adcsh}
        li x5, W1
        cfgi xbarr, 1
        wprog x5
        li x5, W2
        cfgi xbarr, 2
        wprog x5
        li x6, x
        li x7, y
        cfgi xbarr, 1
        mvm x7, x6
        addi x7, x7, {4 * vl * w}
        cfgi xbarr, 2
        mvm x7, x6
        li x10, {f32_bits(-99.0)}
        sw x10, {4 * (h + 3)}(x6)
        addi x7, x7, {4 * vl * w}
        mvm x7, x6
        cfgi n5, {vl * h}
        cfgi sd5, 1
        cfgi sa5, 1
        li x12, alt
        vcopy x6, x12
        addi x7, x7, {4 * vl * w}
        cfgi xbarr, 1
        mvm x7, x6
        li x12, scratch
        vcopy x12, x6
        addi x7, x7, {4 * vl * w}
        mvm x7, x6
        addi x7, x7, {4 * vl * w}
        cfgi xbarr, 2
        mvm x7, x6
        halt
    .data
    x: .zero {4 * vl * h}
    alt: .zero {4 * vl * h}
    y: .zero {4 * 6 * vl * w}
    scratch: .zero {4 * vl * h}
    .weights
    W1:
    {_u(g1)}
    W2:
    {_u(g2)}
    """
    from runtime import products

    kernel = getattr(products, kind)
    calls = []
    quantize = kernel.quantize
    monkeypatch.setattr(kernel, "quantize", lambda k, v: calls.append(1) or quantize(k, v))
    m = machine(src, chip("ideal-int8", adc_bits=adcb))
    x2 = x.copy()
    x2[1, 3] = -99.0

    def want(xs):
        return np.stack([oracle(v, g, 8, 1, 1.0, 8, adcb, adcsh).astype(np.float32)
                         for v, g in zip(xs, (g1, g2, g2, g1, g1, g2))])

    out = m.run({"x": x, "alt": alt})
    assert np.array_equal(out["y"], want([x, x, x2, alt, alt, alt]))
    assert len(calls) == 3  # x, x after the store, x after the copy; not after the other copy
    again = m.run({"x": alt, "alt": x})
    alt2 = alt.copy()
    alt2[1, 3] = -99.0
    assert np.array_equal(again["y"], want([alt, alt, alt2, x, x, x]))
