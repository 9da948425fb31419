"""``imcc pack``: the 2D bin packer on its own, on a problem file of one or many instances."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from imcc.commands._progress import Progress
from imcc.packing import PRIORITIES, pack
from imcc.packing.instances import read_instances
from imcc.packing.jsonio import dump, result_document
from isa import hostlimits
from isa.diagnostics import ConfigError
from isa.objfile import atomic_write


@click.command("pack")
@click.argument("problem", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--instance", "names", multiple=True, metavar="NAME",
              help="of a file with several instances, pack only this one (repeatable)")
@click.option("--priority", type=click.Choice(PRIORITIES), default="resource", show_default=True,
              help="resource: fewest bins; efficiency: rects of one group never share rows")
@click.option("--time-limit", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="effort budget in seconds per instance (deterministic: it never depends on "
                   "the clock)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="accepted for compatibility: every CP-SAT solve is single-threaded, so "
                   "every value gives the same answer")
@click.option("--no-cpsat", is_flag=True, help="heuristics only")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the placements here (format imcc-packing/1, see docs/packing.md); "
                   "one instance only")
@click.option("-q", "--quiet", is_flag=True, help="no progress line on the terminal")
def pack_cmd(problem: Path, names: tuple[str, ...], priority: str, time_limit: float, seed: int,
             workers: int, no_cpsat: bool, json_out: Path | None, quiet: bool) -> None:
    """Pack the rectangles of PROBLEM into as few bins as possible (never rotated).

    PROBLEM is {"bin": [W, H], "items": [[w, h], ...]} (items may also be objects {"id": ...,
    "w": ..., "h": ..., "group": ...}), a benchmark JSON instance or collection
    ({"instances": [...]}), a 2BP text file of the Berkey-Wang / Martello-Vigo classes, or a
    2DPackLib text file; see docs/packing.md. A file of several instances packs each and
    prints a line per instance.
    """
    try:
        text = hostlimits.read_text(problem, f"{problem}: the problem file")
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or e
        raise ConfigError(f"{problem}: cannot read: {reason}; give the path of a problem "
                          "file") from None
    instances = read_instances(text, str(problem))
    if names:
        known = {i.name: i for i in instances}
        missing = [n for n in names if n not in known]
        if missing:
            close = difflib.get_close_matches(missing[0], list(known), n=1)
            raise ConfigError(f"{problem}: no instance named {missing[0]!r} ({len(known)} "
                              f"instances, e.g. {', '.join(list(known)[:3])})",
                              hint=f"did you mean {close[0]!r}?" if close else None)
        instances = [known[n] for n in names]
    if json_out is not None and len(instances) != 1:
        raise ConfigError(f"--json writes one instance's placements; {problem} has "
                          f"{len(instances)}: choose one with --instance NAME")
    opts = dict(priority=priority, time_limit=time_limit, seed=seed, workers=workers,
                use_cpsat=not no_cpsat)
    with Progress("pack", quiet=quiet) as bar:
        if len(instances) == 1:
            _pack_one(problem, instances[0], opts, bar, json_out)
        else:
            _pack_many(problem, instances, opts, bar)


def _pack_one(problem: Path, ins, opts: dict, bar: Progress, json_out: Path | None) -> None:
    W, H, rects = ins.W, ins.H, list(ins.rects)
    bar.stage(f"{len(rects)} rects")
    res = pack(rects, W, H, progress=bar.stage if bar.enabled else None, **opts)
    bar.close()
    if json_out is not None:
        doc = result_document(rects, W, H, res, priority=opts["priority"], seed=opts["seed"],
                              time_limit=opts["time_limit"], cpsat=opts["use_cpsat"])
        atomic_write(json_out, dump(doc))
    bounds = ", ".join(f"{k} {v}" for k, v in res.lower_bounds.items())
    click.echo(f"{problem}: {len(rects)} rects in {W}x{H} bins, priority {opts['priority']}")
    click.echo(f"bins used:   {res.bins_used}")
    click.echo(f"lower bound: {res.lower_bound} ({bounds})")
    click.echo(f"gap:         {100 * res.gap:.1f} %")
    click.echo(f"status:      {res.status}")
    click.echo(f"time:        {res.solve_time_s:.2f} s")
    if json_out is not None:
        click.echo(f"placements:  {json_out}")


def _pack_many(problem: Path, instances, opts: dict, bar: Progress) -> None:
    click.echo(f"{problem}: {len(instances)} instances, priority {opts['priority']}")
    click.echo(f"{'instance':<16} {'rects':>6} {'bin':>9} {'bins':>5} {'lower':>5} "
               f"{'status':<10} {'time s':>7}")
    bins = lower = 0
    bar.stage("instances")
    for k, ins in enumerate(instances):
        bar.count(k, len(instances), "instances", note=ins.name)
        res = pack(list(ins.rects), ins.W, ins.H, **opts)
        bins += res.bins_used
        lower += res.lower_bound
        bar.echo(f"{ins.name:<16} {len(ins.rects):>6} {f'{ins.W}x{ins.H}':>9} "
                 f"{res.bins_used:>5} {res.lower_bound:>5} {res.status:<10} "
                 f"{res.solve_time_s:>7.2f}")
    bar.close()
    click.echo(f"{'total':<16} {'':>6} {'':>9} {bins:>5} {lower:>5}")


COMMANDS = (pack_cmd,)
