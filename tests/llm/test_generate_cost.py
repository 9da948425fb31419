"""The cost model counts events, not values: a generation on the rram chip costs the same with
its nonidealities on and off (programming, prefill and every decode step), though the logits
differ. benchmarks/bench_llm.py --extrapolate relies on it to cost models too large to program
with noise on this machine."""

import pytest

import imcc
from imcc.models import build

CLEAN = {"nonideal.program_noise": 0, "nonideal.read_noise": 0, "nonideal.stuck_on": 0,
         "nonideal.stuck_off": 0}


@pytest.mark.parametrize("name", ["llama-tiny", "gpt2-past-tiny"])
def test_costs_do_not_depend_on_the_nonidealities(name):
    model = build(name)
    noisy = imcc.generate(model, [1, 2, 3, 4, 5], 5, "rram", fit=True)
    clean = imcc.generate(model, [1, 2, 3, 4, 5], 5, "rram", fit=True, set=CLEAN)
    assert noisy.programming == clean.programming and noisy.programming["energy_pj"] > 0
    assert noisy.prefill == clean.prefill
    strip = [{k: v for k, v in s.items() if k != "token"} for s in noisy.steps]
    assert strip == [{k: v for k, v in s.items() if k != "token"} for s in clean.steps]
    assert len(strip) == 4
    assert (noisy.logits != clean.logits).any()  # the noise was on
