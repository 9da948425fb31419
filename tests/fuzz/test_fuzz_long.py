"""The long fuzz run: ``pytest -m fuzz -s tests/fuzz`` runs ``IMCC_FUZZ_CASES`` (10,000 by
default) cases of each input kind through :func:`tests.fuzz.harness.run_case` (derandomized:
case ``i`` of kind ``k`` is drawn from seed ``k-fuzz-i``) and prints, per kind, the cases tried,
the exit statuses of every command and the findings. Skipped unless ``-m fuzz`` is given."""

import os
import random
import time

import pytest

from tests.fuzz import harness
from tests.fuzz.mutators import CATEGORIES

pytestmark = pytest.mark.fuzz
CASES = int(os.environ.get("IMCC_FUZZ_CASES", "10000"))


@pytest.mark.parametrize("category", CATEGORIES)
def test_long_fuzz(category, tmp_path):
    harness.OUTCOMES.clear()
    findings = []
    t0 = time.perf_counter()
    for i in range(CASES):
        seed = f"{category}-fuzz-{i}"
        finding = harness.run_case(category, harness.make_case(category, random.Random(seed)),
                                   tmp_path)
        if finding:
            findings.append(f"{seed}: {finding}")
    outcomes = ", ".join(f"{c} exit {e}: {n}" for (c, e), n in sorted(harness.OUTCOMES.items()))
    print(f"\nfuzz {category}: {CASES} cases, {len(findings)} findings, "
          f"{time.perf_counter() - t0:.0f} s; {outcomes}")
    assert not findings, "\n".join(findings[:20])
