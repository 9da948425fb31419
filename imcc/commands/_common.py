"""Helpers shared by the commands: chip selection, data files, progress, output files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from isa.diagnostics import ConfigError


def chip_options(f):
    """``--config FILE`` / ``--chip PRESET``."""
    f = click.option("--chip", "chip_name", metavar="PRESET",
                     help="a built-in chip: ideal, ideal-signed, ideal-int8, rram, pcm "
                     "(see `imcc chips`)")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="chip configuration file (TOML or JSON)")(f)
    return f


def load_chip(config_path: Path | None, chip_name: str | None, default: str | None = "ideal"):
    """The chip configuration named on the command line (the runtime's config module)."""
    from imcc.api import _chip
    from runtime.config import load_config

    if config_path is not None and chip_name is not None:
        raise ConfigError("give either --config FILE or --chip PRESET, not both")
    if config_path is not None:
        return load_config(config_path)
    name = chip_name or default
    return None if name is None else _chip(name)


def progress_printer(quiet: bool = False):
    """A progress callback printing to stderr only when it is a terminal."""
    if quiet or not sys.stderr.isatty():
        return None

    def say(msg: str) -> None:
        click.echo(f"\r\x1b[K  {msg}", err=True, nl=False)

    return say


def end_progress(say) -> None:
    if say is not None:
        click.echo("\r\x1b[K", err=True, nl=False)


def write_files(files: dict) -> None:
    """Write every file (bytes, or an ObjectFile streamed to disk) all or nothing: each to a
    temporary file first, then all renamed into place; if one fails, none is written and the
    files already at those paths are left as they were."""
    from isa.objfile import ObjectFile, object_pieces, replace_into, write_temp

    temps = []
    try:
        for path, blob in files.items():
            temps.append((write_temp(path, object_pieces(blob) if isinstance(blob, ObjectFile)
                                     else blob), path))
    except BaseException:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, path in temps:
        replace_into(tmp, path)
