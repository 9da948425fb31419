"""``imcc run``: execute a program on the reference machine (:mod:`runtime`)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from imcc.commands._progress import Progress
from imcc.commands._settings import set_option
from runtime.config import preset_names
from runtime.widesums import ACCUMULATE
from runtime.xpcrossbar import BACKENDS

DEFAULT_MAX_STEPS = 50_000_000  # as runtime.machine (imported when the command runs)
DEFAULT_MAX_WORK = 10**12  # as runtime.machine


@click.command("run")
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="chip file (.toml or .json)")
@click.option("--chip", "chip_name", metavar="PRESET",
              help=f"a shipped chip preset ({', '.join(preset_names())})")
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE",
              help="an input tensor (repeatable): NAME=FILE.npy, NAME=FILE.npz:KEY, or FILE.npz "
                   "for every array by name; NAME= may be left out for a program with one "
                   "input; a leading batch dimension runs the program once per chunk")
@click.option("--compare", "compare", type=click.Path(dir_okay=False, path_type=Path),
              metavar="MODEL.onnx", help="also run the float ONNX model on the same inputs and "
              "print the difference")
@click.option("--const", "consts", multiple=True, metavar="NAME=FILE.npy",
              help="for --compare: the value of a graph input the program was compiled with "
                   "(imcc compile --const), fed to the float model (repeatable)")
@click.option("--labels", metavar="FILE[:KEY]", help="integer class labels (.npy, or .npz:KEY): "
              "print top-1 accuracy (and the float model's with --compare)")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="write the outputs to this .npz file")
@click.option("--trace", type=click.IntRange(min=0), default=0, metavar="N",
              help="print the first N executed instructions with the registers they change")
@click.option("--stats", is_flag=True, help="print the cost breakdown and the hottest "
              "instructions")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="seed of the device nonidealities")
@click.option("--time", "time_s", type=click.FloatRange(min=0.0), default=None, metavar="T",
              help="read time after programming in seconds (conductance drift)")
@click.option("--max-steps", type=click.IntRange(min=1), default=DEFAULT_MAX_STEPS,
              show_default=True, help="trap after this many instructions per run")
@click.option("--max-work", type=click.IntRange(min=1), default=DEFAULT_MAX_WORK,
              show_default=True, help="trap after this many vector elements and array cells "
              "per run (docs/machine.md, \"Limits\")")
@click.option("--max-seconds", type=click.FloatRange(min=0.0, min_open=True), default=None,
              metavar="S", help="trap when a run (one batch chunk) takes longer than S seconds")
@click.option("--backend", type=click.Choice(BACKENDS), default="numpy",
              show_default=True, help="where the crossbar arrays compute: numpy on the host, "
              "CuPy on an NVIDIA GPU (needs CuPy), or cost: the cost model alone, arrays without "
              "cells and MVMs writing zeros (the cost report as numpy's, outputs meaningless)")
@click.option("--accumulate", type=click.Choice(ACCUMULATE), default="float32",
              show_default=True, help="what the crossbar sums float products in: float32, or "
              "float64 rounded once (equal sums give equal results; slower products, numpy "
              "backend; docs/runtime.md, \"Float sums\")")
@set_option
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write a report page (one self-contained HTML file): cost charts, the "
                   "comparison with --compare's model and --labels, layers, storage map, and "
                   "the partition graph (from --compare's model)")
@click.option("-q", "--quiet", is_flag=True, help="print only errors (with --output, the "
              "outputs go to the file)")
def run_cmd(program: Path, config_path: Path | None, chip_name: str | None, inputs: tuple,
            compare: Path | None, consts: tuple, labels: str | None, output: Path | None, trace: int,
            stats: bool, seed: int, time_s: float | None, max_steps: int, max_work: int,
            max_seconds: float | None, backend: str, accumulate: str,
            sets: tuple, html_path: Path | None, quiet: bool) -> None:
    """Run PROGRAM (.s or .imo) on the reference machine and print its outputs and cost.
    --set changes the chip's noise or costs (a setting the program was compiled for, such as
    tiles or adc_bits, needs a new compile)."""
    from imcc.api import load
    from imcc.settings import parse_sets
    from isa.diagnostics import ConfigError
    from runtime.launch import describe_outputs, read_array, read_inputs, save_outputs

    if config_path is not None and chip_name is not None:
        raise ConfigError("give either --config FILE or --chip NAME, not both")
    if backend == "cost" and (compare or labels or output or html_path):
        raise ConfigError("--backend cost computes the cost model alone, not the outputs that "
                          "--compare, --labels, --output and --html read",
                          hint="drop those options, or run with --backend numpy")
    if consts and compare is None:
        raise ConfigError("--const gives the float model of --compare the values the program "
                          "was compiled with: give --compare MODEL.onnx too")
    bound = read_inputs(consts, (), "--const") if consts else {}
    pairs = parse_sets(sets)
    if any(k == "time" for k, _ in pairs):
        if time_s is not None:
            raise ConfigError("give the read time once: --time T or --set time=T")
        time_s = dict(pairs)["time"]
        if time_s < 0:
            raise ConfigError(f"--set time={time_s}: must be >= 0 seconds")
        pairs = tuple((k, v) for k, v in pairs if k != "time")
    echo = (lambda *_a, **_k: None) if quiet else click.echo
    with Progress("run", quiet=quiet) as bar:
        bar.stage(f"loading {program.name}")
        prog = load(program, chip=config_path if config_path is not None else chip_name,
                    set=pairs)
        feeds = read_inputs(inputs, tuple(t.name for t in prog.inputs))
        bar.stage("running" + _samples(feeds, prog))
        outputs = prog._run(feeds, seed=seed, time=time_s or 0.0, backend=backend,
                            accumulate=accumulate,
                            max_steps=max_steps, max_work=max_work, max_seconds=max_seconds,
                            progress=bar.batches,
                            trace=bar.echo if not quiet else None, trace_limit=trace)
        y = read_array(labels, "--labels") if labels else None
        _check_labels(outputs, y)
        ref = _reference(compare, {**feeds, **bound}, bar)
        page = None
        if html_path is not None:
            bar.stage("report")
            page = _page(prog, program, outputs, compare, ref, y, bound)
    machine = prog._machine
    echo(describe_outputs(outputs) if backend != "cost" else
         "outputs: not computed (--backend cost: the cost model alone)")
    _compare_and_score(outputs, compare, ref, y, echo)
    report = prog.cost
    echo(report.summary())
    if stats:
        echo("  energy (pJ)   " + ", ".join(
            f"{k} {v:.4g}" for k, v in report.energy_breakdown_pj.items()))
        echo(f"  conversions   {report.dac_conversions} DAC, {report.adc_conversions} ADC")
        echo("  hottest instructions:")
        for pc, count, text in machine.profile(10):
            where = machine.where(pc)
            echo(f"    {pc:#010x} {count:>10}  {text}" + (f"  <{where}>" if where else ""))
    if output is not None:
        save_outputs(output, outputs)
        echo(f"{output}: {len(outputs)} output(s) written")
    if page is not None:
        from imcc.commands._common import Outputs, write_files

        write_files(Outputs({html_path: page}))
        echo(f"{html_path}: report written")


def _page(prog, program: Path, outputs: dict, compare: Path | None, ref, y,
          bound: dict) -> bytes:
    """The --html page (imcc.report): the partition graph comes from --compare's model (with
    the graph inputs of ``bound``, ``--const``, bound as the program was compiled)."""
    from imcc.commands._html import run_page
    from imcc.report import node_summary, render

    first = next(iter(outputs.values()), None)
    samples = len(first) if first is not None and np.ndim(first) else 1
    accuracy = None
    if y is not None and first is not None:
        name = next(iter(outputs))
        flt = ref[0].get(name) if ref is not None else None
        accuracy = {"imc": _top1(first, y), "samples": samples,
                    "float": None if flt is None else _top1(flt, y)}
    nodes = None
    if compare is not None:
        from types import MappingProxyType

        from imcc.compiler import CompileOptions, partition_model

        shapes = {t.name: tuple(t.shape) for t in prog.inputs}
        model = compare
        if bound:
            from imcc.frontend.bind_constants import bind_constants
            from imcc.frontend.loader import read_model_file

            model = bind_constants(read_model_file(compare), bound, str(compare))
        graph, classes = partition_model(model, CompileOptions(
            input_shapes=MappingProxyType(shapes)))
        nodes = node_summary(graph, classes)
    return render(run_page(prog, program, outputs=outputs, compare=compare, reference=ref,
                           labels=y, accuracy=accuracy, nodes=nodes,
                           samples=samples)).encode()


def _samples(feeds: dict, prog) -> str:
    """`` 539 samples in 539 batches of 1`` for the status line ("" when it runs once)."""
    if not feeds or not prog.inputs:
        return ""
    spec = prog.inputs[0]
    arr = feeds.get(spec.name)
    if arr is None or not spec.shape or np.ndim(arr) != len(spec.shape):
        return ""
    n, b = len(arr), spec.shape[0]
    return f" {n} samples in {-(-n // b)} batches of {b}" if n != b else ""


def _reference(compare: Path | None, feeds: dict, bar: Progress):
    """The float model's outputs on the same inputs and the engine's name (or None)."""
    if compare is None:
        return None
    from imcc.reference import evaluate

    bar.stage(f"running the float model {compare.name}")
    return evaluate(compare, feeds)


def _top1(out, y) -> float:
    """Top-1 accuracy: the argmax of each sample's scores, or the output itself when it is
    already one integer class per sample (a model ending in ArgMax)."""
    out = np.asarray(out)
    y = np.asarray(y).reshape(-1)
    if out.dtype.kind in "iu" and out.size == len(y):
        pred = out.reshape(-1)
    else:
        pred = out.reshape(len(y), -1).argmax(axis=1)
    return float((pred == y).mean())


def _compare_and_score(outputs: dict, compare: Path | None, reference, y, echo) -> None:
    """Accuracy against labels, and the difference from the float ONNX model (``reference``:
    its outputs and engine, or None)."""
    from isa.diagnostics import InputError

    first = next(iter(outputs.values()), None)
    ref = None
    if reference is not None:
        ref, engine = reference
        echo(f"compared with {compare} ({engine}):")
        for name, out in outputs.items():
            if name not in ref:
                echo(f"  {name}: not an output of {compare}")
                continue
            want = np.asarray(ref[name], dtype=np.float64)
            if want.size != out.size:
                raise InputError(f"--compare: output {name!r} of {compare} has shape "
                                 f"{list(want.shape)}, the program's has {list(out.shape)}",
                                 hint="compare with the model the program was compiled from")
            want = want.reshape(out.shape)
            d = np.abs(out.astype(np.float64) - want)
            scale = max(float(np.abs(want).max()), 1e-30)
            echo(f"  {name}: max abs error {d.max():.4g}, max relative error "
                 f"{d.max() / scale:.4g} (of max |float| {scale:.4g})")
    if y is not None:
        line = f"top-1 accuracy: IMC {100 * _top1(first, y):.2f} %"
        name = next(iter(outputs))
        if ref is not None and name in ref:  # else printed above: not an output of the model
            line += f", float model {100 * _top1(ref[name], y):.2f} %"
        echo(line + f" ({len(first)} samples)")


def _check_labels(outputs: dict, y) -> None:
    """One label per output row, before the float model runs."""
    from isa.diagnostics import InputError

    first = next(iter(outputs.values()), None)
    if y is not None and first is None:
        raise InputError("--labels: the program declares no .output to score")
    if y is not None:
        y = np.asarray(y)
        whole = y.dtype.kind in "biu" or (y.dtype.kind == "f" and bool(np.all(np.isfinite(y)))
                                          and bool(np.all(y == np.round(y))))
        if not whole:
            raise InputError(f"--labels: the labels are of type {y.dtype}; labels are class "
                             "numbers (integers)")
    if y is not None and len(np.asarray(y).reshape(-1)) != len(first):
        raise InputError(f"--labels: {len(np.asarray(y).reshape(-1))} labels for "
                         f"{len(first)} outputs")


COMMANDS = (run_cmd,)
