"""The cost of float64 sums on the lossless float path (``accumulate="float64"``,
runtime/widesums.py) against the default float32 sums, and both against onnxruntime.

Each model of ``imcc.models.suite`` named is built and compiled for the ``float`` chip (the
``ideal`` preset sized for it, resource priority, batch 1) as ``bench_models.py`` does; then, in
one process, one machine per accumulation is programmed by an untimed run, and float32 runs,
float64 runs and onnxruntime runs alternate ``--repeat`` times (one BLAS thread on every side).
The table gives the medians per inference, the median of the per-round ratios float64 /
float32 (the cost of the option) and each against onnxruntime, and the largest difference of
the two machines' outputs relative to the largest output.

Run: ``python benchmarks/bench_accumulate.py`` (ResNet-50 and MobileNetV2, about 5 minutes on
the 2-core machine of docs/performance.md), ``--models resnet50``, ``--repeat 5``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH = ROOT / "benchmarks" / "bench_models.py"


def _worker(kind: str, workdir: Path, **kw) -> dict:
    cmd = [sys.executable, str(BENCH), "--worker", kind, "--workdir", str(workdir)]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode:
        raise SystemExit(f"{kind} {kw}: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def measure(model: str, workdir: Path, repeat: int) -> dict:
    import onnxruntime as ort

    from benchmarks.bench_models import _chip, _inputs, _object_path
    from isa.objfile import read_object
    from runtime.machine import Machine
    from runtime.xpcrossbar import make_crossbar

    job = argparse.Namespace(workdir=workdir, model=model, mode="float", batch=1)
    chip = _chip(model, "float", 1.25)
    obj = read_object(_object_path(job))
    path = workdir / model / "model.onnx"
    feeds = _inputs(path, 1, seed=0)
    m_in = {k: v.astype(np.float32) for k, v in feeds.items()}
    machines = {a: Machine(chip, obj, crossbar=make_crossbar("numpy", chip, accumulate=a))
                for a in ("float32", "float64")}
    outs = {a: m.run(m_in) for a, m in machines.items()}  # programs the arrays; untimed
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess.run(None, feeds)
    times: dict[str, list[float]] = {"float32": [], "float64": [], "ort": []}
    for _ in range(repeat):
        for a, m in machines.items():
            t = time.perf_counter()
            m.run(m_in)
            times[a].append(time.perf_counter() - t)
        t = time.perf_counter()
        sess.run(None, feeds)
        times["ort"].append(time.perf_counter() - t)
    a, b, o = (np.array(times[k]) for k in ("float32", "float64", "ort"))
    diff = max(float(np.abs(outs["float64"][n].astype(np.float64) - outs["float32"][n]).max()
                     / max(float(np.abs(outs["float32"][n]).max()), 1e-30))
               for n in outs["float32"])
    return {"model": model, "f32_s": float(np.median(a)), "f64_s": float(np.median(b)),
            "ort_s": float(np.median(o)), "f64_over_f32": float(np.median(b / a)),
            "f32_over_ort": float(np.median(a / o)), "f64_over_ort": float(np.median(b / o)),
            "rel_diff": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet50,mobilenet_v2")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="imcc-acc-"))
    rows = []
    try:
        for model in args.models.split(","):
            _worker("build", workdir, model=model)
            _worker("program", workdir, model=model, mode="float", batch=1)
            rows.append(measure(model, workdir, args.repeat))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average at the end)")
    print("| model | float32 sums | float64 sums | onnxruntime | float64 / float32 | "
          "float32 / ort | float64 / ort | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['f32_s'] * 1e3:.1f} ms | {r['f64_s'] * 1e3:.1f} ms | "
              f"{r['ort_s'] * 1e3:.1f} ms | {r['f64_over_f32']:.2f}x | "
              f"{r['f32_over_ort']:.2f}x | {r['f64_over_ort']:.2f}x | {r['rel_diff']:.1e} |")


if __name__ == "__main__":
    main()
