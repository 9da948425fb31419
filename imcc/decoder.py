"""The decoder-with-past interface and the programs generation runs (docs/llm.md).

:func:`compile_decoder` compiles a decoder twice onto the same cells, a decode step and a
prefill, each with the block that keeps the KV cache in the machine's memory between runs
(:mod:`imcc.llm`, which runs the programs, says how the cache lives there). The names here
are importable from :mod:`imcc.llm` too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from imcc.codegen.memory import ALIGN
from imcc.codegen.program import WEIGHTS_FILE
from imcc.kv_slots import region_bytes, slot_cache
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
        """Bytes of the KV cache resident between steps (keys and values of every layer,
        ``context`` rows) in float32 words."""
        return 2 * self.layers * self.kv_heads * context * self.head_dim * 4


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
    except Exception:  # noqa: BLE001  (a protobuf that does not parse; imcc.compile says it best)
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


def step_shapes(dec: Decoder, context: int, tokens: int = 1) -> dict[str, list[int]]:
    """The input shapes of a program for a context of ``context`` tokens that takes
    ``tokens`` tokens a run (1: a decode step; the prompt's length: the prefill), its past
    ``context - tokens`` positions."""
    shapes = {"input_ids": [1, tokens], "attention_mask": [1, context]}
    if dec.position_ids:
        shapes["position_ids"] = [1, tokens]
    for i in range(dec.layers):
        for kind in ("key", "value"):
            shapes[f"past_key_values.{i}.{kind}"] = [1, dec.kv_heads, context - tokens,
                                                     dec.head_dim]
    return shapes


def _io_symbols(asm: str) -> dict[str, str]:
    """Tensor name -> its address symbol, from the ``.input`` and ``.output`` directives."""
    out = {}
    for line in asm.split("\n"):
        m = re.match(r'^\.(?:input|output) "((?:[^"\\]|\\.)*)", *([^,\s]+),', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _with_cache(asm: str, dec: Decoder, context: int, base: int, *, move_past: bool) -> str:
    """The program text with, before the ``halt`` that ends inference, each layer's
    ``present`` (``context`` positions) less its oldest position copied to the cache region at
    ``base`` (memory no other tensor uses): ``kv_heads`` runs of ``(context - 1) * head_dim``
    words per tensor, one ``vcopy``. With ``move_past`` (the decode step) the past inputs are
    moved to the cache region: the step reads the cache the last run left there."""
    sym = _io_symbols(asm)
    names = [f"past_key_values.{i}.{k}" for i in range(dec.layers) for k in ("key", "value")]
    size = dec.kv_heads * (context - 1) * dec.head_dim * 4
    where = {n: base + k * size for k, n in enumerate(names)}
    lines = asm.split("\n")
    rerun = next((k for k, line in enumerate(lines) if line.startswith(".rerun")), None)
    end = rerun if rerun is not None else len(lines)
    halt = next((k for k in range(end - 1, -1, -1) if lines[k].strip() == "halt"), None)
    if rerun is None or halt is None:
        raise ConfigError("the compiled decoder has no .rerun entry or no final halt; "
                          "generation needs both")
    run = (context - 1) * dec.head_dim
    shift = ["    # KV cache <- present[:, :, 1:, :], kept in memory for the next step",
             f"    li x5, {run}", "    vsetl x5", f"    li x5, {dec.kv_heads}", "    csrw n4, x5",
             f"    li x5, {run}", "    csrw sd4, x5", f"    li x5, {context * dec.head_dim}",
             "    csrw sa4, x5"]
    for n in names:
        present = sym["present." + n[len("past_key_values."):]]
        dest = sym[n] if move_past else f"{where[n]:#x}"
        shift += [f"    li x5, {dest}", f"    li x6, {present} + {4 * dec.head_dim}",
                  "    vcopy x5, x6"]
    if move_past:
        moved = {sym[n]: where[n] for n in names}
        for k, line in enumerate(lines):
            m = re.match(r"^\.equ ([^,\s]+),", line)
            if m and m.group(1) in moved:
                lines[k] = (f".equ {m.group(1)}, {moved[m.group(1)]:#x}    # KV cache, "
                            "resident between steps")
    lines[halt:halt] = shift
    return "\n".join(lines)


# ---- compiling ---------------------------------------------------------------------------------


def _calibration(dec: Decoder, context: int, tokens: int, ids: list[int] | None):
    """Calibration samples from the prompt ``ids``: the prefill program's one sample is the
    prompt itself; the decode step's are its tokens, each at its position over an empty
    cache. None without a prompt (the compiler then draws random inputs)."""
    if not ids:
        return None
    n = 1 if tokens > 1 else len(ids)
    mask = np.zeros((n, context), np.int64)
    mask[:, context - tokens:] = 1
    if tokens > 1:
        samples = {"input_ids": np.array([ids[:tokens]], np.int64)}
        pos = np.arange(tokens, dtype=np.int64)[None]
    else:
        samples = {"input_ids": np.array(ids, np.int64)[:, None]}
        pos = np.arange(len(ids), dtype=np.int64)[:, None]
    samples["attention_mask"] = mask
    if dec.position_ids:
        samples["position_ids"] = pos
    for i in range(dec.layers):
        for kind in ("key", "value"):
            samples[f"past_key_values.{i}.{kind}"] = np.zeros(
                (n, dec.kv_heads, context - tokens, dec.head_dim), np.float32)
    return samples


def _compile_step(model, dec: Decoder, chip, context: int, tokens: int, *, priority, name,
                  set, fit, seed, time_limit, progress, calib_ids=None, reserve: int = 0,
                  cells: dict | None = None):
    from imcc.api import _compile

    try:
        prog = _compile(model, chip, priority=priority, precision=None,
                        calib=_calibration(dec, context, tokens, calib_ids), batch=1,
                        input_shapes=step_shapes(dec, context, tokens), dynamic="sram",
                        calibration="minmax", percentile=99.99, time_limit=time_limit,
                        seed=seed, workers=2, progress=progress, name=name, sets=set, fit=fit,
                        reserve_bytes=reserve if fit else 0, assemble_text=False,
                        cells=cells)
    except ConfigError as e:
        if e.message.startswith("the program needs"):
            cache = dec.cache_bytes(context)
            raise ConfigError(
                f"a context of {context} tokens does not fit: its KV cache takes "
                f"{cache / 2**20:.2f} MiB ({dec.layers} layers x key and value x "
                f"{dec.kv_heads} heads x {context} positions x {dec.head_dim}, float32), "
                f"and the step's program for it needs {e.message[len('the program needs '):]}",
                hint="shorten the prompt or --max-new-tokens, or give the chip more global "
                     "memory (--set global_mib=N, or --fit)") from None
        raise
    for node in prog._nodes or ():
        if node["op"] == "Reshape" and any(_PAST.match(t) for t in node["model_inputs"]):
            raise UnsupportedOpError(
                f"node {node['name']!r} reshapes a past input in place; generation keeps the "
                "past inputs in their own memory and needs them read as they are")
    return prog


def _weights(prog) -> bytes:
    """The weight section a step's text includes (its side file ``*.weights.bin``)."""
    return next((v for k, v in prog._side_files.items() if k.endswith(WEIGHTS_FILE)), b"")


def _finish(prog, text: str):
    """The program of ``text``, assembled (the steps are compiled to text alone: the cache's
    rewrite edits it, and a program is assembled once)."""
    from imcc.api import Program
    from isa.assembler import assemble

    report = prog._compile_report()
    asm = assemble(text, f"{Path(str(report['model'])).stem}.s", includes=dict(prog._side_files))
    report["instructions"] = len(asm.obj.text)
    return Program(asm.obj, prog.chip, asm=text, side_files=prog._side_files, report=report,
                   storage_map=prog._storage_map)  # shared, not copied: nothing edits it


def compile_decoder(model, chip="ideal", *, context: int, prompt: int | None = None,
                    priority: str = "resource", name: str | None = None, set=None,
                    fit: bool = False, seed: int = 0, time_limit: float = 10.0,
                    progress: Callable[[str], None] | None = None,
                    calib_ids: list[int] | None = None):
    """The decode-step program of ``model`` for ``context`` tokens, with the cache shift; an
    ``imcc.Program`` whose ``_decoder`` and ``_context`` say what it is. With ``prompt`` (a
    length below ``context``), also the prefill program for prompts of that length (its
    ``_prefill``): the same cells (made once), placed the same way, and the same cache region."""
    from isa.objfile import same_bytes

    model = resolve_model(model)
    dec = decoder_interface(model)
    if context < 2:
        raise InputError(f"a context of {context} token(s): generation needs at least 2")
    kw = {"priority": priority, "name": name, "set": set, "fit": fit, "seed": seed, "cells": {},
          "time_limit": time_limit, "progress": progress, "calib_ids": calib_ids}
    def labelled(what):
        return None if progress is None else (lambda m: progress(f"{what}: {m}"))

    region = region_bytes(dec, context)
    step_kw = {**kw, "progress": labelled("compiling the decode step")}
    pre_kw = {**kw, "progress": labelled(f"compiling the prefill of {prompt} tokens")}
    wants_pre = prompt is not None and 1 < prompt < context
    pre = step = None
    if fit and wants_pre:
        # the prefill (the larger program) first, on a chip grown to hold the cache region
        # after it: the decode step then fits that chip as it is, and neither is compiled again
        pre = _compile_step(model, dec, chip, context, prompt, **pre_kw, reserve=region)
        if pre.chip.drift_compensation == "none":
            step = _compile_step(model, dec, pre.chip, context, 1, **{**step_kw, "set": None},
                                 reserve=region)
        else:  # a chip with drift references runs no prefill program
            pre = None
            step = _compile_step(model, dec, chip, context, 1, **step_kw, reserve=region)
    if step is None:
        step = _compile_step(model, dec, chip, context, 1, **step_kw,
                             reserve=0 if wants_pre else region)
        if wants_pre and step.chip.drift_compensation == "none":
            pre = _compile_step(model, dec, step.chip, context, prompt, **{**pre_kw, "set": None})
    if pre is not None and (not same_bytes(_weights(pre), _weights(step))
                            or pre._storage_map["entries"] != step._storage_map["entries"]):
        pre = None  # placed differently: the prefill runs as decode steps
    used = max(int(p._compile_report()["memory_bytes"]) for p in (step, pre) if p is not None)
    base = -(-used // ALIGN) * ALIGN
    cache = dec.cache_bytes(context)
    if fit:  # one chip for both programs, its memory grown to hold the cache too
        from imcc.settings import fit_memory

        roomy = max((p.chip for p in (step, pre) if p is not None), key=lambda c: c.global_mib)
        final = fit_memory(roomy, base + region)
        again = {**kw, "set": None, "fit": False}
        if final.program_hash != step.chip.program_hash:
            step = _compile_step(model, dec, final, context, 1, **again)
        if pre is not None and final.program_hash != pre.chip.program_hash:
            pre = _compile_step(model, dec, final, context, prompt, **again)
    limit = int(step.chip.global_mib) << 20
    if base + region > limit:
        raise ConfigError(
            f"a context of {context} tokens does not fit: its KV cache takes "
            f"{cache / 2**20:.2f} MiB ({dec.layers} layers x key and value x {dec.kv_heads} "
            f"heads x {context} positions x {dec.head_dim}, float32) beside the program's "
            f"{base / 2**20:.2f} MiB, and chip {step.chip.name!r} has {step.chip.global_mib} MiB",
            hint="shorten the prompt or --max-new-tokens, or give the chip more global memory "
                 "(--set global_mib=N)")
    text = slot_cache(step.asm, dec, context, base, decode=True)
    pre_text = None if pre is None else slot_cache(pre.asm, dec, context, base, decode=False)
    slots = text is not None and (pre is None or pre_text is not None)
    if not slots:  # the cache copied into present and shifted back each step
        text = _with_cache(step.asm, dec, context, base, move_past=True)
        if pre is not None:
            pre_text = _with_cache(pre.asm, dec, context, base, move_past=False)
    out = _finish(step, text)
    out._decoder, out._context, out._kv_cache_bytes = dec, context, cache
    out._slots = slots  # the cache written in place (imcc.kv_slots)
    out._prefill = None
    if pre is not None:
        out._prefill = _finish(pre, pre_text)
        out._prefill._tokens = prompt
    return out
