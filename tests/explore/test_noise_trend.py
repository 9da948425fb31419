"""Accuracy falls as device noise grows: a monotone trend of the mean over seeds.

The digits softmax regression on a chip with 2-bit cells (the 8-bit weights are sliced over four
cell pairs) and no noise but the swept programming noise. Each level is run with eight seeds.
Tolerance: a seed gives one accuracy on 439 images; over k seeds the mean has standard error
``s / sqrt(k)`` (``s`` the sample std over seeds). A step from one noise level to the next may
rise by at most two combined standard errors (about a 95 % band for the difference of two means),
so sampling noise cannot fail the test, while a flat or rising curve cannot pass it: the first
and last levels must also differ by more than five combined standard errors."""

import math

import pytest

from imcc.compiler import CompileOptions
from imcc.explore.data import make_dataset
from imcc.explore.engine import evaluate
from imcc.explore.evaluate import Point, Study
from imcc.explore.params import parse_sweep
from imcc.explore.results import ResultStore, summarize

from .helpers import DIGITS, chip, digits

SEEDS = tuple(range(8))


@pytest.fixture(scope="module")
def trend():
    x, y = digits("x")
    model = DIGITS / "linear.onnx"
    data = make_dataset(model, {"input": x}, y, calib=100)
    base = chip("ideal-int8", name="cells2", cell_bits=2)
    study = Study.make(model, base, None, CompileOptions(batch=128, priority="resource",
                                                         workers=1), None, data)
    sweep = parse_sweep("noise=0..0.2:0.05")
    points = [Point(((sweep.name, v),)) for v in sweep.values]
    store = ResultStore(None)
    evaluate(study, [(p, s) for p in points for s in SEEDS], store)
    return sweep.values, summarize(study.fingerprint, points, SEEDS, store), data


def _se(stats):
    return stats[1] / math.sqrt(len(SEEDS))


def test_mean_accuracy_over_seeds_decreases_with_noise(trend):
    levels, sums, data = trend
    assert levels == (0.0, 0.05, 0.1, 0.15, 0.2)
    assert all(s.seeds == len(SEEDS) and not s.errors for s in sums)
    acc = [s.accuracy for s in sums]
    for a, b in zip(acc, acc[1:]):
        assert b[0] <= a[0] + 2 * math.hypot(_se(a), _se(b)), (a, b)
    assert acc[-1][0] < acc[0][0] - 5 * math.hypot(_se(acc[0]), _se(acc[-1]))
    # noise-free, the 8-bit chip loses at most half a point against the float model
    assert acc[0][0] >= data.float_score()["accuracy"] - 0.005
    assert acc[0][1] == 0.0  # and no noise means no spread over seeds


def test_output_error_grows_with_noise(trend):
    _, sums, _ = trend
    err = [s.rel_error for s in sums]
    for a, b in zip(err, err[1:]):
        assert b[0] >= a[0] - 2 * math.hypot(_se(a), _se(b)), (a, b)
    assert err[-1][0] > err[0][0] + 5 * math.hypot(_se(err[0]), _se(err[-1]))
