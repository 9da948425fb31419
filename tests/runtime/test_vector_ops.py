"""Vector-unit instructions against brute-force oracles: every operand element is located by
looping over the AGU index space (np.ndindex), and values come from Python/math in float64."""

import math

import numpy as np
import pytest

from tests.runtime.helpers import covers, f32_bits, run

WORDS = 2048
BASES = {"d": 1600, "a": 600, "b": 900, "c": 1200}  # element offsets of the operands
REGS = {"d": "x20", "a": "x21", "b": "x22", "c": "x23"}
F32 = np.float32


def indices(base, n, s):
    """Element index of every point of the index space, by brute force."""
    out = np.empty(n, np.int64)
    for idx in np.ndindex(*n):
        out[idx] = base + sum(i * k for i, k in zip(idx, s))
    return out


def random_agu(rng, dims=6, max_elems=48, zero_strides=True):
    while True:
        n = tuple(int(v) for v in rng.integers(1, 4, 6))
        if math.prod(n) <= max_elems:
            break
    lo = -5 if zero_strides else 1
    strides = {op: tuple(int(v) for v in rng.integers(lo, 6, 6)) for op in "abc"}
    return {"n": n, **strides}


def dense_strides(rng, shape):
    """Strides of a C-order layout of ``shape`` under a random dimension permutation (no two
    indices share an element)."""
    order = rng.permutation(len(shape))
    strides = [0] * len(shape)
    step = 1
    for k in reversed(order):
        strides[k] = step
        step *= shape[k]
    return tuple(strides)


def program(line, agu, csrs=None, regs=None):
    """A program that sets the AGU and other CSRs, points x20..x23 at the operands, runs
    ``line`` and halts; the test memory ``m`` is both input and output."""
    lines = ['.input "m", m, [2048]', '.output "out", m, [2048]']
    settings = {f"n{k}": v for k, v in enumerate(agu["n"])}
    for op in "dabc":
        for k, v in enumerate(agu.get(op, (0,) * 6)):
            settings[f"s{op}{k}"] = v
    settings["nred"] = agu.get("nred", 1)
    settings.update(csrs or {})
    for name, value in settings.items():
        lines += [f"    li x1, {value}", f"    csrw {name}, x1"]
    for op, reg in REGS.items():
        lines.append(f"    li {reg}, m + {4 * BASES[op]}")
    for reg, value in (regs or {}).items():
        lines.append(f"    li {reg}, {value}")
    lines += [f"    {line}", "    halt", ".data", f"m: .zero {4 * WORDS}"]
    return "\n".join(lines)


def execute(line, agu, mem, csrs=None, regs=None):
    _, out = run(program(line, agu, csrs, regs), {"m": mem})
    return out["out"]


def memory(rng, kind="normal"):
    if kind == "positive":
        return (np.abs(rng.standard_normal(WORDS)) * 3 + 0.25).astype(F32)
    if kind == "ints":
        return rng.integers(-8, 9, WORDS).astype(F32)
    m = (rng.standard_normal(WORDS) * 3).astype(F32)
    m[rng.random(WORDS) < 0.1] = 0.0
    m[rng.random(WORDS) < 0.05] = 2.5  # a tie for round-half-even
    return m


def f32(v):
    return float(F32(v))


BINARY = {
    "vadd": lambda a, b: f32(a + b),
    "vsub": lambda a, b: f32(a - b),
    "vmul": lambda a, b: f32(a * b),
    "vdiv": lambda a, b: f32(a / b),
    "vmax": max,
    "vmin": min,
    "vcmplt": lambda a, b: float(a < b),
    "vcmple": lambda a, b: float(a <= b),
    "vcmpeq": lambda a, b: float(a == b),
    "vmod": lambda a, b: f32(_pymod(a, b)),
    "vpow": lambda a, b: f32(a**b),
}
INEXACT = {"vpow", "vsigm", "vtanh", "vgelu", "verf", "vexp", "vlog", "vsin", "vcos"}


