"""Run a set of (point, seed) evaluations on an executor, streaming records to a store.

Work is two kinds of task: *compile* (one per :func:`~imcc.explore.evaluate.compile_key` among
the points not yet done) and *run* (one per point and seed, submitted as soon as its program is
compiled). Any :class:`concurrent.futures.Executor` runs them: :class:`InlineExecutor` in this
process, a ``ProcessPoolExecutor`` for local workers, or a cluster engine's executor (see
:mod:`imcc.explore.backends`). Records are appended to the store in completion order; a task
that raises becomes an error record for its points and the sweep goes on.

A task the executor *loses* is not a result of its points: a future cancelled outside the sweep
(a Dask client that lost its scheduler), or a broken pool (a local worker process killed). No
record is written for it; the sweep finishes the tasks it still has and then stops with one
:class:`~isa.diagnostics.ToolchainError` line, so a rerun evaluates exactly the missing keys. A
Dask worker that dies is not a loss: the scheduler runs its tasks again on the other workers
(a task that kills ``distributed.scheduler.allowed-failures`` + 1 workers, 4 by default, fails
with ``KilledWorker``: recorded as the point's error, like any task that raises).
"""

from __future__ import annotations

import concurrent.futures as cf
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from imcc.explore.data import Dataset
from imcc.explore.evaluate import (
    SCHEMA,
    Point,
    Study,
    compile_key,
    compile_point,
    result_key,
    run_point,
)
from imcc.explore.results import ResultStore


