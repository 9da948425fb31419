"""Chip overrides (``--set KEY=VALUE``) and chip sizing (``--fit``), shared by ``imcc compile``,
``map``, ``run``, ``explore``, ``chips`` and the Python interface.

``--set`` takes the names ``imcc explore --sweep`` takes (:mod:`imcc.explore.params`): chip
fields (``tiles``, ``arrays_per_tile``, ``global_mib``, ``adc_bits``, ...), ``nonideal.NAME``
and ``cost.NAME``, ``noise`` and ``noise_scale``; a precision name (``weight_bits``,
``adc_bits``, ...) also sets the precision file's ``[default]`` entry, as in a sweep;
``slices`` is a compile setting and ``time`` a run setting. The chip they give is named after
its preset and the fields that differ from it (``rram+adc_bits=6``), so ``imcc run`` finds it
from the object alone (:func:`runtime.config.derive`).

``--fit`` grows the chip until the model fits: the arrays per tile first (up to the chip
file's maximum, 4096), then the tiles (up to 128, what the machine's memory map has room for),
to the fewest arrays the packing needs under the chosen priority; and the global memory (up to
2048 MiB) to what the program needs. Every other field stays as given.

>>> from runtime.config import preset
>>> fit_arrays(preset("ideal"), 780).name
'ideal+arrays_per_tile=13'
>>> fit_arrays(preset("ideal"), 300_000).name
'ideal+arrays_per_tile=4096+tiles=74'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from isa.diagnostics import ConfigError


def _limits(chip) -> tuple[int, int, int]:
    """The documented maximums of arrays per tile, tiles and global memory (the chip file's
    bounds)."""
    return (chip.maximum("arrays_per_tile"), chip.maximum("tiles"), chip.maximum("global_mib"))


def parse_sets(specs: Iterable[str], what: str = "--set") -> tuple[tuple[str, Any], ...]:
    """``NAME=VALUE`` strings -> ``(canonical name, value)`` pairs, in order (one value each,
    no name twice)."""
    from imcc.explore.params import SweepError, parse_sweep

    out: list[tuple[str, Any]] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise ConfigError(f"{what}: expected NAME=VALUE, got {spec!r}")
        try:
            sw = parse_sweep(spec)
        except SweepError as e:
            raise SweepError(e.message.replace("--sweep", what, 1), hint=e.hint) from None
        if len(sw.values) != 1:
            raise ConfigError(f"{what} {spec!r}: one value (imcc explore --sweep takes several)")
        if any(name == sw.name for name, _ in out):
            raise ConfigError(f"{what} {spec!r}: {sw.name} is set twice")
        out.append((sw.name, sw.values[0]))
    return tuple(out)


def sets_from_mapping(sets: Mapping | None, what: str = "set") -> tuple[tuple[str, Any], ...]:
    """The Python interface's ``set={"adc_bits": 6, "nonideal.read_noise": 0}``, checked as
    ``--set`` is."""
    if sets is None:
        return ()
    if not isinstance(sets, Mapping):
        raise ConfigError(f"{what}: expected a dict NAME -> value, e.g. {{'adc_bits': 6}}, got "
                          f"{type(sets).__name__}")
    specs = []
    for k, v in sets.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ConfigError(f"{what}: {k!r}: {v!r}: expected a name and a number or a word")
        specs.append(f"{k}={v}")
    return parse_sets(specs, what)


def apply_sets(chip, precision, sets: tuple[tuple[str, Any], ...], *, command: str = "compile",
               what: str = "--set"):
    """``(chip, precision, time_s)`` with ``sets`` applied: the chip derived from ``chip``
    (named after the changes), the precision with the precision names' ``[default]`` entries
    (None stays None when nothing is set), and the read time ``time`` gives (None if absent).
    ``command`` is ``compile`` (``time`` refused), ``run`` (``slices`` refused) or ``chips``
    (both refused)."""
    from imcc.explore.params import apply
    from imcc.precision import point_precision

    if not sets:
        return chip, precision, None
    for name, _ in sets:
        if name == "time" and command != "run":
            raise ConfigError(f"{what} time: the read time is a run setting",
                              hint="give it to imcc run (--time) or to Program.run(time=...)")
        if name == "slices" and command != "compile":
            raise ConfigError(f"{what} slices: how weights are sliced is a compile setting",
                              hint="give it to imcc compile or imcc map")
    base = chip.to_dict()
    r = apply(base, tuple(sets))
    flat = _flatten(r.chip)
    changes = {k: v for k, v in flat.items() if _flatten(base).get(k) != v}
    new_chip = chip.derive(changes, where=what)
    prec = precision
    if r.precision_default and command != "chips":
        prec = point_precision(precision, r.precision_default, ())
    return new_chip, prec, r.time_s


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif k not in ("name", "description"):
            out[f"{prefix}{k}"] = v
    return out


def shape_for(chip, arrays: int, *, grow_only: bool = True) -> tuple[int, int]:
    """(tiles, arrays per tile) of the smallest chip of ``chip``'s shape (its tiles, arrays of
    its size) with at least ``arrays`` arrays: more arrays per tile first, then more tiles.
    ``grow_only``: never fewer arrays per tile than ``chip`` has (``--fit``); otherwise as few
    as hold the model (what ``imcc map`` reports). Raises :class:`ConfigError` beyond the
    largest chip."""
    max_apt, max_tiles, _ = _limits(chip)
    tiles, apt = chip.tiles, chip.arrays_per_tile
    if grow_only and arrays <= tiles * apt:
        return tiles, apt
    if arrays <= tiles * max_apt:
        return tiles, max(1, math.ceil(arrays / tiles))
    need_tiles = math.ceil(arrays / max_apt)
    if need_tiles > max_tiles:
        raise ConfigError(f"the model needs {arrays} arrays of {chip.rows}x{chip.cols}, more than "
                          f"the largest chip holds ({max_tiles} tiles x {max_apt} arrays)",
                          hint="use larger arrays (--set rows=... --set cols=...), fewer weight "
                          "bits or more bits per cell")
    return max(tiles, need_tiles), max_apt


def fit_arrays(chip, arrays: int):
    """``chip`` grown (:func:`shape_for`) to hold ``arrays`` arrays; ``chip`` itself when it
    already does."""
    tiles, apt = shape_for(chip, arrays)
    if (tiles, apt) == (chip.tiles, chip.arrays_per_tile):
        return chip
    return chip.derive({"tiles": tiles, "arrays_per_tile": apt}, where="--fit")


def fit_memory(chip, nbytes: int):
    """``chip`` with the global memory grown to hold ``nbytes`` (whole MiB); ``chip`` itself
    when it already does."""
    _, _, max_mib = _limits(chip)
    mib = math.ceil(nbytes / 2**20)
    if mib <= chip.global_mib:
        return chip
    if mib > max_mib:
        raise ConfigError(f"the program needs {nbytes / 2**20:.1f} MiB of global memory, more "
                          f"than the largest chip has ({max_mib} MiB)",
                          hint="compile for a smaller batch")
    return chip.derive({"global_mib": mib}, where="--fit")


def describe(chip) -> str:
    """``64 tiles x 13 arrays of 256x256, 64 MiB global memory``."""
    return (f"{chip.tiles} tiles x {chip.arrays_per_tile} arrays of {chip.rows}x{chip.cols}, "
            f"{chip.global_mib} MiB global memory")
