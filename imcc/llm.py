"""Text generation on the machine: a decoder with a KV cache, token by token (docs/llm.md).

``imcc.generate`` is :func:`generate`; ``imcc generate`` is the command line over it.

:func:`generate` compiles a decoder-with-past graph (the Hugging Face exporter's interface,
:mod:`imcc.models.llama`) for a fixed context of ``C`` tokens, twice, onto the same cells and
placement: a prefill of the prompt's ``P`` tokens (a past of ``C - P`` empty positions) and a
decode step of one token (a past of ``C - 1``); both take an ``attention_mask`` of ``C``. Each
layer's ``present`` lives in a cache region no other tensor uses (:mod:`imcc.kv_slots`): the
prefill writes it there (its ``C - P`` empty rows, then the prompt's), and the decode step
reads all ``C`` rows as its past and writes its own key and value at one row the host names,
the rows after the prompt's in turn (wrapping to row 0); the mask marks the rows that hold
tokens. The machine runs the prefill once, switches to the decode step
(:meth:`runtime.machine.Machine.switch`) and reruns it with the past inputs *resident*
(:meth:`runtime.machine.Machine.run`): the host writes four small inputs (the token, its
position, the mask, the row) and reads the logits; the cache never leaves the chip and the
weights are programmed into the arrays once.

Where the rewrite does not take a program, each program instead copies ``present`` less its
oldest position into the cache region before its ``halt``, and the decode step's past inputs
sit there: the cache is aligned to its newest position (with ``n`` tokens cached, its last
``n`` slots hold them and the mask hides the ``C - 1 - n`` slots before them; their scores get
the float32 minimum, so their softmax weights are exactly 0). ``prefill="steps"`` runs the
prompt through the decode step instead, a token a run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imcc.decoder import (  # noqa: F401  (public here too)
    Decoder,
    compile_decoder,
    decoder_interface,
    resolve_model,
    step_shapes,
)
from imcc.kv_slots import SLOT_INPUT, cached_rows
from isa.diagnostics import InputError


@dataclass
class Generation:
    """What :func:`generate` returns: the generated ``tokens``, the ``logits`` that chose each
    (float32 ``[len(tokens), vocab]``) and the cost of the run on the machine. On the ``cost``
    backend the tokens and logits are not the model's (its MVMs write zeros), only the costs
    are (:mod:`runtime.costonly`); its JSON says ``"tokens": null``."""

    prompt: list[int]
    tokens: list[int]
    logits: np.ndarray
    context: int
    chip: str
    program: Any  # the imcc.Program run, with its storage map and compile report
    programming: dict
    prefill: dict
    steps: list[dict] = field(default_factory=list)
    backend: str = "numpy"

    @property
    def per_token(self) -> dict:
        """Mean energy (pJ) and latency (ns) of a decode step (one generated token after the
        first, which the prefill's last step gives)."""
        if not self.steps:
            return {"energy_pj": None, "latency_ns": None}
        return {"energy_pj": sum(s["energy_pj"] for s in self.steps) / len(self.steps),
                "latency_ns": sum(s["latency_ns"] for s in self.steps) / len(self.steps)}

    def to_json(self) -> dict:
        """The document ``imcc generate --json`` writes."""
        computed = self.backend != "cost"
        return {"prompt_ids": list(self.prompt),
                "tokens": list(self.tokens) if computed else None,
                "context": self.context, "chip": self.chip, "backend": self.backend,
                "kv_cache_bytes": self.program._kv_cache_bytes,
                "programming": self.programming, "prefill": self.prefill,
                "steps": self.steps if computed else [{**s, "token": None} for s in self.steps],
                "per_token": self.per_token}

# ---- running -----------------------------------------------------------------------------------


def _cost(after, before) -> dict:
    return {"energy_pj": after.energy_pj - before.energy_pj,
            "latency_ns": after.latency_ns - before.latency_ns}


def _sample(logits: np.ndarray, temperature: float | None, rng) -> int:
    if temperature is None:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def _prompt(prompt_ids) -> list[int]:
    try:
        ids = [int(t) for t in prompt_ids]
    except (TypeError, ValueError):
        raise InputError("prompt_ids: expected a sequence of token ids (integers)") from None
    if not ids:
        raise InputError("the prompt is empty; give at least one token id")
    return ids


def _check_options(prefill: str, max_new_tokens, temperature, backend) -> None:
    from runtime.xpcrossbar import BACKENDS

    if prefill not in ("batched", "steps"):
        raise InputError(f"prefill = {prefill!r}: choose 'batched' or 'steps'")
    if backend not in BACKENDS:
        raise InputError(f"backend = {backend!r}: choose one of {', '.join(BACKENDS)}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 1:
        raise InputError(f"max_new_tokens = {max_new_tokens!r}: must be an integer >= 1")
    if temperature is not None and not (isinstance(temperature, int | float)
                                        and math.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature = {temperature!r}: must be a number > 0 (or None for "
                         "greedy decoding)")


def _check_context(ids: list[int], max_new_tokens: int, context: int | None) -> None:
    need = len(ids) + max_new_tokens - 1  # the last token is never fed back
    if context is not None and need > context:
        raise InputError(
            f"context overflow: a prompt of {len(ids)} tokens and {max_new_tokens} new tokens "
            f"need a context of {need} tokens; the program holds {context}",
            hint="shorten the prompt or --max-new-tokens, or compile for a longer --context")


class _Session:
    """One machine running a decoder's programs: its feeds, and the cost of what it runs."""

    def __init__(self, program, pre, backend: str):
        from runtime.machine import Machine
        from runtime.xpcrossbar import make_crossbar

        self.dec, self.ctx = program._decoder, program._context
        self.machine = Machine(program.chip, (pre or program)._obj,
                               crossbar=make_crossbar(backend, program.chip))
        self.past = tuple(f"past_key_values.{i}.{k}" for i in range(self.dec.layers)
                          for k in ("key", "value"))
        # the cache in place (imcc.kv_slots): where a batched prefill left the prompt's rows
        self.slots = getattr(program, "_slots", False)
        self.prompt = pre._tokens if pre is not None else 0

    def feed(self, toks: list[int], n: int, *, past: bool = False) -> dict:
        """Tokens ``toks`` at positions ``n ..``, after ``n`` cached ones; with ``past``, the
        past inputs too (an empty cache). One token a run is the decode step: with the cache
        in place (:mod:`imcc.kv_slots`) its mask marks the rows that hold tokens and it gets
        the row the last token's keys and values move to; else the cache's last ``n`` rows
        hold them."""
        dec, ctx = self.dec, self.ctx
        mask = np.zeros((1, ctx), np.int64)
        in_place = self.slots and len(toks) == 1
        if in_place:
            rows, move = cached_rows(ctx, self.prompt, n)
            mask[0, rows] = 1
        else:
            mask[0, ctx - len(toks) - n:] = 1
        f = {"input_ids": np.array([toks], np.int64), "attention_mask": mask}
        if dec.position_ids:
            f["position_ids"] = np.arange(n, n + len(toks), dtype=np.int64)[None]
        if in_place:
            f[SLOT_INPUT] = np.array([move * dec.head_dim * 4], np.uint32)
        if past:
            rows = ctx if in_place else ctx - len(toks)
            f.update((p, np.zeros((1, dec.kv_heads, rows, dec.head_dim), np.float32))
                     for p in self.past)
        return f

    def run(self, inputs: dict, resident: bool = False) -> dict:
        """The logits of one run (the past inputs ``resident`` or given). A step over the
        cache in place leaves the memory the last run wrote as it is (``clear=False``): the
        step writes every word it reads but its inputs and constants."""
        return self.machine.run(inputs, resident=self.past if resident else (),
                                outputs=("logits",), clear=not (resident and self.slots))

    def programming(self, width: int) -> dict:
        """Program the arrays by a first run (on an empty cache and a fully masked step); a
        second such run costs one run alone, so their difference is the programming."""
        blank = self.feed([0] * width, 0, past=True)
        blank["attention_mask"][:] = 0
        start = self.machine.cost
        self.run(blank)
        first = self.machine.cost
        self.run(blank)
        one = _cost(self.machine.cost, first)
        return {"energy_pj": first.energy_pj - start.energy_pj - one["energy_pj"],
                "latency_ns": first.latency_ns - start.latency_ns - one["latency_ns"],
                "cells_programmed": first.cells_programmed}


def generate(model, prompt_ids, max_new_tokens: int, chip="ideal", *, context: int | None = None,
             temperature: float | None = None, seed: int = 0, priority: str = "resource",
             set=None, fit: bool = False, name: str | None = None,
             progress: Callable[[str], None] | None = None, program=None,
             prefill: str = "batched", backend: str = "numpy") -> Generation:
    """Generate ``max_new_tokens`` tokens after ``prompt_ids`` on the machine (module
    docstring). Greedy unless ``temperature`` is given (then sampled from
    ``softmax(logits / temperature)`` with ``numpy.random.default_rng(seed)``). ``context``
    (default: the prompt plus the new tokens, less one) is the most tokens the cache holds;
    ``program`` reuses a program :func:`compile_decoder` made for this model. ``prefill``:
    ``batched`` runs the prompt in one run of a prefill program (when the decode program has
    one for this prompt's length), ``steps`` through the decode program a token a run.
    ``backend``: where the arrays compute, ``numpy``, ``cupy`` or ``cost`` (the cost model
    alone, for models whose cells the host cannot hold: :mod:`runtime.costonly`).

    >>> import imcc
    >>> from imcc.models import build
    >>> gen = imcc.generate(build("llama-tiny"), [1, 2, 3], 4)
    >>> len(gen.tokens), gen.context, gen.prefill["tokens"], len(gen.steps)
    (4, 6, 3, 3)
    >>> sorted(gen.to_json())[:5]
    ['chip', 'context', 'kv_cache_bytes', 'per_token', 'prefill']
    """
    ids = _prompt(prompt_ids)
    _check_options(prefill, max_new_tokens, temperature, backend)
    if program is None:
        _check_context(ids, max_new_tokens, context)
        program = compile_decoder(model, chip, context=max(context or len(ids) + max_new_tokens
                                                           - 1, 2),
                                  prompt=len(ids) if prefill == "batched" else None,
                                  priority=priority, set=set, fit=fit, name=name,
                                  progress=progress, calib_ids=ids)
    _check_context(ids, max_new_tokens, program._context)
    vocab = program._decoder.vocab
    bad = [t for t in ids if vocab is not None and not 0 <= t < vocab]
    if bad:
        raise InputError(f"prompt token {bad[0]} is outside the vocabulary of {vocab} tokens")
    pre = program._prefill if prefill == "batched" else None
    if pre is not None and pre._tokens != len(ids):
        pre = None  # compiled for another prompt length: the prompt runs as decode steps
    say = progress or (lambda _m: None)
    session = _Session(program, pre, backend)
    say("programming the arrays")
    programming = session.programming(pre._tokens if pre is not None else 1)
    say(f"prefill: {len(ids)} prompt tokens")
    before = session.machine.cost
    if pre is not None:  # the prompt in one run, then the decode program on the same machine
        out = session.run(session.feed(ids, 0, past=True))
        session.machine.switch(program._obj)
    else:  # the prompt through the decode program, a token a run
        for n, tok in enumerate(ids):
            out = session.run(session.feed([tok], n, past=n == 0), resident=n > 0)
    after = session.machine.cost  # read once a run: each run's cost is the difference
    prefill_cost = {"tokens": len(ids), "runs": 1 if pre is not None else len(ids),
                    **_cost(after, before)}
    rng = np.random.default_rng(seed)
    tokens, logits, steps = [], [], []
    last = out["logits"][0, -1]
    for k in range(max_new_tokens):
        tokens.append(_sample(last, temperature, rng))
        logits.append(last)
        if steps:
            steps[-1]["token"] = tokens[-1]
        if k == max_new_tokens - 1:
            break
        say(f"generating: token {k + 2} of {max_new_tokens}")
        before = after
        out = session.run(session.feed([tokens[-1]], len(ids) + k), resident=True)
        after = session.machine.cost
        steps.append({"position": len(ids) + k, "token": None, **_cost(after, before)})
        last = out["logits"][0, -1]
    return Generation(prompt=ids, tokens=tokens, logits=np.stack(logits), context=program._context,
                      chip=program.chip.name, program=program, programming=programming,
                      prefill=prefill_cost, steps=steps, backend=backend)
