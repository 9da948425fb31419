"""The bit-serial loop on the ``adc8`` chip (8-bit ADC, 1-bit DAC): the integer-product loop
(runtime/intcycles.py) against the float loop (runtime/bitserial.py's ``cycles_exact_block``),
and both against onnxruntime, in one process.

For each model one compiled ``adc8`` object (batch 1 unless ``--batch``; built with
bench_models.py's ``program`` worker into ``--workdir``, which must hold the model as
bench_models.py builds it) runs on two machines, one with the integer loop switched off; runs
alternate float loop, integer loop, onnxruntime (one thread each, as bench_models.py), and the
table gives medians of CPU time (``time.process_time``: steadier than wall time on a shared
machine) and wall time per inference, the per-run ratios to onnxruntime, the loop's speed-up
(float / integer, per pair) and whether the outputs are the same bits.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bitserial.py --workdir
DIR --models resnet50,mobilenet_v2 [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _object(args, model: str) -> Path:
    obj = Path(args.workdir) / f"{model}-adc8-b{args.batch}.imo"
    if not obj.exists():
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_models.py"), "--worker",
                        "program", "--workdir", args.workdir, "--model", model, "--mode",
                        "adc8", "--batch", str(args.batch), "--headroom", "1.25"], check=True,
                       capture_output=True)
    return obj


def _timed(f) -> tuple[float, float, object]:
    c, t = time.process_time(), time.perf_counter()
    out = f()
    return time.process_time() - c, time.perf_counter() - t, out


def bench(args, model: str) -> dict:
    import bench_models as bm
    import onnxruntime as ort

    from isa.objfile import read_object
    from runtime import intcycles
    from runtime.machine import Machine

    path = Path(args.workdir) / model / "model.onnx"
    chip = bm._chip(model, "adc8", 1.25)
    obj = read_object(_object(args, model))
    feeds = bm._inputs(path, args.batch, seed=0)
    m_in = {k: v.astype(np.float32) for k, v in feeds.items()}
    machines = {"float": Machine(chip, obj), "int": Machine(chip, obj)}
    usable = intcycles.usable

    def run(kind):
        intcycles.usable = usable if kind == "int" else (lambda *a: False)
        try:
            return machines[kind].run(m_in)
        finally:
            intcycles.usable = usable

    outs = {k: run(k) for k in machines}  # programs the arrays; not timed
    same = all(np.array_equal(outs["float"][n].view(np.uint32), outs["int"][n].view(np.uint32))
               for n in outs["int"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    cpu = {k: [] for k in ("float", "int", "ort")}
    wall = {k: [] for k in cpu}
    for _ in range(args.repeat):
        for k in ("float", "int"):
            c, w, out = _timed(lambda k=k: run(k))
            cpu[k].append(c)
            wall[k].append(w)
            same = same and all(np.array_equal(out[n].view(np.uint32),
                                               outs["float"][n].view(np.uint32)) for n in out)
        c, w, _ = _timed(lambda: sess.run(None, feeds))
        cpu["ort"].append(c)
        wall["ort"].append(w)

    def med(xs):
        return float(np.median(xs))

    return {"model": model, "same": same, "load": os.getloadavg()[0],
            **{f"{k}_cpu": med(v) for k, v in cpu.items()},
            **{f"{k}_wall": med(v) for k, v in wall.items()},
            "ratio_float": med([a / b for a, b in zip(cpu["float"], cpu["ort"])]),
            "ratio_int": med([a / b for a, b in zip(cpu["int"], cpu["ort"])]),
            "wall_ratio_float": med([a / b for a, b in zip(wall["float"], wall["ort"])]),
            "wall_ratio_int": med([a / b for a, b in zip(wall["int"], wall["ort"])]),
            "speedup": med([a / b for a, b in zip(cpu["float"], cpu["int"])])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--models", default="resnet50,mobilenet_v2")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}; CPU ms per inference (wall in brackets), medians of "
          f"{args.repeat} alternating runs; ratios to onnxruntime per run (CPU / wall)")
    print(f"{'model':13} {'float loop':>18} {'int loop':>18} {'ort':>16} {'float x':>13} "
          f"{'int x':>13} {'loop':>6}  bits")
    for model in args.models.split(","):
        r = bench(args, model)
        print(f"{model:13} {r['float_cpu'] * 1e3:8.1f} ({r['float_wall'] * 1e3:7.1f}) "
              f"{r['int_cpu'] * 1e3:8.1f} ({r['int_wall'] * 1e3:7.1f}) "
              f"{r['ort_cpu'] * 1e3:6.1f} ({r['ort_wall'] * 1e3:6.1f}) "
              f"{r['ratio_float']:5.1f}/{r['wall_ratio_float']:5.1f}x "
              f"{r['ratio_int']:5.1f}/{r['wall_ratio_int']:5.1f}x {r['speedup']:5.2f}x  "
              f"{'same' if r['same'] else 'DIFFER'} (load {r['load']:.1f})", flush=True)


if __name__ == "__main__":
    main()
