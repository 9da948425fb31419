"""``imcc asm``, ``imcc disasm`` and ``imcc isa``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from imcc.commands._common import chip_options, load_chip, write_files
from isa.assembler import assemble_file
from isa.disassembler import disassemble
from isa.objfile import read_object


def chip_limits(chip) -> dict[str, tuple[int, str]]:
    """The largest value each configuration register may take on ``chip``."""
    name = f"chip '{chip.name}'"
    arrays = chip.tiles * chip.arrays_per_tile
    return {
        "xbarr": (arrays - 1, f"{name} has {arrays} arrays"),
        "xbrow": (chip.rows - 1, f"the arrays of {name} have {chip.rows} rows"),
        "xbh": (chip.rows, f"the arrays of {name} have {chip.rows} rows"),
        "xbcol": (chip.cols - 1, f"the arrays of {name} have {chip.cols} columns"),
        "xbw": (chip.cols, f"the arrays of {name} have {chip.cols} columns"),
        "cellb": (chip.cell_bits, f"{name} stores {chip.cell_bits} bits per cell"),
        "dacb": (chip.dac_bits, f"the DAC of {name} applies {chip.dac_bits} bits per cycle"),
        "adcb": (chip.adc_bits, f"the ADC of {name} has {chip.adc_bits} bits"
                 if chip.adc_bits else f"{name} has an ideal ADC (adcb must be 0)"),
        "ibits": (chip.input_bits if chip.input_bits else 24,
                  f"{name} quantizes inputs to {chip.input_bits} bits"),
    }


@click.command("asm")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="object file to write (default: SOURCE with suffix .imo)")
@chip_options
def asm_cmd(source: Path, output: Path | None, config_path: Path | None,
            chip_name: str | None) -> None:
    """Assemble SOURCE (.s) into an object file (.imo).

    With --chip or --config, configuration writes are checked against the chip (arrays, array
    size, cell bits, converters) and the object records the chip unless the source names one
    with .chip."""
    result = assemble_file(source)
    chip = load_chip(config_path, chip_name, default=None)
    if chip is not None:
        from isa.limits import check_limits

        check_limits(result, chip_limits(chip))
        if result.obj.chip is None:
            result = dataclasses.replace(
                result, obj=dataclasses.replace(result.obj, chip=(chip.name, chip.program_hash)))
    out = output or source.with_suffix(".imo")
    write_files({out: result.obj})
    click.echo(f"{out}: {len(result.obj.text)} instructions, {len(result.obj.data)} data bytes, "
               f"{len(result.obj.weights)} weight bytes")


@click.command("disasm")
@click.argument("obj", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="write the listing here (weights and storage map go beside it); "
                   "default: standard output")
def disasm_cmd(obj: Path, output: Path | None) -> None:
    """Disassemble OBJ (.imo) into assembly that re-assembles to the same bytes."""
    o = read_object(obj)
    if output is None:
        listing = disassemble(o)
        click.echo(listing.text, nl=False)
        if not listing.complete:
            click.echo("imcc: note: parts of the object were left out of standard output; "
                       "use -o FILE.s for a complete listing", err=True)
        return
    listing = disassemble(o, base_name=str(output.with_suffix("")))
    write_files({**{Path(name): blob for name, blob in listing.side_files.items()},
                 output: listing.text.encode()})
    click.echo(f"{output}: {len(o.text)} instructions"
               + (f" (+ {', '.join(listing.side_files)})" if listing.side_files else ""))


@click.command("isa")
@click.option("--markdown", is_flag=True, help="print the full reference (docs/isa.md)")
def isa_cmd(markdown: bool) -> None:
    """Print the instruction set table."""
    from isa import gen_docs
    from isa.spec import INSTRUCTIONS

    if markdown:
        click.echo(gen_docs.render())
        return
    width = max(len(s.syntax) for s in INSTRUCTIONS)
    for s in INSTRUCTIONS:
        click.echo(f"{s.syntax:<{width}}  {s.category.value:<11}  {s.match:#010x}  {s.doc}")


COMMANDS = (asm_cmd, disasm_cmd, isa_cmd)
