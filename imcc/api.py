"""The Python interface: compile an ONNX model for a chip, run it on the reference machine, save
and load the program. ``imcc compile`` and ``imcc run`` are thin shells over these functions.

>>> import numpy as np, imcc
>>> data = np.load("samples/digits/test.npz")
>>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal-int8", calib=data["x_img"])
>>> logits = prog.run(data["x_img"])["logits"]
>>> logits.shape
(539, 10)
>>> float((logits.argmax(axis=1) == data["y"]).mean()) > 0.95
True

Every mistake a caller can make (a bad argument, an unreadable model, inputs of the wrong name
or shape, a trap of the machine) raises :data:`Error` (:class:`isa.diagnostics.ToolchainError`)
or one of its subclasses, whose ``str()`` is the diagnostic ``imcc`` prints for it. The
functions import the compiler and the runtime only when called, so ``import imcc`` stays light.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from isa.diagnostics import (
    ConfigError,
    InputError,
    OnnxImportError,
    OutputError,
    ToolchainError,
)

__all__ = ["Error", "Program", "TensorSpec", "compile", "load"]

#: The one exception type of the interface: every user error is an ``imcc.Error`` (a subclass:
#: ``ConfigError``, ``InputError``, ``OnnxImportError``, ``MachineTrap``, ...). ``str(e)`` is
#: the diagnostic the command line prints (``imcc: error: ...``, a caret under the source line
#: where there is one, a ``hint:`` line where there is one); ``e.message`` is the message alone
#: and ``e.hint`` the hint (or None).
#:
#: >>> import imcc
#: >>> try:
#: ...     imcc.compile("samples/digits/cnn.onnx", chip="no-such-chip")
#: ... except imcc.Error as e:
#: ...     print(e.message.split(";")[0])
#: unknown chip preset 'no-such-chip'
Error = ToolchainError

#: Most instructions one run may execute before the machine traps (as ``imcc run``).
DEFAULT_MAX_STEPS = 50_000_000
#: Most vector elements and array cells one run may process (as ``imcc run``).
DEFAULT_MAX_WORK = 10**12


class TensorSpec(NamedTuple):
    """An input or output of a program: its name, its shape (the compiled batch first) and its
    element type.

    >>> import imcc
    >>> prog = imcc.compile("samples/digits/cnn.onnx")
    >>> prog.inputs
    (TensorSpec(name='input', shape=(1, 1, 8, 8), dtype='float32'),)
    >>> prog.outputs[0].shape
    (1, 10)
    """

    name: str
    shape: tuple[int, ...]
    dtype: str


# ---- argument checks ---------------------------------------------------------------------------


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


# ---- compiling ---------------------------------------------------------------------------------


def compile(model, chip="ideal", *, priority: str = "efficiency", precision=None, calib=None,
            batch: int | None = None, input_shapes=None, dynamic: str = "sram",
            calibration: str = "minmax", percentile: float = 99.99, time_limit: float = 10.0,
            seed: int = 0, workers: int = 2, progress: Callable[[str], None] | None = None,
            name: str | None = None, set: Mapping[str, Any] | None = None, fit: bool = False,
            **unknown) -> Program:
    """Compile an ONNX model for a chip (what ``imcc compile`` does) and return the
    :class:`Program`.

    ``model``: a path to an ``.onnx`` file (external data is read from its folder only), the
    bytes of one, or an ``onnx.ModelProto`` (with any external data already loaded into it);
    bytes and protos are compiled in memory, without files. ``chip``: a preset name
    (``"ideal"``, ``"ideal-int8"``, ``"rram"``, ``"pcm"``, ...), a chip file (``.toml`` or
    ``.json``) or a :class:`runtime.config.ChipConfig`. ``precision``: None (the chip's
    defaults), a precision file, its parsed dict, or an :class:`imcc.precision.PrecisionConfig`.
    ``calib``: calibration samples for the activation scales (a dict input name -> array with
    samples along the first axis, or one array for a one-input model); without them the scales
    come from random inputs, with a warning in :attr:`Program.report`. The other arguments are
    ``imcc compile``'s options (``input_shapes`` is ``--input-shape``: a dict name -> shape).
    ``progress(message)`` is called at each stage. ``name`` is the model's name in the storage
    map, the report and the assembly (default: the file's name; ``model.onnx`` for bytes and
    protos). ``set``: chip overrides, ``imcc compile --set``'s (a dict name -> value, e.g.
    ``{"adc_bits": 6, "tiles": 32}``; :mod:`imcc.settings`). ``fit=True`` grows the chip until
    the model fits (``--fit``: arrays per tile, then tiles, and the global memory);
    :attr:`Program.chip` is the chip used, named after its changes
    (``ideal+arrays_per_tile=13``). The same arguments give the same program, byte for byte.

    >>> import imcc
    >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal", priority="resource")
    >>> prog.report["partition"]
    {'digital': 5, 'imc': 3}
    >>> imcc.compile("samples/digits/cnn.onnx", "rram", set={"adc_bits": 6}).chip.name
    'rram+adc_bits=6'
    >>> prog = imcc.compile("samples/models/lenet.onnx", "rram", priority="resource",
    ...                     set={"tiles": 2, "arrays_per_tile": 1}, fit=True)
    >>> prog.chip.name, prog.report["arrays_used"]
    ('rram+arrays_per_tile=6+tiles=2', 11)
    """
    _reject_unknown("imcc.compile", unknown, _COMPILE_ARGS)
    return _compile(model, chip, priority=priority, precision=precision, calib=calib,
                    batch=batch, input_shapes=input_shapes, dynamic=dynamic,
                    calibration=calibration, percentile=percentile, time_limit=time_limit,
                    seed=seed, workers=workers, progress=progress, name=name, sets=set,
                    fit=fit)


def _compile(model, chip, *, priority, precision, calib, batch, input_shapes, dynamic,
             calibration, percentile, time_limit, seed, workers, progress, name,
             base_name: str | None = None, sets=None, fit: bool = False) -> Program:
    """:func:`compile`, with ``base_name`` for the assembly's side files (``imcc compile -o``);
    ``sets`` is a dict (the interface's ``set``) or parsed ``--set`` pairs."""
    from imcc.compiler import CompileOptions, compile_model
    from imcc.settings import apply_sets, sets_from_mapping

    if name is not None and not isinstance(name, str):
        raise ConfigError(f"name: expected a str, got {type(name).__name__}")
    if progress is not None and not callable(progress):
        raise ConfigError("progress: expected a function of one message (str), or None")
    if not isinstance(fit, bool):
        raise ConfigError(f"fit = {fit!r}: must be True or False")
    cfg = _chip(chip)
    pairs = tuple(sets) if isinstance(sets, tuple) else sets_from_mapping(sets)
    options = CompileOptions(
        priority=_choice("priority", priority, ("efficiency", "resource")),
        dynamic=_choice("dynamic", dynamic, ("sram", "digital")),
        batch=_integer("batch", batch, 1, none=True),
        input_shapes=_input_shapes(input_shapes),
        calibration=_choice("calibration", calibration, ("minmax", "percentile")),
        percentile=_number("percentile", percentile, 50, 100),
        time_limit=_number("time_limit", time_limit, 0.1),
        seed=_integer("seed", seed),
        workers=_integer("workers", workers, 1),
        fit=fit)
    prec = _precision(precision, cfg)
    cfg, prec, _ = apply_sets(cfg, prec, pairs, command="compile",
                              what="set" if isinstance(sets, Mapping) else "--set")
    src = _model(model, name)
    samples = _calib(calib, src)
    res = compile_model(src, cfg, precision=prec, calib=samples, options=options,
                        base_name=base_name, progress=progress, name=name)
    from imcc.report import node_summary

    prog = Program(res.obj, res.chip, asm=res.asm, side_files=res.side_files,
                   report=res.report, storage_map=res.storage_map)
    prog._nodes = node_summary(res.graph, res.classes)  # the partition, for --html
    return prog


# ---- the program -------------------------------------------------------------------------------


class Program:
    """A compiled or loaded program with the chip it runs on. Made by :func:`compile` and
    :func:`load`; not built directly.

    A Program keeps the :class:`runtime.machine.Machine` of its last :meth:`run` and reuses it
    while ``seed``, ``time`` and ``backend`` stay the same, as a chip keeps its arrays: the
    first run programs the weights into the arrays (drawing the programming noise, stuck cells
    and drift once), later runs only infer (and draw fresh read noise, as a chip's reads do).
    A run with other settings replaces the machine with a fresh one. :attr:`cost` is what the
    last call of :meth:`run` cost, so it includes programming the arrays only when that call
    programmed them.

    >>> import numpy as np, imcc
    >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal-int8")
    >>> x = np.load("samples/digits/test.npz")["x_img"][:4]
    >>> prog.run(x)["logits"].shape
    (4, 10)
    >>> prog.cost.runs, prog.cost.cells_programmed > 0
    (4, True)
    >>> _ = prog.run(x)
    >>> prog.cost.runs, prog.cost.cells_programmed
    (4, 0)
    """

    def __init__(self, obj, chip, *, asm: str | None = None, source=None,
                 side_files: Mapping[str, bytes] | None = None, report: dict | None = None,
                 storage_map: dict | None = None):
        self._obj = obj
        # the compiler's own dict (its key order is what `imcc compile` prints), else parsed
        self._storage_map = storage_map if storage_map is not None else obj.storage_map()
        self._chip = chip
        self._asm = asm
        self._source = source  # the Assembly of a .s file: traps name its lines
        self._side_files = MappingProxyType(dict(side_files or {}))
        self._report = report
        self._estimate: dict | None = None
        self._machine = None
        self._settings: tuple | None = None
        self._cost = None
        self._nodes: list | None = None  # the compiled graph's nodes (imcc.report), if known

    def __repr__(self) -> str:
        def io(ts):
            return ", ".join(f"{t.name} {t.dtype}[{'x'.join(map(str, t.shape))}]" for t in ts)

        return (f"<imcc.Program for chip '{self._chip.name}': inputs {io(self.inputs) or '-'}; "
                f"outputs {io(self.outputs) or '-'}>")

    # ---- what it is ------------------------------------------------------------------------

    @property
    def chip(self):
        """The :class:`runtime.config.ChipConfig` the program runs on.

        >>> import imcc
        >>> imcc.compile("samples/digits/cnn.onnx", "ideal-int8").chip.name
        'ideal-int8'
        """
        return self._chip

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The program's inputs (:class:`TensorSpec`: name, shape, dtype), in order.

        >>> import imcc
        >>> [t.name for t in imcc.compile("samples/digits/cnn.onnx").inputs]
        ['input']
        """
        return tuple(TensorSpec(t.name, tuple(t.shape), t.dtype) for t in self._obj.inputs)

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The program's outputs (:class:`TensorSpec`), in the order :meth:`run` returns them.

        >>> import imcc
        >>> imcc.compile("samples/digits/cnn.onnx", batch=8).outputs
        (TensorSpec(name='logits', shape=(8, 10), dtype='float32'),)
        """
        return tuple(TensorSpec(t.name, tuple(t.shape), t.dtype) for t in self._obj.outputs)

    @property
    def storage_map(self) -> dict | None:
        """The storage map (schema ``imcc.storage-map/1``, as ``imcc map --json`` writes it):
        where each weight tile sits on the chip's arrays. None for an object without one (a
        hand-written program).

        >>> import imcc
        >>> m = imcc.compile("samples/digits/cnn.onnx", "ideal-int8").storage_map
        >>> m["schema"], m["arrays_used"], [layer["name"] for layer in m["layers"]]
        ('imcc.storage-map/1', 1, ['/conv1/Conv', '/conv2/Conv', '/fc/Gemm'])
        """
        return copy.deepcopy(self._storage_map)

    @property
    def report(self) -> dict | None:
        """What ``imcc compile`` prints, as data (the dict ``imcc compile --json`` writes):
        partition, arrays used and their lower bound, packing, instructions, memory, times,
        warnings, and ``estimate``, the cost model's energy and latency of one inference
        (``energy_pj``, ``latency_ns``) and of programming the arrays once
        (``program_energy_pj``, ``program_latency_ns``), one inference's energy by component
        (``energy_breakdown_pj``) and operation counts (``counts``). The estimate runs the
        program twice on zero inputs, on the first read of ``report``. None for a loaded
        program.

        >>> import imcc
        >>> r = imcc.compile("samples/digits/cnn.onnx", "ideal-int8").report
        >>> r["imc_layers"], r["arrays_used"], r["estimate"]["energy_pj"] > 0
        (3, 1, True)
        """
        if self._report is None:
            return None
        if self._estimate is None:
            self._estimate = _estimate(self._obj, self._chip)
        return {**self._report, "estimate": dict(self._estimate)}

    def _compile_report(self) -> dict | None:
        """The compile report without the estimate (``imcc compile --no-estimate``)."""
        return None if self._report is None else dict(self._report)

    @property
    def asm(self) -> str | None:
        """The assembly text: of a program compiled in this process (what ``imcc compile -S``
        writes), or of a loaded ``.s`` file; None for a loaded object (``imcc disasm`` prints
        one).

        >>> import imcc
        >>> text = imcc.compile("samples/digits/cnn.onnx").asm
        >>> "mvm" in text and text.lstrip().startswith("#")
        True
        """
        return self._asm

    @property
    def cost(self):
        """The :class:`runtime.cost.CostReport` of the last :meth:`run` call (all its batch
        chunks: ``runs`` is their number), None before the first: counts of MVMs, converter
        operations, cells programmed, vector work, energy (``energy_pj`` and
        ``energy_breakdown_pj``) and latency (``latency_ns``); ``summary()`` is what
        ``imcc run`` prints. A run on a machine whose arrays are already programmed (see
        :class:`Program`) counts no programming.

        >>> import numpy as np, imcc
        >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal-int8")
        >>> prog.cost is None
        True
        >>> _ = prog.run(np.zeros((1, 1, 8, 8), np.float32))
        >>> prog.cost.runs, prog.cost.mvms, prog.cost.energy_pj > 0
        (1, 3, True)
        """
        return self._cost

    def to_bytes(self) -> bytes:
        """The object file's bytes (what :meth:`save` writes).

        >>> import imcc
        >>> imcc.compile("samples/digits/cnn.onnx").to_bytes()[:8]
        b'\\x7fIMCOBJ\\n'
        """
        from isa.objfile import to_bytes

        return to_bytes(self._obj)

    def save(self, path: str | os.PathLike) -> None:
        """Write the object file (``.imo``) atomically: a temporary file beside ``path``,
        renamed into place, so ``path`` is either the old file or the whole new one.
        :func:`load` reads it back; so do ``imcc run`` and ``imcc disasm``.

        >>> import imcc, tempfile, os
        >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal-int8")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     prog.save(os.path.join(d, "cnn.imo"))
        ...     imcc.load(os.path.join(d, "cnn.imo")).chip.name
        'ideal-int8'
        """
        from isa.objfile import write_object

        if not isinstance(path, str | os.PathLike):
            raise ConfigError(f"save: expected a path, got {type(path).__name__}")
        if Path(path).suffix == ".s":
            raise OutputError(f"{os.fspath(path)}: save writes an object file, not assembly",
                              hint="name it .imo; Program.asm is the assembly text")
        try:
            write_object(self._obj, path)
        except OSError as e:
            raise OutputError(f"{os.fspath(path)}: cannot write: {e.strerror or e}") from None

    # ---- running -----------------------------------------------------------------------------

    def run(self, inputs=None, *, seed: int = 0, time: float = 0.0, backend: str = "numpy",
            max_steps: int = DEFAULT_MAX_STEPS, max_work: int = DEFAULT_MAX_WORK,
            max_seconds: float | None = None,
            progress: Callable[[int, int], None] | None = None,
            **unknown) -> dict[str, np.ndarray]:
        """Run the program on the reference machine and return its outputs by name (numpy
        arrays of the declared element types, in declaration order).

        ``inputs``: a dict input name -> array (or anything ``numpy.asarray`` takes), or one
        array for a one-input program. Arrays of exactly the declared shape run once; a
        leading batch dimension of any size ``N`` runs ``ceil(N / B)`` times in chunks of the
        compiled batch ``B`` (the last chunk zero-padded) and the outputs keep ``N`` rows (as
        ``imcc run``). ``seed`` seeds the device nonidealities; ``time`` is the read time in
        seconds after programming, for conductance drift (0: no drift); ``backend``: ``numpy``,
        or ``cupy`` for the arrays on an NVIDIA GPU; ``max_steps`` stops a run that executes
        more instructions with a trap, ``max_work`` one that processes more vector elements and
        array cells (docs/machine.md, "Limits"), ``max_seconds`` one (one chunk of a batch)
        that takes longer (``None``: no time limit). ``progress(done, total)`` is called after each chunk.
        Wrong names, shapes or types raise :class:`isa.diagnostics.InputError`.

        >>> import numpy as np, imcc
        >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal", batch=4)
        >>> x = np.load("samples/digits/test.npz")["x_img"][:10]
        >>> prog.run({"input": x})["logits"].shape
        (10, 10)
        >>> prog.cost.runs
        3
        """
        _reject_unknown("Program.run", unknown, _RUN_ARGS)
        return self._run(inputs, seed=seed, time=time, backend=backend, max_steps=max_steps,
                         max_work=max_work, max_seconds=max_seconds, progress=progress)

    def _run(self, inputs, *, seed=0, time=0.0, backend="numpy", max_steps=DEFAULT_MAX_STEPS,
             max_work=DEFAULT_MAX_WORK, max_seconds=None,
             progress=None, trace=None, trace_limit: int = 0) -> dict[str, np.ndarray]:
        """:meth:`run`, with ``imcc run --trace``'s ``trace(line)`` and ``trace_limit``."""
        from runtime.machine import run_batched

        if progress is not None and not callable(progress):
            raise ConfigError("progress: expected a function (done, total), or None")
        machine = self._machine_for(_integer("seed", seed, 0), _number("time", time, 0.0),
                                    _choice("backend", backend, ("numpy", "cupy")))
        machine.max_steps = _integer("max_steps", max_steps, 1)
        machine.max_work = _integer("max_work", max_work, 1)
        if max_seconds is not None and not _number("max_seconds", max_seconds, 0.0) > 0:
            raise ConfigError(f"max_seconds = {max_seconds}: expected a number of seconds > 0, "
                              "or None")
        machine.max_seconds = max_seconds
        feeds = _feeds(inputs, self._obj.inputs)
        before = machine.cost
        try:
            outputs = run_batched(machine, feeds, progress=progress, trace=trace,
                                  trace_limit=trace_limit)
        except InputError:  # raised before the machine starts
            raise
        except BaseException:
            # Stopped inside a run (a trap, an interrupt): the arrays may be half programmed;
            # the next run starts on a fresh machine.
            self._machine = self._settings = None
            raise
        self._cost = machine.cost if before.runs == 0 else _difference(machine.cost, before)
        return outputs

    def _machine_for(self, seed: int, time: float, backend: str):
        """The machine for these settings: the kept one, or a fresh one replacing it."""
        from runtime.machine import Machine
        from runtime.xpcrossbar import make_crossbar

        settings = (seed, time, backend)
        if self._machine is None or self._settings != settings:
            self._machine = self._settings = None
            time_s = time or None
            xbar = make_crossbar(backend, self._chip, seed=seed, time_s=time_s)
            self._machine = Machine(self._chip, self._obj, seed=seed, time_s=time_s,
                                    source=self._source, crossbar=xbar)
            self._settings = settings
        return self._machine


_COMPILE_ARGS = ("model", "chip", "priority", "precision", "calib", "batch", "input_shapes",
                 "dynamic", "calibration", "percentile", "time_limit", "seed", "workers",
                 "progress", "name", "set", "fit")
_RUN_ARGS = ("inputs", "seed", "time", "backend", "max_steps", "max_work", "max_seconds",
             "progress")
_LOAD_ARGS = ("path", "chip", "set")


def _difference(after, before):
    """The cost report of the runs between two reports of one machine (``after - before``)."""
    values = {}
    for f in fields(after):
        a, b = getattr(after, f.name), getattr(before, f.name)
        if isinstance(a, Mapping):
            values[f.name] = MappingProxyType({k: v - b.get(k, 0) for k, v in a.items()})
        elif isinstance(a, int | float) and not isinstance(a, bool):
            values[f.name] = a - b
    return replace(after, **values)


def _estimate(obj, chip) -> dict:
    """The runtime's cost model on zero inputs: the first run programs the arrays and infers,
    the second only infers; their difference is the cost of one inference."""
    from runtime.machine import Machine

    m = Machine(chip, obj)
    feeds = {t.name: np.zeros(t.shape, dtype=np.float32) for t in obj.inputs}
    m.run(feeds, outputs=False)  # the cost only: zero inputs may leave undefined outputs
    first = m.cost
    m.run(feeds, outputs=False)
    both = m.cost
    one = _difference(both, first)
    return {"energy_pj": both.energy_pj - first.energy_pj,
            "latency_ns": both.latency_ns - first.latency_ns,
            "program_energy_pj": 2 * first.energy_pj - both.energy_pj,
            "program_latency_ns": 2 * first.latency_ns - both.latency_ns,
            "energy_breakdown_pj": {k: v for k, v in one.energy_breakdown_pj.items() if v},
            "counts": {"MVMs": one.mvms, "DAC conversions": one.dac_conversions,
                       "ADC conversions": one.adc_conversions,
                       "vector elements": one.vector_elements, "SRAM-IMC MACs": one.sram_macs,
                       "bytes sent": one.bytes_sent}}


# ---- loading -----------------------------------------------------------------------------------


def _run_sets(cfg, sets, time: float | None = None):
    """``cfg`` with run overrides (a dict, or parsed ``--set`` pairs); with ``time`` (the
    ``--time`` option) the read time ``time`` sets is returned too."""
    from imcc.settings import apply_sets, sets_from_mapping

    pairs = tuple(sets) if isinstance(sets, tuple) else sets_from_mapping(sets)
    what = "--set" if isinstance(sets, tuple) else "set"
    cfg, _, t = apply_sets(cfg, None, pairs, command="run", what=what)
    if t is not None and time is None:
        raise ConfigError(f"{what} time: the read time is an argument of Program.run (time=...)")
    return cfg if time is None else (cfg, t)


def load(path, chip=None, *, set: Mapping[str, Any] | None = None, **unknown) -> Program:
    """Read a program: an object file (``.imo``, or its bytes) or an assembly source (``.s``,
    assembled here; its includes resolve next to it, and traps then point at its lines).

    ``chip`` (a preset name, a chip file or a :class:`runtime.config.ChipConfig`) is the chip
    to run on. Without it, the object's chip record decides: the preset of that name when its
    program hash matches, ``ideal`` for a program without a record, and otherwise an error that
    asks for ``chip=``. A chip of another architecture than the recorded one (another program
    hash) is an error; chips that differ only in noise or costs run the same program. ``set``:
    overrides of that chip (``imcc run --set``'s, e.g. ``{"noise_scale": 0}``); one that changes
    what the program was compiled for (``tiles``, ``adc_bits``) is that error.

    >>> import imcc
    >>> prog = imcc.load("samples/asm/dot.s")
    >>> prog.chip.name, [t.name for t in prog.outputs]
    ('ideal', ['y'])
    """
    from runtime.launch import choose_chip, load_program

    _reject_unknown("imcc.load", unknown, _LOAD_ARGS)
    if isinstance(path, bytes | bytearray | memoryview):
        from isa.objfile import from_bytes

        obj, source = from_bytes(bytes(path)), None
    elif isinstance(path, str | os.PathLike):
        obj, source = load_program(path)
    else:
        raise ConfigError(f"load: expected a path or the bytes of an object file, got "
                          f"{type(path).__name__}")
    cfg = choose_chip(obj) if chip is None else _chip(chip)
    cfg = _run_sets(cfg, set)
    prog = Program(obj, cfg, asm=source.source.text if source is not None else None,
                   source=source)
    prog._machine_for(0, 0.0, "numpy")  # checks now that the chip fits the program
    return prog
