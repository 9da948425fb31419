"""``--set KEY=VALUE`` and ``--fit``, the same on every command that takes a chip
(:mod:`imcc.settings` has their meaning)."""

from __future__ import annotations

import click

SET_HELP = ("override a chip setting, e.g. adc_bits=6, tiles=32, nonideal.read_noise=0 "
            "(repeatable; the names of imcc explore --sweep, see docs/precision.md)")
FIT_HELP = ("grow the chip until the model fits: arrays per tile, then tiles (up to 4096 and "
            "128), and the global memory; prints the chip used")


def set_option(f):
    return click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help=SET_HELP)(f)


def fit_option(f):
    return click.option("--fit", is_flag=True, help=FIT_HELP)(f)


def chip_line(chip, grown_from=None) -> str:
    """What a command prints about the chip it used after --set/--fit."""
    from imcc.settings import describe

    line = f"chip {chip.name}: {describe(chip)}"
    if grown_from is not None and chip.name != grown_from.name:
        line += f" (grown from {grown_from.tiles} x {grown_from.arrays_per_tile} arrays, " \
                f"{grown_from.global_mib} MiB)"
    return line
