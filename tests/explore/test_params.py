"""``--sweep`` syntax and what each parameter name changes."""

import pytest

from imcc.explore.params import SweepError, apply, canonical, parse_sweep
from runtime.config import preset


def test_value_forms():
    assert parse_sweep("adc_bits=4..10").values == tuple(range(4, 11))
    assert parse_sweep("cell_bits=1,2,4").values == (1, 2, 4)
    assert parse_sweep("noise=0..0.05").values == (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
    assert parse_sweep("noise=0..0.1:0.03").values == (0.0, 0.03, 0.06, 0.09)
    assert parse_sweep("weight_bits=4..8:2").values == (4, 6, 8)
    assert parse_sweep("signed=differential,offset").values == ("differential", "offset")
    assert parse_sweep("read_noise=0.01").name == "nonideal.read_noise"
    assert parse_sweep("cost.adc_pj=1,2").values == (1.0, 2.0)
    assert parse_sweep(" time = 0, 86400 ").values == (0.0, 86400.0)


@pytest.mark.parametrize("spec,msg", [
    ("adc_bits", "expected NAME=VALUES"),
    ("adc_bits=", "expected NAME=VALUES"),
    ("=4", "expected NAME=VALUES"),
    ("adc_bit=4", "did you mean 'adc_bits'"),
    ("adc_bits=4..", "a range is lo..hi"),
    ("adc_bits=8..4", "is empty"),
    ("adc_bits=4.5", "must be an integer"),
    ("adc_bits=4..9:0.5", "is not an integer"),
    ("noise=0..1:0", "step must be > 0"),
    ("noise=a,b", "is not a number"),
    ("noise=nan", "not a finite number"),
    ("cell_bits=1,1", "repeated"),
    ("signed=differential,", "empty value"),
])
def test_bad_sweeps_are_one_line_errors(spec, msg):
    with pytest.raises(SweepError) as e:
        parse_sweep(spec)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(SweepError, match="known: weight_bits"):
        canonical("bogus")


def test_precision_names_set_the_chip_and_the_precision_default():
    base = preset("rram").to_dict()
    r = apply(base, (("adc_bits", 6), ("cell_bits", 1), ("slices", "arrays")))
    assert r.chip["adc_bits"] == 6 and r.chip["cell_bits"] == 1
    assert dict(r.precision_default) == {"adc_bits": 6, "cell_bits": 1, "slices": "arrays"}
    assert "slices" not in r.chip
    assert base["adc_bits"] == 8  # the base is not modified


def test_noise_names():
    base = preset("rram").to_dict()
    ni = base["nonideal"]
    r = apply(base, (("noise", 0.04),))
    assert r.chip["nonideal"]["program_noise"] == 0.04
    assert r.chip["nonideal"]["read_noise"] == ni["read_noise"]  # the rest stays
    r = apply(base, (("noise_scale", 0.5),))
    for k in ("program_noise", "read_noise", "stuck_on", "stuck_off"):
        assert r.chip["nonideal"][k] == pytest.approx(ni[k] / 2)
    r = apply(base, (("noise_scale", 0.0),))
    assert all(r.chip["nonideal"][k] == 0 for k in ("program_noise", "read_noise", "stuck_on",
                                                    "stuck_off"))
    assert apply(base, (("time", 3600.0),)).time_s == 3600.0
    assert apply(base, (("time", 0.0),), time_s=5.0).time_s is None
    assert apply(base, (), time_s=5.0).time_s == 5.0
    r = apply(base, (("nonideal.drift_nu", 0.1), ("cost.adc_pj", 3.0)))
    assert r.chip["nonideal"]["drift_nu"] == 0.1 and r.chip["cost"]["adc_pj"] == 3.0


def test_drift_compensation_is_a_chip_setting():
    from imcc.explore.params import apply, canonical, parse_sweep
    from runtime.config import config_from_dict, preset

    assert parse_sweep("drift_compensation=none,per-column").values == ("none", "per-column")
    r = apply(preset("pcm").to_dict(), ((canonical("drift_compensation"), "per-column"),))
    chip = config_from_dict(r.chip)
    assert chip.drift_compensation == "per-column"
    assert chip.program_hash != preset("pcm").program_hash  # another program