def _pymod(a, b):
    r = math.fmod(a, b)  # exact
    return r + b if r and (r < 0) != (b < 0) else r


UNARY = {
    "vcopy": lambda a: a,
    "vrelu": lambda a: max(a, 0.0),
    "vsigm": lambda a: 1 / (1 + math.exp(-a)),
    "vtanh": math.tanh,
    "vgelu": lambda a: a * (1 + math.erf(a / math.sqrt(2))) / 2,
    "verf": math.erf,
    "vexp": math.exp,
    "vlog": math.log,
    "vsqrt": lambda a: f32(math.sqrt(a)),
    "vrecip": lambda a: f32(1 / a),
    "vneg": lambda a: -a,
    "vabs": abs,
    "vfloor": math.floor,
    "vceil": math.ceil,
    "vround": round,  # Python rounds half to even
    "vsign": lambda a: float((a > 0) - (a < 0)),
    "vsin": math.sin,
    "vcos": math.cos,
    "vnot": lambda a: float(a == 0),
}


def check(mn, got, expect, didx):
    if mn in INEXACT:
        np.testing.assert_allclose(got[didx], expect[didx], rtol=2e-6, atol=2e-7, err_msg=mn)
        mask = np.ones(WORDS, bool)
        mask[didx.ravel()] = False
        np.testing.assert_array_equal(got[mask], expect[mask], err_msg=mn)
    else:
        np.testing.assert_array_equal(got, expect, err_msg=mn)


@covers(*BINARY)
def test_binary_elementwise():
    for k, (mn, f) in enumerate(BINARY.items()):
        rng = np.random.default_rng(k)
        agu = random_agu(rng)
        agu["d"] = dense_strides(rng, agu["n"])
        mem = memory(rng, "positive" if mn == "vpow" else "normal")
        if mn in ("vdiv", "vmod"):
            mem[mem == 0] = 1.5  # division by zero is tested with the traps
        a, b = (indices(BASES[op], agu["n"], agu[op]) for op in "ab")
        didx = indices(BASES["d"], agu["n"], agu["d"])
        expect = mem.copy()
        for idx in np.ndindex(*agu["n"]):
            expect[didx[idx]] = f(float(mem[a[idx]]), float(mem[b[idx]]))
        check(mn, execute(f"{mn} x20, x21, x22", agu, mem), expect, didx)


@covers(*UNARY)
def test_unary_elementwise():
    for k, (mn, f) in enumerate(UNARY.items()):
        rng = np.random.default_rng(100 + k)
        agu = random_agu(rng)
        agu["d"] = dense_strides(rng, agu["n"])
        mem = memory(rng, "positive" if mn in ("vlog", "vsqrt") else "normal")
        if mn == "vrecip":
            mem[mem == 0] = 4.0
        a = indices(BASES["a"], agu["n"], agu["a"])
        didx = indices(BASES["d"], agu["n"], agu["d"])
        expect = mem.copy()
        for idx in np.ndindex(*agu["n"]):
            expect[didx[idx]] = f(float(mem[a[idx]]))
        check(mn, execute(f"{mn} x20, x21", agu, mem), expect, didx)


