"""Text generation on the machine: a decoder with a KV cache, token by token (docs/llm.md).

``imcc.generate`` is :func:`generate`; ``imcc generate`` is the command line over it.

:func:`generate` compiles a decoder-with-past graph (the Hugging Face exporter's interface,
:mod:`imcc.models.llama`) once, for a fixed context of ``C`` tokens: one token per step
(``input_ids`` ``[1, 1]``), a past of ``C - 1`` positions and an ``attention_mask`` of ``C``.
The compiled program gets one more block before its ``halt``: it copies each layer's
``present`` (the past with this step's key and value appended) less its oldest position onto
its ``past`` input, so the next step finds the cache shifted by one position in the machine's
memory. Every step after the first runs that program again on the same machine, with the past
inputs *resident* (:meth:`runtime.machine.Machine.run`): the host writes three small inputs
(the token, its position, the mask) and reads the logits; the cache never leaves the chip and
the weights are programmed into the arrays once.

The cache is left-aligned to the newest position: with ``n`` tokens cached, its last ``n``
slots hold them and the mask hides the ``C - 1 - n`` slots before them (their scores get the
float32 minimum, so their softmax weights are exactly 0). The prompt runs through the same
program one token a step (the prefill), then each generated token is fed back (a decode step).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx

from isa.diagnostics import ConfigError, InputError, OnnxImportError, UnsupportedOpError

_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_FOLDER_NAMES = ("model.onnx", "decoder_with_past_model.onnx", "decoder_model_merged.onnx")


@dataclass(frozen=True)
class Decoder:
    """The interface of a decoder with past: its layers, key/value heads and head size."""

    layers: int
    kv_heads: int
    head_dim: int
    vocab: int | None
    position_ids: bool

    def cache_bytes(self, context: int) -> int:
        """Bytes of the KV cache resident between steps (past keys and values of every
        layer, ``context - 1`` positions) in float32 words."""
        return 2 * self.layers * self.kv_heads * (context - 1) * self.head_dim * 4


@dataclass
class Generation:
    """What :func:`generate` returns: the generated ``tokens``, the ``logits`` that chose each
    (float32 ``[len(tokens), vocab]``) and the cost of the run on the machine."""

    prompt: list[int]
    tokens: list[int]
    logits: np.ndarray
    context: int
    chip: str
    program: Any  # the imcc.Program run, with its storage map and compile report
    programming: dict
    prefill: dict
    steps: list[dict] = field(default_factory=list)

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
        return {"prompt_ids": list(self.prompt), "tokens": list(self.tokens),
                "context": self.context, "chip": self.chip,
                "kv_cache_bytes": self.program._kv_cache_bytes,
                "programming": self.programming, "prefill": self.prefill,
                "steps": self.steps, "per_token": self.per_token}


# ---- the model ---------------------------------------------------------------------------------


def resolve_model(model):
    """A path to a decoder (a file, or a folder holding the exporter's ``model.onnx``), bytes
    or a ModelProto, as :func:`imcc.compile` takes it; a folder becomes its model file."""
    if isinstance(model, str | os.PathLike):
        p = Path(model)
        if p.is_dir():
            for n in _FOLDER_NAMES:
                if (p / n).is_file():
                    return str(p / n)
            raise OnnxImportError(f"{os.fspath(p)}: a folder without a decoder: none of "
                                  f"{', '.join(_FOLDER_NAMES)} is in it")
        return os.fspath(p)
    return model


def _interface(model) -> onnx.GraphProto:
    if isinstance(model, onnx.ModelProto):
        return model.graph
    try:
        if isinstance(model, bytes | bytearray):
            return onnx.load_from_string(bytes(model)).graph
        return onnx.load(model, load_external_data=False).graph
    except OSError as e:
        raise OnnxImportError(f"{model}: cannot read: {e.strerror or e}") from None
    except Exception:  # a protobuf that does not parse; imcc.compile says it best
        return None


def decoder_interface(model) -> Decoder:
    """Check that ``model`` is a decoder with past and read its cache geometry."""
    g = _interface(model)
    if g is None:
        raise OnnxImportError("the model is not a readable ONNX model")
    ins = {i.name: i for i in g.input}
    outs = {o.name for o in g.output}
    layers: dict[int, set[str]] = {}
    for name in ins:
        m = _PAST.match(name)
        if m:
            layers.setdefault(int(m.group(1)), set()).add(m.group(2))
    need = ("input_ids", "attention_mask")
    if any(n not in ins for n in need) or not layers or "logits" not in outs:
        raise OnnxImportError(
            "not a decoder with past: generation needs the inputs input_ids, attention_mask "
            "and past_key_values.N.key/value and the outputs logits and present.N.key/value "
            "(the Hugging Face exporter's decoder-with-past graph)")
    n = len(layers)
    for i in range(n):
        if layers.get(i) != {"key", "value"}:
            raise OnnxImportError(f"past_key_values.{i}.key and .value: the decoder's layers "
                                  f"must be numbered 0..{n - 1}, each with a key and a value")
        for kind in ("key", "value"):
            if f"present.{i}.{kind}" not in outs:
                raise OnnxImportError(f"the decoder has no output present.{i}.{kind}")
    dims = ins["past_key_values.0.key"].type.tensor_type.shape.dim
    if len(dims) != 4 or not dims[1].HasField("dim_value") or not dims[3].HasField("dim_value"):
        raise OnnxImportError("past_key_values.0.key: expected [batch, kv_heads, past, "
                              "head_dim] with fixed kv_heads and head_dim")
    vocab = None
    for o in g.output:
        if o.name == "logits":
            d = o.type.tensor_type.shape.dim
            vocab = d[-1].dim_value if d and d[-1].HasField("dim_value") else None
    return Decoder(n, dims[1].dim_value, dims[3].dim_value, vocab, "position_ids" in ins)


def step_shapes(dec: Decoder, context: int) -> dict[str, list[int]]:
    """The input shapes of the decode-step program for a context of ``context`` tokens."""
    shapes = {"input_ids": [1, 1], "attention_mask": [1, context]}
    if dec.position_ids:
        shapes["position_ids"] = [1, 1]
    for i in range(dec.layers):
        for kind in ("key", "value"):
            shapes[f"past_key_values.{i}.{kind}"] = [1, dec.kv_heads, context - 1, dec.head_dim]
    return shapes


def _io_symbols(asm: str) -> dict[str, str]:
    """Tensor name -> its address symbol, from the ``.input`` and ``.output`` directives."""
    out = {}
    for line in asm.split("\n"):
        m = re.match(r'^\.(?:input|output) "((?:[^"\\]|\\.)*)", *([^,\s]+),', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _with_cache(asm: str, dec: Decoder, context: int, base: int) -> str:
    """The program text with the past inputs moved to the cache region at ``base`` (memory no
    other tensor uses) and, before the ``halt`` that ends inference, each layer's ``present``
    less its oldest position copied onto its past: ``kv_heads`` runs of ``(context - 1) *
    head_dim`` words per tensor, one ``vcopy``."""
    sym = _io_symbols(asm)
    names = [f"past_key_values.{i}.{k}" for i in range(dec.layers) for k in ("key", "value")]
    size = dec.kv_heads * (context - 1) * dec.head_dim * 4
    where = {sym[n]: base + k * size for k, n in enumerate(names)}
    lines = asm.split("\n")
    rerun = next((k for k, line in enumerate(lines) if line.startswith(".rerun")), None)
    end = rerun if rerun is not None else len(lines)
    halt = next((k for k in range(end - 1, -1, -1) if lines[k].strip() == "halt"), None)
    if rerun is None or halt is None:
        raise ConfigError("the compiled decoder has no .rerun entry or no final halt; "
                          "generation needs both")
    run = (context - 1) * dec.head_dim
    shift = ["    # KV cache: past <- present[:, :, 1:, :], kept in memory for the next step",
             f"    li x5, {run}", "    vsetl x5", f"    li x5, {dec.kv_heads}", "    csrw n4, x5",
             f"    li x5, {run}", "    csrw sd4, x5", f"    li x5, {context * dec.head_dim}",
             "    csrw sa4, x5"]
    for n in names:
        present = sym["present." + n[len("past_key_values."):]]
        shift += [f"    li x5, {sym[n]}", f"    li x6, {present} + {4 * dec.head_dim}",
                  "    vcopy x5, x6"]
    for k, line in enumerate(lines):
        m = re.match(r"^\.equ ([^,\s]+),", line)
        if m and m.group(1) in where:
            lines[k] = (f".equ {m.group(1)}, {where[m.group(1)]:#x}    # KV cache, resident "
                        "between steps")
    lines[halt:halt] = shift
    return "\n".join(lines)


# ---- compiling ---------------------------------------------------------------------------------


def compile_decoder(model, chip="ideal", *, context: int, priority: str = "resource",
                    name: str | None = None, set=None, fit: bool = False, seed: int = 0,
                    time_limit: float = 10.0, progress: Callable[[str], None] | None = None):
    """The decode-step program of ``model`` for ``context`` tokens, with the cache shift; an
    ``imcc.Program`` whose ``_decoder`` and ``_context`` say what it is."""
    from imcc.api import Program, _compile
    from isa.assembler import assemble

    model = resolve_model(model)
    dec = decoder_interface(model)
    if context < 2:
        raise InputError(f"a context of {context} token(s): generation needs at least 2")
    try:
        prog = _compile(model, chip, priority=priority, precision=None, calib=None, batch=1,
                        input_shapes=step_shapes(dec, context), dynamic="sram",
                        calibration="minmax", percentile=99.99, time_limit=time_limit,
                        seed=seed, workers=2, progress=progress, name=name, sets=set, fit=fit)
    except ConfigError as e:
        if e.message.startswith("the program needs"):
            cache = dec.cache_bytes(context)
            raise ConfigError(
                f"a context of {context} tokens does not fit: its KV cache takes "
                f"{cache / 2**20:.2f} MiB ({dec.layers} layers x key and value x "
                f"{dec.kv_heads} heads x {context - 1} positions x {dec.head_dim}, float32), "
                f"and the step's program for it needs {e.message[len('the program needs '):]}",
                hint="shorten the prompt or --max-new-tokens, or give the chip more global "
                     "memory (--set global_mib=N, or --fit)") from None
        raise
    for node in prog._nodes or ():
        if node["op"] == "Reshape" and any(_PAST.match(t) for t in node["model_inputs"]):
            raise UnsupportedOpError(
                f"node {node['name']!r} reshapes a past input in place; generation keeps the "
                "past inputs in their own memory and needs them read as they are")
    base = -(-int(prog._compile_report()["memory_bytes"]) // 64) * 64
    cache = dec.cache_bytes(context)
    limit = int(prog.chip.global_mib) << 20
    if base + cache > limit:
        raise ConfigError(
            f"a context of {context} tokens does not fit: its KV cache takes "
            f"{cache / 2**20:.2f} MiB ({dec.layers} layers x key and value x {dec.kv_heads} "
            f"heads x {context - 1} positions x {dec.head_dim}, float32) beside the program's "
            f"{base / 2**20:.2f} MiB, and chip {prog.chip.name!r} has {prog.chip.global_mib} MiB",
            hint="shorten the prompt or --max-new-tokens, or give the chip more global memory "
                 "(--set global_mib=N)")
    text = _with_cache(prog.asm, dec, context, base)
    base = Path(str(prog._compile_report()["model"])).stem
    asm = assemble(text, f"{base}.s", includes=dict(prog._side_files))
    out = Program(asm.obj, prog.chip, asm=text, side_files=prog._side_files,
                  report=prog._compile_report(), storage_map=prog.storage_map)
    out._decoder, out._context = dec, context
    out._kv_cache_bytes = dec.cache_bytes(context)
    return out


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


def generate(model, prompt_ids, max_new_tokens: int, chip="ideal", *, context: int | None = None,
             temperature: float | None = None, seed: int = 0, priority: str = "resource",
             set=None, fit: bool = False, name: str | None = None,
             progress: Callable[[str], None] | None = None, program=None) -> Generation:
    """Generate ``max_new_tokens`` tokens after ``prompt_ids`` on the machine (module
    docstring). Greedy unless ``temperature`` is given (then sampled from
    ``softmax(logits / temperature)`` with ``numpy.random.default_rng(seed)``). ``context``
    (default: the prompt plus the new tokens, less one) is the most tokens the cache holds;
    ``program`` reuses a program :func:`compile_decoder` made for this model.

    >>> import imcc
    >>> from imcc.models import build
    >>> gen = imcc.generate(build("llama-tiny"), [1, 2, 3], 4)
    >>> len(gen.tokens), gen.context, gen.prefill["tokens"], len(gen.steps)
    (4, 6, 3, 3)
    >>> sorted(gen.to_json())[:5]
    ['chip', 'context', 'kv_cache_bytes', 'per_token', 'prefill']
    """
    from runtime.machine import Machine

    ids = _prompt(prompt_ids)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 1:
        raise InputError(f"max_new_tokens = {max_new_tokens!r}: must be an integer >= 1")
    if temperature is not None and not (isinstance(temperature, int | float)
                                        and math.isfinite(temperature) and temperature > 0):
        raise InputError(f"temperature = {temperature!r}: must be a number > 0 (or None for "
                         "greedy decoding)")
    need = len(ids) + max_new_tokens - 1  # the last token is never fed back
    if program is None and context is not None and need > context:
        raise InputError(
            f"context overflow: a prompt of {len(ids)} tokens and {max_new_tokens} new tokens "
            f"need a context of {need} tokens; the program holds {context}",
            hint="shorten the prompt or --max-new-tokens, or compile for a longer --context")
    if program is None:
        program = compile_decoder(model, chip, context=max(context or need, 2),
                                  priority=priority, set=set, fit=fit, name=name,
                                  progress=progress)
    dec, ctx = program._decoder, program._context
    if need > ctx:
        raise InputError(
            f"context overflow: a prompt of {len(ids)} tokens and {max_new_tokens} new tokens "
            f"need a context of {need} tokens; the program holds {ctx}",
            hint="shorten the prompt or --max-new-tokens, or compile for a longer --context")
    if dec.vocab is not None and any(not 0 <= t < dec.vocab for t in ids):
        bad = next(t for t in ids if not 0 <= t < dec.vocab)
        raise InputError(f"prompt token {bad} is outside the vocabulary of {dec.vocab} tokens")
    machine = Machine(program.chip, program._obj)
    past = [f"past_key_values.{i}.{k}" for i in range(dec.layers) for k in ("key", "value")]
    zeros = {n: np.zeros((1, dec.kv_heads, ctx - 1, dec.head_dim), np.float32) for n in past}

    def feed(token: int, n: int) -> dict:
        mask = np.zeros((1, ctx), np.int64)
        mask[0, ctx - 1 - n:] = 1
        f = {"input_ids": np.array([[token]], np.int64), "attention_mask": mask}
        if dec.position_ids:
            f["position_ids"] = np.array([[n]], np.int64)
        return f

    # The arrays are programmed by a first run (on an empty cache and a fully masked step);
    # a second such run costs one step alone, so their difference is the programming.
    blank = {**feed(0, 0), **zeros}
    blank["attention_mask"][:] = 0
    start = machine.cost
    machine.run(blank)
    first = machine.cost
    machine.run(blank)
    second = machine.cost
    one = _cost(second, first)
    programming = {"energy_pj": first.energy_pj - start.energy_pj - one["energy_pj"],
                   "latency_ns": first.latency_ns - start.latency_ns - one["latency_ns"],
                   "cells_programmed": first.cells_programmed}
    rng = np.random.default_rng(seed)
    say = progress or (lambda _m: None)
    before = machine.cost
    out = None
    for n, tok in enumerate(ids):  # the prefill: the prompt, a token a step
        out = machine.run({**feed(tok, n), **zeros} if n == 0 else feed(tok, n),
                          resident=() if n == 0 else tuple(past))
    after = machine.cost
    prefill = {"tokens": len(ids), **_cost(after, before)}
    tokens, logits, steps = [], [], []
    last = out["logits"][0, -1]
    for k in range(max_new_tokens):
        tok = _sample(last, temperature, rng)
        tokens.append(tok)
        logits.append(last)
        if steps:
            steps[-1]["token"] = tok
        if k == max_new_tokens - 1:
            break
        say(f"generating: token {k + 2} of {max_new_tokens}")
        before = machine.cost
        out = machine.run(feed(tok, len(ids) + k), resident=tuple(past))
        steps.append({"position": len(ids) + k, "token": None, **_cost(machine.cost, before)})
        last = out["logits"][0, -1]
    return Generation(prompt=ids, tokens=tokens, logits=np.stack(logits), context=ctx,
                      chip=program.chip.name, program=program, programming=programming,
                      prefill=prefill, steps=steps)
