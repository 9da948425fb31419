"""Bounded fuzzing in the test suite: hypothesis draws cases of each input kind from the
generators of ``mutators.py`` (a fixed number per kind, derandomized so CI is reproducible;
``pytest -m fuzz`` and ``python -m tests.fuzz.campaign`` run long campaigns). Each case must
pass :func:`tests.fuzz.harness.run_case`: exit 0, or 2 with one error line and no output file,
under a time limit and a memory cap; never a traceback, a warning, a hang, a partial file or a
read outside the input's folder."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import make_case, run_case
from tests.fuzz.mutators import CATEGORIES

EXAMPLES = {"asm": 100, "obj": 100, "onnx": 60, "npy": 80, "config": 60, "precision": 60,
            "pack": 100}


@pytest.mark.parametrize("category", CATEGORIES)
def test_fuzz(category, tmp_path_factory):
    work = tmp_path_factory.mktemp(category)

    @settings(max_examples=EXAMPLES[category], deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(seed=st.integers(0, 2**32 - 1))
    def check(seed):
        payload = make_case(category, random.Random(seed))
        finding = run_case(category, payload, work)
        assert finding is None, f"seed {seed}: {finding}"

    check()
