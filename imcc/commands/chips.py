"""``imcc chips``: the chip presets shipped with imcc, and any one of them as a chip file."""

from __future__ import annotations

from pathlib import Path

import click

from imcc.commands._settings import set_option


def _summary(c) -> str:
    if c.float_cells:
        prec = ("signed " if c.signed_cells else "") + "float32 cells, ideal converters"
    else:
        adc = f"{c.adc_bits}-bit ADC" if c.adc_bits else "ideal ADC"
        inp = f"{c.input_bits}-bit inputs" if c.input_bits else "unquantized inputs"
        prec = (f"{c.weight_bits}-bit weights on {c.cell_bits}-bit cells ({c.signed}), {inp}, "
                f"{c.dac_bits}-bit DAC, {adc}")
    n = c.nonideal
    noisy = any((n.program_noise, n.read_noise, n.stuck_on, n.stuck_off, n.drift_nu))
    comp = "" if c.drift_compensation == "none" else \
        f"; {c.drift_compensation} drift compensation"
    return (f"{c.tiles} tiles x {c.arrays_per_tile} arrays of {c.rows}x{c.cols}; {prec}; "
            f"{'device nonidealities' if noisy else 'no device nonidealities'}{comp}")


@click.command("chips")
@click.argument("name", required=False)
@set_option
@click.option("--fit", "fit_model", type=click.Path(dir_okay=False, path_type=Path),
              metavar="MODEL.onnx", help="grow chip NAME until MODEL fits (as compile --fit "
              "does for its arrays) and print that chip")
@click.option("--priority", type=click.Choice(["efficiency", "resource"]), default="efficiency",
              show_default=True, help="with --fit: the mapping priority the model must fit under")
def chips_cmd(name: str | None, sets: tuple, fit_model: Path | None, priority: str) -> None:
    """List the chip presets (for --chip), or print preset NAME as a chip file to copy and
    edit for --config (with --set changes, or grown to fit a model with --fit)."""
    from imcc.settings import apply_sets, parse_sets
    from isa.diagnostics import ConfigError
    from runtime.config import preset, preset_names, preset_text, to_toml

    if name is None:
        if sets or fit_model is not None:
            raise ConfigError("--set and --fit change a chip: name it, e.g. imcc chips rram "
                              "--set adc_bits=6")
    elif not sets and fit_model is None:
        click.echo(preset_text(name), nl=False)
        return
    else:
        from imcc.api import _chip

        chip, _, _ = apply_sets(_chip(name), None, parse_sets(sets), command="chips")
        if fit_model is not None:
            from imcc.compiler import CompileOptions, map_model

            chip = map_model(fit_model, chip, options=CompileOptions(priority=priority,
                                                                    fit=True)).chip
        click.echo(to_toml(chip), nl=False)
        return
    names = preset_names()
    width = max(map(len, names))
    for n in names:
        c = preset(n)
        click.echo(f"{n:<{width}} program hash {c.program_hash}  {_summary(c)}")
        if c.description:
            click.echo(f"{'':<{width}} {c.description}")
    click.echo("\n`imcc chips NAME > my-chip.toml` writes a preset as a file to edit; "
               "use it with --config my-chip.toml.")


COMMANDS = (chips_cmd,)
