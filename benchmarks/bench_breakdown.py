"""Where an inference's time goes against the arithmetic floor (issue 26, target 5).

For each model and chip, in one process with one BLAS thread, CPU time (``time.process_time``:
on a machine shared with other work, wall time counts the time others take the core):

* ``run``: one inference of the interpreter (median of ``--repeat``);
* ``floor``: numpy's own ``matmul`` over the products the inference asks of its crossbar
  (``bench_models._Floor``: contiguous operands, the inputs and outputs in one buffer that stays
  in the caches, the cells from a 64 MiB pool);
* ``products``: every prepared MVM kernel of the inference called once on its real operands
  (the views into the machine's memory it multiplies in a run; on the quantized chips with the
  input quantization, behind a real ADC the whole DAC cycle loop), the same runs alternating;
* the run's CPU time by instruction mnemonic (each handler of the dispatcher timed; ``scalar``:
  the bound blocks of scalar register and CSR writes) and ``Memory.reset`` (at the start of a
  run), as shares of their sum; ``(quantize)``, the MVMs' input quantization, is part of the
  ``mvm`` share.

``run / floor`` is what ``bench_models.py`` prints as ``x floor`` (there in wall time);
``products / floor`` is how far the MVMs' own products are from it; the rest of ``run`` is the
program's other instructions and the MVMs' handling.

Run: ``python benchmarks/bench_breakdown.py --models mobilenet_v2,resnet50,bert-base --modes
signed,int8`` (built models and objects go to ``--workdir``, reused when given and present).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_models as bm


def _machine(args, model: str, mode: str):
    """A programmed machine for ``model`` on chip ``mode`` at batch 1 and its inputs."""
    from isa.objfile import read_object
    from runtime.machine import Machine

    ns = argparse.Namespace(workdir=args.workdir, model=model, mode=mode, batch=1,
                            headroom=args.headroom, layouts="external", rebuild=False)
    bm.work_build(ns)
    path = bm._object_path(ns)
    if not path.exists():
        bm.work_program(ns)
    obj = read_object(path)
    feeds = bm._inputs(Path(args.workdir) / model / "model.onnx", 1, seed=0)
    inputs = {k: v.astype(np.float32) for k, v in feeds.items()}
    m = Machine(bm._chip(model, mode, args.headroom), obj)
    m.run(inputs)
    return m, obj, inputs


def _products(m) -> list:
    """Calls of every prepared MVM kernel on its plan's views (the machine's memo)."""
    calls = []
    for key, plan in m.state.memo.items():
        if key[0] == "mvm" and plan and plan[12] is not None:
            calls.append((plan[12], plan[7], plan[8]))
    return calls


def _by_mnemonic(m, obj, inputs, repeat: int) -> dict[str, float]:
    """CPU seconds per inference by mnemonic ('scalar' for bound blocks of scalar writes),
    with '(quantize)' and '(reset)' timed inside."""
    import runtime.crossbar as cb
    from isa.encoding import DecodeError, decode

    clock, spent = time.process_time, defaultdict(float)
    names = []
    for word in obj.text:
        try:
            names.append(decode(word).mnemonic)
        except DecodeError:
            names.append("?")
    names.append("end")

    def timed(f, name):
        def g():
            t = clock()
            r = f()
            spent[name] += clock() - t
            return r
        return g

    def wrap(name, f):
        def g(*a, **kw):
            t = clock()
            r = f(*a, **kw)
            spent[name] += clock() - t
            return r
        return g

    dec, quantize, mem = m._program, cb.quantize, m.state.mem
    blocks = list(dec.blocks)
    dec.blocks[:] = [timed(b, names[i] if b is dec.handlers[i] else "scalar")
                     for i, b in enumerate(blocks)]
    cb.quantize = wrap("(quantize)", quantize)
    mem.reset = wrap("(reset)", mem.reset)
    try:
        for _ in range(repeat):
            m.run(inputs)
    finally:
        dec.blocks[:] = blocks
        cb.quantize = quantize
        del mem.reset
    return {k: v / repeat for k, v in spent.items()}


def breakdown(args, model: str, mode: str) -> dict:
    m, obj, inputs = _machine(args, model, mode)
    floor = bm._Floor(bm._record_products(m, inputs))
    m.run(inputs)  # plans prepared again
    calls = _products(m)
    clock = time.process_time
    runs, floors, prods = [], [], []
    for _ in range(args.repeat):
        t = clock()
        m.run(inputs)
        runs.append(clock() - t)
        t = clock()
        floor.run()
        floors.append(clock() - t)
        t = clock()
        for kernel, x, y in calls:
            kernel(x, y)
        prods.append(clock() - t)
    parts = _by_mnemonic(m, obj, inputs, args.repeat)
    return {"model": model, "mode": mode, "run_s": float(np.median(runs)),
            "floor_s": float(np.median(floors)), "products_s": float(np.median(prods)),
            "parts_s": parts}


def line(r: dict) -> str:
    run, parts = r["run_s"], r["parts_s"]
    whole = sum(v for k, v in parts.items() if k != "(quantize)")  # the timed run's parts
    mvm = sum(v for k, v in parts.items() if k.startswith("mvm"))
    rest = sorted(((v, k) for k, v in parts.items() if not k.startswith("mvm")), reverse=True)
    shown = " ".join(f"{k} {v / whole * 100:.0f}%" for v, k in rest if v >= 0.015 * whole)
    return (f"{r['model']:13s} {r['mode']:6s} {run * 1e3:8.1f}ms {r['floor_s'] * 1e3:8.1f}ms "
            f"{run / r['floor_s']:6.2f}x {r['products_s'] / r['floor_s']:7.2f}x   "
            f"mvm {mvm / whole * 100:.0f}%  {shown}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet50,bert-base")
    ap.add_argument("--modes", default="signed")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--headroom", type=float, default=1.25)
    ap.add_argument("--workdir", required=True, help="built models and objects (reused)")
    args = ap.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    print(f"{'model':13s} {'mode':6s} {'run CPU':>10s} {'floor':>10s} {'/floor':>7s} "
          f"{'products':>8s}   shares of the run (CPU)")
    for model in args.models.split(","):
        for mode in args.modes.split(","):
            print(line(breakdown(args, model, mode)), flush=True)


if __name__ == "__main__":
    main()
