"""Per-layer precision: the chip file's defaults, overridden by a precision file.

A precision file (TOML) has an optional ``[default]`` table and any number of ``[[layer]]``
tables whose ``match`` is a glob on ONNX node names (later tables win)::

    [default]
    weight_bits = 8        # 0 = float weights (ideal chips only)
    cell_bits = 2          # bits stored per cell (<= the chip's cell_bits)
    input_bits = 8         # 0 = unquantized inputs (ideal DAC)
    dac_bits = 1           # input bits applied per cycle (1 = bit-serial)
    adc_bits = 8           # 0 = ideal ADC
    signed = "differential"  # or "offset"; "direct": signed float cells (ideal chips)
    slices = "columns"     # slices side by side in one array, or "arrays": one array per slice
    weight_scale = "max"   # per-channel scale from max |w|, or "percentile" (clip outliers)
    weight_percentile = 99.9

    [[layer]]
    match = "*conv1*"
    weight_bits = 4
"""

from __future__ import annotations

import fnmatch
import glob
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from imcc.quant import SliceSpec
from isa import hostlimits
from isa.diagnostics import ConfigError


@dataclass(frozen=True)
class LayerPrecision:
    """The numeric settings of one IMC layer."""

    weight_bits: int
    cell_bits: int
    input_bits: int
    dac_bits: int
    adc_bits: int
    signed: str = "differential"
    slices: str = "columns"
    weight_scale: str = "max"  # or "percentile"; "qdq": the model's (imcc/qdq.py)
    weight_percentile: float = 99.9
    #: With ``weight_scale = "qdq"``: the scale of each output channel, fixed by the model's
    #: ``DequantizeLinear`` (not a precision-file key).
    weight_scales: tuple[float, ...] = ()

    @property
    def slice_spec(self) -> SliceSpec:
        return SliceSpec(self.weight_bits, self.cell_bits, self.signed)

    @property
    def is_float(self) -> bool:
        return self.weight_bits == 0


_KEYS = {f.name for f in fields(LayerPrecision)} - {"weight_scales"}


@dataclass(frozen=True)
class PrecisionConfig:
    """Overrides from a precision file: a default table and (pattern, overrides) rules."""

    default: tuple[tuple[str, Any], ...] = ()
    rules: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    source: str = "<defaults>"


def _check(where: str, key: str, value: Any, chip_cell_bits: int) -> None:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{where}: {key} = {value!r}: {why}")

    if key in ("signed",):
        if value not in ("differential", "offset", "direct"):
            raise bad('must be "differential", "offset" or "direct"')
        return
    if key == "slices":
        if value not in ("columns", "arrays"):
            raise bad('must be "columns" or "arrays"')
        return
    if key == "weight_scale":
        if value not in ("max", "percentile"):
            raise bad('must be "max" or "percentile"')
        return
    if key == "weight_percentile":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 50 <= value <= 100:
            raise bad("must be a number in 50..100")
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad("must be an integer")
    ranges = {  # as the chip file's ranges; a layer is further held to its chip's values
        "weight_bits": (0, 16),
        "cell_bits": (1, chip_cell_bits),
        "input_bits": (0, 24),
        "dac_bits": (1, 24),
        "adc_bits": (0, 32),
    }
    lo, hi = ranges[key]
    if not lo <= value <= hi:
        extra = " (the chip's cell_bits)" if key == "cell_bits" else ""
        raise bad(f"must be in {lo}..{hi}{extra}")
    if key == "weight_bits" and value == 1:
        raise bad("must be 0 (float) or >= 2 (one bit is the sign)")


