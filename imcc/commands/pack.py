"""``imcc pack``: the 2D bin packer on its own, for rectangles given in a JSON file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from imcc.packing import PRIORITIES, pack
from imcc.packing.jsonio import dump, parse_problem, result_document
from isa.diagnostics import ConfigError
from isa.objfile import atomic_write


def _progress(msg: str) -> None:
    click.echo(f"\r\033[K{msg}", nl=False, err=True)


@click.command("pack")
@click.argument("rects_json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--priority", type=click.Choice(PRIORITIES), default="resource", show_default=True,
              help="resource: fewest bins; efficiency: rects of one group never share rows")
@click.option("--time-limit", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="effort budget in seconds (deterministic: it never depends on the clock)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="CP-SAT threads of the whole-instance solve (1: single-thread search; "
                   "every value >= 2 gives the same answer)")
@click.option("--no-cpsat", is_flag=True, help="heuristics only")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="write the placements here (format imcc-packing/1, see docs/packing.md)")
def pack_cmd(rects_json: Path, priority: str, time_limit: float, seed: int, workers: int,
             no_cpsat: bool, json_out: Path | None) -> None:
    """Pack the rectangles of RECTS_JSON into as few bins as possible.

    RECTS_JSON is {"bin": [W, H], "items": [[w, h], ...]}; items may also be objects
    {"id": ..., "w": ..., "h": ..., "group": ...}. Rectangles are never rotated.
    """
    try:
        text = rects_json.read_text()
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or e
        raise ConfigError(f"{rects_json}: cannot read: {reason}; give the path of a JSON "
                          "file") from None
    W, H, rects = parse_problem(text, str(rects_json))
    show = _progress if sys.stderr.isatty() else None
    res = pack(rects, W, H, priority=priority, time_limit=time_limit, seed=seed,
               workers=workers, use_cpsat=not no_cpsat, progress=show)
    if show:
        click.echo("\r\033[K", nl=False, err=True)
    if json_out is not None:
        doc = result_document(rects, W, H, res, priority=priority, seed=seed,
                              time_limit=time_limit, cpsat=not no_cpsat)
        atomic_write(json_out, dump(doc))
    bounds = ", ".join(f"{k} {v}" for k, v in res.lower_bounds.items())
    click.echo(f"{rects_json}: {len(rects)} rects in {W}x{H} bins, priority {priority}")
    click.echo(f"bins used:   {res.bins_used}")
    click.echo(f"lower bound: {res.lower_bound} ({bounds})")
    click.echo(f"gap:         {100 * res.gap:.1f} %")
    click.echo(f"status:      {res.status}")
    click.echo(f"time:        {res.solve_time_s:.2f} s")
    if json_out is not None:
        click.echo(f"placements:  {json_out}")


COMMANDS = (pack_cmd,)
