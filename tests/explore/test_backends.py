"""Executors: local worker processes and Dask give the same results as the in-process run.
The Dask test runs only where ``distributed`` is installed (it is not a dependency)."""

import pytest

from imcc.compiler import CompileOptions
from imcc.explore.backends import executor
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.results import ResultStore

from .helpers import DIGITS, chip, digits


@pytest.fixture(scope="module")
def study():
    x, y = digits("x")
    model = DIGITS / "linear.onnx"
    data = make_dataset(model, {"input": x[:228]}, y[:228], calib=100)
    return Study.make(model, chip("rram", name="r"), None,
                      CompileOptions(batch=64, priority="resource", workers=1), None, data)


ITEMS = [(Point((("nonideal.program_noise", n),)), s) for n in (0.0, 0.05) for s in (0, 1)]


def results(study, ex):
    store = ResultStore(None)
    assert evaluate(study, ITEMS, store, executor=ex) == len(ITEMS)
    return {k: (r["accuracy"], r["energy_pj"], r["error"]) for k, r in store.records.items()}


def test_worker_processes_match_in_process(study):
    with executor("local", 1) as ex:
        inline = results(study, ex)
    with executor("local", 2) as ex:
        assert results(study, ex) == inline
    assert all(e is None for _, _, e in inline.values())


def test_dask_matches_in_process(study):
    distributed = pytest.importorskip("distributed")
    with executor("local", 1) as ex:
        inline = results(study, ex)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as c:
        with executor("dask", scheduler=c.scheduler_address) as ex:
            assert results(study, ex) == inline


def test_backend_errors():
    from isa.diagnostics import ConfigError

    with pytest.raises(ConfigError, match="--scheduler is for --backend dask"):
        with executor("local", 2, "tcp://x:1"):
            pass
    with pytest.raises(ConfigError, match="unknown backend"):
        with executor("ray", 2):
            pass