@covers("vfma", "vsel", "vfill")
def test_three_operand_ops_and_fill():
    rng = np.random.default_rng(7)
    for mn in ("vfma", "vsel"):
        agu = random_agu(rng)
        agu["d"] = dense_strides(rng, agu["n"])
        mem = memory(rng)
        a, b, c = (indices(BASES[op], agu["n"], agu[op]) for op in "abc")
        didx = indices(BASES["d"], agu["n"], agu["d"])
        expect = mem.copy()
        for idx in np.ndindex(*agu["n"]):
            va, vb, vc = (float(mem[i[idx]]) for i in (a, b, c))
            expect[didx[idx]] = f32(f32(va * vb) + vc) if mn == "vfma" else (vb if va else vc)
        got = execute(f"{mn} x20, x21, x22, x23", agu, mem)
        np.testing.assert_array_equal(got, expect, err_msg=mn)
    agu = {"n": (2, 1, 3, 1, 1, 4)}
    agu["d"] = dense_strides(rng, agu["n"])
    mem = memory(rng)
    didx = indices(BASES["d"], agu["n"], agu["d"])
    expect = mem.copy()
    expect[didx.ravel()] = -0.375
    got = execute("vfill x20, x24", agu, mem, regs={"x24": f32_bits(-0.375)})
    np.testing.assert_array_equal(got, expect)


REDUCE = {
    "vrsum": lambda v: f32(math.fsum(v)),
    "vrmax": max,
    "vrmin": min,
    "vrmean": lambda v: f32(math.fsum(v) / len(v)),
}


def _rows(mem, agu, nred):
    """(outer index, list of inner values of A) for a reduction over nred inner dims."""
    a = indices(BASES["a"], agu["n"], agu["a"])
    outer = agu["n"][: 6 - nred]
    for o in np.ndindex(*outer):
        yield o, [float(mem[i]) for i in a[o].ravel()]


@covers(*REDUCE)
def test_reductions():
    for k, (mn, f) in enumerate(REDUCE.items()):
        for nred in (1, 2, 3, 6):
            rng = np.random.default_rng(10 * k + nred)
            agu = random_agu(rng)
            agu["nred"] = nred
            outer = agu["n"][: 6 - nred]
            agu["d"] = dense_strides(rng, outer) + (0,) * nred
            mem = memory(rng)
            didx = indices(BASES["d"], outer, agu["d"][: 6 - nred])
            expect = mem.copy()
            for o, values in _rows(mem, agu, nred):
                expect[didx[o]] = f(values)
            got = execute(f"{mn} x20, x21", agu, mem)
            np.testing.assert_allclose(got, expect, rtol=1e-7, err_msg=f"{mn} nred={nred}")


@covers("vsoftmax", "vnorm")
def test_row_operations():
    for mn in ("vsoftmax", "vnorm"):
        for nred in (1, 2, 4):
            rng = np.random.default_rng(nred + (50 if mn == "vnorm" else 0))
            agu = random_agu(rng)
            agu["nred"] = nred
            agu["d"] = dense_strides(rng, agu["n"])
            mem = memory(rng)
            eps = 1e-3
            a = indices(BASES["a"], agu["n"], agu["a"])
            didx = indices(BASES["d"], agu["n"], agu["d"])
            expect = mem.copy()
            for o in np.ndindex(*agu["n"][: 6 - nred]):
                v = np.array([float(mem[i]) for i in a[o].ravel()])
                if mn == "vsoftmax":
                    e = np.exp(v - v.max())
                    r = e / e.sum()
                else:
                    r = (v - v.mean()) / np.sqrt(((v - v.mean()) ** 2).mean() + f32(eps))
                expect[didx[o].ravel()] = r
            got = execute(f"{mn} x20, x21", agu, mem, csrs={"eps": f32_bits(eps)})
            np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-7, err_msg=mn)


