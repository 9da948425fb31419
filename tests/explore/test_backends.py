"""Executors: local worker processes and Dask give the same results as the in-process run
(``distributed`` comes with the test extra; a worker killed mid-sweep: test_dask.py)."""

import pytest

from imcc.compiler import CompileOptions
from imcc.explore.backends import executor
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.results import ResultStore

from .helpers import DIGITS, chip, digits, within_deadline


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
    assert within_deadline(lambda: evaluate(study, ITEMS, store, executor=ex)) == len(ITEMS)
    return {k: (r["accuracy"], r["energy_pj"], r["error"]) for k, r in store.records.items()}


def test_worker_processes_match_in_process(study):
    with executor("local", 1) as ex:
        inline = results(study, ex)
    with executor("local", 2) as ex:
        assert results(study, ex) == inline
    assert all(e is None for _, _, e in inline.values())


def test_dask_matches_in_process(study):
    import distributed

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


def test_no_scheduler_at_the_address_is_one_line():
    import dask

    from isa.diagnostics import ConfigError

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ConfigError, match=r"--scheduler tcp://127.0.0.1:9: .*connect") as e, \
            executor("dask", scheduler="tcp://127.0.0.1:9"):
        pass
    assert "dask scheduler" in e.value.hint


@pytest.mark.parametrize("case", ["missing", "changed"])
def test_a_worker_that_reads_another_model_file_fails_its_points(study, tmp_path, case):
    """Workers read the model at the client's path; a missing or different file there is the
    points' error, not a result of another model."""
    import dataclasses

    other = tmp_path / "linear.onnx"
    if case == "changed":
        other.write_bytes((DIGITS / "linear.onnx").read_bytes() + b"\0")
    s = dataclasses.replace(study, model=str(other))
    store = ResultStore(None)
    evaluate(s, ITEMS, store)
    errors = {r["error"] for r in store.records.values()}
    assert len(store.records) == len(ITEMS) and len(errors) == 1
    (error,) = errors
    assert error.startswith("compile: ") and str(other) in error
    assert ("cannot read the model" if case == "missing" else "not the model file") in error


class _Stranded:
    """An executor whose futures never finish and that is gone after its first submits (a
    Dask client cut from its scheduler may leave its futures so)."""

    def __init__(self):
        self.submitted, self.checks = 0, 0

    def submit(self, fn, *args):
        import concurrent.futures as cf

        self.submitted += 1
        return cf.Future()

    def gone(self) -> bool:
        self.checks += 1
        return self.checks > 1


def test_work_stranded_on_an_executor_that_is_gone_is_lost_not_waited_for(study):
    from isa.diagnostics import ToolchainError

    ex = _Stranded()
    with pytest.raises(ToolchainError, match=r"the executor lost 4 of 4 evaluations"):
        within_deadline(lambda: evaluate(study, ITEMS, ResultStore(None), executor=ex))
    assert ex.submitted == 1 and ex.checks == 2  # one compile for the 4 points; asked until gone
