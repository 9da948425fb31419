"""``imcc explore``: design-space sweeps and automatic per-layer precision (imcc.explore)."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import MappingProxyType

import click

from imcc.commands._common import chip_options, load_chip, write_files
from imcc.commands._progress import Progress
from imcc.commands._settings import fit_option
from imcc.compiler import CompileOptions
from imcc.frontend import parse_input_shape
from imcc.precision import load_precision
from isa.diagnostics import ConfigError, InputError


def _data(model: Path, specs, input_key, label_key, labels_spec):
    """Model inputs from ``--data`` specs and labels from ``--labels``/``--label-key``."""
    from imcc.explore.data import model_io
    from runtime.launch import read_array, read_inputs

    names, _ = model_io(model)
    specs = list(specs)
    npz = [s for s in specs if s.endswith(".npz") and Path(s).exists()]
    if input_key:
        if len(specs) != 1 or len(npz) != 1 or len(names) != 1:
            raise InputError("--input-key goes with one --data FILE.npz for a model with one "
                            "input; otherwise write NAME=FILE.npz:KEY")
        specs = [f"{names[0]}={specs[0]}:{input_key}"]
    inputs = read_inputs(tuple(specs), tuple(names), "--data")
    labels = None
    if labels_spec:
        labels = read_array(labels_spec, "--labels")
    elif label_key:
        files = [s.partition("=")[2] or s for s in specs]
        files = [f.rpartition(":")[0] if not Path(f).exists() else f for f in files]
        files = [f for f in files if f.endswith(".npz")]
        if len(files) != 1:
            raise InputError("--label-key needs one --data FILE.npz; else give --labels FILE:KEY")
        labels = read_array(f"{files[0]}:{label_key}", "--label-key")
    return inputs, labels


def _points(sweeps, fixed):
    from imcc.explore.evaluate import Point

    names = [s.name for s in sweeps]
    if len(set(names) | {n for n, _ in fixed}) != len(names) + len(fixed):
        raise ConfigError("--sweep/--set: a parameter is given twice")
    base = tuple(fixed)
    grid = itertools.product(*[s.values for s in sweeps]) if sweeps else [()]
    return [Point(base + tuple(zip(names, vals))) for vals in grid]


def _say_progress(bar: Progress):
    """The engine's progress as evaluations done / total with the time left."""
    if not bar.enabled:
        return None

    def show(p) -> None:
        bar.count(p.done, p.total, "evaluations",
                  note=f"{p.compiled}/{p.to_compile} compiled"
                  + (f", {p.errors} failed" if p.errors else "") + f", last {p.last}")

    return show


def _table(summaries, names, acc: bool) -> list[str]:
    head = [*names, "seeds", "accuracy %" if acc else "rel. error", "energy/inf", "arrays", ""]
    rows = []
    for s in summaries:
        vals = [str(dict(s.point.overrides).get(n, "")) for n in names]
        if s.score is None:
            rows.append([*vals, str(s.seeds), "failed: " + "; ".join(s.errors)[:60], "", "", ""])
            continue
        m = s.accuracy if acc else s.rel_error
        sc = f"{100 * m[0]:.2f} +- {100 * m[1]:.2f}" if acc else f"{m[0]:.4f} +- {m[1]:.4f}"
        rows.append([*vals, str(s.seeds), sc, f"{s.energy_pj / 1e3:.2f} nJ",
                     str(s.arrays_used), "*" if s.pareto else ""])
    width = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, width)).rstrip() for r in [head, *rows]]


@click.command("explore")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", "data_specs", multiple=True, required=True,
              metavar="[NAME=]FILE[:KEY]", help="sample inputs (.npy, or .npz with :KEY)")
