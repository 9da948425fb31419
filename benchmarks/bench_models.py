"""Full-size models: compile time and memory, and interpreter speed against onnxruntime.

The six models of the seed paper's Table I and MobileNetV2
(``imcc.models.suite``: AlexNet, VGG-16, ResNet-50, MobileNetV2, DenseNet-121, BERT-base with a
padding mask, GPT-2 medium with its causal mask; seeded random weights) are built once and
saved with external data, as large PyTorch exports are. Then, each step in a fresh process so
that its peak memory is its own:

* **compile**: each model for the ideal chips (``--compile-modes``: ``float`` the differential
  ``ideal``, ``signed`` the ``ideal-signed``) under both priorities, with its weights in an
  external-data file or (``--layouts external,embedded``) inside the ``.onnx``; wall and CPU
  time, the packing stage separately, and the peak resident memory of the process as a
  multiple of the model's weight bytes (the process's memory before compiling is printed too);
  ``--stage-memory`` also samples the resident memory every 2 ms and prints its peak during
  each stage of each compile (loading, canonicalizing, packing, calibrating, quantizing,
  generating, assembling);
* **run**: each model, chip mode and batch size is compiled (resource priority; one process)
  and run (another): the machine is programmed by one untimed run, then one imcc run and one
  onnxruntime run of the same model and inputs alternate ``--repeat`` times; the table gives
  the medians per inference, the median of the per-pair ratios, the largest difference of the
  outputs, ``max |imcc - ort| / max |ort|`` over all outputs (rounding on the float chip,
  quantization error on the others), and the memory of the machine process after programming
  (before onnxruntime loads the model).

Modes (chips sized for each model, ``imcc.models.suite.chip_overrides``):

* ``float``: the ``ideal`` chip, float32 cells and ideal converters: the lossless float path;
* ``signed``: ``ideal-signed``, the same with signed float cells (one column per weight instead
  of a differential pair): the lossless float path with half the crossbar work;
* ``int8``: ``ideal-int8``, 8-bit weights, cells and inputs, ideal ADC: lossless integer MVMs;
* ``adc8``: ``ideal-int8`` with a 1-bit DAC and an 8-bit ADC: 7 or 8 bit-serial cycles per MVM.

Targets (issues 8 and 26): ResNet-50 compiles in under 60 s, GPT-2 medium in 10 s on ``ideal``;
peak compile memory within 2x the weight bytes; lossless interpretation within 3x of onnxruntime
for the CNNs and 5x for the transformers; 8-bit-ADC bit-serial interpretation within 20x.

The arithmetic floor: the run records the matrix products one inference asks of the crossbar
(one per MVM: vectors x rows x output columns, after a ``sablk`` shift-and-add the crossbar
does with combined cells) and times numpy's own ``matmul`` over them (float32, contiguous,
preallocated outputs) in the same alternation; ``x floor`` is the median per-run ratio of the
interpreter's time to that, target 1.3x for the lossless modes. The ``adc8`` row's floor is the
same one product per MVM (its chip multiplies 7 or 8 bit planes), for reference.

BLAS kernels: the first line of the output names the OpenBLAS kernels in use (OpenBLAS picks
them from the CPU, or from ``OPENBLAS_CORETYPE`` when that is set).

Crossbar backends: ``--backends numpy,cupy`` runs each model on one machine per backend in the
same process (CuPy on an NVIDIA GPU; docs/runtime.md, "Crossbar backends") and adds a table of
the other backends against the first: time per inference, speedup, the share of each run spent in
the crossbar's ``mvm`` (transfers included), and the largest difference of the outputs.
``numpy-full`` is the numpy crossbar with every region's full product (no grouped blocks in the
bit-serial loop, no depthwise diagonals on lossless integer MVMs): ``--backends
numpy-full,numpy`` times those paths against the full products in one run (diff 0: the same
bits).

Threads: ``--threads T`` (default 1) sets the BLAS threads of the worker processes
(``OPENBLAS_NUM_THREADS`` and friends, read when numpy loads) and onnxruntime's intra-op
threads, the same for both sides. One thread gives steady ratios on a machine shared with other
work; multi-threaded matrix products suffer most when a core is taken.

Run: ``python benchmarks/bench_models.py`` (all seven models, four modes, batches 1 and 8;
about 30 minutes on the 2-core machine of docs/performance.md), ``--quick`` (ResNet-50,
MobileNetV2 and BERT-base at batch 1; about 4 minutes), or choose with
``--models resnet50,bert-base``, ``--modes float``, ``--batches 1``, ``--skip-compile``,
``--skip-run``, ``--json out.json``. Needs onnxruntime (``pip install -e '.[bench]'``) and about
10 GB of memory for GPT-2 medium (``--models`` with ``gpt2`` for GPT-2 small instead).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODES = ("float", "signed", "int8", "adc8")
TARGETS = {("float", "cnn"): 3.0, ("signed", "cnn"): 3.0, ("int8", "cnn"): 3.0,
           ("adc8", "cnn"): 20.0, ("float", "transformer"): 5.0, ("signed", "transformer"): 5.0,
           ("int8", "transformer"): 5.0, ("adc8", "transformer"): 20.0}
#: Lossless runs (every mode but adc8) within this multiple of numpy's matmul over the same
#: products (the "x floor" column; issue 26)
FLOOR_TARGET = 1.3
_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# ---- helpers shared by the workers ---------------------------------------------------------------


def _rss_now() -> int:
    """Current resident memory of this process in bytes (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _rss_peak() -> int:
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _chip(model: str, mode: str, headroom: float):
    from imcc.models.suite import BY_NAME, chip_overrides
    from runtime.config import config_from_dict, preset

    over = chip_overrides(BY_NAME[model], headroom=headroom)
    if mode in ("float", "signed"):
        base = preset("ideal" if mode == "float" else "ideal-signed").to_dict()
    else:
        base = preset("ideal-int8").to_dict()
        if mode == "adc8":
            over |= {"dac_bits": 1, "adc_bits": 8}
    return config_from_dict(base | over | {"name": f"{mode}-{model}"}, f"{mode} chip")


def _inputs(model_path: Path, batch: int, seed: int) -> dict[str, np.ndarray]:
    import onnx

    from imcc.models.suite import sample_inputs

    return sample_inputs(onnx.load(model_path, load_external_data=False), batch, seed)


# ---- workers (each runs in its own process) ------------------------------------------------------


def _model_dir(args, layout: str = "external") -> Path:
    return Path(args.workdir) / (args.model + ("-embedded" if layout == "embedded" else ""))


def work_build(args) -> dict:
    """Build the model and save it with external data (and with ``--layouts embedded``, a copy
    with its weights inside the ``.onnx``, as PyTorch writes models under 2 GB). A model
    already built in the work folder (its ``built.json``) is reused unless ``--rebuild``."""
    from imcc.models.suite import BY_NAME, save, weight_bytes

    folder, record = _model_dir(args), _model_dir(args) / "built.json"
    layouts = args.layouts.split(",")
    embedded = _model_dir(args, "embedded") / "model.onnx"
    if record.exists() and not args.rebuild and ("embedded" not in layouts or embedded.exists()):
        return json.loads(record.read_text())
    model = BY_NAME[args.model].model("full")
    nbytes = weight_bytes(model)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    record.unlink(missing_ok=True)
    (folder / "model.data").unlink(missing_ok=True)  # onnx.save appends to a data file
    if "embedded" in layouts:
        save(model, embedded.parent, external=False)
    save(model, folder)
    out = {"weight_bytes": nbytes, "params": params}
    record.write_text(json.dumps(out))
    return out


#: The compiler's stages as its progress messages name them (their first word), in order
STAGES = ("loading", "canonicalizing", "packing", "calibrating", "quantizing", "generating",
          "assembling")


class _StagePeaks:
    """The largest resident memory seen during each compile stage (``--stage-memory``): a
    thread reads it every 2 ms; a progress message that names a stage (:data:`STAGES`) starts
    it, others (the packer's) belong to the stage they come in."""

    def __init__(self) -> None:
        import threading

        self.stage, self.peaks = "imports", {"imports": _rss_now()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.note(_rss_now())

    def note(self, rss: int) -> None:
        self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), rss)

    def progress(self, msg: str) -> None:
        word = (msg.split() or [""])[0]
        if word in STAGES:
            self.note(_rss_now())
            self.stage = word
        self.note(_rss_now())

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        self.note(_rss_now())
        return self.peaks


