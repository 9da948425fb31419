"""Bounded fuzzing in the test suite: hypothesis draws cases of each category from the
generators of ``mutators.py`` (a fixed number per category, derandomized so CI is
reproducible; ``python -m tests.fuzz.campaign`` runs long campaigns). Each case must end with
exit 0, or 2 with one error and no output file: never a traceback, a hang or a partial file."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import make_case, run_case
from tests.fuzz.mutators import CATEGORIES

EXAMPLES = {"asm": 60, "obj": 60, "onnx": 40, "config": 40, "precision": 40}


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
