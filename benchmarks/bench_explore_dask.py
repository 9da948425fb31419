"""How much a second Dask worker speeds up a sweep: the same 24-point ``imcc explore`` sweep
(the digits CNN on ``rram``: adc_bits 5..10 x program noise 0, 0.01, 0.02, 0.05, one seed; six
compiles, 24 runs of the 439 evaluation images at batch 128) on a ``distributed.LocalCluster``
of one worker process, then of two (one thread each, in that order, in one run of this script).

Each cluster is started and its workers import imcc before the clock starts; the time is that
of :func:`imcc.explore.engine.evaluate` alone, as ``imcc explore --backend dask`` spends it. The
two sweeps must give the same results (checked). The ratio is bounded by the CPU cores this
machine gives the workers: read it with the core count, the load average and the CPU time the
workers got (printed with it). With ``--repeat N`` the cluster sizes alternate, so a change of
load hits both.

Run: ``python benchmarks/bench_explore_dask.py [--repeat N]`` (needs ``distributed``, the
``cluster`` extra).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import distributed
import numpy as np

from imcc.compiler import CompileOptions
from imcc.explore.backends import executor
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.results import ResultStore
from runtime.config import preset

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "samples" / "digits" / "cnn.onnx"
ADC_BITS = (5, 6, 7, 8, 9, 10)
NOISE = (0.0, 0.01, 0.02, 0.05)


def study() -> Study:
    d = np.load(ROOT / "samples" / "digits" / "test.npz", allow_pickle=False)
    data = make_dataset(MODEL, {"input": d["x_img"].astype(np.float32)}, d["y"], calib=100)
    return Study.make(MODEL, preset("rram"), None,
                      CompileOptions(batch=128, priority="resource", workers=1), None, data)


def items() -> list[tuple[Point, int]]:
    return [(Point((("adc_bits", a), ("nonideal.program_noise", n))), 0)
            for a in ADC_BITS for n in NOISE]


def sweep(s: Study, workers: int) -> tuple[float, float, dict]:
    """Seconds of one sweep on a fresh cluster of ``workers`` processes, the CPU seconds its
    workers spent in it, and its results."""
    with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as c, distributed.Client(c) as client:
        client.wait_for_workers(workers, timeout=120)
        client.run(lambda: __import__("imcc.explore.engine") and None)  # imports off the clock
        with executor("dask", scheduler=c.scheduler_address) as ex:
            store = ResultStore(None)
            cpu = client.run(time.process_time)
            t = time.perf_counter()
            n = evaluate(s, items(), store, executor=ex)
            seconds = time.perf_counter() - t
            cpu = sum(client.run(time.process_time).values()) - sum(cpu.values())
    assert n == len(items())
    return seconds, cpu, {k: (r["error"], r["accuracy"], r["energy_pj"])
                          for k, r in store.records.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of (1 worker, 2 workers), alternating; the best of each kept")
    args = ap.parse_args()
    s = study()
    print(f"{len(items())}-point sweep of {MODEL.name} ({s.data.size} images per point), "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start")
    best: dict[int, float] = {}
    results: dict[int, dict] = {}
    for _ in range(args.repeat):
        for workers in (1, 2):
            t, cpu, results[workers] = sweep(s, workers)
            best[workers] = min(best.get(workers, t), t)
            print(f"  {workers} worker(s): {t:.2f} s, the workers used {cpu:.2f} CPU s "
                  f"({cpu / t:.2f} cores on average; load average {os.getloadavg()[0]:.2f})")
    assert results[1] == results[2], "the two clusters gave different results"
    assert all(e is None for e, _, _ in results[1].values())
    print(f"speed-up of 2 workers over 1: {best[1] / best[2]:.2f}x")


if __name__ == "__main__":
    main()
