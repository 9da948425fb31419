"""imcc.torch's tests: torch's intra-op threads run one at a time here. An analog layer
alternates torch operations with numpy work (programming its tiles), and torch's OpenMP threads
spin between operations; on a few shared cores that spinning starves the numpy work (a training
step 20x slower). One thread removes the contention and changes no result."""

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
