"""Chip configuration: one file drives the compiler, the assembler's checks and the interpreter.

A chip file is TOML (or JSON with the same structure)::

    name = "rram"
    tiles = 16
    arrays_per_tile = 8
    rows = 256
    cols = 256
    cell_bits = 2
    ...
    [nonideal]
    program_noise = 0.02
    [cost]
    adc_pj = 1.56

Every key has a default except ``name``; unknown keys and bad values raise
:class:`~isa.diagnostics.ConfigError` naming the file and the dotted field, e.g.
``chip.toml: nonideal.read_noise = -1: must be >= 0``. :attr:`ChipConfig.hash` identifies a
validated configuration (defaults filled in), so an object compiled for one chip refuses to run on
another. The presets ship inside the package (``runtime/presets``).

>>> cfg = preset("ideal")
>>> cfg.name, cfg.total_arrays, cfg.rows
('ideal', 512, 256)
>>> len(cfg.hash)
16
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from isa import hostlimits
from isa.diagnostics import ConfigError
from isa.spec import MAX_TILES, TILE_BASE, TILE_STRIDE

SIGNED_SCHEMES = ("differential", "offset", "direct")
DRIFT_COMPENSATION = ("none", "global", "per-column")


def _f(default, lo=None, hi=None, doc="", *, lo_open=False, choices=None):
    """A config field with its range and meaning (used by validation and by the docs)."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "doc": doc, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class NonIdeal:
    """Device nonidealities (docs/machine.md, "Device nonidealities"). Zero means absent."""

    seed: int = _f(0, 0, 2**63 - 1, "chip seed: every random draw is seeded by it")
    program_noise: float = _f(0.0, 0.0, None, "std of programming error, fraction of Gmax")
    read_noise: float = _f(0.0, 0.0, None, "std of per-cell read noise, fraction of Gmax")
    stuck_on: float = _f(0.0, 0.0, 1.0, "fraction of cells stuck at Gmax")
    stuck_off: float = _f(0.0, 0.0, 1.0, "fraction of cells stuck at 0")
    drift_nu: float = _f(0.0, 0.0, None, "mean drift exponent nu")
    drift_nu_std: float = _f(0.0, 0.0, None, "std of the drift exponent across cells")
    drift_t0: float = _f(1.0, 0.0, None, "drift reference time t0 in seconds", lo_open=True)

    def __post_init__(self):
        _check_fields(self, "nonideal.")
        if self.stuck_on + self.stuck_off > 1.0:
            raise ConfigError(
                f"nonideal.stuck_on + nonideal.stuck_off = {self.stuck_on + self.stuck_off}: "
                "must be <= 1"
            )

    @property
    def has_drift(self) -> bool:
        return self.drift_nu != 0.0 or self.drift_nu_std != 0.0


@dataclass(frozen=True)
class CostTable:
    """Per-event energy (pJ) and latency (ns) of the cost model; sources in docs/runtime.md."""

    clock_ghz: float = _f(1.0, 0.0, None, "control and digital clock (GHz)", lo_open=True)
    issue_pj: float = _f(5.0, 0.0, None, "energy per instruction issued by the control unit")
    adc_pj: float = _f(1.56, 0.0, None, "energy per ADC conversion at adc_ref_bits")
    adc_ref_bits: int = _f(8, 1, 32, "resolution at which adc_pj is quoted")
    adc_ns: float = _f(0.78, 0.0, None, "time per conversion of one ADC")
    adcs_per_array: int = _f(1, 1, 65536, "ADCs shared by the columns of one array")
    dac_pj: float = _f(0.39, 0.0, None, "energy per 1-bit DAC conversion (one row, one cycle)")
    cell_pj: float = _f(0.0018, 0.0, None, "analog energy per cell per input cycle")
    read_ns: float = _f(100.0, 0.0, None, "crossbar read time per input cycle")
    program_pj: float = _f(10.0, 0.0, None, "energy to program one cell (write-verify)")
    program_ns: float = _f(1000.0, 0.0, None, "time to program one row of a region")
    vector_lanes: int = _f(32, 1, 1 << 20, "elements per cycle of a tile's vector unit")
    vector_pj: float = _f(2.0, 0.0, None, "energy per vector element operation")
    sram_mac_pj: float = _f(0.05, 0.0, None, "energy per MAC of the SRAM-IMC unit (smm)")
    sram_macs_per_ns: float = _f(256.0, 0.0, None, "MACs per ns of the SRAM-IMC unit",
                                 lo_open=True)
    noc_pj_per_byte: float = _f(4.0, 0.0, None, "network energy per byte sent")
    noc_bytes_per_ns: float = _f(32.0, 0.0, None, "network bandwidth", lo_open=True)
    noc_hop_ns: float = _f(5.0, 0.0, None, "fixed latency of one send")

    def __post_init__(self):
        _check_fields(self, "cost.")


