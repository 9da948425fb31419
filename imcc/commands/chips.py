"""``imcc chips``: the chip presets shipped with imcc, and any one of them as a chip file."""

from __future__ import annotations

import click


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
def chips_cmd(name: str | None) -> None:
    """List the chip presets (for --chip), or print preset NAME as a chip file to copy and
    edit for --config."""
    from runtime.config import preset, preset_names, preset_text

    if name is not None:
        click.echo(preset_text(name), nl=False)
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