class InlineExecutor(cf.Executor):
    """Runs each task at submission, in this process (``--workers 1``, tests, debugging)."""

    def submit(self, fn, /, *args, **kwargs):
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 (handed to the caller through the future)
            if isinstance(e, KeyboardInterrupt):
                raise
            f.set_exception(e)
        return f


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives."""

    compiled: int
    to_compile: int
    done: int
    total: int
    errors: int
    last: str  # label of the last point finished


def _message(e: BaseException) -> str:
    from isa.diagnostics import ToolchainError

    if isinstance(e, ToolchainError):
        return str(e).splitlines()[0]
    tb = traceback.extract_tb(e.__traceback__)
    where = f" ({tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{where}".splitlines()[0]


def _lost(f: cf.Future, e: BaseException) -> bool:
    """Whether a failed future is work the executor lost rather than the point's error: a
    cancelled future, a broken pool, or an exception raised by Dask's own bridge to
    ``concurrent.futures`` (``distributed/cfexecutor.py``, which, as its scheduler goes away,
    can fail unpacking a lost task's result instead of cancelling it; a task's own exception
    passes through that module with the task's frames after it)."""
    if f.cancelled() or isinstance(e, (cf.CancelledError, cf.BrokenExecutor)):
        return True
    tb = traceback.extract_tb(e.__traceback__)
    return bool(tb) and tb[-1].filename.replace("\\", "/").endswith("distributed/cfexecutor.py")


def _compile_task(study: Study, point: Point):
    return compile_point(study, point)


def _run_task(study: Study, point: Point, seed: int, compiled, data: Dataset | None):
    return run_point(study, point, seed, compiled, data)


def evaluate(study: Study, items: list[tuple[Point, int]], store: ResultStore, *,
             executor: cf.Executor | None = None, data: Dataset | None = None,
             tag: str = "", retry_errors: bool = False,
             progress: Callable[[Progress], None] | None = None) -> int:
    """Evaluate every ``(point, seed)`` of ``items`` whose key the store lacks; returns the
    number evaluated. ``data`` replaces the study's evaluation part (its fingerprint and
    ``tag`` then enter the keys: the auto search scores on a search split)."""
    fp = study_key(study, data, tag)
    todo = [(p, s) for p, s in dict.fromkeys(items)
            if not store.done(result_key(fp, p, s), retry_errors)]
    if not todo:
        return 0
    by_ck: dict[str, list[tuple[Point, int]]] = {}
    for p, s in todo:
        by_ck.setdefault(compile_key_or_error(study, p), []).append((p, s))
    run = _Sweep(study, data, fp, store, executor or InlineExecutor(), len(by_ck), len(todo),
                 progress)
    for ck, group in by_ck.items():
        if ck.startswith("!"):  # the point's chip or precision is invalid
            run.compiled += 1
            for p, s in group:
                run.record(p, s, None, ck[1:])
            continue
        run.submit(("compile", group), _compile_task, study, group[0][0])
    run.drain()
    if run.lost:
        from isa.diagnostics import ToolchainError

        where = "" if store.path is None else f" (in {store.path})"
        raise ToolchainError(
            f"the executor lost {run.lost} of {len(todo)} evaluations (its worker pool broke "
            f"or its cluster went away); the {run.done} finished are kept{where}",
            hint="run the same command again: it evaluates only the missing ones")
    return len(todo)


class _Sweep:
    """The tasks of one :func:`evaluate` call in flight, and the records they become."""

    def __init__(self, study: Study, data: Dataset | None, fp: str, store: ResultStore,
                 ex: cf.Executor, to_compile: int, total: int,
                 progress: Callable[[Progress], None] | None):
        self.study, self.data, self.fp, self.store, self.ex = study, data, fp, store, ex
        self.to_compile, self.total, self.progress = to_compile, total, progress
        self.compiled = self.done = self.errors = self.lost = 0
        self.pending: dict[cf.Future, tuple] = {}

    def record(self, p: Point, s: int, result: dict | None, error: str | None) -> None:
        rec = {"schema": SCHEMA, "key": result_key(self.fp, p, s), "study": self.fp,
               "point": p.to_json(), "seed": s, "error": error}
        if result is not None:
            rec.update(result)
        self.store.append(rec)
        self.done += 1
        self.errors += error is not None
        if self.progress is not None:
            self.progress(Progress(self.compiled, self.to_compile, self.done, self.total,
                                   self.errors, p.label()))

    def submit(self, info: tuple, fn, *args) -> None:
        try:
            f = self.ex.submit(fn, *args)
        except cf.BrokenExecutor:
            self.lost += 1 if info[0] == "run" else len(info[1])
            return
        if f.done():  # an in-process executor: record at once, so a kill loses nothing
            self.finish(f, info)
        else:
            self.pending[f] = info

    def finish(self, f: cf.Future, info: tuple) -> None:
        points = info[1] if info[0] == "compile" else [info[1:]]
        self.compiled += info[0] == "compile"
        try:
            result = f.result()
        except Exception as e:  # noqa: BLE001 (recorded for the points, the sweep goes on)
            if _lost(f, e):
                self.lost += len(points)
                return
            prefix = "compile: " if info[0] == "compile" else ""
            for p, s in points:
                self.record(p, s, None, prefix + _message(e))
            return
        if info[0] == "run":
            self.record(info[1], info[2], result, None)
            return
        for p, s in points:
            self.submit(("run", p, s), _run_task, self.study, p, s, result, self.data)

    def drain(self) -> None:
        """Wait for every task (and the run tasks that compiled programs start). An executor
        with ``gone()`` (backends: a Dask client's) is asked every second while nothing
        finishes: once it is gone, what is still pending is lost."""
        gone = getattr(self.ex, "gone", None)
        try:
            while self.pending:
                finished, _ = cf.wait(list(self.pending), timeout=None if gone is None else 1.0,
                                      return_when=cf.FIRST_COMPLETED)
                if not finished and gone():
                    for f, info in self.pending.items():
                        f.cancel()
                        self.lost += len(info[1]) if info[0] == "compile" else 1
                    self.pending.clear()
                    return
                for f in finished:
                    self.finish(f, self.pending.pop(f))
        except BaseException:
            for f in self.pending:
                f.cancel()
            raise


def compile_key_or_error(study: Study, point: Point) -> str:
    """The compile key, or ``"!message"`` when the point's chip or precision is invalid."""
    from isa.diagnostics import ToolchainError

    try:
        return compile_key(study, point)
    except ToolchainError as e:
        return "!" + _message(e)


def study_key(study: Study, data: Dataset | None = None, tag: str = "") -> str:
    """The study fingerprint that enters result keys (with a replacement evaluation set)."""
    if data is None and not tag:
        return study.fingerprint
    import hashlib

    extra = "" if data is None else data.fingerprint
    return hashlib.sha256(f"{study.fingerprint}|{tag}|{extra}".encode()).hexdigest()[:16]
