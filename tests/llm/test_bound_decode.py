"""The instructions bound for the dispatcher (runtime/ops/bind.py: ``mvm``, ``send``, the
vector instructions, blocks of constant writes that keep their AGU setting) give what the
handlers give, bit for bit: the decode steps of the three decoder builders, the tokens, every
step's logits and the whole cost report, and a compiled CNN's outputs and cost, against the
same programs run with every instruction through its handler (no binder, no constant-write
blocks) and the cost of MVMs and vector work counted step by step as docs/machine.md states
it; the tokens are the greedy choices of the logits."""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from runtime import dispatch
from runtime.cost import CostCounter
from runtime.ops import bind

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"


def _mvm_apply(self, array, event):
    """An MVM's count as its steps: charge the cells, count, add energy, occupy the array."""
    steps, dac, adc, e_adc, e_dac, e_array, busy = event
    self.charge(dac * adc // steps if steps else 0)
    self.mvms += 1
    self.dac_cycles += steps
    self.dac_conversions += dac
    self.adc_conversions += adc
    self.energy["adc"] += e_adc
    self.energy["dac"] += e_dac
    self.energy["array"] += e_array
    self._array_busy(array, busy)


def _vector(self, region, elements, *, macs=0, sram=False):
    """A vector instruction's count as docs/machine.md states it, step by step."""
    c = self.c
    self.charge(elements + macs)
    self.vector_elements += elements
    if sram:
        self.sram_macs += macs
        self.energy["sram"] += macs * c.sram_mac_pj
        dur = macs / c.sram_macs_per_ns
    else:
        self.energy["vector"] += (elements + macs) * c.vector_pj
        dur = math.ceil((elements + macs) / c.vector_lanes) * self.clock_ns
    if region == 0:
        self.host = max(self.peak, self.floor) + dur
        self._finish(self.host)
    else:
        t = region - 1
        self.tile[t] = max(self.tile[t], self.arr_peak[t], self.host, self.floor) + dur
        self._finish(self.tile[t])


@contextmanager
def _unbound():
    """Machines made inside bind no instruction beyond a partial of its handler, and count
    MVMs and vector work step by step (:func:`_mvm_apply`, :func:`_vector`)."""
    saved = dict(bind.BINDERS)
    real = dispatch._constant_writes, CostCounter.mvm_apply, CostCounter.vector
    bind.BINDERS.clear()
    dispatch._constant_writes = lambda specs: None
    CostCounter.mvm_apply, CostCounter.vector = _mvm_apply, _vector
    try:
        yield
    finally:
        bind.BINDERS.update(saved)
        dispatch._constant_writes, CostCounter.mvm_apply, CostCounter.vector = real


def _costs(gen) -> list:
    return [gen.programming, gen.prefill, *gen.steps]


@pytest.mark.parametrize("name,kv", [("llama-tiny", 2), ("qwen2-tiny", 1),
                                     ("gpt2-past-tiny", None)])
def test_decode_steps_are_the_handlers_bit_for_bit(name, kv):
    import imcc
    from imcc.llm import compile_decoder
    from imcc.models import build

    m = build(name, batch=1, hidden=256, layers=1, vocab=300, heads=8, kv_heads=kv,
              intermediate=768)  # two tiles: a send between them
    prompt, new = [3, 1, 4, 1, 5], 6
    program = compile_decoder(m, "ideal-signed", context=len(prompt) + new - 1,
                              prompt=len(prompt), calib_ids=prompt)
    fast = imcc.generate(m, prompt, new, program=program)
    with _unbound():
        plain = imcc.generate(m, prompt, new, program=program)
    assert fast.tokens == plain.tokens
    np.testing.assert_array_equal(fast.logits, plain.logits)
    assert _costs(fast) == _costs(plain)
    assert fast.tokens == [int(np.argmax(row)) for row in plain.logits]


def test_cnn_is_the_handlers_bit_for_bit():
    import imcc
    from runtime.machine import Machine

    x = np.load(DIGITS / "test.npz")["x_img"][:3]
    prog = imcc.compile(str(DIGITS / "cnn.onnx"), "ideal-int8", calib={"input": x},
                        batch=3)

    def runs():
        mach = Machine(prog.chip, prog._obj)
        outs = [mach.run({"input": x}), mach.run({"input": x[::-1].copy()})]
        return outs, mach.cost

    fast, fast_cost = runs()
    with _unbound():
        plain, plain_cost = runs()
    for a, b in zip(fast, plain):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert fast_cost == plain_cost
    assert fast_cost.mvms > 0