def work_compile(args) -> dict:
    from imcc.compiler import CompileOptions, compile_model

    path = _model_dir(args, args.layout) / "model.onnx"
    chip = _chip(args.model, args.mode, args.headroom)
    before = _rss_now()
    stages: dict[str, int] = {}
    sampler = _StagePeaks() if args.stage_memory else None

    def progress(msg: str) -> None:
        stages[msg.split()[0]] = _rss_now()
        if sampler is not None:
            sampler.progress(msg)

    t, c = time.perf_counter(), time.process_time()
    res = compile_model(path, chip, options=CompileOptions(priority=args.priority),
                        progress=progress)
    total, cpu = time.perf_counter() - t, time.process_time() - c
    r = res.report
    out = {"total_s": total, "cpu_s": cpu, "times_s": r["times_s"],
           "arrays_used": r["arrays_used"], "lower_bound": r["lower_bound"],
           "arrays_available": r["arrays_available"], "rss_before": before,
           "rss_peak": _rss_peak(), "rss_at_stage": stages,
           "instructions": r["instructions"], "blob_bytes": r["weight_bytes"]}
    if sampler is not None:
        out["rss_peak_in_stage"] = sampler.stop()
    return out


def _object_path(args) -> Path:
    return Path(args.workdir) / f"{args.model}-{args.mode}-b{args.batch}.imo"


