"""What keeps a decode step cheap on the machine: a run returns only the outputs asked for."""

from __future__ import annotations

import numpy as np
import pytest

from isa.assembler import assemble
from isa.diagnostics import InputError
from runtime.config import preset
from runtime.machine import Machine

_SRC = '''
.input "x", x, [2]
.output "y", y, [2]
.output "z", z, [2]
    cfgi n5, 2
    cfgi sd5, 1
    cfgi sa5, 1
    cfgi sb5, 1
    li x5, y
    li x6, x
    vadd x5, x6, x6
    li x5, z
    vmul x5, x6, x6
    halt
.data
x:  .zero 8
y:  .zero 8
z:  .zero 8
'''


def test_a_run_returns_the_outputs_it_names():
    m = Machine(preset("ideal"), assemble(_SRC).obj)
    x = np.array([1.5, -2.0], np.float32)
    everything = m.run({"x": x})
    assert sorted(everything) == ["y", "z"]
    only = m.run({"x": x}, outputs=("z",))
    assert list(only) == ["z"]
    np.testing.assert_array_equal(only["z"], x * x)
    np.testing.assert_array_equal(m.run({"x": x}, outputs="y")["y"], x + x)
    with pytest.raises(InputError, match="output 'w' is not an output of the program"):
        m.run({"x": x}, outputs=("w",))


def test_the_rows_a_step_attends_to_are_the_rows_written():
    """cached_rows against a brute-force fill: a batched prefill of P tokens leaves positions
    0 .. P - 2 at rows C - P .. C - 2 and P - 1 at the last row (token by token, none); each
    step moves the token at the last row to the lowest row no token holds and attends to the
    rows that hold tokens and its own, the last."""
    from imcc.kv_slots import cached_rows

    for context, prompt in ((7, 3), (5, 0), (9, 2), (6, 5)):
        held = {context - prompt + m: m for m in range(prompt - 1)} if prompt else {}
        for n in range(prompt, context):
            rows, move = cached_rows(context, prompt, n)
            if n > 0:
                free = min(r for r in range(context - 1) if r not in held)
                assert move == free, (context, prompt, n)
                held[free] = n - 1
            assert rows == sorted({*held, context - 1}), (context, prompt, n)
            assert sorted(held.values()) == list(range(n))


def _decoder(name):
    from imcc.models import build

    return build(name, batch=1)


@pytest.mark.parametrize("name", ["llama-tiny", "gpt2-past-tiny"])
def test_the_decode_step_writes_one_row_and_never_reads_the_past(name):
    """The decode step's program in place: no copy from the past inputs, no shift before its
    halt; one instruction at an address the slot register moves: the last token's row."""
    from imcc.llm import compile_decoder

    prog = compile_decoder(_decoder(name), context=8, prompt=3)
    code = [ln.split("#")[0].strip() for ln in prog.asm.split("\n") if ln.startswith("    ")]
    assert prog._slots and prog._prefill is not None
    assert not any(ln.startswith("li") and "t_past_key_values" in ln for ln in code)
    assert sum(ln.startswith("add") and ln.endswith("x31") for ln in code) == 1  # the move


@pytest.mark.parametrize("name", ["llama-tiny", "gpt2-past-tiny"])
def test_a_program_the_rewrite_does_not_take_keeps_the_shifted_cache(monkeypatch, name):
    """Where the in-place rewrite declines, the cache is copied and shifted as before, and
    generation still equals onnxruntime's."""
    import imcc
    import imcc.decoder
    from tests.llm.test_generate import ort_generate

    m = _decoder(name)
    monkeypatch.setattr(imcc.decoder, "slot_cache", lambda *a, **k: None)
    for prefill in ("batched", "steps"):
        gen = imcc.generate(m, [1, 2, 3], 6, prefill=prefill)
        assert not gen.program._slots
        tokens, logits = ort_generate(m, [1, 2, 3], 6)
        assert gen.tokens == tokens
        scale = np.abs(logits).max(axis=1, keepdims=True)
        assert np.all(np.abs(gen.logits - logits) <= 1e-4 * scale)


