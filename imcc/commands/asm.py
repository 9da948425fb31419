"""``imcc asm``, ``imcc disasm`` and ``imcc isa``."""

from __future__ import annotations

from pathlib import Path

import click

from isa.assembler import assemble_file
from isa.disassembler import disassemble
from isa.objfile import atomic_write, read_object, to_bytes


@click.command("asm")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="object file to write (default: SOURCE with suffix .imo)")
def asm_cmd(source: Path, output: Path | None) -> None:
    """Assemble SOURCE (.s) into an object file (.imo)."""
    result = assemble_file(source)
    out = output or source.with_suffix(".imo")
    blob = to_bytes(result.obj)
    atomic_write(out, blob)
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
    for name, blob in listing.side_files.items():
        atomic_write(name, blob)
    atomic_write(output, listing.text.encode())
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
