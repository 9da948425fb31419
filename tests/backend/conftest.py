"""Collection of onnx's backend tests: only the CPU variants of the node, simple and PyTorch
cases run, and each case in ``expected_failures.py`` is an expected refusal."""

from __future__ import annotations

import gc

import pytest

from isa.diagnostics import ToolchainError
from tests.backend.expected_failures import EXPECTED_FAILURES, EXPECTED_MISMATCHES

#: The runner's test classes that run (OnnxBackendRealModelTest: full-size model-zoo networks).
KINDS = ("OnnxBackendNodeModelTest", "OnnxBackendSimpleModelTest",
         "OnnxBackendPyTorchConvertedModelTest", "OnnxBackendPyTorchOperatorModelTest")


def reason_of(groups: dict[str, tuple[str, ...]] = EXPECTED_FAILURES) -> dict[str, str]:
    """Case name (without the device suffix) -> the reason it is expected to be refused (or,
    with ``EXPECTED_MISMATCHES``, to miss the runner's tolerance)."""
    return {name: reason for reason, names in groups.items() for name in names}


def pytest_collection_modifyitems(config, items):
    reasons, mismatches = reason_of(), reason_of(EXPECTED_MISMATCHES)
    keep, drop = [], []
    for item in items:
        cls = getattr(item, "cls", None)
        if item.path.name != "test_onnx_backend.py" or cls is None:
            keep.append(item)
            continue
        if cls.__name__ not in KINDS or not item.name.endswith("_cpu"):
            drop.append(item)
            continue
        why = reasons.get(item.name[: -len("_cpu")])
        if why is not None:
            item.add_marker(pytest.mark.xfail(reason=why, raises=ToolchainError, strict=True))
        why = mismatches.get(item.name[: -len("_cpu")])
        if why is not None:
            item.add_marker(pytest.mark.xfail(reason=why, raises=AssertionError, strict=True))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
        # The cases (thousands of protos and arrays) and the test items live all session: out
        # of the collector's reach, each compile's gc.collect() takes a millisecond instead of
        # tens.
        gc.collect()
        gc.freeze()