@dataclass(frozen=True)
class ChipConfig:
    """A chip: tiles of crossbar arrays, converters, precision defaults, devices, costs.

    ``weight_bits = 0`` means an ideal chip with unquantized float32 cells (the float path),
    ``input_bits = 0`` an ideal DAC (unquantized inputs), ``adc_bits = 0`` an ideal ADC.
    """

    name: str
    description: str = ""
    tiles: int = _f(16, 1, MAX_TILES, "number of tiles")
    arrays_per_tile: int = _f(8, 1, 4096, "crossbar arrays per tile")
    rows: int = _f(256, 1, 65536, "rows per array (input length)")
    cols: int = _f(256, 1, 65536, "columns per array (output length)")
    global_mib: int = _f(64, 1, TILE_BASE >> 20, "global memory (MiB)")
    buffer_kib: int = _f(256, 1, TILE_STRIDE >> 10, "local buffer per tile (KiB)")
    cell_bits: int = _f(8, 1, 11, "bits per cell: levels 0 .. 2**cell_bits - 1")
    weight_bits: int = _f(8, 0, 16, "default weight bits; 0 = float32 cells (ideal chip)")
    input_bits: int = _f(8, 0, 24, "default input bits; 0 = ideal DAC (unquantized)")
    dac_bits: int = _f(1, 1, 24, "most input bits the DAC applies per cycle")
    adc_bits: int = _f(0, 0, 32, "ADC resolution; 0 = ideal converter")
    signed: str = _f("differential", doc="signed-weight scheme", choices=SIGNED_SCHEMES)
    drift_compensation: str = _f("none", doc="the compiler's drift compensation: reference "
                                 "reads rescale each layer's outputs", choices=DRIFT_COMPENSATION)
    nonideal: NonIdeal = field(default_factory=NonIdeal)
    cost: CostTable = field(default_factory=CostTable)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"name = {self.name!r}: must be a non-empty string")
        _check_fields(self, "")
        if self.signed == "differential" and self.weight_bits == 1:
            raise ConfigError("weight_bits = 1: the differential scheme needs >= 2 bits "
                              "(one is the sign)")
        if self.signed == "direct" and (self.weight_bits != 0 or self.adc_bits != 0):
            raise ConfigError(f"signed = \"direct\" (cells holding signed float values) needs "
                              f"float cells and an ideal ADC (weight_bits = 0, adc_bits = 0); "
                              f"this chip has weight_bits = {self.weight_bits}, adc_bits = "
                              f"{self.adc_bits}",
                              hint='use "differential" or "offset" for real converters')

    @property
    def total_arrays(self) -> int:
        return self.tiles * self.arrays_per_tile

    @property
    def float_cells(self) -> bool:
        """True for the ideal float path: cells hold float32 values (``weight_bits = 0``)."""
        return self.weight_bits == 0

    @property
    def signed_cells(self) -> bool:
        """True when float cells may hold negative values (``signed = "direct"``)."""
        return self.signed == "direct"

    @property
    def max_level(self) -> int:
        """The largest integer conductance level, ``2**cell_bits - 1``."""
        return (1 << self.cell_bits) - 1

    def to_dict(self) -> dict:
        """Every field, defaults included, as plain JSON-compatible values."""
        return dataclasses.asdict(self)

    def derive(self, changes: dict, where: str = "--set") -> ChipConfig:
        """This chip with ``changes`` (dotted field -> value), named after them: :func:`derive`.
        """
        return derive(self, changes, where)

    @staticmethod
    def maximum(name: str):
        """The largest value a chip file may give field ``name`` (``tiles`` -> 128).

        >>> ChipConfig.maximum("arrays_per_tile"), ChipConfig.maximum("global_mib")
        (4096, 2048)
        """
        return {f.name: f for f in dataclasses.fields(ChipConfig)}[name].metadata["hi"]

    @property
    def program_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of what a compiled program depends on: geometry,
        memory sizes, cell bits, converters, the signed scheme and the drift compensation the
        compiler emits; not the name, description, device nonidealities or costs. An object
        records it, so a program runs on any chip of the same architecture, whatever its noise
        (the basis of design-space sweeps)."""
        d = _hashed(self)
        for k in ("name", "nonideal", "cost"):
            d.pop(k)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON of this configuration
        (``description`` excluded: it does not change what the chip computes)."""
        d = _hashed(self)
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _hashed(cfg: ChipConfig) -> dict:
    """The fields the hashes cover: all but ``description``, and ``drift_compensation`` only
    when it is on (the hashes of chips without it stay those from before the option)."""
    d = cfg.to_dict()
    d.pop("description")
    if d["drift_compensation"] == "none":
        d.pop("drift_compensation")
    return d