def work_program(args) -> dict:
    """Compile a model for a run (resource priority, batch ``args.batch``) into an object."""
    from imcc.compiler import CompileOptions, compile_model
    from isa.objfile import write_object

    path = Path(args.workdir) / args.model / "model.onnx"
    chip = _chip(args.model, args.mode, args.headroom)
    calib = _inputs(path, 8, seed=1)
    t = time.perf_counter()
    res = compile_model(path, chip, calib={k: v.astype(np.float32) for k, v in calib.items()},
                        options=CompileOptions(priority="resource", batch=args.batch))
    write_object(res.obj, _object_path(args))
    return {"compile_s": time.perf_counter() - t}


def work_run(args) -> dict:
    """Program the machine with one untimed run, then alternate imcc and onnxruntime runs (with
    ``--backends numpy,cupy``, one machine per crossbar backend, each run in turn)."""
    import onnxruntime as ort

    from isa.objfile import read_object
    from runtime.machine import Machine
    from runtime.xpcrossbar import device_name

    path = Path(args.workdir) / args.model / "model.onnx"
    chip = _chip(args.model, args.mode, args.headroom)
    obj = read_object(_object_path(args))
    feeds = _inputs(path, args.batch, seed=0)
    m_in = {k: v.astype(np.float32) for k, v in feeds.items()}
    backends = args.backends.split(",")
    machines = {b: Machine(chip, obj, crossbar=_crossbar(b, chip)) for b in backends}
    machine = machines[backends[0]]
    in_mvm = {b: _time_mvms(m.xbar) for b, m in machines.items()}
    del obj
    first_s, outs = {}, {}
    for b, m in machines.items():
        t = time.perf_counter()
        outs[b] = m.run(m_in)  # programs the arrays; not timed
        first_s[b] = time.perf_counter() - t
    out = outs[backends[0]]
    rss_machine = _rss_now()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ref = sess.run(None, feeds)
    names = [o.name for o in sess.get_outputs()]
    err = max(float(np.abs(out[n].astype(np.float64) - r).max() / max(np.abs(r).max(), 1e-30))
              for n, r in zip(names, ref))
    floor = _Floor(_record_products(machine, m_in))
    machine.run(m_in)  # plans prepared again, untimed
    times: dict[str, list[float]] = {b: [] for b in (*backends, "ort", "floor")}
    for t in in_mvm.values():
        t[0] = 0.0
    for _ in range(args.repeat):
        for b, m in machines.items():
            t = time.perf_counter()
            m.run(m_in)
            times[b].append(time.perf_counter() - t)
        t = time.perf_counter()
        sess.run(None, feeds)
        times["ort"].append(time.perf_counter() - t)
        t = time.perf_counter()
        floor.run()
        times["floor"].append(time.perf_counter() - t)
    t_imcc, t_ort, t_floor = times[backends[0]], times["ort"], times["floor"]
    ratios = [a / b for a, b in zip(t_imcc, t_ort)]
    res = {"first_run_s": first_s[backends[0]], "imcc_s": float(np.median(t_imcc)),
           "ort_s": float(np.median(t_ort)), "ratio": float(np.median(ratios)),
           "ratios": ratios, "max_rel_err": err, "rss_machine": rss_machine,
           "floor_s": float(np.median(t_floor)), "products": len(floor.shapes),
           "floor_gflop": floor.flops / 1e9,
           "floor_ratio": float(np.median([a / f for a, f in zip(t_imcc, t_floor)])),
           "mvms": machine.cost.mvms // machine.runs,
           "instructions": machine.cost.instructions // machine.runs}
    for b in backends[1:]:  # the other backends against the first, pair by pair
        diff = max(float(np.abs(outs[b][n].astype(np.float64) - out[n]).max()
                         / max(np.abs(out[n]).max(), 1e-30)) for n in out)
        res["backends"] = res.get("backends", {}) | {b: {
            "device": device_name(machines[b].xbar), "s": float(np.median(times[b])),
            "first_run_s": first_s[b], "rel_diff": diff,
            "speedup": float(np.median([a / c for a, c in zip(t_imcc, times[b])])),
            "ratio": float(np.median([c / o for c, o in zip(times[b], t_ort)])),
            "mvm_share": in_mvm[b][0] / sum(times[b]),
            "numpy_mvm_share": in_mvm[backends[0]][0] / sum(t_imcc)}}
    return res


def _crossbar(backend: str, chip):
    """The crossbar of ``--backends`` name ``backend``: ``numpy-full`` is the numpy reference
    without its grouped and depthwise products (every region's full product, as
    ``NumpyCrossbar(grouped=False)``), for timing those paths against it in one run."""
    from runtime.crossbar import NumpyCrossbar
    from runtime.xpcrossbar import make_crossbar

    if backend == "numpy-full":
        return NumpyCrossbar(chip, grouped=False)
    return make_crossbar(backend, chip)


class _Tap:
    """A crossbar kernel that records the product of each call as ``(m, k, n)``; ``n`` is the
    kernel's output width, or ``width`` where given (the region's columns, for the cycle loop,
    which multiplies them all before shift-and-adding its ``sablk`` blocks)."""

    def __init__(self, inner, shapes: list, width: int | None = None):
        self.inner, self.shapes, self.width = inner, shapes, width

    def __call__(self, x, out):
        y = self.inner(x, out)
        self.shapes.append((x.shape[0], x.shape[1], self.width or y.shape[1]))
        return y


class _ExactTap(_Tap):
    """:class:`_Tap` for a kernel with ``quantize`` and ``product`` halves."""

    def quantize(self, x):
        return self.inner.quantize(x)

    def product(self, q, out):
        y = self.inner.product(q, out)
        self.shapes.append((q.shape[0], q.shape[1], self.width or y.shape[1]))
        return y


def _record_products(machine, inputs) -> list[tuple[int, int, int]]:
    """The matrix products ``(m, k, n)`` one run of ``machine`` asks of its crossbar, one per
    MVM: ``m`` vectors of ``k`` inputs on ``n`` output columns (after the ``sablk``
    shift-and-add where the crossbar combines the blocks). Run with the crossbar's entry points
    wrapped and the machine's prepared MVMs dropped before and after (they hold kernels: the
    memo's plans, and the calls the bound instructions keep while their array's version
    stands)."""
    xbar, shapes = machine.xbar, []
    names = ("kernel", "mvm", "mvm_combined")
    inner = {n: getattr(xbar, n) for n in names}
    own = {n: xbar.__dict__[n] for n in names if n in xbar.__dict__}  # e.g. _time_mvms's

    def kernel(array, row, col, h, w, p, coef=None):
        f = inner["kernel"](array, row, col, h, w, p, coef)
        if f is None:
            return None
        loop = type(f).__name__ == "CyclesKernel"  # all w columns, as mvm's would be
        return (_ExactTap if hasattr(f, "quantize") else _Tap)(f, shapes, w if loop else None)

    def mvm(array, row, col, h, w, x, p, out=None):
        shapes.append((x.shape[0], h, w))
        return inner["mvm"](array, row, col, h, w, x, p, out)

    def mvm_combined(array, row, col, h, w, x, p, coef, out=None):
        y = inner["mvm_combined"](array, row, col, h, w, x, p, coef, out)
        if y is not None:
            shapes.append((x.shape[0], h, y.shape[1]))
        return y

    def forget() -> None:  # the plans and the calls the bound MVMs keep, by array version
        machine.state.memo.clear()
        for a in list(xbar.versions):
            xbar.versions[a] += 1

    xbar.kernel, xbar.mvm, xbar.mvm_combined = kernel, mvm, mvm_combined
    forget()
    try:
        machine.run(inputs)
    finally:
        for n in names:
            if n in own:
                setattr(xbar, n, own[n])
            else:
                delattr(xbar, n)  # the class's method again
        forget()
    return shapes


class _Floor:
    """numpy's own ``matmul`` over a run's products (:func:`_record_products`): float32
    operands, row-major and contiguous, the results into a preallocated output; each product's
    right operand starts where the last one ended in a 64 MiB pool (as the crossbar's cells
    lie in many arrays, not in one cache-resident block). What a numpy interpreter that only
    multiplied would take: the floor of this one."""

    POOL = 1 << 24  # float32 elements of right operands

    def __init__(self, shapes: list[tuple[int, int, int]]):
        self.shapes = shapes
        self.flops = sum(2 * m * k * n for m, k, n in shapes)
        rng = np.random.default_rng(0)
        big = max((m * k for m, k, _ in shapes), default=1)
        self.a = rng.standard_normal(big, dtype=np.float32)
        kn = max((k * n for _, k, n in shapes), default=1)
        self.b = rng.standard_normal(max(self.POOL, kn), dtype=np.float32)
        self.c = np.empty(max((m * n for m, _, n in shapes), default=1), np.float32)
        self.ops = []
        off = 0
        for m, k, n in shapes:
            if off + k * n > self.b.size:
                off = 0
            self.ops.append((self.a[: m * k].reshape(m, k), self.b[off : off + k * n].reshape(k, n),
                             self.c[: m * n].reshape(m, n)))
            off += k * n

    def run(self) -> None:
        mm = np.matmul
        for a, b, c in self.ops:
            mm(a, b, out=c)


def _time_mvms(xbar) -> list[float]:
    """Wrap ``xbar.mvm`` to add its wall time to the returned one-element list."""
    spent, inner = [0.0], xbar.mvm

    def timed(*a, **kw):
        t = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            spent[0] += time.perf_counter() - t

    xbar.mvm = timed
    return spent


WORKERS = {"build": work_build, "compile": work_compile, "program": work_program,
           "run": work_run}


def _spawn(kind: str, args, **kw) -> dict:
    """Run worker ``kind`` in a fresh Python process; its JSON result, or ``{"error": ...}``."""
    cmd = [sys.executable, __file__, "--worker", kind, "--workdir", str(args.workdir),
           "--threads", str(args.threads), "--repeat", str(args.repeat),
           "--headroom", str(args.headroom), "--backends", args.backends,
           "--layouts", args.layouts, *(["--rebuild"] if args.rebuild else []),
           *(["--stage-memory"] if args.stage_memory else [])]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    env = dict(os.environ, **{k: str(args.threads) for k in _BLAS_ENV})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- the driver --------------------------------------------------------------------------------


def _machine_text(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f"{info[0]['internal_api']} {info[0]['version']} ({info[0]['architecture']})"
    except ImportError:
        pass
    import onnxruntime

    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy "
            f"{np.__version__}, BLAS {blas}, onnxruntime {onnxruntime.__version__}; "
            f"{threads} thread(s) for BLAS and onnxruntime")


def _mib(b: float) -> str:
    return f"{b / 2**20:.0f}"


_LAYOUT_WORDS = {"external": "data file", "embedded": ".onnx"}


def compile_table(rows: list[dict]) -> str:
    head = (f"{'model':<13} {'mode':<6} {'priority':<10} {'weights in':<10} {'params':>7} "
            f"{'weights':>8} "
            f"{'arrays':>11} "
            f"{'compile':>8} {'CPU':>6} {'pack':>6} {'quant':>6} {'asm':>6} {'peak RSS':>9} "
            f"{'x weights':>9} {'growth':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<13} {r['mode']:<6} {r['priority']:<10} error: "
                         f"{r['error']}")
            continue
        ts = r["times_s"]
        lines.append(
            f"{r['model']:<13} {r['mode']:<6} {r['priority']:<10} "
            f"{_LAYOUT_WORDS[r.get('layout', 'external')]:<10} {r['params'] / 1e6:6.1f}M "
            f"{_mib(r['weight_bytes']):>5} MiB {r['arrays_used']:>5}/{r['lower_bound']:<5} "
            f"{r['total_s']:7.1f}s {r.get('cpu_s', 0):5.1f}s {ts.get('pack', 0):5.1f}s "
            f"{ts.get('quantize', 0):5.1f}s "
            f"{ts.get('assemble', 0):5.1f}s {_mib(r['rss_peak']):>5} MiB "
            f"{r['rss_peak'] / r['weight_bytes']:8.2f}x "
            f"{(r['rss_peak'] - r['rss_before']) / r['weight_bytes']:6.2f}x")
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    """``--stage-memory``: each compile's peak resident memory during each stage, in MiB."""
    head = (f"{'model':<13} {'mode':<6} {'priority':<10} {'weights in':<10} {'imports':>8} "
            + " ".join(f"{s[:9]:>9}" for s in STAGES))
    lines = [head, "-" * len(head)]
    for r in rows:
        peaks = r.get("rss_peak_in_stage")
        if not peaks:
            continue
        lines.append(f"{r['model']:<13} {r['mode']:<6} {r['priority']:<10} "
                     f"{_LAYOUT_WORDS[r.get('layout', 'external')]:<10} "
                     f"{_mib(peaks['imports']):>8} "
                     + " ".join(f"{_mib(peaks[s]) if s in peaks else '-':>9}" for s in STAGES))
    return "\n".join(lines)


def run_table(rows: list[dict]) -> str:
    head = (f"{'model':<13} {'mode':<6} {'batch':>5} {'imcc/inf':>9} {'ort/inf':>9} "
            f"{'ratio':>7} {'target':>7} {'floor/inf':>9} {'x floor':>8} {'err':>11} "
            f"{'MVMs':>6} {'machine':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:<13} {r['mode']:<6} {r['batch']:>5} error: {r['error']}")
            continue
        b = r["batch"]
        ok = "ok" if r["ratio"] <= r["target"] else "MISS"
        fl = r["floor_ratio"]
        fok = "" if r["mode"] == "adc8" else "ok" if fl <= FLOOR_TARGET else "MISS"
        lines.append(
            f"{r['model']:<13} {r['mode']:<6} {b:>5} {r['imcc_s'] / b * 1e3:7.1f}ms "
            f"{r['ort_s'] / b * 1e3:7.1f}ms {r['ratio']:6.1f}x {r['target']:5.0f}x {ok:<4}"
            f"{r['floor_s'] / b * 1e3:7.1f}ms {fl:6.2f}x {fok:<4} "
            f"{r['max_rel_err']:7.1e} {r['mvms']:>6} {_mib(r['rss_machine']):>5} MiB")
    return "\n".join(lines)


def backend_table(rows: list[dict]) -> str:
    """The crossbar backends beyond the first (``--backends``) against it, per inference."""
    head = (f"{'model':<13} {'mode':<6} {'batch':>5} {'backend':<8} {'numpy/inf':>10} "
            f"{'mvm':>4} {'it/inf':>9} {'mvm':>4} {'speedup':>8} {'vs ort':>7} {'diff':>9}  "
            "device")
    lines = [head, "-" * len(head)]
    for r in rows:
        for b, v in r.get("backends", {}).items():
            n = r["batch"]
            lines.append(
                f"{r['model']:<13} {r['mode']:<6} {n:>5} {b:<8} {r['imcc_s'] / n * 1e3:8.1f}ms "
                f"{v['numpy_mvm_share']:4.0%} {v['s'] / n * 1e3:7.1f}ms {v['mvm_share']:4.0%} "
                f"{v['speedup']:7.1f}x {v['ratio']:6.1f}x "
                f"{v['rel_diff']:9.1e}  {v['device']}")
    return "\n".join(lines)


def main() -> None:
    from imcc.models.suite import BY_NAME, TABLE_I

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(m.name for m in TABLE_I),
                    help=f"comma-separated, from {', '.join(BY_NAME)}")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--priorities", default="resource,efficiency",
                    help="priorities of the compile table")
    ap.add_argument("--compile-modes", default="float,signed",
                    help="chips of the compile table (float: ideal, signed: ideal-signed)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--headroom", type=float, default=1.25,
                    help="chip arrays as a multiple of what the model needs")
    ap.add_argument("--backends", default="numpy",
                    help="crossbar backends of the run table, comma-separated (numpy, cupy, "
                         "numpy-full: numpy without grouped or depthwise products); the first "
                         "is compared with onnxruntime, the others with the first")
    ap.add_argument("--skip-compile", action="store_true", help="no compile table")
    ap.add_argument("--skip-run", action="store_true", help="no interpreter table")
    ap.add_argument("--workdir", default=None,
                    help="keep the built models here (and reuse those built before)")
    ap.add_argument("--rebuild", action="store_true",
                    help="build the models again even where --workdir holds them")
    ap.add_argument("--layouts", default="external",
                    help="where the weights sit for the compile table, comma-separated: "
                         "external (an external-data file), embedded (inside the .onnx)")
    ap.add_argument("--layout", default="external", help=argparse.SUPPRESS)
    ap.add_argument("--stage-memory", action="store_true",
                    help="also sample each compile's resident memory every 2 ms and print its "
                         "peak during each stage")
    ap.add_argument("--json", default=None, help="also write every measurement here")
    ap.add_argument("--quick", action="store_true",
                    help="ResNet-50, MobileNetV2 and BERT-base at batch 1, resource priority")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--priority", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return

    if args.quick:
        args.models, args.batches, args.priorities = "resnet50,mobilenet_v2,bert-base", "1", \
            "resource"
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in BY_NAME]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}; choose from {', '.join(BY_NAME)}")
    keep = args.workdir is not None
    args.workdir = Path(args.workdir or tempfile.mkdtemp(prefix="imcc-bench-"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {_machine_text(args.threads)}", flush=True)
    built, compiles, runs = {}, [], []
    try:
        for name in models:
            t = time.perf_counter()
            built[name] = _spawn("build", args, model=name)
            print(f"built {name} in {time.perf_counter() - t:.0f} s", flush=True)
        if not args.skip_compile:
            for name in models:
                for mode, prio, layout in itertools.product(
                        args.compile_modes.split(","), args.priorities.split(","),
                        args.layouts.split(",")):
                    r = _spawn("compile", args, model=name, priority=prio, mode=mode,
                               layout=layout)
                    compiles.append({"model": name, "priority": prio, "mode": mode,
                                     "layout": layout, **built[name], **r})
                    print(compile_table(compiles[-1:]).splitlines()[-1], flush=True)
        if not args.skip_run:
            for name in models:
                for mode in args.modes.split(","):
                    for batch in (int(b) for b in args.batches.split(",")):
                        job = {"model": name, "mode": mode, "batch": batch}
                        r = _spawn("program", args, **job)
                        if "error" not in r:
                            r |= _spawn("run", args, **job)
                        # up to 1 GB per object (VGG-16's float32 pairs): keep one at a time
                        _object_path(argparse.Namespace(workdir=args.workdir, **job)).unlink(
                            missing_ok=True)
                        target = TARGETS[(mode, BY_NAME[name].kind)]
                        runs.append({"model": name, "mode": mode, "batch": batch,
                                     "target": target, **r})
                        print(run_table(runs[-1:]).splitlines()[-1], flush=True)
                        for line in backend_table(runs[-1:]).splitlines()[2:]:
                            print(line, flush=True)
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"\nmachine: {_machine_text(args.threads)}")
    if compiles:
        print("\ncompile (ideal chips; arrays used / lower bound; peak RSS of the compiling "
              "process, as a multiple of the weight bytes, and its growth during the compile "
              "over the memory of the process before it)\n" + compile_table(compiles))
        if args.stage_memory:
            print("\npeak resident memory of each compile during each stage (MiB; imports: "
                  "the process before compiling)\n" + stage_table(compiles))
    if runs:
        print("\ninterpreter vs onnxruntime, per inference (medians of "
              f"{args.repeat} alternating runs; ratio = median of the per-pair ratios)\n"
              + run_table(runs))
        if any("backends" in r for r in runs):
            print(f"\ncrossbar backends against {args.backends.split(',')[0]} (same machine "
                  "programs and inputs; speedup and ratio to onnxruntime are medians of the "
                  "per-run ratios; mvm = share of the run time spent in the crossbar's mvm, "
                  "transfers included; diff = max |out - first's| / max |first's|)\n"
                  + backend_table(runs))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": _machine_text(args.threads),
                                               "compile": compiles, "run": runs}, indent=1))


if __name__ == "__main__":
    main()
