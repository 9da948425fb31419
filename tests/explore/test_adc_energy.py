"""The cost model's ADC energy per conversion grows exponentially with the converter's bits
(the seed paper: converter energy is exponential in resolution). Measured from runs of the
machine: the same program on chips that differ only in ADC bits."""

import numpy as np

from imcc.compiler import CompileOptions, compile_model
from runtime.machine import Machine

from .helpers import chip, gemm_model


def test_adc_energy_per_conversion_grows_by_a_constant_factor_per_bit(tmp_path):
    rng = np.random.default_rng(0)
    path = gemm_model(tmp_path / "g.onnx", rng.standard_normal((32, 8)),
                      rng.standard_normal(8))
    x = rng.standard_normal((4, 32)).astype(np.float32)
    per_conv, conversions = {}, set()
    for bits in range(2, 15):
        c = chip("rram", name=f"adc{bits}", adc_bits=bits, nonideal={
            "program_noise": 0.0, "read_noise": 0.0, "stuck_on": 0.0, "stuck_off": 0.0})
        res = compile_model(path, c, calib={"input": x}, options=CompileOptions(batch=4,
                                                                               workers=1))
        m = Machine(c, res.obj)
        m.run({"input": x})
        cost = m.cost
        assert cost.adc_conversions > 0
        conversions.add(cost.adc_conversions)
        per_conv[bits] = cost.energy_breakdown_pj["adc"] / cost.adc_conversions
    assert len(conversions) == 1  # the bits change the energy of a conversion, not their number
    ratios = [per_conv[b + 1] / per_conv[b] for b in range(2, 14)]
    assert min(ratios) > 1.5
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # exponential: constant ratio
    # docs/machine.md: the energy doubles with each bit
    np.testing.assert_allclose(ratios[0], 2.0, rtol=1e-9)
