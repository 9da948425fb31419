"""benchmarks/bench_models.py's arithmetic floor: the products one run asks of the crossbar,
recorded from an assembled program whose MVMs are known, and numpy's matmul over them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.helpers import chip, f32_bits, machine
from tests.runtime.test_xbar_ops import _mvm_program, _u

_SPEC = importlib.util.spec_from_file_location(
    "bench_models", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


_ADC8 = f"cfgi ibits, 8\n cfgi dacb, 1\n cfgi adcb, 8\n li x1, {f32_bits(1.0)}\n csrw iscale, x1"


@pytest.mark.parametrize("precision", ["", _ADC8])
def test_each_mvm_is_one_product_and_the_machine_is_left_as_it_was(precision):
    # The program multiplies twice (mvm, mvm.acc) by a 37 x 19 region, 6 vectors each: on the
    # lossless float chip through the prepared kernel, on the 8-bit ADC chip through mvm.
    h, w, vl = 37, 19, 6
    g = np.random.default_rng(1).integers(0, 256, (h, w))
    cfg = chip("ideal") if not precision else chip("ideal-int8", dac_bits=1, adc_bits=8)
    m = machine(_mvm_program(h, w, vl, 40, 23, fmt=2 if not precision else 0,
                             weights=_u(g, ".f32" if not precision else ".u8"),
                             precision=precision), cfg)
    x = {"x": np.abs(np.random.default_rng(2).standard_normal((vl, 40))).astype(np.float32)}
    first = m.run(x)["y"]
    shapes = bench._record_products(m, x)
    assert shapes == [(vl, h, w), (vl, h, w)]
    assert "mvm" not in m.xbar.__dict__ and "kernel" not in m.xbar.__dict__  # unwrapped
    assert np.array_equal(m.run(x)["y"], first)
    floor = bench._Floor(shapes)
    assert floor.flops == 2 * 2 * vl * h * w
    floor.run()
    a, b, c = floor.ops[1]
    assert a.shape == (vl, h) and b.shape == (h, w) and np.allclose(c, a @ b, rtol=1e-5)
