"""The row paths of bound instructions (runtime/ops/bind.py, runtime/ops/noc.py): a ``vgather``
of one index copies its row as a slice, a ``send`` run again with the same registers copies
its kept views and a ``vnorm`` of one row takes its mean and variance as floats; they give
their handlers' results bit for bit (and numpy's), again with other indices and data, and
trap as the handlers do."""

import numpy as np
import pytest

from isa.diagnostics import MachineTrap
from runtime.ops import bind
from tests.runtime.helpers import f32_bits, machine

ONE_ROW = """
.input "t", t, [4, 8]
.input "k", k, [1]
.output "y", y, [{rows}, 8]
.equ t, 0x1000
.equ k, 0x1100
.equ y, 0x1200
    li x5, y
    li x6, t
    li x7, k
    vsetli 8
    cfgi n4, {rows}
    cfgi sd4, 8
    cfgi sa4, 0
    cfgi sb4, 0
    cfgi sb5, 0
    cfgi glen, 4
    cfgi gstride, 8
    vgather x5, x6, x7
    halt
"""

SEND = """
.input "a", a, [12]
.output "y", y, [12]
.output "z", z, [12]
.equ a, 0x1000
.equ y, 0x1100
.equ z, 0x1200
    li x9, 0
loop:
    li x5, y
    li x6, a
    li x7, 12
    send x5, x6, x7
    li x5, z
    send x5, x6, x7
    li x5, z + 4
    li x6, z
    li x7, 8
    send x5, x6, x7
    addi x9, x9, 1
    li x11, 2
    bne x9, x11, loop
    halt
"""


NORM = """
.input "x", x, [8]
.output "y", y, [8]
.equ x, 0x1000
.equ y, 0x1100
    li x5, y
    li x6, x
    vsetli 8
    cfgi nred, 1
    li x10, {eps}
    csrw eps, x10
    vnorm x5, x6
    halt
"""


def _machine(src, bound: bool):
    saved = {k: bind.BINDERS.pop(k) for k in ("vgather", "send", "vnorm")} if not bound else {}
    try:
        return machine(src)
    finally:
        bind.BINDERS.update(saved)


@pytest.mark.parametrize("rows", [1, 2])  # 2: the row read twice, no consecutive offsets
def test_a_one_index_gather_is_its_handler_and_numpy(rows):
    src = ONE_ROW.format(rows=rows)
    fast, plain = _machine(src, True), _machine(src, False)
    table = (np.arange(32, dtype=np.float32).reshape(4, 8) - 7) * 1.25
    for k in (2, -1, 3.9, -0.5, 0):  # the same instruction and registers, new indices
        feeds = {"t": table, "k": np.array([k], np.float32)}
        y = fast.run(feeds)["y"]
        np.testing.assert_array_equal(y, plain.run(feeds)["y"])
        np.testing.assert_array_equal(y, np.tile(table[int(np.trunc(k)) % 4], (rows, 1)))
    for k in (4, np.nan, -5, np.inf, 1e30):
        feeds = {"t": table, "k": np.array([k], np.float32)}
        errors = []
        for m in (fast, plain):
            with pytest.raises(MachineTrap) as e:
                m.run(feeds)
            errors.append(str(e.value))  # its message and where (the pc)
        assert errors[0] == errors[1] and "vgather index" in errors[0]


def test_a_send_run_again_is_its_handler_and_numpy():
    fast, plain = _machine(SEND, True), _machine(SEND, False)
    for seed in (1, 2):
        a = np.random.default_rng(seed).standard_normal(12).astype(np.float32)
        out, ref = fast.run({"a": a}), plain.run({"a": a})
        for k in ("y", "z"):
            np.testing.assert_array_equal(out[k], ref[k])
        np.testing.assert_array_equal(out["y"], a)
        z = a.copy()
        for _ in range(2):  # the overlapping send of each iteration: all reads first
            z = a.copy()
            z[1:9] = a[0:8]
        np.testing.assert_array_equal(out["z"], z)
        assert fast.cost == plain.cost


@pytest.mark.parametrize("eps", [1e-5, -100.0])  # -100: var + eps < 0, a NaN row
def test_a_one_row_vnorm_is_its_handler_and_numpy(eps):
    src = NORM.format(eps=f32_bits(eps))
    fast, plain = _machine(src, True), _machine(src, False)
    for seed in (1, 2):
        x = (np.random.default_rng(seed).standard_normal(8) * 3 + 1).astype(np.float32)
        y = fast.run({"x": x})["y"]
        np.testing.assert_array_equal(y, plain.run({"x": x})["y"])
        c = x.astype(np.float64) - x.astype(np.float64).mean()
        with np.errstate(invalid="ignore"):
            ref = (c / np.sqrt((c * c).mean() + np.float64(np.float32(eps)))).astype(np.float32)
        np.testing.assert_array_equal(y, ref)
        assert np.isnan(y).all() == (eps < 0)
