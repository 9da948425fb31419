"""``vnorm``, ``vfma`` and ``vgather`` bound for the dispatcher (runtime/ops/bind.py) compute
what their handlers compute, bit for bit, also when the same instruction runs again with other
registers, another ``eps`` or other indices, and trap as they do; the results against numpy."""

import numpy as np
import pytest

import runtime.ops.bind as bind
from isa.diagnostics import MachineTrap
from tests.runtime.helpers import f32_bits, machine

SRC = """
.input "x", x, [3, 8]
.input "w", w, [8]
.output "y", y, [2, 3, 8]
.output "z", z, [2, 3, 8]
.equ x, 0x1000
.equ w, 0x1100
.equ y, 0x1200
.equ z, 0x1400
    li x5, y
    li x7, z
    li x9, 0
    vsetli 8
    cfgi n4, 3
    cfgi sd4, 8
    cfgi sa4, 8
    cfgi sc4, 8
    cfgi nred, 1
    li x10, {eps0}
    csrw eps, x10
loop:
    li x6, x
    vnorm x5, x6
    li x8, w
    vfma x7, x5, x8, x6
    vfma x5, x5, x8, x5
    addi x5, x5, 96
    addi x7, x7, 96
    li x10, {eps1}
    csrw eps, x10
    addi x9, x9, 1
    li x11, 2
    bne x9, x11, loop
    halt
"""


def _machine(src, bound: bool):
    saved = {k: bind.BINDERS.pop(k) for k in ("vnorm", "vfma", "vgather")} if not bound else {}
    try:
        return machine(src)
    finally:
        bind.BINDERS.update(saved)


def _run(src, feeds, bound: bool):
    return _machine(src, bound).run(feeds)


@pytest.mark.parametrize("eps", [(1e-5, 0.5), (0.25, 1e-6)])
def test_bound_vnorm_and_vfma_are_their_handlers_bit_for_bit(eps):
    rng = np.random.default_rng(3)
    feeds = {"x": (rng.standard_normal((3, 8)) * 4 + 1).astype(np.float32),
             "w": rng.uniform(0.5, 2, 8).astype(np.float32)}
    src = SRC.format(eps0=f32_bits(eps[0]), eps1=f32_bits(eps[1]))
    fast, plain = _run(src, feeds, True), _run(src, feeds, False)
    for k in ("y", "z"):
        np.testing.assert_array_equal(fast[k], plain[k])
    x, w = feeds["x"].astype(np.float64), feeds["w"]
    for i, e in enumerate(eps):
        c = x - x.mean(-1, keepdims=True)
        n = (c / np.sqrt((c * c).mean(-1, keepdims=True) + np.float32(e))).astype(np.float32)
        np.testing.assert_allclose(fast["z"][i], n * w + feeds["x"], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(fast["z"][i], n * w + feeds["x"])  # float32 ops
        np.testing.assert_array_equal(fast["y"][i], n * w + n)  # D = C in place


GATHER = """
.input "t", t, [4, 8]
.input "k", k, [3]
.output "y", y, [3, 8]
.equ t, 0x1000
.equ k, 0x1100
.equ y, 0x1200
    li x5, y
    li x6, t
    li x7, k
    vsetli 8
    cfgi n4, 3
    cfgi sd4, 8
    cfgi sa4, 0
    cfgi sb4, 1
    cfgi sb5, 0
    cfgi glen, 4
    cfgi gstride, 8
    vgather x5, x6, x7
    halt
"""


def test_bound_vgather_reads_each_runs_indices_and_traps_as_its_handler():
    table = np.arange(32, dtype=np.float32).reshape(4, 8) * 1.5
    fast, plain = _machine(GATHER, True), _machine(GATHER, False)
    for k in ([1, 3, -1], [2.7, 0, -4]):  # the same instruction and registers, new indices
        feeds = {"t": table, "k": np.array(k, np.float32)}
        y = fast.run(feeds)["y"]
        np.testing.assert_array_equal(y, plain.run(feeds)["y"])
        np.testing.assert_array_equal(y, table[[int(v) % 4 for v in np.trunc(k)]])
    for k in ([1, 4, 0], [0, np.nan, 1]):
        feeds = {"t": table, "k": np.array(k, np.float32)}
        errors = []
        for m in (fast, plain):
            with pytest.raises(MachineTrap) as e:
                m.run(feeds)
            errors.append(e.value.message)
        assert errors[0] == errors[1] and "vgather index" in errors[0]
