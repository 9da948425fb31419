"""Sweepable parameters: what each name means, how ``--sweep`` values are written, and how a
point's overrides turn a base chip and precision into the chip, precision and read time of one
evaluation.

Names (docs/precision.md has the full table):

* **Precision names** ``weight_bits``, ``cell_bits``, ``input_bits``, ``dac_bits``,
  ``adc_bits``, ``signed``: set the chip field of that name (the hardware: its cells, DAC and
  ADC, which the machine enforces and the cost model charges) *and* the precision file's
  ``[default]`` entry, so every layer compiles with the value; a ``[[layer]]`` rule of a given
  precision file still wins for the layers it matches. ``slices`` (``columns``/``arrays``) is
  compile-time only.
* **Chip fields** by name: ``rows``, ``cols``, ``tiles``, ``arrays_per_tile``, ``global_mib``,
  ``buffer_kib``, ``drift_compensation`` (``none``/``global``/``per-column``: it changes the
  program, so each value compiles its own); ``cost.NAME`` for any entry of the cost table; ``nonideal.NAME`` (or the bare
  name: ``program_noise``, ``read_noise``, ``stuck_on``, ``stuck_off``, ``drift_nu``,
  ``drift_nu_std``, ``drift_t0``) for the device model.
* ``noise``: the programming noise, exactly ``nonideal.program_noise`` (standard deviation as a
  fraction of ``Gmax``). The preset's read noise and stuck cells stay as they are.
* ``noise_scale``: multiplies every random device term of the base chip (``program_noise``,
  ``read_noise``, ``stuck_on``, ``stuck_off``): 0 is the noise-free chip, 1 the chip as given.
* ``time``: seconds after programming at which the machine reads (drift); ``0`` reads with no
  drift.

Values: ``a,b,c`` (a list), ``lo..hi`` (integers: every integer from lo to hi; otherwise six
evenly spaced values, ends included), ``lo..hi:step`` (from lo in steps of step, hi included
when reached).

>>> parse_sweep("adc_bits=4..6")
Sweep(name='adc_bits', values=(4, 5, 6))
>>> parse_sweep("noise=0..0.05").values
(0.0, 0.01, 0.02, 0.03, 0.04, 0.05)
>>> parse_sweep("cell_bits=1,2,4").values
(1, 2, 4)
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any

from isa.diagnostics import ConfigError

PRECISION_KEYS = ("weight_bits", "cell_bits", "input_bits", "dac_bits", "adc_bits", "signed")
COMPILE_ONLY = ("slices",)
CHIP_KEYS = ("rows", "cols", "tiles", "arrays_per_tile", "global_mib", "buffer_kib",
             "drift_compensation")
NONIDEAL_KEYS = ("program_noise", "read_noise", "stuck_on", "stuck_off", "drift_nu",
                 "drift_nu_std", "drift_t0", "seed")
NOISE_TERMS = ("program_noise", "read_noise", "stuck_on", "stuck_off")
SPECIAL = ("noise", "noise_scale", "time")
RANGE_POINTS = 6  # values of a float range written without a step
#: The most values one --sweep may take, and the most runs (grid points x seeds) one explore
#: evaluates: a sweep is a grid, so three modest-looking ranges multiply into billions.
MAX_VALUES = 10_000
MAX_RUNS = 100_000


class SweepError(ConfigError):
    """A ``--sweep`` (or ``--set``) argument that cannot be parsed or names no parameter."""


@dataclass(frozen=True)
class Sweep:
    """One swept parameter and its values, in the order given."""

    name: str
    values: tuple


def known_names() -> tuple[str, ...]:
    """Every name :func:`parse_sweep` accepts (``cost.*`` from the chip's cost table)."""
    from runtime.config import CostTable

    cost = tuple(f"cost.{f.name}" for f in dataclasses.fields(CostTable))
    nonideal = tuple(f"nonideal.{k}" for k in NONIDEAL_KEYS)
    return (*PRECISION_KEYS, *COMPILE_ONLY, *SPECIAL, *CHIP_KEYS,
            *(k for k in NONIDEAL_KEYS if k != "seed"), *nonideal, *cost)


def canonical(name: str) -> str:
    """The dotted name a parameter is stored under (``read_noise`` -> ``nonideal.read_noise``);
    raises :class:`SweepError` for an unknown name, with a suggestion."""
    if name in NONIDEAL_KEYS and name != "seed":
        return f"nonideal.{name}"
    names = known_names()
    if name in names:
        return name
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise SweepError(f"--sweep: unknown parameter {name!r}; {hint}known: "
                     f"{', '.join(n for n in names if not n.startswith(('cost.', 'nonideal.')))}"
                     ", nonideal.NAME, cost.NAME (see docs/precision.md)")


def _kind(name: str) -> type:
    """The value type of a canonical parameter name."""
    from runtime.config import ChipConfig, CostTable, NonIdeal

    if name in ("noise", "noise_scale", "time"):
        return float
    if name in ("signed", "slices", "drift_compensation"):
        return str
    cls, field_name = ChipConfig, name
    if name.startswith("cost."):
        cls, field_name = CostTable, name[5:]
    elif name.startswith("nonideal."):
        cls, field_name = NonIdeal, name[9:]
    f = {f.name: f for f in dataclasses.fields(cls)}[field_name]
    return int if f.type in ("int", int) else float


def _number(text: str, kind: type, spec: str):
    try:
        v = float(text)
    except ValueError:
        raise SweepError(f"--sweep {spec!r}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise SweepError(f"--sweep {spec!r}: {text!r} is not a finite number")
    if kind is int:
        if not v.is_integer():
            raise SweepError(f"--sweep {spec!r}: {text!r} must be an integer")
        return int(v)
    return _tidy(v)


def _tidy(v: float) -> float:
    """Round away binary noise (0.1 * 3 -> 0.3) so keys and labels read as written."""
    return float(f"{v:.12g}")


def _range(lo_t: str, hi_t: str, step_t: str | None, kind: type, spec: str) -> tuple:
    lo, hi = _number(lo_t, float, spec), _number(hi_t, float, spec)
    if hi < lo:
        raise SweepError(f"--sweep {spec!r}: the range {lo_t}..{hi_t} is empty (write lo..hi)")
    if step_t is None:
        if kind is int:
            if not (lo.is_integer() and hi.is_integer()):
                raise SweepError(f"--sweep {spec!r}: the ends of an integer range must be "
                                 "integers")
            n = int(hi) - int(lo) + 1
            if n > MAX_VALUES:
                raise SweepError(f"--sweep {spec!r}: {n} values, more than the {MAX_VALUES} one "
                                 "sweep may take; use lo..hi:step or a shorter range")
            return tuple(range(int(lo), int(hi) + 1))
        if lo == hi:
            return (lo,)
        return tuple(_tidy(lo + (hi - lo) * i / (RANGE_POINTS - 1))
                     for i in range(RANGE_POINTS))
    step = _number(step_t, float, spec)
    if step <= 0:
        raise SweepError(f"--sweep {spec!r}: the step must be > 0")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    if n > MAX_VALUES:
        raise SweepError(f"--sweep {spec!r}: {n} values, more than the {MAX_VALUES} one sweep "
                         "may take; use a larger step")
    vals = [_tidy(lo + i * step) for i in range(n)]
    if kind is int:
        bad = [v for v in vals if not float(v).is_integer()]
        if bad:
            raise SweepError(f"--sweep {spec!r}: {bad[0]} is not an integer")
        return tuple(int(v) for v in vals)
    return tuple(vals)


def check_grid(sweeps, seeds: int) -> None:
    """Refuse a design space of more than :data:`MAX_RUNS` runs (the product of the sweeps'
    lengths, times the seeds), before any of it is built."""
    points = math.prod(len(s.values) for s in sweeps)
    if points * seeds > MAX_RUNS:
        sizes = " x ".join(str(len(s.values)) for s in sweeps) or "1"
        raise SweepError(f"--sweep/--seeds: {sizes} points x {seeds} seeds = {points * seeds} "
                         f"runs, more than the {MAX_RUNS} one explore evaluates",
                         hint="sweep fewer values (lo..hi:step) or fewer seeds, or split the "
                         "space into several explores")


def parse_sweep(spec: str) -> Sweep:
    """Parse ``NAME=VALUES`` (see the module docstring)."""
    name, eq, body = spec.partition("=")
    name, body = name.strip(), body.strip()
    if not eq or not name or not body:
        raise SweepError(f"--sweep {spec!r}: expected NAME=VALUES, e.g. adc_bits=4..8 or "
                         "cell_bits=1,2,4")
    cname = canonical(name)
    kind = _kind(cname)
    if kind is str:
        vals = tuple(v.strip() for v in body.split(","))
        if any(not v for v in vals):
            raise SweepError(f"--sweep {spec!r}: empty value in the list")
    elif ".." in body:
        lo_t, _, rest = body.partition("..")
        hi_t, colon, step_t = rest.partition(":")
        if "," in body or not lo_t or not hi_t or (colon and not step_t):
            raise SweepError(f"--sweep {spec!r}: a range is lo..hi or lo..hi:step")
        vals = _range(lo_t.strip(), hi_t.strip(), step_t.strip() if colon else None, kind, spec)
    else:
        vals = tuple(_number(v.strip(), kind, spec) for v in body.split(","))
    if len(set(vals)) != len(vals):
        raise SweepError(f"--sweep {spec!r}: a value is repeated")
    return Sweep(cname, vals)


@dataclass(frozen=True)
class Resolved:
    """What one point evaluates: the chip table, precision overrides and read time."""

    chip: dict  # a chip table for runtime.config.config_from_dict
    precision_default: tuple  # extra (key, value) entries for the precision file's [default]
    time_s: float | None


def apply(base_chip: dict, overrides: tuple[tuple[str, Any], ...],
          time_s: float | None = None) -> Resolved:
    """Apply a point's ``(canonical name, value)`` overrides to ``base_chip`` (a dict as
    ``ChipConfig.to_dict()`` gives). The result is not validated here: the chip is validated
    when it is built, and its errors name the field."""
    chip = copy.deepcopy(base_chip)
    prec: dict[str, Any] = {}
    for name, value in overrides:
        if name == "noise":
            chip["nonideal"]["program_noise"] = value
        elif name == "noise_scale":
            if value < 0:
                raise SweepError(f"noise_scale = {value}: must be >= 0")
            for k in NOISE_TERMS:
                chip["nonideal"][k] = _tidy(base_chip["nonideal"][k] * value)
        elif name == "time":
            if value < 0:
                raise SweepError(f"time = {value}: must be >= 0 seconds")
            time_s = value
        elif name.startswith("nonideal."):
            chip["nonideal"][name[9:]] = value
        elif name.startswith("cost."):
            chip["cost"][name[5:]] = value
        elif name in COMPILE_ONLY:
            prec[name] = value
        else:
            chip[name] = value
            if name in PRECISION_KEYS:
                prec[name] = value
    return Resolved(chip, tuple(sorted(prec.items())), None if not time_s else float(time_s))
