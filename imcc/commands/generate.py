"""``imcc generate``: text generation with a decoder and its KV cache on the machine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from imcc.commands._common import Outputs, chip_options, load_chip, write_files
from imcc.commands._progress import Progress
from imcc.commands._settings import fit_option, set_option
from isa.diagnostics import InputError
from runtime.xpcrossbar import BACKENDS


def _ids(text: str) -> list[int]:
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise InputError(f"--prompt-ids {text!r}: expected comma-separated token ids, "
                         "e.g. 1,2,3") from None
    if not ids:
        raise InputError("--prompt-ids is empty; give at least one token id")
    return ids


def _energy(pj: float | None) -> str:
    return "-" if pj is None else f"{pj / 1e6:.4g} uJ"


def _latency(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1e3:.4g} us"


def projection_arrays(smap: dict) -> list[tuple[str, list[int]]]:
    """Each IMC layer of the storage map with the arrays its tiles sit on, in layer order."""
    arrays: dict[str, set[int]] = {}
    for e in smap["entries"]:
        arrays.setdefault(e["layer"], set()).add(e["array"])
    return [(L["name"], sorted(arrays.get(L["name"], ()))) for L in smap["layers"]]


def _span(arrays: list[int]) -> str:
    runs, k = [], 0
    while k < len(arrays):
        j = k
        while j + 1 < len(arrays) and arrays[j + 1] == arrays[j] + 1:
            j += 1
        runs.append(str(arrays[k]) if j == k else f"{arrays[k]}-{arrays[j]}")
        k = j + 1
    return ",".join(runs)


def render(gen, *, layers: bool) -> str:
    """What ``imcc generate`` prints."""
    prog, dec = gen.program, gen.program._decoder
    model = prog._compile_report()["model"]
    lines = [f"model: {model} ({dec.layers} layers, {dec.kv_heads} KV heads x "
             f"{dec.head_dim}); chip {gen.chip}; context {gen.context} tokens, KV cache "
             f"{prog._kv_cache_bytes / 1024:.1f} KiB resident in global memory",
             f"prompt: {' '.join(map(str, gen.prompt))}",
             f"tokens: {' '.join(map(str, gen.tokens))}" if gen.backend != "cost" else
             "tokens: not computed (--backend cost: the cost model alone)",
             f"programming: {gen.programming['cells_programmed']} cells, "
             f"{_energy(gen.programming['energy_pj'])}, {_latency(gen.programming['latency_ns'])}",
             f"prefill ({gen.prefill['tokens']} tokens, {gen.prefill['runs']} "
             f"run{'s' if gen.prefill['runs'] > 1 else ''}): {_energy(gen.prefill['energy_pj'])}, "
             f"{_latency(gen.prefill['latency_ns'])}",
             f"decode ({len(gen.steps)} steps): per token {_energy(gen.per_token['energy_pj'])}, "
             f"{_latency(gen.per_token['latency_ns'])}"]
    if layers and prog.storage_map is not None:
        lines.append("arrays of each projection (storage map):")
        rows = projection_arrays(prog.storage_map)
        w = max(len(n) for n, _ in rows)
        lines += [f"  {n:<{w}}  {_span(a)}" for n, a in rows]
    return "\n".join(lines)


@click.command("generate")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--prompt-ids", required=True, metavar="ID,ID,...",
              help="the prompt as comma-separated token ids")
@click.option("--max-new-tokens", type=click.IntRange(1), required=True,
              help="how many tokens to generate")
@click.option("--context", type=click.IntRange(2),
              help="tokens the KV cache holds (default: the prompt and the new tokens, less "
                   "one)")
@click.option("--greedy", is_flag=True,
              help="take the most likely token at every step (the default)")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True),
              help="sample from softmax(logits / T) instead of greedy decoding")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of the sampling (with --temperature)")
@click.option("--priority", type=click.Choice(["efficiency", "resource"]), default="resource",
              show_default=True, help="placement priority of the compile")
@click.option("--prefill", type=click.Choice(["batched", "steps"]), default="batched",
              show_default=True, help="batched: the prompt in one run of a prefill program on "
              "the same machine and arrays; steps: through the decode program, a token a run")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the tokens and the cost per step as JSON (docs/llm.md)")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the storage map (JSON) of the decoder's program")
@click.option("--layers", is_flag=True, help="print the arrays of each projection")
@click.option("--backend", type=click.Choice(BACKENDS), default="numpy", show_default=True,
              help="where the arrays compute: numpy, cupy (an NVIDIA GPU), or cost: the cost "
              "model alone, for models whose cells the host cannot hold (no tokens computed)")
@click.option("-q", "--quiet", is_flag=True, help="no progress line on a terminal")
@chip_options
@set_option
@fit_option
def generate_cmd(model: Path, prompt_ids: str, max_new_tokens: int, context: int | None,
                 greedy: bool, temperature: float | None, seed: int, priority: str, prefill: str,
                 json_path: Path | None, map_path: Path | None, layers: bool, backend: str,
                 quiet: bool,
                 config_path: Path | None, chip_name: str | None, sets, fit: bool) -> None:
    """Generate tokens after a prompt with MODEL (an ONNX decoder with past, or a folder
    holding the exporter's model.onnx) on the machine: weights programmed once, the prompt
    in one run of a prefill program, each new token in a run of a decode-step program on the
    same machine, the KV cache kept in the chip's memory."""
    from imcc import storagemap
    from imcc.llm import generate
    from imcc.settings import parse_sets

    if greedy and temperature is not None:
        raise InputError("give either --greedy or --temperature T, not both")
    chip = load_chip(config_path, chip_name)
    ids, pairs = _ids(prompt_ids), parse_sets(sets)
    with Progress("generate", quiet=quiet) as bar:
        gen = generate(model, ids, max_new_tokens, chip, context=context,
                       temperature=temperature, seed=seed, priority=priority, set=pairs,
                       fit=fit, prefill=prefill, backend=backend,
                       progress=bar.stage if bar.enabled else None)
    files = Outputs()
    if json_path is not None:
        files[json_path] = (json.dumps(gen.to_json(), indent=1) + "\n").encode()
    if map_path is not None:
        files[map_path] = storagemap.to_json(gen.program.storage_map)
    write_files(dict(files))
    click.echo(render(gen, layers=layers))


COMMANDS = (generate_cmd,)