@pytest.mark.parametrize("name", ["llama-tiny", "qwen2-tiny", "gpt2-past-tiny"])
@pytest.mark.parametrize("prefill", ["batched", "steps"])
def test_a_step_reads_no_word_it_did_not_write(monkeypatch, name, prefill):
    """Decode steps run without zeroing the memory (clear=False) read none of the words the
    runs before them left: with every such word NaN before each step (all the memory the
    runs wrote but the inputs, the resident cache among them, and the constants), the tokens
    and logits are bit for bit those of runs on zeroed memory."""
    import imcc
    from runtime.machine import Machine

    m = _decoder(name)
    real, poisoned = Machine.run, []

    def zeroed(self, inputs, **kw):
        return real(self, inputs, **{**kw, "clear": True})

    monkeypatch.setattr(Machine, "run", zeroed)
    want = imcc.generate(m, [1, 2, 3], 6, prefill=prefill)

    def poison_first(self, inputs, **kw):
        if kw.get("clear", True) is False:
            mem, keep = self.state.mem, []
            base = self.obj.data_base >> 2
            spans = [(0, base, base + (len(self.obj.data) + 3) // 4)]
            spans += [(0, t.addr >> 2, (t.addr + t.nbytes) >> 2) for t in self.obj.inputs]
            spans += [(r, lo, hi) for r, lo, hi, _ in self._kept]
            keep = [(r, lo, mem.u32[r][lo:hi].copy()) for r, lo, hi in spans]
            for r, extent in enumerate(mem.dirty):
                if extent is not None:
                    mem.f32[r][extent[0]:extent[1]] = np.nan
            for r, lo, w in keep:
                mem.u32[r][lo:lo + w.size] = w
            poisoned.append(1)
        return real(self, inputs, **kw)

    monkeypatch.setattr(Machine, "run", poison_first)
    got = imcc.generate(m, [1, 2, 3], 6, prefill=prefill)
    assert len(poisoned) == 5 + (2 if prefill == "steps" else 0)
    assert got.tokens == want.tokens
    np.testing.assert_array_equal(got.logits, want.logits)


_LEFT = '''
.input "x", x, [2]
.output "y", y, [2]
.rerun start
start:
    cfgi n5, 2
    cfgi sd5, 1
    cfgi sa5, 1
    li x5, y
    li x6, s
    vcopy x5, x6
    li x5, s
    li x6, x
    vcopy x5, x6
    halt
.equ s, 0x1000    # beyond .data, which each load restores where a run wrote it
.data
x:  .zero 8
y:  .zero 8
'''


def test_a_rerun_that_does_not_clear_finds_what_the_last_run_wrote():
    """y is the word s before the run writes x there: 0 on zeroed memory, the last run's x
    on a rerun with clear=False; a later clearing run zeroes it again."""
    m = Machine(preset("ideal"), assemble(_LEFT).obj)
    a, b, c = (np.array(v, np.float32) for v in ([1, 2], [3, 4], [5, 6]))
    np.testing.assert_array_equal(m.run({"x": a})["y"], [0, 0])
    np.testing.assert_array_equal(m.run({"x": b}, clear=False)["y"], a)
    np.testing.assert_array_equal(m.run({"x": c}, clear=False)["y"], b)
    np.testing.assert_array_equal(m.run({"x": a})["y"], [0, 0])


def test_whole_word_search_is_the_regular_expression_s():
    """kv_slots._names finds a symbol as re's \\b...\\b does (random texts against re)."""
    import random
    import re

    from imcc.kv_slots import _names

    rng = random.Random(0)
    for _ in range(5000):
        code = "".join(rng.choice("ab_1.$ ,+\n") for _ in range(rng.randint(0, 30)))
        sym = "".join(rng.choice("ab_1.$") for _ in range(rng.randint(1, 3)))
        assert _names(code, sym) == (re.search(rf"\b{re.escape(sym)}\b", code) is not None)
