"""The argument checks of the Python interface (:mod:`imcc.api`): each turns what a caller
passed into what the compiler and the machine take, or raises the one-line
:class:`~isa.diagnostics.ConfigError` (or ``InputError``, ``OnnxImportError``) that names the
argument and what it must be."""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from isa.diagnostics import ConfigError, InputError, OnnxImportError


def _reject_unknown(where: str, unknown: dict, known) -> None:
    """A :class:`ConfigError` for the first keyword argument ``where`` does not take."""
    if not unknown:
        return
    bad = sorted(unknown)[0]
    close = difflib.get_close_matches(bad, list(known), n=1)
    raise ConfigError(f"{where}: unknown argument {bad!r}",
                      hint=f"did you mean {close[0]!r}?" if close else
                      f"it takes {', '.join(known)}")


def _choice(what: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{what} = {value!r}: must be one of {', '.join(choices)}")
    return value


def _integer(what: str, value, lo: int | None = None, *, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or (
            lo is not None and value < lo):
        need = "an integer" + (f" >= {lo}" if lo is not None else "")
        raise ConfigError(f"{what} = {value!r}: must be {need}")
    return int(value)


def _number(what: str, value, lo: float, hi: float | None = None) -> float:
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    if not ok or not lo <= value <= (hi if hi is not None else float("inf")):
        span = f"in {lo:g}..{hi:g}" if hi is not None else f">= {lo:g}"
        raise ConfigError(f"{what} = {value!r}: must be a number {span}")
    return float(value)


def _chip(chip) -> Any:
    """A :class:`runtime.config.ChipConfig` from a preset name, a chip file or a ChipConfig."""
    from runtime.config import ChipConfig, load_config, preset, preset_names

    if isinstance(chip, ChipConfig):
        return chip
    if isinstance(chip, str | os.PathLike):
        text = os.fspath(chip)
        if isinstance(chip, os.PathLike) or Path(text).suffix.lower() in (".toml", ".json"):
            return load_config(text)
        if text in preset_names():
            return preset(text)
        close = difflib.get_close_matches(text, preset_names(), n=1)
        raise ConfigError(f"unknown chip preset {text!r}; presets: {', '.join(preset_names())}",
                          hint=f"did you mean {close[0]!r}?" if close else
                          "or give the path of a chip file (.toml or .json)")
    raise ConfigError(f"chip: expected a preset name, a chip file path or a "
                      f"runtime.config.ChipConfig, got {type(chip).__name__}")


def _precision(precision, chip):
    from imcc.precision import PrecisionConfig, load_precision, precision_from_dict

    if precision is None or isinstance(precision, PrecisionConfig):
        return precision
    if isinstance(precision, str | os.PathLike):
        return load_precision(precision, chip.cell_bits)
    if isinstance(precision, Mapping):
        return precision_from_dict(dict(precision), "precision", chip.cell_bits)
    raise ConfigError(f"precision: expected a precision file path, a dict or an "
                      f"imcc.precision.PrecisionConfig, got {type(precision).__name__}")


def _input_shapes(shapes) -> MappingProxyType:
    from imcc.frontend import parse_input_shape

    if shapes is None:
        return MappingProxyType({})
    if not isinstance(shapes, Mapping):
        raise ConfigError(f"input_shapes: expected a dict name -> shape, got "
                          f"{type(shapes).__name__}")
    out = {}
    for name, dims in shapes.items():
        if isinstance(dims, str):
            out.update([parse_input_shape(f"{name}={dims}")])
            continue
        if isinstance(dims, numbers.Integral):  # one size: a symbolic dimension's
            dims = (dims,)
        try:
            shape = tuple(_integer("", d, 1) for d in dims)
        except (TypeError, ConfigError):
            shape = ()
        if not isinstance(name, str) or not shape:
            raise ConfigError(f"input_shapes: {name!r}: {dims!r} is not a shape; give positive "
                              "dims, e.g. {'input': (1, 3, 224, 224)}")
        out[name] = shape
    return MappingProxyType(out)


def _model(model, name: str | None):
    """``model`` as a file path or a parsed ``ModelProto`` (bytes are parsed here)."""
    import onnx

    from imcc.frontend.loader import parse_model_bytes
    from isa import hostlimits

    if isinstance(model, str | os.PathLike):
        return Path(model)
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, bytes | bytearray | memoryview):
        where = name or "model.onnx"
        hostlimits.check_file_bytes(len(model), f"{where}: the model")
        return parse_model_bytes(bytes(model), where)
    raise OnnxImportError(f"model: expected a path, the bytes of an ONNX file or an "
                          f"onnx.ModelProto, got {type(model).__name__}")


def _model_inputs(model) -> tuple[str, ...]:
    """The names of a model's graph inputs that are not initializers (no weights read)."""
    import onnx

    from imcc.frontend.loader import read_model_file

    proto = model if isinstance(model, onnx.ModelProto) else \
        read_model_file(model, external_data=False)
    inits = {t.name for t in proto.graph.initializer}
    return tuple(i.name for i in proto.graph.input if i.name not in inits)


def _calib(calib, model) -> dict[str, np.ndarray] | None:
    if calib is None:
        return None
    if isinstance(calib, Mapping):
        return {str(k): np.asarray(v) for k, v in calib.items()}
    names = _model_inputs(model)
    if len(names) != 1:
        raise InputError(f"calib: one array given, and the model has {len(names)} inputs "
                         f"({', '.join(names) or 'none'}); pass a dict name -> array")
    return {names[0]: np.asarray(calib)}


def _feeds(inputs, declared) -> dict[str, np.ndarray]:
    if inputs is None:
        return {}
    if isinstance(inputs, Mapping):
        return dict(inputs)
    if len(declared) != 1:
        names = ", ".join(f"'{t.name}'" for t in declared) or "none"
        raise InputError(f"one array given, and the program has {len(declared)} inputs "
                         f"({names}); pass a dict name -> array")
    return {declared[0].name: inputs}
