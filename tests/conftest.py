"""Shared test fixtures."""

import dataclasses
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests that use torch run its intra-op threads one at a time. imcc.torch's analog layers
    alternate torch operations with numpy work (programming their tiles), and torch's OpenMP
    threads spin between operations; on a few shared cores that spinning starves the numpy work
    (a training step 20x slower). One thread changes no result. Torch is not imported here: a
    test that does not import it leaves it alone."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _host_limits():
    """Each test leaves the process's host limits as it found them: the command line sets them
    for its process (``--max-file-mib``, ``IMCC_MAX_*``), and a test that invokes it in this one
    would otherwise pass its limits on to the tests after it."""
    from isa import hostlimits

    saved = dataclasses.replace(hostlimits.LIMITS)
    yield
    for f in dataclasses.fields(saved):
        setattr(hostlimits.LIMITS, f.name, getattr(saved, f.name))
