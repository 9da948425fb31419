"""Where the tasks of a sweep run: an executor (``concurrent.futures.Executor``) per backend.

* ``local``: ``--workers 1`` runs in this process; more workers are a ``ProcessPoolExecutor``
  of spawned processes (spawned, not forked: the parent has onnxruntime and BLAS threads).
* ``dask``: the executor of a ``dask.distributed.Client`` connected to ``--scheduler ADDRESS``
  (a running Dask cluster; its workers need imcc installed and read the model file at the path
  the client gives). Only the client writes the results file, so resuming works the same way;
  a worker that dies has its tasks run again by the scheduler on the others
  (:mod:`imcc.explore.engine` says what a lost task does). Dask is not a dependency of the
  core: install ``distributed`` (the ``cluster`` extra).

Any other engine with a ``concurrent.futures``-style executor plugs in the same way (for Ray,
``ray.util.ActorPool`` or ``ray.util.multiprocessing.Pool`` wrap the same two task functions).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
from collections.abc import Iterator

from imcc.explore.engine import InlineExecutor
from isa.diagnostics import ConfigError

BACKENDS = ("local", "dask")
#: The loggers through which Dask's client reports the connections its own close cuts (a sweep
#: interrupted with Ctrl-C printed a tornado traceback for each).
_TEARDOWN_LOGGERS = ("tornado.application", "distributed")


class _ClientExecutor:
    """A Dask client's executor that can say when its client is gone (:meth:`gone`): Dask may
    leave a future of a task cut off with its scheduler pending for ever (its callback that
    would set it raises), so :mod:`imcc.explore.engine` asks while it waits."""

    def __init__(self, client) -> None:
        self._client = client
        self._ex = client.get_executor(pure=False)

    def submit(self, fn, *args, **kwargs) -> cf.Future:
        return self._ex.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self._ex.shutdown(wait=wait, **kwargs)

    def gone(self) -> bool:
        """Whether the client has closed (it could not reach its scheduler again)."""
        return self._client.status in ("closing", "closed")


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Only CRITICAL records of the loggers ``names`` while the block runs."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def executor(backend: str = "local", workers: int = 2,
             scheduler: str | None = None) -> Iterator[cf.Executor]:
    """An executor for ``backend``, shut down (pending tasks cancelled) on exit."""
    if backend == "local":
        if scheduler:
            raise ConfigError("--scheduler is for --backend dask")
        if workers <= 1:
            yield InlineExecutor()
            return
        ex = cf.ProcessPoolExecutor(max_workers=workers,
                                    mp_context=multiprocessing.get_context("spawn"))
        try:
            yield ex
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        return
    if backend == "dask":
        try:
            from dask.distributed import Client
        except ImportError:
            raise ConfigError("--backend dask needs dask.distributed",
                              hint="pip install distributed") from None
        if not scheduler:
            raise ConfigError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        try:
            client = Client(scheduler)
        except (OSError, ValueError) as e:  # no scheduler there, or not an address
            raise ConfigError(f"--scheduler {scheduler}: {str(e).splitlines()[0]}",
                              hint="start one with `dask scheduler` and give the address "
                                   "it prints (tcp://HOST:8786)") from None
        try:
            yield _ClientExecutor(client)
        finally:
            with _quiet(_TEARDOWN_LOGGERS):  # connections this close cuts are not errors
                client.close()
        return
    raise ConfigError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
