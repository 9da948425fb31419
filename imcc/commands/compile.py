"""``imcc compile`` and ``imcc map``: ONNX model -> object file (and storage map)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import click

from imcc import storagemap
from imcc.commands._common import Outputs, chip_options, load_chip, write_files
from imcc.commands._progress import COMPILE_STAGES, MAP_STAGES, Progress
from imcc.commands._settings import chip_line, fit_option, set_option
from imcc.compiler import CompileOptions, map_model, smallest_chips
from imcc.frontend import parse_input_shape
from imcc.precision import load_precision
from isa.diagnostics import ConfigError, escape
from isa.encoding import DecodeError, decode


def _options(priority, dynamic, batch, input_shape, time_limit, seed, workers, calibration,
             percentile, fit=False) -> CompileOptions:
    shapes = dict(parse_input_shape(s) for s in input_shape)
    return CompileOptions(priority=priority, dynamic=dynamic, batch=batch,
                          input_shapes=MappingProxyType(shapes), time_limit=time_limit,
                          seed=seed, workers=workers, calibration=calibration,
                          percentile=percentile, fit=fit)


def common_compile_options(f):
    opts = [
        click.option("--priority", type=click.Choice(["efficiency", "resource"]),
                     default="efficiency", show_default=True,
                     help="efficiency: shortest inference (spread + replicate layers); "
                          "resource: fewest arrays"),
        click.option("--precision", "precision_path", type=click.Path(dir_okay=False,
                                                                     path_type=Path),
                     help="per-layer precision file (TOML)"),
        click.option("--batch", type=click.IntRange(1), help="batch size for a symbolic leading "
                     "input dimension (default 1; a batch the model fixes stays)"),
        click.option("--input-shape", multiple=True, metavar="NAME=1x3x224x224",
                     help="an input's static shape (NAME=1x3x224x224), or a symbolic "
                     "dimension's size in every input that has it (sequence_length=128) "
                     "(repeatable)"),
        click.option("--dynamic", type=click.Choice(["sram", "digital"]), default="sram",
                     show_default=True, help="where activation x activation matmuls run"),
        click.option("--time-limit", type=click.FloatRange(0.1), default=10.0,
                     show_default=True, help="packing effort budget in seconds (deterministic)"),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--workers", type=click.IntRange(1), default=2, show_default=True,
                     help="accepted for compatibility (packing is single-threaded and "
                          "gives the same answer for any value)"),
        chip_options,
        set_option,
        fit_option,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _categories(words) -> Counter:
    c: Counter = Counter()
    for w in words:
        try:
            c[decode(w).spec.category.value] += 1
        except DecodeError:
            c["?"] += 1
    return c


@click.command("compile")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="object file (default: MODEL with suffix .imo)")
@click.option("-S", "asm", is_flag=True, help="also write the assembly (.s) and its side files")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the storage map (JSON)")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write a picture of the arrays' occupancy (SVG)")
@click.option("--calib", multiple=True, metavar="[NAME=]FILE[:KEY]",
              help="calibration inputs (.npy, or .npz with :KEY) for activation scales")
@click.option("--const", "consts", multiple=True, metavar="NAME=FILE.npy",
              help="compile the graph input NAME in as this constant value (.npy, or .npz with "
                   ":KEY); for inputs that set shapes: Pad's pads, Slice's starts, Resize's "
                   "scales (repeatable)")
@click.option("--calibration", type=click.Choice(["minmax", "percentile"]), default="minmax",
              show_default=True)
@click.option("--percentile", type=click.FloatRange(50, 100), default=99.99, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the compile report (JSON)")
@click.option("--estimate/--no-estimate", default=True, show_default=True,
              help="run one inference on the cost model to report energy and latency")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write a report page (one self-contained HTML file): partition graph, "
                   "layers, storage map, cost charts, comparison with the float model on a few "
                   "samples")
@click.option("-q", "--quiet", is_flag=True, help="print only errors")
@click.option("--dump-after", multiple=True, metavar="PASS",
              help="print the graph after this canonicalization pass (repeatable; to stderr, or "
                   "--dump-file)")
@click.option("--dump-file", type=click.Path(dir_okay=False, path_type=Path),
              help="write the --dump-after graphs to this file instead of stderr")
@click.option("--verify-each", is_flag=True,
              help="run the IR verifier after every canonicalization pass")
@common_compile_options
def compile_cmd(model, output, asm, map_path, svg_path, calib, consts, calibration, percentile,
                json_path, estimate, html_path, quiet, dump_after, dump_file, verify_each, priority,
                precision_path, batch, input_shape, dynamic, time_limit, seed, workers,
                config_path, chip_name, sets, fit):
    """Compile an ONNX MODEL into a program for the IMC machine."""
    from imcc.api import _compile, _pass_checks
    from imcc.settings import apply_sets, parse_sets
    from runtime.launch import read_inputs

    checks = _pass_checks(dump_after, verify_each, "--dump-after")
    dumps: list[str] = []
    if dump_file is not None:
        if not dump_after:
            raise ConfigError(f"--dump-file {escape(str(dump_file))}: nothing to write into it; "
                              "name the passes to print with --dump-after PASS")
        checks = replace(checks, write=dumps.append)
    chip = load_chip(config_path, chip_name)
    pairs = parse_sets(sets)
    prec = load_precision(precision_path, chip.cell_bits) if precision_path else None
    chip, prec, _ = apply_sets(chip, prec, pairs, command="compile")
    out = output or model.with_suffix(".imo")
    calib_data = _calib(model, calib) if calib else None
    constants = read_inputs(tuple(consts), (), "--const") if consts else None
    stages = COMPILE_STAGES + (("report",) if html_path else ())
    with Progress("compile", quiet=quiet, stages=stages) as bar:
        prog = _compile(model, chip, priority=priority, precision=prec, calib=calib_data,
                        batch=batch, input_shapes=dict(parse_input_shape(s) for s in input_shape),
                        dynamic=dynamic, calibration=calibration, percentile=percentile,
                        time_limit=time_limit, seed=seed, workers=workers,
                        progress=bar.stage if bar.enabled else None, name=None,
                        base_name=out.stem, fit=fit, checks=checks, constants=constants)
        if estimate:
            bar.stage("estimating energy and latency (two runs on zero inputs)")
            rep = prog.report
        else:
            rep = prog._compile_report()
        page = None
        if html_path:
            from imcc.commands._html import compile_page
            from imcc.report import render

            bar.stage("report: running the program and the float model on a few samples")
            page = render(compile_page(prog, model, rep, calib=calib_data,
                                       constants=constants)).encode()
    obj, smap = prog._obj, prog._storage_map
    files = Outputs({out: obj})
    if asm:
        files[out.with_suffix(".s")] = prog.asm.encode()
        for name, blob in prog._side_files.items():
            files[out.parent / name] = blob
    if map_path:
        files[map_path] = storagemap.to_json(smap)
    if svg_path:
        files[svg_path] = storagemap.to_svg(smap).encode()
    if json_path:
        files[json_path] = (json.dumps(rep, indent=1, sort_keys=True) + "\n").encode()
    if page is not None:
        files[html_path] = page
    if dump_file is not None:
        files[dump_file] = "".join(dumps).encode()
    write_files(files)
    if not quiet:
        _print_summary(model, out, prog, rep, chip, files, changed=bool(pairs or fit), fit=fit)


def _print_summary(model, out, prog, rep: dict, given, files, *, changed: bool,
                   fit: bool) -> None:
    """What ``imcc compile`` prints: warnings on stderr, then the chip, the partition, the
    storage map's summary, the program's size, the cost estimate and the times."""
    chip, obj, smap = prog.chip, prog._obj, prog._storage_map
    cost = rep.get("estimate")
    for w in rep["warnings"]:
        click.echo(f"imcc: warning: {escape(w)}", err=True)
    click.echo(f"compiled {model} for chip {chip.name} ({chip.program_hash}) -> {out}")
    if changed:
        click.echo("  " + chip_line(chip, given if fit else None))
    part = ", ".join(f"{v} {k}" for k, v in rep["partition"].items())
    click.echo(f"  partition: {rep['nodes']} nodes: {part}")
    click.echo("  " + storagemap.summary(smap, layers=True).replace("\n", "\n  "))
    cats = _categories(obj.text)
    click.echo(f"  program: {rep['instructions']} instructions ("
               + ", ".join(f"{k} {v}" for k, v in sorted(cats.items())) + f"), "
               f"{rep['weight_bytes'] / 1024:.1f} KiB of cell levels, "
               f"{rep['memory_bytes'] / 2**20:.2f} MiB of global memory")
    if cost is not None:
        batch = obj.inputs[0].shape[0] if obj.inputs and obj.inputs[0].shape else 1
        click.echo(f"  cost model, per inference of a batch of {batch}: energy "
                   f"{cost['energy_pj'] / 1e6:.3f} uJ, latency {cost['latency_ns'] / 1e3:.2f} us;"
                   f" programming the arrays once: {cost['program_energy_pj'] / 1e6:.3f} uJ, "
                   f"{cost['program_latency_ns'] / 1e3:.1f} us")
    t = rep["times_s"]
    click.echo(f"  compile time {rep['total_s']:.2f} s (pack {t.get('pack', 0):.2f} s, codegen "
               f"{t.get('codegen', 0):.2f} s, assemble {t.get('assemble', 0):.2f} s)")
    written = [str(p) for p in files if p != out]
    if written:
        click.echo(f"  wrote {', '.join(written)}")


def _calib(model: Path, specs):
    from imcc.frontend.loader import read_model_file

    from runtime.launch import read_inputs

    m = read_model_file(model, external_data=False)  # input names only
    inits = {t.name for t in m.graph.initializer}
    names = tuple(i.name for i in m.graph.input if i.name not in inits)
    return read_inputs(tuple(specs), names, "--calib")


@click.command("map")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write the storage map (JSON, schema imcc.storage-map/1)")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write a picture of the arrays' occupancy (SVG)")
@click.option("-q", "--quiet", is_flag=True)
@common_compile_options
def map_cmd(model, json_path, svg_path, quiet, priority, precision_path, batch, input_shape,
            dynamic, time_limit, seed, workers, config_path, chip_name, sets, fit):
    """Divide and place a MODEL's weights on the chip's arrays; print the storage map and the
    smallest chip of the same shape that holds the model under each priority."""
    from imcc.settings import apply_sets, parse_sets

    chip = load_chip(config_path, chip_name)
    pairs = parse_sets(sets)
    prec = load_precision(precision_path, chip.cell_bits) if precision_path else None
    chip, prec, _ = apply_sets(chip, prec, pairs, command="compile")
    options = _options(priority, dynamic, batch, input_shape, time_limit, seed, workers,
                       "minmax", 99.99, fit=fit)
    with Progress("map", quiet=quiet, stages=MAP_STAGES) as bar:
        say = bar.stage if bar.enabled else None
        m = map_model(model, chip, precision=prec, options=options, progress=say)
        small = smallest_chips(m, chip, options, progress=say)
    files = Outputs()
    if json_path:
        files[json_path] = storagemap.to_json(m.storage_map)
    if svg_path:
        files[svg_path] = storagemap.to_svg(m.storage_map).encode()
    write_files(files)
    if not quiet:
        for w in m.warnings:
            click.echo(f"imcc: warning: {escape(w)}", err=True)
        if pairs or fit:
            click.echo(chip_line(m.chip, chip if fit else None))
        click.echo(storagemap.summary(m.storage_map))
        click.echo(f"smallest chip of {chip.tiles} tiles of {chip.rows}x{chip.cols} arrays that "
                   "holds the model:")
        for prio, (need, tiles, apt) in small.items():
            size = (f"{tiles} tiles x {apt} array{'s' if apt > 1 else ''}" if tiles
                    else "none (more than 128 tiles x 4096 arrays)")
            click.echo(f"  {prio + ' priority:':<21} {size} ({need} arrays needed)")


COMMANDS = (compile_cmd, map_cmd)
