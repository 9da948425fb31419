"""Results stream to a JSONL file; a rerun skips every (point, seed) already there, a run cut
short (even in the middle of writing a line) continues, and a failing point is recorded without
stopping the sweep."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import imcc.explore.engine as engine
from imcc.compiler import CompileOptions
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.results import ResultStore, summarize

from .helpers import DIGITS, chip, gemm_model, within_deadline

SEEDS = (0, 1)


@pytest.fixture()
def study(tmp_path):
    rng = np.random.default_rng(3)
    path = gemm_model(tmp_path / "g.onnx", rng.standard_normal((24, 6)), rng.standard_normal(6))
    x = rng.standard_normal((40, 24)).astype(np.float32)
    data = make_dataset(path, {"input": x}, rng.integers(0, 6, 40), calib=10)
    base = chip("rram", name="small")
    return Study.make(path, base, None, CompileOptions(batch=8, priority="resource", workers=1),
                      None, data)


def points():
    return [Point((("adc_bits", a), ("nonideal.program_noise", n)))
            for a in (4, 5, 6) for n in (0.0, 0.05)]


def items():
    return [(p, s) for p in points() for s in SEEDS]


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_rerun_does_no_work(study, tmp_path, monkeypatch):
    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    assert evaluate(study, items(), store) == 12
    store.close()
    before = f.read_bytes()
    assert len(lines(f)) == 12 and len({r["key"] for r in lines(f)}) == 12

    def boom(*a, **k):
        raise AssertionError("nothing should be compiled or run")

    monkeypatch.setattr(engine, "compile_point", boom)
    monkeypatch.setattr(engine, "run_point", boom)
    store = ResultStore(f)
    assert evaluate(study, items(), store) == 0
    store.close()
    assert f.read_bytes() == before
    sums = summarize(study.fingerprint, points(), SEEDS, store)
    assert all(s.seeds == 2 and not s.errors for s in sums)


def test_a_run_cut_short_continues_where_it_stopped(study, tmp_path):
    full = ResultStore(None)
    evaluate(study, items(), full)
    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    evaluate(study, items()[:5], store)
    store.close()
    blob = f.read_bytes()
    half = json.dumps(next(iter(full.records.values())))[:40].encode()
    f.write_bytes(blob + half)  # a kill in the middle of writing the sixth line
    store = ResultStore(f)
    assert f.read_bytes() == blob  # the partial line is dropped
    assert evaluate(study, items(), store) == 7
    store.close()
    recs = lines(f)
    assert len(recs) == 12 and len({r["key"] for r in recs}) == 12
    for r in recs:  # the same results as one uninterrupted run (every draw is seeded)
        want = full.records[r["key"]]
        assert (r["accuracy"], r["rel_error"], r["energy_pj"]) == \
            (want["accuracy"], want["rel_error"], want["energy_pj"])


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(study, tmp_path):
    pts = [Point((("cell_bits", 12),)),  # not a valid chip: cell_bits <= 11
           Point((("tiles", 1), ("arrays_per_tile", 1), ("rows", 8), ("cols", 8))),  # no fit
           Point((("adc_bits", 6),))]
    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    assert evaluate(study, [(p, 0) for p in pts], store) == 3
    store.close()
    bad_chip, no_fit, ok = summarize(study.fingerprint, pts, (0,), ResultStore(f))
    assert "cell_bits = 12" in bad_chip.errors[0]
    assert no_fit.errors and no_fit.errors[0].startswith("compile:")
    assert ok.seeds == 1 and not ok.errors and ok.accuracy is not None
    # errors count as done unless asked to retry
    store = ResultStore(f)
    assert evaluate(study, [(p, 0) for p in pts], store) == 0
    assert evaluate(study, [(p, 0) for p in pts], store, retry_errors=True) == 2
    store.close()


def test_a_file_of_something_else_is_refused(tmp_path, study):
    f = tmp_path / "r.jsonl"
    f.write_text('{"a": 1}\n{"b": 2}\n')
    with pytest.raises(Exception, match="not an imcc explore record"):
        ResultStore(f)


def test_killed_command_resumes(tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "imcc", "explore", str(DIGITS / "linear.onnx"), "--data",
           f"{DIGITS / 'test.npz'}:x", "--label-key", "y", "--chip", "ideal-int8",
           "--sweep", "cell_bits=2", "--sweep", "noise=0..0.2:0.01", "--seeds", "2",
           "--workers", "1", "-o", str(out)]
    jsonl = out.with_name("k.jsonl")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        if jsonl.exists() and jsonl.read_text().count("\n") >= 4:
            break
        time.sleep(0.05)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = len([x for x in jsonl.read_bytes().split(b"\n") if x.strip()])
    assert 4 <= done < 42
    assert not out.with_name("k.csv").exists()  # summaries are written at the end only
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env={**os.environ})
    assert r.returncode == 0, r.stderr
    recs = lines(jsonl)
    assert len(recs) == 42 and len({x["key"] for x in recs}) == 42
    assert "21 points x 2 seeds" in r.stdout
    assert f"from {jsonl}" in r.stdout
    evaluated_now = int(r.stdout.split("(")[1].split(" evaluated now")[0])
    assert evaluated_now == 42 - done or evaluated_now == 42 - done + 1  # a cut line is redone
    assert out.with_name("k.csv").read_text().count("\n") == 22


class Losing(engine.InlineExecutor):
    """Runs tasks in this process, but loses the run tasks whose number is in ``lose`` (a
    future cancelled outside the sweep, as a Dask client that lost its scheduler sees) and
    breaks (``BrokenExecutor`` on submit, as a pool whose worker died) from task ``broken``."""

    def __init__(self, lose=(), broken=None):
        self.lose, self.broken, self.runs = set(lose), broken, 0

    def submit(self, fn, /, *args, **kwargs):
        if fn is engine._run_task:
            self.runs += 1
            if self.broken is not None and self.runs >= self.broken:
                raise engine.cf.BrokenExecutor("a worker died")
            if self.runs in self.lose:
                f = engine.cf.Future()
                f.cancel()
                return f
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("ex", [Losing(lose=(3, 7)), Losing(broken=10)],
                         ids=["cancelled", "broken"])
def test_lost_work_is_not_a_result_and_a_rerun_does_it(study, tmp_path, ex):
    from isa.diagnostics import ToolchainError

    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    with pytest.raises(ToolchainError, match=r"lost (2|3) of 12 evaluations") as e:
        evaluate(study, items(), store, executor=ex)
    store.close()
    assert "run the same command again" in e.value.hint
    recs = lines(f)
    lost = 12 - len(recs)
    assert lost == (2 if ex.lose else 3) and all(r["error"] is None for r in recs)
    assert f"the {len(recs)} finished are kept (in {f})" in e.value.message
    store = ResultStore(f)
    assert evaluate(study, items(), store) == lost
    store.close()
    assert len(lines(f)) == 12 and len({r["key"] for r in lines(f)}) == 12


def test_a_local_worker_killed_mid_sweep_stops_the_sweep_and_a_rerun_finishes(study, tmp_path):
    """``--workers 2``: a worker process that dies breaks the pool; what finished is kept."""
    from imcc.explore.backends import executor
    from isa.diagnostics import ToolchainError

    f = tmp_path / "r.jsonl"
    store = ResultStore(f)
    with pytest.raises(ToolchainError, match="lost"), executor("local", 2) as ex:
        def kill_one(p):
            if p.done == 1:
                os.kill(next(iter(ex._processes)), signal.SIGKILL)
        within_deadline(lambda: evaluate(study, items(), store, executor=ex, progress=kill_one))
    store.close()
    kept = len(lines(f))
    assert 1 <= kept < 12
    store = ResultStore(f)
    assert evaluate(study, items(), store) == 12 - kept
    store.close()
    assert len(lines(f)) == 12 and len({r["key"] for r in lines(f)}) == 12


def test_an_exception_of_dasks_own_bridge_is_lost_work_and_a_tasks_is_its_error():
    """As its scheduler goes away, Dask's ``distributed/cfexecutor.py`` can fail unpacking a
    lost task's result (``ValueError: too many values to unpack``) instead of cancelling the
    future: lost work, not the point's result. A task's own exception, which Dask re-raises
    through the same module, ends in the task's frames and stays the point's error."""
    import concurrent.futures as cf

    from imcc.explore.engine import _lost

    def raised(code: str, filename: str) -> BaseException:
        try:
            exec(compile(code, filename, "exec"), {})
        except BaseException as e:  # noqa: BLE001 - the exception is the value under test
            return e
        raise AssertionError("nothing raised")

    bridge = "/site-packages/distributed/cfexecutor.py"
    f = cf.Future()
    assert _lost(f, raised("typ, exc, tb = ('lost',)", bridge))
    task = raised("def task():\n    raise ValueError('bad point')\ntask()\n", "/work/point.py")
    assert not _lost(f, task)
    assert not _lost(f, raised("raise ValueError('x')", "/site-packages/imcc/cfexecutor.py"))
