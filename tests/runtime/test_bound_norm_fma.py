"""``vnorm`` and ``vfma`` bound for the dispatcher (runtime/ops/bind.py) compute what their
handlers compute, bit for bit, also when the same instruction runs again with other registers
or another ``eps``; the results against numpy."""

import numpy as np
import pytest

import runtime.ops.bind as bind
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


def _run(src, feeds, bound: bool):
    saved = {k: bind.BINDERS.pop(k) for k in ("vnorm", "vfma")} if not bound else {}
    try:
        return machine(src).run(feeds)
    finally:
        bind.BINDERS.update(saved)


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