@click.option("--input-key", help="array of a --data .npz holding the inputs")
@click.option("--labels", "labels_spec", metavar="FILE[:KEY]", help="integer class labels")
@click.option("--label-key", help="array of the --data .npz holding the labels")
@click.option("--output-name", help="model output to score (default: the first)")
@click.option("--calib-samples", type=click.IntRange(1), default=100, show_default=True,
              help="the first N samples calibrate; the rest are evaluated")
@click.option("--limit", type=click.IntRange(1), help="evaluate at most N samples")
@click.option("--sweep", "sweeps", multiple=True, metavar="NAME=VALUES",
              help="a swept parameter: a,b,c | lo..hi | lo..hi:step (repeatable; see "
                   "docs/precision.md for the names)")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="a fixed override of the base chip/precision (repeatable; as compile --set)")
@fit_option
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True,
              help="run seeds 0..N-1 per point (device and read noise draws)")
@click.option("--time", "time_s", type=click.FloatRange(0), default=None,
              help="read time in seconds after programming (conductance drift)")
@click.option("--precision", "precision_path", type=click.Path(dir_okay=False, path_type=Path),
              help="base per-layer precision file (TOML)")
@click.option("--batch", type=click.IntRange(1), default=128, show_default=True,
              help="batch size the model is compiled for (a batch the model fixes stays)")
@click.option("--priority", type=click.Choice(["resource", "efficiency"]), default="resource",
              show_default=True, help="mapping priority (resource: arrays are not replicated)")
@click.option("--calibration", type=click.Choice(["minmax", "percentile"]), default="minmax",
              show_default=True)
@click.option("--percentile", type=click.FloatRange(50, 100), default=99.99, show_default=True)
@click.option("--input-shape", multiple=True, metavar="NAME=1x3x224x224",
              help="an input's static shape, or a symbolic dimension's size "
                   "(sequence_length=128), as for imcc compile (repeatable)")
@click.option("-o", "--out", "stem", type=click.Path(path_type=Path),
              help="output stem: STEM.jsonl (results, resumable), STEM.csv, STEM.svg, STEM.png "
                   "(default explore-MODEL)")
@click.option("--color-by", help="swept parameter that colours the plot (default: the first)")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write a report page (one self-contained HTML file): the Pareto plot "
                   "with each point's settings on hover, and the results table")
@click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
              help="worker processes (1: run in this process)")
@click.option("--backend", type=click.Choice(["local", "dask"]), default="local",
              show_default=True)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler (with --backend dask)")
@click.option("--retry-errors", is_flag=True, help="evaluate again the points that failed")
@click.option("--auto", is_flag=True, help="search per-layer precision for the least energy "
              "within a budget (instead of a sweep)")
@click.option("--target-accuracy-drop", type=click.FloatRange(0), metavar="PP",
              help="--auto budget: percentage points below the float model")
@click.option("--target-error", type=click.FloatRange(0), metavar="E",
              help="--auto budget without labels: largest relative output error")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.5, show_default=True,
              help="--auto: share of the evaluation samples kept to validate the result")
@click.option("--knobs", default="weight_bits,input_bits,adc_bits", show_default=True,
              help="--auto: the per-layer settings it may lower")
