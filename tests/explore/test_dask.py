"""``--backend dask`` on a ``distributed.LocalCluster`` of two worker processes: a worker killed
in the middle of a sweep loses no evaluation and repeats none (the scheduler runs its task again
on the other worker; the client alone writes the results file), and a sweep whose client is
interrupted continues where it stopped. Every wait has a deadline: a lost task fails the test
instead of hanging it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import distributed
import numpy as np
import pytest

from imcc.compiler import CompileOptions
from imcc.explore.backends import executor
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.results import ResultStore

from .helpers import DEADLINE_S, chip, gemm_model, within_deadline

SAMPLES = 2000  # about 0.1 s per run on the tiny model: a sweep lasts long enough to be hit
SWEEP = ("adc_bits", (4, 5, 6, 7, 8, 9)), ("nonideal.program_noise", (0.0, 0.02))
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as c, distributed.Client(c) as client:
        yield c, client


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The model and its data (inputs ``x``, labels ``y``, calibration first)."""
    d = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(5)
    model = gemm_model(d / "g.onnx", rng.standard_normal((24, 6)), rng.standard_normal(6))
    x = rng.standard_normal((SAMPLES + 10, 24)).astype(np.float32)
    y = rng.integers(0, 6, SAMPLES + 10)
    np.savez(d / "d.npz", x=x, y=y)
    return model, x, y


@pytest.fixture(scope="module")
def study(files):
    model, x, y = files
    data = make_dataset(model, {"input": x}, y, calib=10)
    return Study.make(model, chip("rram", name="small"), None,
                      CompileOptions(batch=8, priority="resource", workers=1), None, data)


def items():
    (a, av), (n, nv) = SWEEP
    return [(Point(((a, x), (n, z))), s) for x in av for z in nv for s in SEEDS]


@pytest.fixture(scope="module")
def inline(study):
    """The oracle: every evaluation in this process, one after another."""
    store = ResultStore(None)
    evaluate(study, items(), store)
    return store.records


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def complete_lines(path):
    out = []
    for x in path.read_text().splitlines():
        try:
            out.append(json.loads(x))
        except ValueError:
            pass
    return out


def same_results(recs, inline):
    assert len(recs) == len(inline) and {r["key"] for r in recs} == set(inline)
    for r in recs:
        want = inline[r["key"]]
        assert r["error"] is None and want["error"] is None
        assert (r["accuracy"], r["energy_pj"], r["latency_ns"]) == \
            (want["accuracy"], want["energy_pj"], want["latency_ns"])
        assert r["rel_error"] == pytest.approx(want["rel_error"], rel=1e-5, abs=1e-9)


def test_a_worker_killed_mid_sweep_loses_and_repeats_nothing(cluster, study, inline, tmp_path):
    c, client = cluster
    client.wait_for_workers(2, timeout=DEADLINE_S)
    pids = client.run(os.getpid)
    killed: dict = {}

    def kill_a_busy_worker(p) -> None:
        if killed:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            busy = {a: keys for a, keys in client.processing().items() if keys and a in pids}
            if busy:
                addr, keys = next(iter(busy.items()))
                os.kill(pids[addr], signal.SIGKILL)
                killed.update(addr=addr, keys=keys, done=p.done)
                return
            time.sleep(0.01)

    f = tmp_path / "r.jsonl"
    store = ResultStore(f)

    def sweep():
        with executor("dask", scheduler=c.scheduler_address) as ex:
            return evaluate(study, items(), store, executor=ex, progress=kill_a_busy_worker)

    try:
        assert within_deadline(sweep) == len(items())
    finally:
        store.close()
    # the kill hit a worker that held work, with most of the sweep still to come
    assert killed and killed["keys"] and killed["done"] < len(items()) // 2, killed
    same_results(lines(f), inline)  # every evaluation once, as if nothing had happened


def test_an_interrupted_dask_sweep_resumes(cluster, files, tmp_path):
    c, client = cluster
    client.wait_for_workers(2, timeout=DEADLINE_S)
    model, _, _ = files
    (a, av), (_, nv) = SWEEP
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "imcc", "explore", str(model), "--data",
           str(model.with_name("d.npz")), "--input-key", "x", "--label-key", "y",
           "--calib-samples", "10", "--chip", "rram", "--batch", "8",
           "--sweep", f"{a}={','.join(map(str, av))}", "--sweep", f"noise={','.join(map(str, nv))}",
           "--seeds", str(len(SEEDS)), "--backend", "dask", "--scheduler", c.scheduler_address,
           "-o", str(out)]
    jsonl = out.with_name("k.jsonl")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and p.poll() is None:
            if jsonl.exists() and jsonl.read_text().count("\n") >= 4:
                break
            time.sleep(0.02)
        assert p.poll() is None, p.communicate()
        p.send_signal(signal.SIGINT)  # Ctrl-C: the client cancels its tasks and stops
        _, err = p.communicate(timeout=DEADLINE_S)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    done = len(complete_lines(jsonl))  # a line cut short by the interrupt is dropped
    total = len(av) * len(nv) * len(SEEDS)
    assert 4 <= done < total
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE_S, check=False)
    assert r.returncode == 0, r.stderr
    recs = lines(jsonl)
    assert len(recs) == total and len({x["key"] for x in recs}) == total
    assert all(x["error"] is None for x in recs)
    assert f"({total - done} evaluated now, {done} from {jsonl})" in r.stdout


def test_a_scheduler_that_goes_away_stops_the_sweep_and_a_rerun_finishes(study, inline,
                                                                         tmp_path):
    """The client's tasks are cancelled: no record is written for them, the sweep stops with one
    line, and the same sweep on another cluster evaluates only what is missing."""
    from isa.diagnostics import ToolchainError

    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    c = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 dashboard_address=":0")
    closing: list = []

    def close_the_cluster(p) -> None:
        if p.done == 2 and not closing:
            closing.append(threading.Thread(target=c.close, daemon=True))
            closing[0].start()

    def sweep():
        with executor("dask", scheduler=c.scheduler_address) as ex:
            return evaluate(study, items(), store, executor=ex, progress=close_the_cluster)

    try:
        with pytest.raises(ToolchainError, match="the executor lost") as e:
            within_deadline(sweep)
    finally:
        store.close()
        c.close()
    kept = len(lines(f))
    assert 2 <= kept < len(items())
    assert f"lost {len(items()) - kept} of {len(items())}" in e.value.message
    with distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                                  dashboard_address=":0") as c2:
        store = ResultStore(f)
        try:
            with executor("dask", scheduler=c2.scheduler_address) as ex:
                assert within_deadline(lambda: evaluate(study, items(), store, executor=ex)) \
                    == len(items()) - kept
        finally:
            store.close()
    same_results(lines(f), inline)