@covers("vsadd", "vcumsum")
def test_shift_and_add_and_cumsum():
    for wsch in (0, 1):
        for cellb in (1, 3, 4):
            rng = np.random.default_rng(wsch * 10 + cellb)
            agu = random_agu(rng)
            outer = agu["n"][:5]
            agu["d"] = dense_strides(rng, outer) + (0,)
            mem = memory(rng, "ints")
            # the machine doc's coefficients, written out
            coef = [2 ** (cellb * (b // (1 + wsch))) * (-1 if wsch and b % 2 else 1)
                    for b in range(agu["n"][5])]
            a = indices(BASES["a"], agu["n"], agu["a"])
            didx = indices(BASES["d"], outer, agu["d"][:5])
            expect = mem.copy()
            for o in np.ndindex(*outer):
                expect[didx[o]] = sum(c * float(mem[a[o + (b,)]]) for b, c in enumerate(coef))
            got = execute("vsadd x20, x21", agu, mem, csrs={"wsch": wsch, "cellb": cellb})
            np.testing.assert_array_equal(got, expect, err_msg=f"wsch={wsch} cellb={cellb}")
    rng = np.random.default_rng(3)
    agu = random_agu(rng)
    agu["d"] = dense_strides(rng, agu["n"])
    mem = memory(rng)
    a = indices(BASES["a"], agu["n"], agu["a"])
    didx = indices(BASES["d"], agu["n"], agu["d"])
    expect = mem.copy()
    for o in np.ndindex(*agu["n"][:5]):
        total = 0.0
        for b in range(agu["n"][5]):
            total += float(mem[a[o + (b,)]])
            expect[didx[o + (b,)]] = total
    got = execute("vcumsum x20, x21", agu, mem)
    np.testing.assert_allclose(got, expect, rtol=1e-7)


def _matmul_oracle(mem, agu):
    n = agu["n"]
    sa, sb = agu["a"], agu["b"]
    out = {}
    for b0, b1, b2, m, j in np.ndindex(*n[:5]):
        acc = 0.0
        for k in range(n[5]):
            ia = BASES["a"] + b0 * sa[0] + b1 * sa[1] + b2 * sa[2] + m * sa[3] + k * sa[5]
            ib = BASES["b"] + b0 * sb[0] + b1 * sb[1] + b2 * sb[2] + k * sb[5] + j * sb[4]
            acc += float(mem[ia]) * float(mem[ib])
        out[(b0, b1, b2, m, j)] = acc
    return out


@covers("vmm", "smm")
def test_matrix_products():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        agu = random_agu(rng, max_elems=96)
        agu["d"] = dense_strides(rng, agu["n"][:5]) + (0,)
        mem = memory(rng)
        didx = indices(BASES["d"], agu["n"][:5], agu["d"][:5])
        expect = mem.copy()
        for o, v in _matmul_oracle(mem, agu).items():
            expect[didx[o]] = v
        got = execute("vmm x20, x21, x22", agu, mem)
        np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
        # smm with ibits = 0 is vmm
        got0 = execute("smm x20, x21, x22", agu, mem, csrs={"ibits": 0})
        np.testing.assert_array_equal(got0, got)
        # smm with 4-bit per-tensor quantization of both operands
        n = agu["n"]
        qa = {}
        for op, dims in (("a", (0, 1, 2, 3, 5)), ("b", (0, 1, 2, 5, 4))):
            idx = indices(BASES[op], tuple(n[d] for d in dims), tuple(agu[op][d] for d in dims))
            top = max(abs(float(mem[i])) for i in idx.ravel())
            qa[op] = top / 7
        qmem = mem.astype(np.float64).copy()
        for op in "ab":  # quantize every element an operand can touch, with its own scale
            lo = BASES[op] - 64
            qmem[lo : lo + 128] = np.rint(mem[lo : lo + 128] / qa[op]) if qa[op] else 0
        expect = mem.copy()
        for o, v in _matmul_oracle(qmem, agu).items():
            expect[didx[o]] = v * qa["a"] * qa["b"]
        got = execute("smm x20, x21, x22", agu, mem, csrs={"ibits": 4})
        np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-6)


@covers("vgather", "vquant")
def test_gather_and_quantize():
    rng = np.random.default_rng(11)
    glen, gstride = 5, 7
    agu = {"n": (1, 1, 2, 1, 3, 4), "a": (0, 0, 12, 0, 4, 1)}
    agu["b"] = dense_strides(rng, agu["n"])
    agu["d"] = dense_strides(rng, agu["n"])
    mem = memory(rng)
    b = indices(BASES["b"], agu["n"], agu["b"])
    mem[b.ravel()] = rng.integers(-glen, glen, b.size) + rng.choice([0.0, 0.25, 0.75], b.size)
    a = indices(BASES["a"], agu["n"], agu["a"])
    didx = indices(BASES["d"], agu["n"], agu["d"])
    expect = mem.copy()
    for idx in np.ndindex(*agu["n"]):
        k = math.trunc(float(mem[b[idx]]))
        k = k + glen if k < 0 else k
        expect[didx[idx]] = mem[a[idx] + gstride * k]
    got = execute("vgather x20, x21, x22", agu, mem, csrs={"glen": glen, "gstride": gstride})
    np.testing.assert_array_equal(got, expect)

    for ibits, isgn in ((4, 1), (3, 0), (0, 0)):
        agu = random_agu(rng)
        agu["d"] = dense_strides(rng, agu["n"])
        mem = memory(rng)
        a, bi = (indices(BASES[op], agu["n"], agu[op]) for op in "ab")
        didx = indices(BASES["d"], agu["n"], agu["d"])
        lo, hi = ((-(2 ** (ibits - 1) - 1), 2 ** (ibits - 1) - 1) if isgn else (0, 2**ibits - 1))
        expect = mem.copy()
        for idx in np.ndindex(*agu["n"]):
            prod = f32(float(mem[a[idx]]) * float(mem[bi[idx]]))
            expect[didx[idx]] = min(max(round(prod), lo), hi) if ibits else prod
        got = execute("vquant x20, x21, x22", agu, mem, csrs={"ibits": ibits, "isgn": isgn})
        np.testing.assert_array_equal(got, expect, err_msg=f"ibits={ibits} isgn={isgn}")


@covers("vsetli", "vsetl", "vadd", "vrsum")
def test_vsetl_resets_the_address_generator():
    rng = np.random.default_rng(2)
    agu = random_agu(rng)
    agu["d"] = dense_strides(rng, agu["n"])
    agu["nred"] = 3
    mem = memory(rng)
    got = execute("vsetli 9\n    vadd x20, x21, x22\n    li x2, 6\n    vsetl x2\n"
                  "    vrsum x25, x21", agu, mem, regs={"x25": "m + 4 * 100"})
    expect = mem.copy()
    expect[1600:1609] = mem[600:609] + mem[900:909]
    expect[100] = f32(math.fsum(float(v) for v in mem[600:606]))
    np.testing.assert_array_equal(got, expect)


@covers("vadd", "vcopy")
def test_reads_happen_before_writes():
    rng = np.random.default_rng(4)
    mem = memory(rng)
    # D overlaps A shifted by one element, so an element-at-a-time loop would reread results
    agu = {"n": (1, 1, 1, 1, 1, 10), "d": (0,) * 5 + (1,), "a": (0,) * 5 + (1,),
           "b": (0,) * 5 + (1,)}
    got = execute("addi x20, x21, 4\n    vadd x20, x21, x22", agu, mem)
    expect = mem.copy()
    expect[601:611] = mem[600:610] + mem[900:910]
    np.testing.assert_array_equal(got, expect)
    # a reversing copy in place (negative source stride)
    agu = {"n": (1, 1, 1, 1, 1, 8), "d": (0,) * 5 + (1,), "a": (0,) * 5 + (-1,)}
    got = execute("addi x21, x20, 28\n    vcopy x20, x21", agu, mem)
    expect = mem.copy()
    expect[1600:1608] = mem[1600:1608][::-1]
    np.testing.assert_array_equal(got, expect)


@pytest.mark.parametrize("mn", ["vadd", "vrsum", "vmm"])
def test_empty_index_space_does_nothing(mn):
    mem = memory(np.random.default_rng(0))
    agu = {"n": (1, 1, 0, 1, 1, 4)}
    ops = "x20, x21, x22" if mn in ("vadd", "vmm") else "x20, x21"
    np.testing.assert_array_equal(execute(f"{mn} {ops}", agu, mem), mem)


_SPECIAL_BITS = [0x80000000, 0, 0x7FC00000, 0xFFC00000, 0x7FC00001, 0x7F800001, 0xFF800001,
                 0x7F800000, 0xFF800000, 0x3F800000, 0xBF800000, 0x00000001, 0x80000001,
                 0x40C00000, 0x7F7FFFFF]


@pytest.mark.parametrize("n", [12, 64, 64 + 7, 100, 16 * 9 + 1])
@pytest.mark.parametrize("f", [np.maximum, np.minimum])
def test_extremum_against_one_value_matches_numpy_bit_for_bit(f, n):
    # vmax/vmin/vrelu against one value run over blocks against a filled block: the bits must
    # be numpy's, signed zeros and NaN payloads included, in place or not, for a scalar or an
    # all-zero-stride view.
    from runtime.ops import kernels

    rng = np.random.default_rng(n)
    special = np.array(_SPECIAL_BITS, np.uint32).view(np.float32)
    a = np.where(rng.random(n) < 0.5, rng.choice(special, n),
                 rng.standard_normal(n).astype(np.float32)).astype(np.float32)
    for c in special[[0, 1, 2, 9, 10, 13]]:
        one = np.full(1, c, np.float32)
        for b in (c, np.lib.stride_tricks.as_strided(one, a.shape, (0,))):
            want = f(a, c).view(np.uint32)
            out = np.empty_like(a)
            kernels.extremum(f, out, a, b, block_elements=16)
            assert np.array_equal(out.view(np.uint32), want)
            inplace = a.copy()
            kernels.extremum(f, inplace, inplace, b, block_elements=16)
            assert np.array_equal(inplace.view(np.uint32), want)
    t = a[: n - n % 4].reshape(-1, 4).T  # a contiguous array seen in another axis order
    out = np.empty((4, len(a) // 4), np.float32).T.T  # the same layout, written through .T
    outv = np.empty_like(t.T).T
    kernels.extremum(f, outv, t, np.float32(0.0), block_elements=16)
    assert np.array_equal(outv.view(np.uint32), f(t, np.float32(0.0)).view(np.uint32))
    # other strides than the source: numpy's loop
    kernels.extremum(f, out, t, np.float32(0.0), block_elements=16)
    assert np.array_equal(out.view(np.uint32), f(t, np.float32(0.0)).view(np.uint32))
    shifted = np.concatenate([a, a])  # overlapping, not the same view: numpy's own loop
    kernels.extremum(f, shifted[1 : n + 1], shifted[:n], np.float32(0.5), block_elements=16)
    want = f(np.concatenate([a, a])[:n], np.float32(0.5))
    assert np.array_equal(shifted[1 : n + 1].view(np.uint32), want.view(np.uint32))


@covers("vrelu", "vmax")
def test_relu_and_max_on_long_vectors():
    # Long enough for the blocked loop of runtime/ops/kernels.extremum.
    n = 5 * 16384 + 3
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n).astype(np.float32)
    x[::97] = -0.0
    src = f"""
    .input "x", x, [{n}]
    .output "r", r, [{n}]
    .output "m", m, [{n}]
        li x5, {n}
        vsetl x5
        li x1, x
        li x2, r
        vrelu x2, x1
        cfgi sb5, 0
        li x3, m
        li x4, c
        vmax x3, x1, x4
        halt
    .data
    x: .zero {4 * n}
    r: .zero {4 * n}
    m: .zero {4 * n}
    c: .float -0.25
    """
    _, out = run(src, {"x": x})
    assert np.array_equal(out["r"].view(np.uint32), np.maximum(x, np.float32(0)).view(np.uint32))
    assert np.array_equal(out["m"], np.maximum(x, np.float32(-0.25)))
