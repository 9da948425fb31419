"""``imcc stats``: MACs and parameters per operator class (the seed paper's Table I view)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from imcc.frontend import batched_input_shapes, load_model, parse_input_shape
from imcc.partition import CATEGORIES
from imcc.stats import ModelStats, model_stats


def _si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def render_summary(s: ModelStats, unit: str) -> str:
    doc = s.to_json()
    counts, shares = (doc["flops"], doc["flop_share"]) if unit == "flops" else \
        (doc["macs"], doc["mac_share"])
    head = "FLOPs" if unit == "flops" else "MACs"
    lines = [f"model: {s.model}",
             f"{'class':<14}{head:>10}{'share':>9}{'params':>11}{'share':>9}"]
    for c in CATEGORIES:
        lines.append(f"{c:<14}{_si(counts[c]):>10}{shares[c]:>8.2f}%"
                     f"{_si(doc['params'][c]):>11}{doc['param_share'][c]:>8.2f}%")
    total = doc["total"]
    lines.append(f"{'total':<14}{_si(total[unit]):>10}{'':>9}{_si(total['params']):>11}")
    return "\n".join(lines)


def render_layers(s: ModelStats, unit: str) -> str:
    rows = [(x.name, x.op_type, x.op_class, x.category, "x".join(map(str, x.output_shape)),
             _si(x.flops if unit == "flops" else x.macs), _si(x.params)) for x in s.layers]
    head = ("layer", "op", "class", "category", "output", unit.upper()[:-1] + "s", "params")
    widths = [max(len(r[k]) for r in rows + [head]) for k in range(len(head))]
    fmt = "  ".join(f"{{:{'>' if k >= 5 else '<'}{w}}}" for k, w in enumerate(widths))
    return "\n".join(fmt.format(*r) for r in [head] + rows)


@click.command("stats")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layers", is_flag=True, help="also print one row per layer")
@click.option("--json", "as_json", is_flag=True,
              help="print a JSON document instead (schema in docs/frontend.md)")
@click.option("--unit", type=click.Choice(["macs", "flops"]), default="macs", show_default=True,
              help="count multiply-accumulates, or FLOPs (2 per MAC in matrix products)")
@click.option("--batch", type=click.IntRange(1),
              help="batch size for a symbolic leading input dimension (default 1)")
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=D1xD2...",
              help="an input's static shape, or a symbolic dimension's size "
                   "(sequence_length=128), as for imcc compile (repeatable)")
def stats_cmd(model: Path, layers: bool, as_json: bool, unit: str, batch: int | None,
              input_shapes: tuple[str, ...]) -> None:
    """Print MACs and parameters of MODEL (.onnx) per operator class, with shares."""
    shapes = batched_input_shapes(model, dict(parse_input_shape(t) for t in input_shapes),
                                  batch)
    if sys.stderr.isatty():
        click.echo(f"imcc: loading {model}...", err=True)
    s = model_stats(load_model(model, shapes), model=str(model))
    if as_json:
        click.echo(json.dumps(s.to_json(), indent=2))
        return
    click.echo(render_summary(s, unit))
    if layers:
        click.echo()
        click.echo(render_layers(s, unit))


COMMANDS = (stats_cmd,)
