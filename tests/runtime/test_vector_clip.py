"""``vclip`` (D = min(max(A, B), C), A kept on a tie with a bound, the first NaN of A, B, C)
against an element-by-element oracle written from the ISA text, bit for bit (signed zeros,
NaN payloads, infinities, bounds that cross), bound for the dispatcher and not, small and
large destinations; and where it differs from ``vmax`` then ``vmin``: only on a tie of zeros of
opposite signs."""

import math

import numpy as np
import pytest

import runtime.ops.bind as bind
from tests.runtime.helpers import covers, machine
from tests.runtime.test_vector_ops import BASES, dense_strides, execute, indices, random_agu

F32 = np.float32
SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, 6.0, np.inf, -np.inf], F32)
NANS = np.array([0x7FC00001, 0xFFC00002, 0x7FC00003], np.uint32).view(F32)


def _max(a, b):  # A kept on a tie, NaN first from A
    return a if math.isnan(a) else b if math.isnan(b) or b > a else a


def _min(a, b):
    return a if math.isnan(a) else b if math.isnan(b) or b < a else a


def clip(a, b, c):
    return _min(_max(a, b), c)


def _bits(v) -> np.ndarray:
    return np.asarray(v, F32).view(np.uint32)


def _memory(rng, n=2048):
    m = (rng.standard_normal(n) * 4).astype(F32)
    pick = rng.random(n)
    m[pick < 0.3] = rng.choice(SPECIALS, int((pick < 0.3).sum()))
    m[pick > 0.95] = rng.choice(NANS, int((pick > 0.95).sum()))
    return m


@covers("vclip")
@pytest.mark.parametrize("bound", [True, False])
def test_vclip_against_the_oracle(bound):
    rng = np.random.default_rng(41)
    saved = {} if bound else {"vclip": bind.BINDERS.pop("vclip")}
    try:
        for _ in range(12):
            agu = random_agu(rng)
            agu["d"] = dense_strides(rng, agu["n"])
            mem = _memory(rng)
            a, b, c = (indices(BASES[op], agu["n"], agu[op]) for op in "abc")
            didx = indices(BASES["d"], agu["n"], agu["d"])
            expect = mem.copy()
            for idx in np.ndindex(*agu["n"]):
                expect[didx[idx]] = clip(*(mem[i[idx]] for i in (a, b, c)))
            got = execute("vclip x20, x21, x22, x23", agu, mem)
            np.testing.assert_array_equal(_bits(got), _bits(expect))
    finally:
        bind.BINDERS.update(saved)


SRC = """
.input "x", x, [{n}]
.input "lo", lo, [1]
.input "hi", hi, [1]
.output "y", y, [{n}]
.output "z", z, [{n}]
    li x9, {n}
    vsetl x9
    li x5, y
    li x6, x
    li x7, lo
    li x8, hi
    cfgi sb5, 0
    cfgi sc5, 0
    vclip x5, x6, x7, x8
    li x5, z
    vmax x5, x6, x7
    vmin x5, x5, x8
    halt
.data
x: .zero {w}
lo: .zero 4
hi: .zero 4
y: .zero {w}
z: .zero {w}
"""


@covers("vclip", "vmax", "vmin")
@pytest.mark.parametrize("n", [5, 70_000])  # a plain numpy call, and the kernels' loops
@pytest.mark.parametrize("lo, hi", [(0.0, 6.0), (-0.0, 6.0), (-2.5, 0.0), (-1.0, 1.0)])
def test_vclip_is_vmax_then_vmin_but_on_ties_of_opposite_zeros(n, lo, hi):
    # one bound repeated (zero strides), as the code generator uses it for ReLU6
    rng = np.random.default_rng(n)
    x = _memory(rng, n)
    m = machine(SRC.format(n=n, w=4 * n))
    out = m.run({"x": x, "lo": np.array([lo], F32), "hi": np.array([hi], F32)})
    y, z = _bits(out["y"]), _bits(out["z"])
    want = np.array([clip(v, F32(lo), F32(hi)) for v in x], F32)
    np.testing.assert_array_equal(y, _bits(want))
    ties = np.zeros(n, bool)
    for bound in (lo, hi):
        if bound == 0:
            ties |= (x == 0) & (np.signbit(x) != np.signbit(F32(bound)))
    assert np.array_equal(y[~ties], z[~ties])
    assert (lo != 0 and hi != 0) or not ties.any() or not np.array_equal(y[ties], z[ties])
