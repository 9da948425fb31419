"""The ``imcc`` command line: a thin shell that parses options, calls the library and renders
errors.

Exit status: 0 success; 2 the input or the environment is at fault (every
:class:`isa.diagnostics.ToolchainError`, a file that cannot be read or written, memory
exhausted): one diagnostic line, no traceback; 1 an internal error (a defect of imcc): one
line asking for a report, the traceback with ``--debug``; 130 interrupted (Ctrl-C); 141 (quietly)
when the reader of the output goes away (``imcc ... | head``). Output
files are written atomically, so none of these leaves a partial file.
"""

from __future__ import annotations

import warnings

import click

from imcc import __version__
from isa import hostlimits
from isa.diagnostics import ToolchainError, escape, render


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {escape(text.splitlines()[0])}" if text else type(e).__name__


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            # The group's own options are parsed (and --debug known) before a command runs.
            # Warnings: the callback silences them (restored on return). Reads are tracked so
            # that no output replaces an input (isa.outfiles).
            with warnings.catch_warnings(), hostlimits.tracking_reads():
                return super().invoke(ctx)
        except ToolchainError as e:
            click.echo(render(e), err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("imcc: interrupted", err=True)
            ctx.exit(130)
        except MemoryError:
            click.echo("imcc: error: out of memory; the input is too large for this machine "
                       "(see --max-elements and --max-file-mib to refuse such inputs early)",
                       err=True)
            ctx.exit(2)
        except BrokenPipeError:  # `imcc ... | head`: the reader left; stop quietly, as cat does
            import os
            import sys

            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):
                pass
            ctx.exit(141)
        except OSError as e:  # the file system refused (disk full, permissions): not a defect
            if ctx.meta.get("imcc.debug"):
                raise
            where = f"{escape(str(e.filename))}: " if e.filename else ""
            click.echo(f"imcc: error: {where}{escape(e.strerror or '') or _one_line(e)}",
                       err=True)
            ctx.exit(2)
        except Exception as e:
            if ctx.meta.get("imcc.debug"):
                raise
            click.echo(f"imcc: internal error: {_one_line(e)}", err=True)
            click.echo("    hint: this is a defect of imcc; rerun with --debug for the "
                       "traceback and report it", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="imcc")
@click.option("--debug", is_flag=True, help="show the traceback of an internal error")
@click.option("--max-file-mib", type=click.IntRange(min=1), metavar="N",
              help="refuse input files (a model with its external data, an object, a source, "
              f"a data file) over N MiB [default: {hostlimits.DEFAULT_MAX_FILE_MIB}, or "
              "IMCC_MAX_FILE_MIB]")
@click.option("--max-elements", type=click.IntRange(min=1), metavar="N",
              help="refuse tensors of more than N elements whose size comes from an input "
              f"[default: {hostlimits.DEFAULT_MAX_ELEMENTS}, or IMCC_MAX_ELEMENTS]")
@click.option("--max-total-mib", type=click.IntRange(min=1), metavar="N",
              help="refuse inputs that make imcc hold more than N MiB at once in values it "
              "computes (constants folded together, the crossbar arrays of a run) "
              f"[default: {hostlimits.DEFAULT_MAX_TOTAL_MIB}, or IMCC_MAX_TOTAL_MIB]")
@click.option("--max-nodes", type=click.IntRange(min=1), metavar="N",
              help="refuse models whose graph has, or grows while lowered (an RNN unrolled "
              f"over its time steps) to, more than N nodes [default: {hostlimits.DEFAULT_MAX_NODES}"
              ", or IMCC_MAX_NODES]")
@click.pass_context
def cli(ctx: click.Context, debug: bool, max_file_mib: int | None,
        max_elements: int | None, max_total_mib: int | None, max_nodes: int | None) -> None:
    """imcc: compile ONNX models for memristive in-memory-computing chips, assemble and
    disassemble IMC programs, and run them on a reference machine."""
    ctx.meta["imcc.debug"] = debug
    if not debug:  # numpy's RuntimeWarnings and the like are not diagnostics: one line only
        warnings.simplefilter("ignore")
    hostlimits.configure(max_file_mib=max_file_mib, max_elements=max_elements,
                         max_total_mib=max_total_mib, max_nodes=max_nodes)


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