def _num(v):
    """A value as written in messages: integral floats without the ``.0``."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _check_fields(obj, prefix: str) -> None:
    """Range- and type-check every field of a config dataclass, naming the dotted field."""
    for f in dataclasses.fields(obj):
        if "lo" not in f.metadata:
            continue
        v = getattr(obj, f.name)
        m = f.metadata
        name = f"{prefix}{f.name} = {_num(v)!r}"
        if m["choices"] is not None:
            if v not in m["choices"]:
                raise ConfigError(f"{name}: must be one of {', '.join(m['choices'])}")
            continue
        if f.type in ("int", int):
            if not isinstance(v, int) or isinstance(v, bool):
                raise ConfigError(f"{name}: must be an integer")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{name}: must be a finite number")
        if m["lo"] is not None:
            if m["lo_open"] and not v > m["lo"]:
                raise ConfigError(f"{name}: must be > {_num(m['lo'])}")
            if not m["lo_open"] and not v >= m["lo"]:
                raise ConfigError(f"{name}: must be >= {_num(m['lo'])}")
        if m["hi"] is not None and not v <= m["hi"]:
            raise ConfigError(f"{name}: must be <= {_num(m['hi'])}")


def _build(cls, data: dict, prefix: str):
    """Instantiate ``cls`` from a parsed table: unknown keys and wrong types are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        f = fields.get(key)
        if f is None:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"{prefix}{key}: unknown key{hint}")
        if f.type in ("NonIdeal", "CostTable"):
            sub = NonIdeal if f.type == "NonIdeal" else CostTable
            kwargs[key] = _build(sub, value, f"{prefix}{key}.")
            continue
        if f.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # 0 and 0.0 are the same setting (and the same hash)
        if isinstance(value, dict | list):
            raise ConfigError(f"{prefix}{key}: expected a single value, got a "
                              f"{'table' if isinstance(value, dict) else 'list'}")
        kwargs[key] = value
    if cls is ChipConfig and "name" not in kwargs:
        raise ConfigError("name: missing (every chip file names its chip)")
    try:
        return cls(**kwargs)
    except ConfigError as e:
        if prefix and not e.message.startswith(prefix):
            e = ConfigError(prefix + e.message)
        raise e from None


def config_from_dict(data: dict, where: str = "<config>") -> ChipConfig:
    """Validate a parsed chip table; errors name ``where`` and the dotted field."""
    try:
        return _build(ChipConfig, data, "")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e.message}", hint=e.hint) from None


def parse_config(text: str, where: str, fmt: str) -> ChipConfig:
    """Parse chip-file text in ``fmt`` (``toml`` or ``json``)."""
    try:
        data = hostlimits.parse_toml(text) if fmt == "toml" else hostlimits.parse_json(text)
    except ValueError as e:  # malformed, too deeply nested, a number of thousands of digits
        raise ConfigError(f"{where}: not valid {fmt.upper()}: {e}") from None
    return config_from_dict(data, where)


def load_config(path: str | Path) -> ChipConfig:
    """Load and validate a chip file (``.toml`` or ``.json``)."""
    p = Path(path)
    fmt = {".toml": "toml", ".json": "json"}.get(p.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown chip file format '{p.suffix}'",
                          hint="use a .toml or .json file (see samples/configs/)")
    try:
        text = hostlimits.read_text(p, f"{path}: the chip file")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read chip file: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    return parse_config(text, str(path), fmt)


def _presets_dir() -> Path:
    return Path(__file__).resolve().parent / "presets"  # shipped as package data


def preset_names() -> tuple[str, ...]:
    """Names of the chip presets shipped with the package."""
    return tuple(sorted(p.name[:-5] for p in _presets_dir().iterdir() if p.name.endswith(".toml")))


def preset_text(name: str) -> str:
    """The TOML file of a shipped preset (a starting point for a chip file of one's own)."""
    names = preset_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        raise ConfigError(f"unknown chip preset '{name}' (known: {', '.join(names)})",
                          hint=f"did you mean '{close[0]}'?" if close else None)
    return (_presets_dir() / f"{name}.toml").read_text(encoding="utf-8")


