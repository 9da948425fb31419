"""The reference machine: loads an object, runs it, reports outputs, traps and costs.

>>> from isa.assembler import assemble
>>> from runtime.config import preset
>>> src = '''
... .output "y", y, [1, 2]
...     cfgi xbh, 2
...     cfgi xbw, 2
...     li x5, W
...     wprog x5
...     li x6, x
...     li x7, y
...     mvm x7, x6
...     halt
... .data
... x:  .float 1, 2
... y:  .zero 8
... .weights
... W:  .u8 1, 2, 3, 4
... '''
>>> m = Machine(preset("ideal"), assemble(src).obj)
>>> m.run({})["y"]
array([[ 7., 10.]], dtype=float32)

The program is pre-decoded once and run by the dispatch loop of :mod:`runtime.dispatch`;
:mod:`runtime.batched` runs a batch larger than the program's.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection

import numpy as np

from isa import hostlimits
from isa.assembler import Assembly
from isa.diagnostics import ConfigError, InputError, MachineTrap, SourceSpan
from isa.encoding import DecodeError, decode, format_instr
from isa.objfile import EXACT_INTEGER, RAW_DTYPES, IOTensor, ObjectFile, same_bytes
from isa.spec import Category
from runtime.batched import _shape, run_batched  # noqa: F401  (run_batched: public here too)
from runtime.config import ChipConfig
from runtime.cost import CostCounter, CostReport
from runtime.crossbar import Crossbar, NumpyCrossbar
from runtime.dispatch import count_by_category, predecode, run_fast, run_traced
from runtime.iodtypes import input_values, output_as, raw_input_words
from runtime.memory import Memory
from runtime.state import MachineState

DEFAULT_MAX_STEPS = 50_000_000
#: Elements and cells a run may process (docs/machine.md, "Limits"): at the host's numpy speed,
#: on the order of an hour; a compiled model's run does far less.
DEFAULT_MAX_WORK = 10**12


class Machine:
    """One chip running one program. Array contents, registers and CSRs persist across
    :meth:`run` calls; memory is re-initialised for every run (docs/runtime.md, "Reruns").

    ``seed`` seeds the device nonidealities of this machine (with the chip's own seed);
    ``time_s`` is the read time after programming for conductance drift (``None``: no drift;
    with an injected ``crossbar`` and no ``time_s``, the crossbar's ``time_s``). The code a run
    executes before the program's ``.rerun`` label reads the arrays right after programming
    (no drift); from that label on (from the start, for a program without ``.rerun``) they are
    read at ``time_s``. ``source`` (the :class:`~isa.assembler.Assembly` the object came from)
    lets traps name the source line; ``crossbar`` replaces the numpy crossbar backend.
    """

    def __init__(self, config: ChipConfig, obj: ObjectFile, *, seed: int = 0,
                 time_s: float | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                 max_work: int = DEFAULT_MAX_WORK, max_seconds: float | None = None,
                 source: Assembly | None = None, crossbar: Crossbar | None = None):
        if obj.chip is not None and obj.chip[1] != config.program_hash:
            raise ConfigError(
                f"the program was built for chip '{obj.chip[0]}' (program hash {obj.chip[1]}), "
                f"but chip '{config.name}' has program hash {config.program_hash}: a different "
                "array geometry, memory, cell bits, converters, signed scheme or drift "
                "compensation",
                hint="run it with the chip file it was compiled for (--config FILE or --chip), or "
                     "recompile; chips that differ only in noise or costs run the same program")
        if seed < 0 or max_steps < 1 or max_work < 1 or \
                max_seconds is not None and not max_seconds > 0:
            raise ConfigError(f"seed = {seed}, max_steps = {max_steps}, max_work = {max_work}, "
                              f"max_seconds = {max_seconds}: need seed >= 0, max_steps >= 1, "
                              "max_work >= 1 and max_seconds > 0")
        self.config = config
        self.obj = obj
        self.max_steps = max_steps
        self.max_work = max_work
        self.max_seconds = max_seconds
        self.source = source
        global_bytes = config.global_mib << 20
        if obj.data_base + len(obj.data) > global_bytes:
            raise ConfigError(f".data ends at {obj.data_base + len(obj.data):#x}, beyond the "
                              f"{config.global_mib} MiB global memory of chip '{config.name}'")
        for t in (*obj.inputs, *obj.outputs):
            if t.addr % 4 or t.addr + t.nbytes > global_bytes:
                raise ConfigError(f"tensor '{t.name}' at {t.addr:#x} ({t.nbytes} bytes) does not "
                                  f"fit the global memory of chip '{config.name}'")
        # An array's cells are allocated whole when first programmed: refuse, before anything
        # runs, arrays no host holds (65536 x 65536 cells is 16 GiB of float32 per array).
        hostlimits.check_total_bytes(4 * config.rows * config.cols,
                                     f"an array of chip '{config.name}' ({config.rows}x"
                                     f"{config.cols} cells of float32)")
        self._hits = [0] * (len(obj.text) + 1)
        self._counter = CostCounter(config)
        if time_s is None and crossbar is not None:
            time_s = getattr(crossbar, "time_s", None)
        self.time_s = time_s
        self.xbar = crossbar if crossbar is not None else \
            NumpyCrossbar(config, seed=seed, time_s=time_s)
        mem = Memory(global_bytes, config.tiles, config.buffer_kib << 10)
        weights = memoryview(obj.weights).toreadonly()  # read by wprog, never copied
        self.state = MachineState(config, mem, self.xbar, weights, len(obj.text), self._counter,
                                  self._hits)
        self._program = predecode(self.state, obj, self._hits, self._enter_inference)
        self._labels = sorted((s.value, s.name) for s in obj.symbols if s.section == "text")
        self._data_words = _data_words(obj)
        self._data_intact = False  # .data as the last load wrote it, unwritten since
        self._io = _IoPlan(obj)
        self.runs = 0
        # Memory the code before .rerun wrote, as it was at .rerun (region, lo, hi, words): a
        # rerun starts from it. _setup_dirty: the words written before the setup started, while
        # the first run records what the setup writes.
        self._kept: tuple[tuple[int, int, int, np.ndarray], ...] = ()
        self._setup_dirty: list | None = None
        self._before: dict[str, int] = {}  # instructions by category of programs switched from

    def switch(self, obj: ObjectFile, *, source: Assembly | None = None) -> None:
        """Run ``obj`` on this machine from now on, from its ``.rerun`` label, as a rerun: the
        arrays keep their cells, the memory what the last run left (``resident`` inputs of the
        next run find it), the registers and CSRs their values, the cost counters their counts.
        ``obj`` must be compiled onto the same cells: the same weights section (checked), a
        ``.rerun`` label, and code before it that only programs the arrays, which never runs
        here (docs/llm.md: a prefill program, then a decode program, on one machine)."""
        if self.runs == 0:
            raise InputError("switch: the machine has not run yet; run its first program once "
                             "(it programs the arrays) before switching")
        if obj.rerun is None:
            raise InputError("switch: the program has no .rerun label to start from")
        if not same_bytes(obj.weights, self.obj.weights):  # mapped pages let go as it reads
            raise InputError("switch: the program's weights section differs from the cells "
                             "programmed on this machine")
        if obj.chip is not None and obj.chip[1] != self.config.program_hash:
            raise ConfigError(f"switch: the program was built for chip '{obj.chip[0]}', not "
                              f"'{self.config.name}'")
        by_cat = self._by_category()
        self._before = {k: v + self._before.get(k, 0) for k, v in by_cat.items()}
        mem = self.state.mem
        old = self.obj.data_base >> 2
        mem.touch(0, old, old + self._data_words.size)  # zeroed by the next load, or rewritten
        self.obj, self.source = obj, source
        retired = sum(self._hits)
        self._hits = [0] * (len(obj.text) + 1)
        self._hits[-1] = retired  # the slot past the text: instret counts on (never a category)
        self.state.hits = self._hits
        self.state.n_text = len(obj.text)
        self.state.weights = memoryview(obj.weights).toreadonly()
        self._data_words, self._data_intact = _data_words(obj), False
        self._io = _IoPlan(obj)
        self._program = predecode(self.state, obj, self._hits, self._enter_inference)
        self._labels = sorted((s.value, s.name) for s in obj.symbols if s.section == "text")
        self._kept = ()

    # ---- loading ------------------------------------------------------------------------------

    def _load(self, inputs: dict[str, np.ndarray],
              kept: tuple[tuple[int, int, int, np.ndarray], ...] = (),
              resident: tuple[IOTensor, ...] = (), clear: bool = True) -> None:
        """Zero the memory (unless not ``clear``), then write ``.data``, the ``kept`` words
        (what the code before ``.rerun`` wrote, on a rerun) and the inputs; the words of the
        ``resident`` inputs are left as the previous run left them. ``.data`` is not written
        again where the last load of this program wrote it and nothing has written its words
        since (loading does not add them to the memory's record of written words, so a write
        by a run shows there)."""
        mem, io = self.state.mem, self._io
        base, words = self.obj.data_base >> 2, self._data_words
        end = base + words.size
        d = mem.dirty[0]
        fresh = not self._data_intact or d is not None and d[0] < end and d[1] > base
        spans = io.spans + tuple((r, lo, hi) for r, lo, hi, _ in kept)
        # inputs are not zeroed (they are in spans); the resident ones under words this load
        # rewrites (.data, the setup's) are kept aside and written back
        rewritten = [(lo, hi) for r, lo, hi, _ in kept if r == 0] + ([(base, end)] if fresh else [])
        held = [(a, mem.u32[0][a:b].copy())
                for a, b in ((t.addr >> 2, (t.addr + t.nbytes) >> 2) for t in resident)
                if any(lo < b and a < hi for lo, hi in rewritten)] if rewritten else ()
        if clear:
            mem.reset(overwritten=((0, base, end), *spans) if fresh else spans)
        if fresh:
            mem.u32[0][base:end] = words
            self._data_intact = True
            d = mem.dirty[0]
            if not clear and d is not None and d[0] >= base:  # .data's words are fresh now
                mem.dirty[0] = (end, d[1]) if d[1] > end else None
        for r, lo, hi, w in kept:
            mem.u32[r][lo:hi] = w
        for a, w in held:
            mem.u32[0][a : a + w.size] = w
        f32 = mem.f32[0]
        for name, a, n in io.words:
            v = inputs.get(name)
            if v is not None:  # else resident
                f32[a : a + n] = v.reshape(-1)
        for region, lo, hi in (*io.hull, *((r, lo, hi) for r, lo, hi, _ in kept)):
            mem.touch(region, lo, hi)

    def check_inputs(self, inputs: dict[str, np.ndarray],
                     resident: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Inputs converted to float32; raise :class:`InputError` unless they match the
        declared names and shapes exactly (the ``resident`` ones are not given)."""
        declared = self._io.declared(resident)
        unknown = sorted(set(inputs) - declared.keys()) if inputs.keys() != declared.keys() else ()
        if unknown:
            if unknown[0] in resident:
                raise InputError(f"input '{unknown[0]}' is both given and resident")
            raise InputError(f"unknown input '{unknown[0]}'; the program declares "
                             f"{_names(self.obj.inputs)}")
        missing = sorted(declared.keys() - set(inputs))
        if missing:
            raise InputError(f"input '{missing[0]}' ({_shape(declared[missing[0]].shape)}) "
                             "was not given", hint="pass it, e.g. --input NAME=file.npy")
        out = {}
        for name, t in declared.items():
            arr = input_values(np.asarray(inputs[name]), t.dtype, name)
            if arr.shape != t.shape:
                raise InputError(f"input '{name}' has shape {_shape(arr.shape)}; the program "
                                 f"declares {_shape(t.shape)}")
            if t.dtype.startswith(("int", "uint")) and arr.size and \
                    not np.abs(arr).max() <= EXACT_INTEGER:
                raise InputError(
                    f"input '{name}' ({t.dtype}) holds {np.abs(arr).max():g} in magnitude, beyond "
                    "the whole numbers the machine's float32 words hold exactly (-2**24 .. 2**24)")
            if t.dtype in RAW_DTYPES:
                out[name] = raw_input_words(arr, t.dtype, name)
                continue
            out[name] = np.asarray(arr, dtype=np.float32)
        return out

    # ---- running ------------------------------------------------------------------------------

    def run(self, inputs: dict[str, np.ndarray], *, trace: Callable[[str], None] | None = None,
            trace_limit: int = 0, resident: tuple[str, ...] = (),
            outputs: bool | Collection[str] = True, clear: bool = True
            ) -> dict[str, np.ndarray]:
        """Run once: load ``.data`` and ``inputs``, start at ``.entry`` (first run) or
        ``.rerun`` (after a completed run, when declared), stop at ``halt``, return the
        outputs. With ``trace``, the first ``trace_limit`` instructions are reported to it, one
        line each, with the registers and CSRs they changed.

        ``resident`` names inputs this rerun does not write: their words hold what the previous
        run left at their addresses (a program that writes its next state there, such as a
        decoder's KV cache, keeps it in the machine's memory between runs; docs/llm.md). Only a
        rerun of a program with ``.rerun`` after a completed run may leave inputs resident.
        With ``outputs=False`` the run is for its cost only and returns no outputs (a cost
        estimate on zero inputs, where an integer 0 / 0 leaves NaN in an integer output); a
        collection of output names returns those alone (a decoder's step reads its logits, not
        the cache it leaves in memory). With ``clear=False`` a rerun does not zero the words the
        runs before it wrote (they stay on the record, for the next run that does): for a
        program that reads no word of its memory in a run before writing it there, but for its
        inputs, ``.data`` and the words kept from its setup, the same results without the cost
        of zeroing (a decoder's step: :func:`imcc.generate`, which tests/llm check against
        runs that find those words NaN)."""
        names = self._io.by_name
        for name in resident:
            if name not in names:
                raise InputError(f"resident input '{name}' is not an input of the program; it "
                                 f"declares {_names(self.obj.inputs)}")
        rerun = self.obj.rerun
        again = self.runs > 0 and rerun is not None
        if resident and not again:
            raise InputError(f"input '{resident[0]}' cannot be resident on this run: only a "
                             "rerun (after a completed run of a program with .rerun) finds "
                             "the memory of the run before it",
                             hint="give every input on the machine's first run")
        wanted = () if not outputs else self.obj.outputs if outputs is True \
            else self._io.outputs(outputs)
        keep = frozenset(resident)
        arrays = self.check_inputs(inputs, keep)
        self._load(arrays, self._kept if again else (), tuple(names[n] for n in resident),
                   clear or not again)
        start = rerun if again else self.obj.entry
        if not again:  # the setup runs right after programming; without .rerun, all at time_s
            self.xbar.set_time(None if rerun is not None else self.time_s)
            if rerun is not None:
                self._setup_dirty = self.state.mem.take_dirty()
        self._counter.start_run()
        self._counter.limit(self.max_work, self.max_seconds)
        try:
            with np.errstate(all="ignore"):
                i = self._start_index(start)
                steps, budget = 0, self.max_steps
                if trace is not None and trace_limit > 0:
                    i, steps, halted = run_traced(self._program, self._hits, self.state, i,
                                                  min(trace_limit, budget), trace,
                                                  self.instruction_text, self._trap)
                    budget -= steps
                else:
                    halted = False
                if not halted:
                    steps += run_fast(self._program, self._hits, self._counter.check_clock, i,
                                      budget, self.max_steps, self._trap)
        finally:
            if self._setup_dirty is not None:  # .rerun never reached
                self.state.mem.merge_dirty(self._setup_dirty)
                self._setup_dirty = None
        self._counter.end_run(steps)
        self.runs += 1
        if not outputs:
            return {}
        f32 = self.state.mem.f32[0]
        return {t.name: output_as(f32[t.addr >> 2 : (t.addr + t.nbytes) >> 2].reshape(t.shape),
                                  t.dtype, t.name)
                for t in wanted}

    def _enter_inference(self) -> None:
        """Execution reaches ``.rerun``: the arrays are read at ``time_s`` from here on; on the
        first run, the words the code before it wrote are kept for the reruns."""
        self.xbar.set_time(self.time_s)
        if self._setup_dirty is None:
            return
        mem = self.state.mem
        written = mem.take_dirty()
        self._kept = tuple((r, e[0], e[1], mem.u32[r][e[0] : e[1]].copy())
                           for r, e in enumerate(written) if e is not None and e[1] > e[0])
        mem.merge_dirty(self._setup_dirty)
        mem.merge_dirty(written)
        self._setup_dirty = None

    def _start_index(self, start: int) -> int:
        if start % 4 or not 0 <= start < 4 * len(self.obj.text):
            raise MachineTrap(f"start address {start:#x} is outside the text section")
        return start >> 2

    # ---- reporting -----------------------------------------------------------------------------

    def instruction_text(self, pc: int) -> str:
        """The assembly text of the instruction at ``pc``."""
        word = self.obj.text[pc >> 2]
        try:
            return format_instr(decode(word), pc, dict(self.obj.label_map()))
        except DecodeError:
            return f".word {word:#010x}"

    def where(self, pc: int) -> str:
        """``label+offset`` of ``pc`` from the object's text symbols ('' without any)."""
        k = bisect.bisect_right(self._labels, (pc, "\uffff")) - 1
        if k < 0:
            return ""
        addr, name = self._labels[k]
        return name if addr == pc else f"{name}+{pc - addr}"

    def _trap(self, i: int, message: str, hint: str | None = None) -> MachineTrap:
        pc = 4 * i
        if i >= len(self.obj.text):
            # Past the end: point at the last instruction, which neither halts nor jumps.
            last = pc - 4
            msg = f"trap at pc {pc:#x}: {message}"
            if last >= 0:
                place = self.where(last)
                msg += (f", after the last instruction at pc {last:#x}"
                        + (f" <{place}>" if place else "") + f" ({self.instruction_text(last)})")
                hint = hint or "end the program with halt (or jump back)"
            return self._at_source(last, msg, hint)
        place = self.where(pc)
        head = f"trap at pc {pc:#x}" + (f" <{place}>" if place else "")
        msg = f"{head} ({self.instruction_text(pc)}): {message}"
        return self._at_source(pc, msg, hint)

    def _at_source(self, pc: int, msg: str, hint: str | None) -> MachineTrap:
        """A trap whose span is the source line of the instruction at ``pc``, when known."""
        src = self.source
        line = src.line_of_pc.get(pc) if src is not None else None
        if line is None:
            return MachineTrap(msg, hint=hint)
        text = src.source.text.splitlines()[line - 1]
        code = text.split("#", 1)[0].rstrip()
        col = len(code) - len(code.lstrip()) + 1
        span = SourceSpan(src.source.file, line, col, max(1, len(code.strip())))
        return MachineTrap(msg, span, source=src.source.text, hint=hint)

    def _by_category(self) -> dict[str, int]:
        by_cat = {c.value: 0 for c in Category}
        count_by_category(self._program, self._hits, by_cat)
        return by_cat

    @property
    def cost(self) -> CostReport:
        """Counts, energy and latency accumulated over every run of this machine (of every
        program it ran, after :meth:`switch`)."""
        by_cat = self._by_category()
        for k, v in self._before.items():
            by_cat[k] += v
        return self._counter.report(by_cat)

    def mnemonic_counts(self) -> dict[str, int]:
        """How often each mnemonic was executed, over every run."""
        out: dict[str, int] = {}
        for word, n in zip(self.obj.text, self._hits):
            if n:
                mn = decode(word).mnemonic
                out[mn] = out.get(mn, 0) + n
        return out

    def profile(self, top: int = 10) -> list[tuple[int, int, str]]:
        """The ``top`` most executed instructions: ``(pc, count, text)``."""
        ranked = sorted(((n, i) for i, n in enumerate(self._hits[:-1]) if n), reverse=True)
        return [(4 * i, n, self.instruction_text(4 * i)) for n, i in ranked[:top]]


class _IoPlan:
    """What every run of one program needs to know of its inputs and outputs, worked out once:
    the inputs by name, each one's word address and size (``words``), their word ranges in
    global memory (``spans``) and the range covering them all (``hull``)."""

    def __init__(self, obj: ObjectFile):
        self.obj = obj
        self.by_name = {t.name: t for t in obj.inputs}
        self.words = tuple((t.name, t.addr >> 2, t.nbytes >> 2) for t in obj.inputs)
        self.spans = tuple((0, a, a + n) for _, a, n in self.words)
        self.hull = ((0, min(s[1] for s in self.spans), max(s[2] for s in self.spans)),) \
            if self.spans else ()
        self._declared: dict[frozenset, dict[str, IOTensor]] = {}
        self._outputs: dict[tuple, tuple[IOTensor, ...]] = {}

    def declared(self, resident: frozenset[str]) -> dict[str, IOTensor]:
        """The inputs a run with ``resident`` inputs is given, by name."""
        d = self._declared.get(resident)
        if d is None:
            d = self._declared[resident] = {t.name: t for t in self.obj.inputs
                                            if t.name not in resident}
        return d

    def outputs(self, names: Collection[str]) -> tuple[IOTensor, ...]:
        """The outputs ``names``, in the program's order; an unknown name is an error."""
        key = (names,) if isinstance(names, str) else tuple(names)
        got = self._outputs.get(key)
        if got is None:
            have = {t.name for t in self.obj.outputs}
            bad = [n for n in key if n not in have]
            if bad:
                raise InputError(f"output '{bad[0]}' is not an output of the program; it "
                                 f"declares {_names(self.obj.outputs)}")
            got = self._outputs[key] = tuple(t for t in self.obj.outputs if t.name in key)
        return got


def _data_words(obj: ObjectFile) -> np.ndarray:
    """The ``.data`` section as the words :meth:`Machine._load` writes (read-only)."""
    data = obj.data
    if len(data) % 4:
        data = bytes(data) + bytes(-len(data) % 4)
    w = np.frombuffer(data, np.uint32)  # a view of the section where it is whole words
    w.flags.writeable = False
    return w


def _names(tensors: tuple[IOTensor, ...]) -> str:
    return ", ".join(f"'{t.name}' {_shape(t.shape)}" for t in tensors) or "no inputs"