def load_precision(path: str | Path, chip_cell_bits: int = 11) -> PrecisionConfig:
    """Read and validate a precision file; every error names the file and the field."""
    p = Path(path)
    try:
        doc = hostlimits.parse_toml(hostlimits.read_text(p, f"{p}: the precision file"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read precision file: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:  # malformed, too deep, too long a number
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return precision_from_dict(doc, str(p), chip_cell_bits)


def precision_from_dict(doc: dict, where: str, chip_cell_bits: int = 11) -> PrecisionConfig:
    """Validate a precision document (the parsed TOML: ``{"default": {...}, "layer": [{"match":
    glob, ...}, ...]}``) built by a file or by a program; errors name ``where`` and the field."""
    unknown = set(doc) - {"default", "layer"}
    if unknown:
        raise ConfigError(f"{where}: unknown table {sorted(unknown)[0]!r} (expected [default], "
                          "[[layer]])")

    def table(at: str, t: dict, allow_match: bool) -> tuple[tuple[str, Any], ...]:
        if not isinstance(t, dict):
            raise ConfigError(f"{at}: expected a table")
        out = []
        for k, v in t.items():
            if k == "match" and allow_match:
                continue
            if k not in _KEYS:
                raise ConfigError(f"{at}: unknown key {k!r} (known: {', '.join(sorted(_KEYS))})")
            _check(at, k, v, chip_cell_bits)
            out.append((k, v))
        return tuple(sorted(out))

    default = table(f"{where}: [default]", doc.get("default", {}), False)
    rules = []
    layers = doc.get("layer", [])
    if not isinstance(layers, list):
        raise ConfigError(f"{where}: 'layer' must be an array of tables ([[layer]])")
    for i, t in enumerate(layers):
        at = f"{where}: [[layer]] #{i + 1}"
        if not isinstance(t, dict) or not isinstance(t.get("match"), str):
            raise ConfigError(f"{at}: needs match = \"glob on node names\"")
        rules.append((t["match"], table(at, t, True)))
    return PrecisionConfig(default, tuple(rules), where)



def point_precision(base: PrecisionConfig | None, default: tuple,
                    layers: tuple) -> PrecisionConfig | None:
    """The base precision file with the point's ``[default]`` entries and one rule per layer
    setting (appended last, so it wins; layer names are matched literally): the precision of
    an exploration point or of ``--set`` precision names."""
    if base is None and not default and not layers:
        return None
    base = base or PrecisionConfig(source="explore")
    d = dict(base.default)
    d.update(default)
    per: dict[str, dict] = {}
    for layer, k, v in layers:
        per.setdefault(layer, {})[k] = v
    tables = [dict(kv, match=pat) for pat, kv in base.rules]
    tables += [dict(kv, match=glob.escape(layer)) for layer, kv in sorted(per.items())]
    # the same checks as a precision file's (ranges, names), naming the source
    return precision_from_dict({"default": d, "layer": tables}, base.source)

def chip_default(chip) -> LayerPrecision:
    """The chip file's precision (any object with the chip config's attribute names)."""
    return LayerPrecision(
        weight_bits=chip.weight_bits,
        cell_bits=chip.cell_bits,
        input_bits=chip.input_bits,
        dac_bits=chip.dac_bits,
        adc_bits=chip.adc_bits,
        signed=chip.signed,
    )


def resolve(
    chip, config: PrecisionConfig | None, layers: list[str]
) -> tuple[dict[str, LayerPrecision], list[str]]:
    """Precision of each named IMC layer, and warnings (rules that match no layer)."""
    config = config or PrecisionConfig()
    base = replace(chip_default(chip), **dict(config.default))
    out = {}
    used = [False] * len(config.rules)
    for name in layers:
        p = base
        for i, (pattern, overrides) in enumerate(config.rules):
            if fnmatch.fnmatchcase(name, pattern):
                p = replace(p, **dict(overrides))
                used[i] = True
        _validate(p, name, config.source, chip)
        out[name] = p
    warnings = [
        f"{config.source}: [[layer]] match = {pat!r} matches no IMC layer"
        for (pat, _), u in zip(config.rules, used)
        if not u
    ]
    return out, warnings


def _validate(p: LayerPrecision, layer: str, source: str, chip) -> None:
    """A layer may ask for less than the chip's converters and cells provide, never more."""
    where = f"{source}: layer {layer!r}"
    name = getattr(chip, "name", "the chip")
    if p.weight_bits == 0 and chip.weight_bits != 0:
        raise ConfigError(f"{where}: weight_bits = 0 (float cells) needs an ideal chip; chip "
                          f"{name!r} stores integer levels")
    if p.input_bits == 0 and chip.input_bits != 0:
        raise ConfigError(f"{where}: input_bits = 0 (ideal DAC) but chip {name!r} quantizes "
                          f"inputs to {chip.input_bits} bits")
    if p.input_bits and p.dac_bits > chip.dac_bits:
        raise ConfigError(f"{where}: dac_bits = {p.dac_bits} exceeds the chip's DAC "
                          f"({chip.dac_bits} bits per cycle)")
    if chip.adc_bits and not 1 <= p.adc_bits <= chip.adc_bits:
        raise ConfigError(f"{where}: adc_bits = {p.adc_bits}: chip {name!r} has a "
                          f"{chip.adc_bits}-bit ADC (use 1..{chip.adc_bits})")
    if p.input_bits and p.dac_bits > p.input_bits:
        raise ConfigError(f"{where}: dac_bits = {p.dac_bits} exceeds input_bits = {p.input_bits}")
    if p.weight_bits == 0 and p.signed == "offset":
        raise ConfigError(f"{where}: float weights (weight_bits = 0) need signed = "
                          "\"differential\" or \"direct\"")
    if p.signed == "direct":
        if p.weight_bits != 0 or p.adc_bits != 0:
            raise ConfigError(f"{where}: signed = \"direct\" (signed float cells) needs "
                              "weight_bits = 0 and an ideal ADC (adc_bits = 0)")
        if not getattr(chip, "signed_cells", False):
            raise ConfigError(f"{where}: signed = \"direct\" needs a chip whose cells hold "
                              f"signed values (signed = \"direct\"); chip {name!r} has "
                              f"signed = {getattr(chip, 'signed', '?')!r}")
