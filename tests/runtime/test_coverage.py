"""Every instruction of the table is executed by at least one test (see helpers.covers)."""

import tests.runtime.test_scalar_ops  # noqa: F401  (import the modules whose tests claim
import tests.runtime.test_vector_ops  # noqa: F401   coverage, so the claims are registered)
import tests.runtime.test_xbar_ops  # noqa: F401
import tests.llm.test_fused_ops  # noqa: F401
from isa.spec import INSTRUCTIONS
from tests.runtime.helpers import COVERED


def test_every_instruction_is_executed_by_a_test():
    missing = sorted({s.mnemonic for s in INSTRUCTIONS} - COVERED)
    assert not missing, f"no test executes {missing}"
