"""Shared test fixtures."""

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
