"""Run a set of (point, seed) evaluations on an executor, streaming records to a store.

Work is two kinds of task: *compile* (one per :func:`~imcc.explore.evaluate.compile_key` among
the points not yet done) and *run* (one per point and seed, submitted as soon as its program is
compiled). Any :class:`concurrent.futures.Executor` runs them: :class:`InlineExecutor` in this
process, a ``ProcessPoolExecutor`` for local workers, or a cluster engine's executor (see
:mod:`imcc.explore.backends`). Records are appended to the store in completion order; a task
that raises becomes an error record for its points and the sweep goes on.
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
    ex = executor or InlineExecutor()
    fp = study_key(study, data, tag)
    todo = [(p, s) for p, s in dict.fromkeys(items)
            if not store.done(result_key(fp, p, s), retry_errors)]
    if not todo:
        return 0
    by_ck: dict[str, list[tuple[Point, int]]] = {}
    for p, s in todo:
        by_ck.setdefault(compile_key_or_error(study, p), []).append((p, s))
    state = {"compiled": 0, "done": 0, "errors": 0}

    def record(p: Point, s: int, result: dict | None, error: str | None) -> None:
        rec = {"schema": SCHEMA, "key": result_key(fp, p, s), "study": fp,
               "point": p.to_json(), "seed": s, "error": error}
        if result is not None:
            rec.update(result)
        store.append(rec)
        state["done"] += 1
        state["errors"] += error is not None
        if progress is not None:
            progress(Progress(state["compiled"], len(by_ck), state["done"], len(todo),
                              state["errors"], p.label()))

    pending: dict[cf.Future, tuple] = {}

    def submit(info: tuple, fn, *args) -> None:
        f = ex.submit(fn, *args)
        if f.done():  # an in-process executor: record at once, so a kill loses nothing
            finish(f, info)
        else:
            pending[f] = info

    def finish(f: cf.Future, info: tuple) -> None:
        if info[0] == "compile":
            _, group = info
            state["compiled"] += 1
            try:
                compiled = f.result()
            except Exception as e:  # noqa: BLE001 (recorded for the points, the sweep goes on)
                for p, s in group:
                    record(p, s, None, "compile: " + _message(e))
                return
            for p, s in group:
                submit(("run", p, s), _run_task, study, p, s, compiled, data)
        else:
            _, p, s = info
            try:
                result = f.result()
            except Exception as e:  # noqa: BLE001
                record(p, s, None, _message(e))
            else:
                record(p, s, result, None)

    for ck, group in by_ck.items():
        if ck.startswith("!"):  # the point's chip or precision is invalid
            state["compiled"] += 1
            for p, s in group:
                record(p, s, None, ck[1:])
            continue
        submit(("compile", group), _compile_task, study, group[0][0])
    try:
        while pending:
            finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for f in finished:
                finish(f, pending.pop(f))
    except BaseException:
        for f in pending:
            f.cancel()
        raise
    return len(todo)


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