@click.option("-q", "--quiet", is_flag=True, help="print only errors")
@chip_options
def explore_cmd(model, data_specs, input_key, labels_spec, label_key, output_name,
                calib_samples, limit, sweeps, sets, seeds, time_s, precision_path, batch,
                priority, calibration, percentile, input_shape, stem, color_by, workers, backend,
                scheduler, retry_errors, auto, target_accuracy_drop, target_error, holdout,
                knobs, quiet, config_path, chip_name, fit, html_path):
    """Sweep a design space (or search per-layer precision with --auto) for MODEL: accuracy
    or output error, energy, latency and arrays per point, over device-noise seeds.

    \b
    imcc explore cnn.onnx --data test.npz --input-key x_img --label-key y \\
        --chip rram --sweep adc_bits=4..10 --sweep cell_bits=1,2,4 --sweep noise=0..0.05
    """
    from imcc.explore.params import check_grid, parse_sweep
    from imcc.settings import parse_sets

    chip = load_chip(config_path, chip_name, default="rram")
    if not model.exists():
        raise ConfigError(f"model file {str(model)!r} does not exist")
    parsed = [parse_sweep(s) for s in sweeps]
    check_grid(parsed, seeds)
    fixed = list(parse_sets(sets))
    if auto and html_path is not None:
        raise ConfigError("--html draws the Pareto plot of a sweep; --auto writes its result as "
                          "a precision file")
    if auto:
        if parsed:
            raise ConfigError("--auto searches per-layer settings; fix uniform ones with --set, "
                              "not --sweep")
        if (target_accuracy_drop is None) == (target_error is None):
            raise ConfigError("--auto needs one of --target-accuracy-drop PP or "
                              "--target-error E")
    elif target_accuracy_drop is not None or target_error is not None:
        raise ConfigError("--target-accuracy-drop/--target-error go with --auto")
    names = [s.name for s in parsed]
    if color_by is not None:
        from imcc.explore.params import canonical

        color_by = canonical(color_by)
        if color_by not in names:
            raise ConfigError(f"--color-by {color_by!r}: not a swept parameter "
                              f"(swept: {', '.join(names) or 'none'})")
    points = _points(parsed, fixed)
    prec = load_precision(precision_path, chip.cell_bits) if precision_path else None
    shapes = dict(parse_input_shape(s) for s in input_shape)
    options = CompileOptions(priority=priority, batch=batch, calibration=calibration,
                             percentile=percentile, input_shapes=MappingProxyType(shapes),
                             workers=1, fit=fit)
    stem = stem or Path(f"explore-{model.stem}")
    inputs, labels = _data(model, data_specs, input_key, label_key, labels_spec)
    from imcc.explore.data import make_dataset
    from imcc.explore.evaluate import Study

    data = make_dataset(model, inputs, labels, calib=calib_samples, limit=limit,
                        output=output_name)
    study = Study.make(model, chip, prec, options, time_s, data)
    seed_list = tuple(range(seeds))
    if auto:
        _auto(study, points[0], seed_list, stem, target_accuracy_drop, target_error, holdout,
              knobs, workers, backend, scheduler, quiet)
        return
    _sweep(study, points, parsed, seed_list, stem, color_by or (names[0] if names else None),
           workers, backend, scheduler, retry_errors, quiet, chip.name, model, html_path)


def _sweep(study, points, parsed, seeds, stem, color_by, workers, backend, scheduler,
           retry_errors, quiet, chip_name, model, html_path=None):
    from imcc.explore import plot
    from imcc.explore.backends import executor
    from imcc.explore.engine import evaluate
    from imcc.explore.results import ResultStore, summarize, to_csv

    names = [s.name for s in parsed]
    jsonl = stem.with_name(stem.name + ".jsonl")
    store = ResultStore(jsonl)
    try:
        with Progress("explore", quiet=quiet) as bar, executor(backend, workers, scheduler) as ex:
            bar.stage(f"{len(points)} points x {len(seeds)} seeds")
            n = evaluate(study, [(p, s) for p in points for s in seeds], store, executor=ex,
                         retry_errors=retry_errors, progress=_say_progress(bar))
    finally:
        store.close()
    sums = summarize(study.fingerprint, points, seeds, store)
    fl = study.data.float_score()
    acc = fl["accuracy"] is not None
    title = (f"{model.name} on {chip_name}: {len(points)} points x {len(seeds)} seeds"
             + (f" (float {100 * fl['accuracy']:.2f} %)" if acc else ""))
    files = {stem.with_name(stem.name + ".csv"): to_csv(sums, names).encode(),
             stem.with_name(stem.name + ".svg"): plot.to_svg(sums, color_by, title).encode()}
    if html_path is not None:
        from imcc.commands._html import explore_page
        from imcc.report import render

        files[html_path] = render(explore_page(model, chip_name, sums, names, len(seeds),
                                               fl)).encode()
    write_files(files)
    png = stem.with_name(stem.name + ".png")
    has_png = plot.to_png(sums, png, color_by, title)
    if quiet:
        _all_failed(sums)
        return
    click.echo(f"explored {len(points)} points x {len(seeds)} seeds on {study.data.size} "
               f"samples ({n} evaluated now, {len(points) * len(seeds) - n} from {jsonl})")
    if acc:
        click.echo(f"float model: {100 * fl['accuracy']:.2f} % on the same samples")
    lines = _table(sums, names, acc)
    front = [i for i, s in enumerate(sums) if s.pareto]
    if len(sums) > 40:
        click.echo("Pareto front (the full table is in the CSV):")
        lines = [lines[0]] + [lines[i + 1] for i in front]
    for line in lines:
        click.echo("  " + line)
    failed = sum(1 for s in sums if s.errors)
    if failed:
        click.echo(f"{failed} point(s) had failures (see the error column of the CSV)")
    out = [str(p) for p in files] + ([str(png)] if has_png else [])
    click.echo(f"wrote {jsonl}, {', '.join(out)}")
    _all_failed(sums)


