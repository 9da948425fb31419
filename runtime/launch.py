"""What ``imcc run`` does around the machine: load a program, pick the chip, read inputs, write
outputs. Every function raises a :class:`~isa.diagnostics.ToolchainError` on user error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from isa.assembler import Assembly, assemble_file
from isa.diagnostics import ConfigError
from isa.objfile import ObjectFile, atomic_write, read_object
from runtime.config import ChipConfig, load_config, preset, preset_names
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
    the preset named by the object's chip record when its hash matches, else an error; an
    object without a chip record runs on the ``ideal`` preset."""
    if config is not None and chip is not None:
        raise ConfigError("give either --config FILE or --chip NAME, not both")
    if config is not None:
        return load_config(config)
    if chip is not None:
        return preset(chip)
    if obj.chip is None:
        return preset("ideal")
    name, digest = obj.chip
    if name in preset_names() and preset(name).hash == digest:
        return preset(name)
    raise ConfigError(f"the program was built for chip '{name}' (hash {digest}), which is not "
                      "a shipped preset with that hash",
                      hint="pass the chip file it was compiled with: --config FILE")


def read_inputs(specs: list[str] | tuple[str, ...],
                names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Parse ``NAME=file.npy`` (one tensor), ``file.npz`` (every array in it, by name), or a
    bare ``file.npy`` when the program's input ``names`` are exactly one."""
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = "", spec
        try:
            loaded = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"--input {spec}: no such file '{path}'") from None
        except (OSError, ValueError) as e:
            raise InputError(f"--input {spec}: cannot read '{path}': {e}",
                             hint="inputs are .npy files (or .npz archives of named arrays)"
                             ) from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
            if name:
                if name not in arrays:
                    raise InputError(f"--input {spec}: '{path}' has no array '{name}' "
                                     f"(it has {', '.join(arrays) or 'none'})")
                arrays = {name: arrays[name]}
        elif name or len(names) == 1:
            arrays = {name or names[0]: loaded}
        else:
            raise InputError(f"--input {spec}: name the tensor, e.g. --input x={path}")
        for k, v in arrays.items():
            if k in out:
                raise InputError(f"--input: tensor '{k}' given twice")
            out[k] = v
    return out


def save_outputs(path: str | Path, outputs: dict[str, np.ndarray]) -> None:
    """Write the outputs as an ``.npz`` archive, atomically."""
    buf = io.BytesIO()
    np.savez(buf, **outputs)
    atomic_write(path, buf.getvalue())


def describe_outputs(outputs: dict[str, np.ndarray], max_values: int = 64) -> str:
    """One line per output with its shape; small outputs also show their values."""
    lines = []
    for name, arr in outputs.items():
        shape = "x".join(str(d) for d in arr.shape) or "scalar"
        line = f"{name}: float32[{shape}]"
        if arr.size <= max_values:
            body = np.array2string(arr, separator=", ", threshold=max_values, max_line_width=96)
            line += " =\n" + "\n".join("    " + s for s in body.splitlines())
        lines.append(line)
    return "\n".join(lines)
