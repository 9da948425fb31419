"""ONNX's backend test suite (``onnx.backend.test.BackendTest``) against :mod:`imcc.backend`.

onnx builds the node cases in memory from the case definitions its wheel ships (each one's
data drawn after ``numpy.random.seed(0)``, so every session sees the same inputs); the
``simple``, ``pytorch-converted`` and ``pytorch-operator`` cases are read from the wheel's
data folder. Every case either passes (the runner compares each output with onnx's expected
values: shape, dtype, ``rtol``/``atol``) or is listed in ``expected_failures.py`` with its
reason, where conftest.py marks it ``xfail(strict=True, raises=imcc.Error)``: a listed case
that passes fails the run (take it off the list), and a listed case that fails in any other
way than a clear refusal (a wrong result, an internal error) fails it too.

CI speed: the packer gets 0.1 s and one worker (a node case has at most a few tiles, packed
optimally well within that) and the compile report's cost estimate is never asked for. The
model-zoo cases (``OnnxBackendRealModelTest``) are left out: each is a full-size network run
through the interpreter and onnx's reference evaluator (minutes). ``python -m
tests.backend.survey`` prints the counts by reason.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import onnx.backend.test

from imcc.backend import ImccBackend
from isa.diagnostics import ToolchainError


class FastBackend(ImccBackend):
    """:class:`imcc.backend.ImccBackend` with the CI's fast compile settings."""

    @classmethod
    def prepare(cls, model, device="CPU", **options):
        options.setdefault("time_limit", 0.1)
        options.setdefault("workers", 1)
        return super().prepare(model, device, **options)


def _refusal_without_frames(test):
    """``test``, raising an :data:`imcc.Error` without the frames it went through: its message
    says why, and pytest then reports each expected refusal in a millisecond instead of
    formatting the source of a dozen frames (half a minute over the suite)."""

    @functools.wraps(test)
    def run(self):
        try:
            test(self)
        except ToolchainError as e:
            raise e.with_traceback(None) from None

    return run


with warnings.catch_warnings(), np.errstate(all="ignore"):
    warnings.simplefilter("ignore")  # onnx's case definitions overflow casts on purpose
    backend_test = onnx.backend.test.BackendTest(FastBackend, __name__)
for _case in backend_test.test_cases.values():
    for _name in [n for n in vars(_case) if n.startswith("test_")]:
        setattr(_case, _name, _refusal_without_frames(getattr(_case, _name)))
    globals()[_case.__name__] = _case
del _case, _name
