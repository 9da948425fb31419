"""The program of the Python interface (:mod:`imcc.api`): :class:`Program`, compiled or
loaded, with the chip it runs on, and :class:`TensorSpec`, one of its inputs or outputs."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from imcc.api_checks import _choice, _feeds, _integer, _number, _reject_unknown
from isa.diagnostics import ConfigError, InputError, OutputError

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
            accumulate: str = "float32", max_steps: int = DEFAULT_MAX_STEPS,
            max_work: int = DEFAULT_MAX_WORK, max_seconds: float | None = None,
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
        ``cupy`` for the arrays on an NVIDIA GPU, or ``cost`` for the cost model alone (no cells
        kept, MVMs write zeros: :attr:`cost` as numpy's, outputs meaningless;
        docs/runtime.md, "The cost backend"); ``accumulate``: ``float32``, or
        ``float64`` for the crossbar's float products summed in float64 and rounded once
        (numpy backend; docs/runtime.md, "Float sums"); ``max_steps`` stops a run that executes
        more instructions with a trap, ``max_work`` one that processes more vector elements and
        array cells (docs/machine.md, "Limits"), ``max_seconds`` one (one chunk of a batch)
        that takes longer (``None``: no time limit). ``progress(done, total)`` is called after
        each chunk. Wrong names, shapes or types raise :class:`isa.diagnostics.InputError`.

        >>> import numpy as np, imcc
        >>> prog = imcc.compile("samples/digits/cnn.onnx", "ideal", batch=4)
        >>> x = np.load("samples/digits/test.npz")["x_img"][:10]
        >>> prog.run({"input": x})["logits"].shape
        (10, 10)
        >>> prog.cost.runs
        3
        """
        _reject_unknown("Program.run", unknown, _RUN_ARGS)
        return self._run(inputs, seed=seed, time=time, backend=backend, accumulate=accumulate,
                         max_steps=max_steps, max_work=max_work, max_seconds=max_seconds,
                         progress=progress)

    def _run(self, inputs, *, seed=0, time=0.0, backend="numpy", accumulate="float32",
             max_steps=DEFAULT_MAX_STEPS, max_work=DEFAULT_MAX_WORK, max_seconds=None,
             progress=None, trace=None, trace_limit: int = 0) -> dict[str, np.ndarray]:
        """:meth:`run`, with ``imcc run --trace``'s ``trace(line)`` and ``trace_limit``."""
        from runtime.machine import run_batched
        from runtime.xpcrossbar import BACKENDS

        if progress is not None and not callable(progress):
            raise ConfigError("progress: expected a function (done, total), or None")
        machine = self._machine_for(_integer("seed", seed, 0), _number("time", time, 0.0),
                                    _choice("backend", backend, BACKENDS),
                                    accumulate)
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

    def _machine_for(self, seed: int, time: float, backend: str, accumulate: str = "float32"):
        """The machine for these settings: the kept one, or a fresh one replacing it."""
        from runtime.machine import Machine
        from runtime.xpcrossbar import make_crossbar

        settings = (seed, time, backend, accumulate)
        if self._machine is None or self._settings != settings:
            self._machine = self._settings = None
            time_s = time or None
            xbar = make_crossbar(backend, self._chip, seed=seed, time_s=time_s,
                                 accumulate=accumulate)
            self._machine = Machine(self._chip, self._obj, seed=seed, time_s=time_s,
                                    source=self._source, crossbar=xbar)
            self._settings = settings
        return self._machine


_RUN_ARGS = ("inputs", "seed", "time", "backend", "accumulate", "max_steps", "max_work",
             "max_seconds", "progress")


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
