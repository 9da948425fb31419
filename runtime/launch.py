"""What ``imcc run`` does around the machine: load a program, pick the chip, read inputs, write
outputs. Every function raises a :class:`~isa.diagnostics.ToolchainError` on user error."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from isa import hostlimits
from isa.assembler import Assembly, assemble_file
from isa.diagnostics import ConfigError
from isa.objfile import ObjectFile, atomic_write, read_object
from runtime.config import ChipConfig, derived_chip, load_config, preset, preset_names
from runtime.machine import InputError


def load_program(path: str | Path) -> tuple[ObjectFile, Assembly | None]:
    """An object file, or a ``.s`` file assembled on the fly (with its :class:`Assembly`, so
    traps can name source lines)."""
    p = Path(path)
    if p.suffix == ".s":
        asm = assemble_file(p)
        return asm.obj, asm
    return read_object(p), None


def choose_chip(obj: ObjectFile, config: str | Path | None = None,
                chip: str | None = None) -> ChipConfig:
    """The chip to run on: ``config`` (a chip file) or ``chip`` (a preset name); with neither,
    the preset named by the object's chip record when its hash matches (or the preset with the
    changes a derived name lists, ``ideal+arrays_per_tile=13``: :func:`runtime.config.derive`),
    else an error; an object without a chip record runs on the ``ideal`` preset."""
    if config is not None and chip is not None:
        raise ConfigError("give either --config FILE or --chip NAME, not both")
    if config is not None:
        return load_config(config)
    if chip is not None:
        return preset(chip)
    if obj.chip is None:
        return preset("ideal")
    name, digest = obj.chip
    if name in preset_names() and preset(name).program_hash == digest:
        return preset(name)
    derived = derived_chip(name)  # a preset with --set/--fit changes, named after them
    if derived is not None and derived.program_hash == digest:
        return derived
    root, _, changes = name.partition("+")
    sets = " ".join(f"--set {c}" for c in changes.split("+") if "=" in c)
    raise ConfigError(f"the program was built for chip '{name}' (program hash {digest}), which "
                      "is not a shipped preset with that hash",
                      hint="pass the chip file it was compiled with: --config FILE"
                      + (f" (the file of chip '{root}') {sets}" if sets else ""))


def _split_key(path: str) -> tuple[str, str]:
    """``file.npz:KEY`` -> (file.npz, KEY); a path that exists as written has no key."""
    if Path(path).exists() or ":" not in path:
        return path, ""
    p, _, key = path.rpartition(":")
    return p, key


_UNREADABLE = (OSError, ValueError, EOFError, OverflowError, zipfile.BadZipFile, zlib.error)


def _unreadable(spec: str, path: str, what: str, e: Exception) -> InputError:
    return InputError(f"{what} {spec}: cannot read '{path}': {e}",
                      hint="data files are .npy arrays or .npz archives of named arrays "
                      "(numeric, saved without pickles)")


def _load(spec: str, path: str, what: str):
    try:
        return hostlimits.load_array_file(path, f"{what} {spec}")
    except FileNotFoundError:
        raise InputError(f"{what} {spec}: no such file '{path}'") from None
    except _UNREADABLE as e:
        raise _unreadable(spec, path, what, e) from None


def _member(loaded, key: str, spec: str, path: str, what: str) -> np.ndarray:
    """Array ``key`` of an open .npz (read only now: a bad member fails here)."""
    try:
        return loaded[key]
    except _UNREADABLE as e:
        raise _unreadable(spec, path, what, e) from None


def read_array(spec: str, what: str = "--labels") -> np.ndarray:
    """One array: ``file.npy`` or ``file.npz:KEY`` (``file.npz`` if it holds one array)."""
    path, key = _split_key(spec)
    loaded = _load(spec, path, what)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        if key:
            raise InputError(f"{what} {spec}: '{path}' is a .npy file; drop ':{key}'")
        return loaded
    with loaded:
        files = list(loaded.files)
        if not key and len(files) != 1:
            raise InputError(f"{what} {spec}: '{path}' holds {len(files)} arrays "
                             f"({', '.join(files)}); name one as {path}:KEY")
        key = key or files[0]
        if key not in files:
            raise InputError(f"{what} {spec}: '{path}' has no array '{key}' "
                             f"(it has {', '.join(files) or 'none'})")
        return _member(loaded, key, spec, path, what)


def read_inputs(specs: list[str] | tuple[str, ...], names: tuple[str, ...] = (),
                what: str = "--input") -> dict[str, np.ndarray]:
    """Tensors for a program or model with inputs ``names``. Each spec is one of

    ``NAME=file.npy``; ``NAME=file.npz:KEY`` (array KEY); ``NAME=file.npz`` (array NAME, or the
    only array); ``file.npz`` (every array, by name); and, for a single input, a bare
    ``file.npy`` or ``file.npz:KEY``."""
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        if not sep or Path(spec).exists():
            name, rest = "", spec
        path, key = _split_key(rest)
        loaded = _load(spec, path, what)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                files = list(loaded.files)
                if key or name:
                    pick = key or (name if name in files else (files[0] if len(files) == 1
                                                               else None))
                    if pick not in files:
                        raise InputError(f"{what} {spec}: '{path}' has no array "
                                         f"'{key or name}' (it has {', '.join(files) or 'none'}; "
                                         f"choose one as {path}:KEY)")
                    target = name or (names[0] if len(names) == 1 else None)
                    if target is None:
                        raise InputError(f"{what} {spec}: name the tensor, e.g. "
                                         f"{what} x={path}:{pick}")
                    arrays = {target: _member(loaded, pick, spec, path, what)}
                elif len(names) == 1 and len(files) == 1:
                    arrays = {names[0]: _member(loaded, files[0], spec, path, what)}
                else:
                    arrays = {k: _member(loaded, k, spec, path, what) for k in files}
        elif key:
            raise InputError(f"{what} {spec}: '{path}' is a .npy file; drop ':{key}'")
        elif name or len(names) == 1:
            arrays = {name or names[0]: loaded}
        else:
            raise InputError(f"{what} {spec}: name the tensor, e.g. {what} x={path}")
        for k, v in arrays.items():
            if names and k not in names:
                raise InputError(f"{what} {spec}: no input named '{k}' (inputs: "
                                 f"{', '.join(names)})")
            if k in out:
                raise InputError(f"{what}: tensor '{k}' given twice")
            out[k] = v
    return out


def save_outputs(path: str | Path, outputs: dict[str, np.ndarray]) -> None:
    """Write the outputs as an ``.npz`` archive, atomically."""
    buf = io.BytesIO()
    # As np.savez writes them, but by hand: np.savez(file, **outputs) takes an output named
    # "file" for its own parameter. A fixed timestamp: the same outputs give the same bytes.
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, arr in outputs.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with z.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
    atomic_write(path, buf.getvalue())


def describe_outputs(outputs: dict[str, np.ndarray], max_values: int = 64) -> str:
    """One line per output with its shape; small outputs also show their values."""
    lines = []
    for name, arr in outputs.items():
        shape = "x".join(str(d) for d in arr.shape) or "scalar"
        line = f"{name}: {arr.dtype}[{shape}]"
        if arr.size <= max_values:
            body = np.array2string(arr, separator=", ", threshold=max_values, max_line_width=96)
            line += " =\n" + "\n".join("    " + s for s in body.splitlines())
        lines.append(line)
    return "\n".join(lines)
