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

import os
from collections.abc import Callable, Mapping
from typing import Any

from imcc.api_checks import (
    _calib,
    _chip,
    _choice,
    _input_shapes,
    _integer,
    _model,
    _number,
    _precision,
    _reject_unknown,
)
from imcc.api_program import DEFAULT_MAX_STEPS, DEFAULT_MAX_WORK, Program, TensorSpec
from isa.diagnostics import ConfigError, ToolchainError

__all__ = ["Error", "Program", "TensorSpec", "compile", "load"]
# Also importable from here (imcc.commands, imcc.torch, imcc.llm):
_SHARED = (DEFAULT_MAX_STEPS, DEFAULT_MAX_WORK, _chip, _precision)

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

# ---- compiling ---------------------------------------------------------------------------------


def compile(model, chip="ideal", *, priority: str = "efficiency", precision=None, calib=None,
            batch: int | None = None, input_shapes=None, dynamic: str = "sram",
            calibration: str = "minmax", percentile: float = 99.99, time_limit: float = 10.0,
            seed: int = 0, workers: int = 2, progress: Callable[[str], None] | None = None,
            name: str | None = None, set: Mapping[str, Any] | None = None, fit: bool = False,
            dump_after=(), verify_each: bool = False, constants: Mapping[str, Any] | None = None,
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
    (``ideal+arrays_per_tile=13``). ``dump_after``: names of canonicalization passes after
    which the graph is written to standard error (``--dump-after``); ``verify_each=True`` runs
    the IR verifier after every pass (``--verify-each``). ``constants``: graph inputs bound to
    values (a dict name -> array, ``--const NAME=FILE.npy``), compiled in as constants: what a
    static-shape program needs of an input that sets a shape (a Pad's pads, a Slice's starts,
    a Resize's scales); the program is right for those values only and no longer takes those
    inputs. A refusal that binding would lift names the inputs in its hint. The same arguments
    give the same program, byte for byte.

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
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     _ = imcc.compile("samples/digits/cnn.onnx", dump_after=["dead-code"],
    ...                      verify_each=True)
    >>> err.getvalue().splitlines()[:2]
    ['# after pass dead-code', 'graph ... (opset 21)']
    """
    _reject_unknown("imcc.compile", unknown, _COMPILE_ARGS)
    return _compile(model, chip, priority=priority, precision=precision, calib=calib,
                    batch=batch, input_shapes=input_shapes, dynamic=dynamic,
                    calibration=calibration, percentile=percentile, time_limit=time_limit,
                    seed=seed, workers=workers, progress=progress, name=name, sets=set,
                    fit=fit, checks=_pass_checks(dump_after, verify_each), constants=constants)


def _pass_checks(dump_after, verify_each, option: str = "dump_after"):
    """The :class:`imcc.options.PassChecks` of ``dump_after`` (pass names; ``option`` names
    the argument in errors) and ``verify_each``, checked."""
    from imcc.options import PassChecks
    from imcc.passes import pass_names

    if isinstance(dump_after, str):
        dump_after = (dump_after,)
    try:
        dump_after = tuple(dump_after)
    except TypeError:
        dump_after = (dump_after,)
    bad = [n for n in dump_after if not isinstance(n, str)]
    if bad:
        raise ConfigError(f"dump_after: expected pass names (str), got {bad[0]!r}")
    if not isinstance(verify_each, bool):
        raise ConfigError(f"verify_each = {verify_each!r}: must be True or False")
    return PassChecks(pass_names(dump_after, option), verify_each)


def _compile(model, chip, *, priority, precision, calib, batch, input_shapes, dynamic,
             calibration, percentile, time_limit, seed, workers, progress, name,
             base_name: str | None = None, sets=None, fit: bool = False,
             checks=None, constants=None, reserve_bytes: int = 0,
             assemble_text: bool = True, cells: dict | None = None) -> Program:
    """:func:`compile`, with ``base_name`` for the assembly's side files (``imcc compile -o``);
    ``sets`` is a dict (the interface's ``set``) or parsed ``--set`` pairs; ``checks`` are the
    :class:`imcc.options.PassChecks`; ``constants`` the graph inputs to bind;
    ``reserve_bytes`` the memory ``fit`` keeps free after the program's; without
    ``assemble_text`` a program of text alone, which cannot run, and ``cells`` a store of
    cells for compiles of one model that share them (both for :mod:`imcc.decoder`)."""
    from imcc.compiler import CompileOptions, PassChecks, compile_model
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
        fit=fit, reserve_bytes=reserve_bytes)
    prec = _precision(precision, cfg)
    cfg, prec, _ = apply_sets(cfg, prec, pairs, command="compile",
                              what="set" if isinstance(sets, Mapping) else "--set")
    src = _model(model, name)
    if constants is not None:
        src, name = _bound(src, name, constants)
    samples = _calib(calib, src)
    res = compile_model(src, cfg, precision=prec, calib=samples, options=options,
                        base_name=base_name, progress=progress, name=name,
                        checks=checks or PassChecks(), assemble_text=assemble_text,
                        cells=cells)
    from imcc.report import node_summary

    prog = Program(res.obj, res.chip, asm=res.asm, side_files=res.side_files,
                   report=res.report, storage_map=res.storage_map)
    prog._nodes = node_summary(res.graph, res.classes)  # the partition, for --html
    return prog


def _bound(src, name, constants):
    """The model ``src`` (a path or a proto) with ``constants`` bound, as a proto, and its name
    (a file's name stays the model's name)."""
    from pathlib import Path

    from imcc.frontend.bind_constants import bind_constants
    from imcc.frontend.loader import read_model_file

    if not isinstance(src, Path):
        return bind_constants(src, constants, name or "model.onnx"), name
    return bind_constants(read_model_file(src), constants, str(src)), name or src.name


_COMPILE_ARGS = ("model", "chip", "priority", "precision", "calib", "batch", "input_shapes",
                 "dynamic", "calibration", "percentile", "time_limit", "seed", "workers",
                 "progress", "name", "set", "fit", "dump_after", "verify_each", "constants")
_LOAD_ARGS = ("path", "chip", "set")


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