def preset(name: str) -> ChipConfig:
    """A shipped chip preset by name (``ideal``, ``ideal-int8``, ``rram``, ``pcm``)."""
    return parse_config(preset_text(name), f"preset {name}", "toml")


# ---- chips derived from another by overrides (--set, --fit) ------------------------------------


def _format_value(v) -> str:
    return str(_num(v))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _field_kind(key: str) -> type | None:
    """The value type of dotted chip field ``key`` (``tiles``, ``nonideal.read_noise``), or
    None for an unknown field (also ``name`` and ``description``, which no override sets)."""
    cls, name = ChipConfig, key
    if key.startswith("nonideal."):
        cls, name = NonIdeal, key[9:]
    elif key.startswith("cost."):
        cls, name = CostTable, key[5:]
    f = {f.name: f for f in dataclasses.fields(cls)}.get(name)
    if f is None or "lo" not in f.metadata:
        return None
    return {"int": int, "float": float, "str": str}.get(f.type if isinstance(f.type, str)
                                                        else f.type.__name__)


def _split_name(name: str) -> tuple[str, dict] | None:
    """``PRESET+key=value+...`` -> (``PRESET``, {key: typed value}), None for any other name."""
    root, *parts = name.split("+")
    if not parts:
        return None
    changes = {}
    for part in parts:
        key, eq, text = part.partition("=")
        kind = _field_kind(key)
        if not eq or kind is None:
            return None
        try:
            changes[key] = kind(text) if kind is not int else int(text)
        except ValueError:
            return None
    return root, changes


def _with_changes(base: ChipConfig, changes: dict, where: str) -> ChipConfig:
    d = base.to_dict()
    for key, value in changes.items():
        *path, last = key.split(".")
        table = d
        for p in path:
            table = table[p]
        table[last] = value
    return config_from_dict(d, where)


def derive(base: ChipConfig, changes: dict, where: str = "--set") -> ChipConfig:
    """``base`` with ``changes`` (dotted field -> value: ``{"arrays_per_tile": 13}``),
    validated (errors name ``where`` and the field) and named ``ROOT+key=value+...``: the preset
    ``base`` comes from, then every field that differs from it, sorted. :func:`derived_chip`
    rebuilds a chip from such a name, so a program compiled for it runs without its chip file.

    >>> derive(preset("ideal"), {"arrays_per_tile": 13}).name
    'ideal+arrays_per_tile=13'
    >>> derive(derive(preset("rram"), {"tiles": 32}), {"adc_bits": 6, "tiles": 16}).name
    'rram+adc_bits=6'
    """
    root, root_cfg = base.name, base
    split = _split_name(base.name)
    if split is not None and split[0] in preset_names():
        try:
            again = _with_changes(preset(split[0]), split[1], where)
        except ConfigError:
            again = None
        if again is not None and dataclasses.replace(
                again, name=base.name, description=base.description) == base:
            root, root_cfg = split[0], preset(split[0])
    cfg = _with_changes(base, changes, where)
    before, after = _flatten(root_cfg.to_dict()), _flatten(cfg.to_dict())
    diffs = {k: v for k, v in after.items() if k not in ("name", "description")
             and before.get(k) != v}
    name = root + "".join(f"+{k}={_format_value(v)}" for k, v in sorted(diffs.items()))
    text = ", ".join(f"{k} = {_format_value(v)}" for k, v in sorted(diffs.items()))
    return dataclasses.replace(cfg, name=name, description=f"{root} with {text}" if diffs
                               else root_cfg.description)


def derived_chip(name: str) -> ChipConfig | None:
    """The chip named ``PRESET+key=value+...`` by :func:`derive`, or None when ``name`` is not
    such a name (or its values are out of range)."""
    split = _split_name(name)
    if split is None or split[0] not in preset_names():
        return None
    try:
        return derive(preset(split[0]), split[1], name)
    except ConfigError:
        return None


def to_toml(cfg: ChipConfig) -> str:
    """A chip file (TOML) of ``cfg``, every field written (what ``imcc chips NAME --set``
    prints); :func:`parse_config` reads it back to an equal configuration."""
    def value(v) -> str:
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        return repr(v)

    d = cfg.to_dict()
    lines = [f"# chip {cfg.name}"]
    tables = []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {value(v)}")
    for k, table in tables:
        lines += ["", f"[{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in table.items()]
    return "\n".join(lines) + "\n"
