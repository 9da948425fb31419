"""Helpers shared by the commands: chip selection, data files, output files (progress is in
:mod:`imcc.commands._progress`)."""

from __future__ import annotations

from pathlib import Path

import click

from isa.diagnostics import ConfigError, OutputError


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


class Outputs(dict):
    """The files a command writes, by path: naming one path twice (``-o m.s -S``, ``--map``
    equal to ``-o``) is an error, not a silent replacement of the first file by the second."""

    def __init__(self, files=()):
        super().__init__()
        for path, blob in dict(files).items():
            self[path] = blob

    def __setitem__(self, path, blob) -> None:
        if path in self:
            raise OutputError(f"two outputs of this command would be written to {path}; the "
                              "later would replace the earlier",
                              hint="give each output its own path")
        super().__setitem__(path, blob)


def write_files(files: dict) -> None:
    """Write every file (bytes, or an ObjectFile streamed to disk) all or nothing: each to a
    temporary file first, then all renamed into place; if one fails, none is written and the
    files already at those paths are left as they were. An output may not replace an input of
    the command, another output, or anything but a regular file (:mod:`isa.outfiles`)."""
    from isa.objfile import ObjectFile, object_pieces
    from isa.outfiles import write_files as write_all

    write_all({path: object_pieces(blob) if isinstance(blob, ObjectFile) else blob
               for path, blob in files.items()})
