"""The ``imcc`` command line: a thin shell that parses options, calls the library and renders
errors. User errors (:class:`isa.diagnostics.ToolchainError`) print one diagnostic and exit 2
without a traceback; anything else is an internal error (exit 1, traceback kept)."""

from __future__ import annotations

import click

from imcc import __version__
from isa.diagnostics import ToolchainError, render


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ToolchainError as e:
            click.echo(render(e), err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="imcc")
def cli() -> None:
    """imcc: compile ONNX models for memristive in-memory-computing chips, assemble and
    disassemble IMC programs, and run them on a reference machine."""


def _register() -> None:
    """Add the commands of every module in :mod:`imcc.commands` (each lists its ``COMMANDS``)."""
    import importlib
    import pkgutil

    import imcc.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"imcc.commands.{info.name}")
        for cmd in getattr(mod, "COMMANDS", ()):
            cli.add_command(cmd)


_register()


def main() -> None:
    cli(prog_name="imcc")


if __name__ == "__main__":
    main()