def _all_failed(sums) -> None:
    """A sweep in which no point has a result did not work: exit 1 with the first error."""
    if all(s.score is None for s in sums):
        first = next((s.errors[0] for s in sums if s.errors), "no result")
        raise click.ClickException(f"every point failed; the first error: {first}")


def _auto(study, start, seeds, stem, drop, max_error, holdout, knobs, workers, backend,
          scheduler, quiet):
    from imcc.explore.auto import Budget, precision_toml, search
    from imcc.explore.backends import executor
    from imcc.explore.results import ResultStore

    jsonl = stem.with_name(stem.name + ".jsonl")
    store = ResultStore(jsonl)
    knob_list = tuple(k.strip() for k in knobs.split(",") if k.strip())
    try:
        with Progress("explore --auto", quiet=quiet) as bar, \
                executor(backend, workers, scheduler) as ex:
            log = None if quiet else (lambda m: bar.echo(f"  {m}"))
            bar.stage("search")
            res = search(study, start, seeds, Budget(drop, max_error), store, holdout=holdout,
                         knobs=knob_list, executor=ex, progress=_say_progress(bar), log=log)
    finally:
        store.close()
    toml_path = stem.with_name(stem.name + ".precision.toml")
    write_files({toml_path: precision_toml(res, start).encode()})
    if quiet:
        return

    def show(v):
        return f"{100 * v:.2f} %" if v >= 0 else f"rel. error {-v:.4g}"

    c, h, h0 = res.chosen, res.holdout, res.start_holdout
    click.echo(f"auto: {len(res.path) - 1} step(s) accepted, {res.evaluations} evaluations now")
    click.echo(f"  search part:   start {show(res.path[0].score)} at "
               f"{res.path[0].energy_pj / 1e3:.2f} nJ -> {show(c.score)} at "
               f"{c.energy_pj / 1e3:.2f} nJ (budget {show(res.threshold_search)})")
    if h.score is not None and h0.score is not None:
        click.echo(f"  held-out part: start {show(h0.score)} -> {show(h.score)} "
                   f"(budget {show(res.threshold_holdout)}): "
                   + ("within budget" if res.meets_budget else "MISSES the budget"))
    for n in res.notes:
        click.echo(f"  note: {n}")
    for layer in res.layers:
        vals = {k: v for lay, k, v in c.point.layers if lay == layer}
        if vals:
            click.echo(f"  {layer}: " + ", ".join(f"{k} {v}" for k, v in sorted(vals.items())))
    click.echo(f"wrote {jsonl}, {toml_path}")


COMMANDS = (explore_cmd,)
