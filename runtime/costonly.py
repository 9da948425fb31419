"""The ``cost`` crossbar backend: the cost model of a run without its numerics.

A chip's cells can take more host memory than any machine has: the 1.1B-parameter TinyLlama
on the ``rram`` chip programs 126,272 arrays of 256 x 256 cells, 33 GB as the float32
conductances :class:`~runtime.crossbar.NumpyCrossbar` keeps. :class:`CostOnlyCrossbar` keeps
none: ``wprog`` still reads and checks every cell from the weight memory and is counted (the
instruction's semantics do that before calling :meth:`CostOnlyCrossbar.program`), and every
``mvm`` / ``mvm.acc`` is counted and writes zeros. Everything else (vector unit, network,
scalar code) runs as on any backend.

The cost report (energy, latency, event counts) of such a run equals the numpy backend's
whenever what the program executes does not depend on the values its MVMs produce: its
branches, loop counts and addresses. A compiled model's program is straight-line code with
every shape fixed at compile time, and the cost model counts elements, not values, so its
report is the same (tests/runtime/test_costonly.py compares them); a hand-written program that
branches on an MVM's result may differ, and a gather whose indices an MVM computed reads row 0.
The outputs are not the model's and are not meant to be read.
"""

from __future__ import annotations

import numpy as np

from runtime.config import ChipConfig
from runtime.converters import Precision


class CostOnlyCrossbar:
    """Arrays that hold no cells: programming only changes an array's version, and every
    product is zero (module docstring)."""

    def __init__(self, config: ChipConfig, *, seed: int = 0, time_s: float | None = None):
        self.config = config
        self.seed = seed
        self.time_s = time_s
        self.versions: dict[int, int] = {}

    def program(self, array: int, row: int, col: int, values: np.ndarray) -> None:
        self.versions[array] = self.versions.get(array, 0) + 1

    def set_time(self, time_s: float | None) -> None:
        self.time_s = time_s

    def kernel(self, array: int, row: int, col: int, h: int, w: int, p: Precision,
               coef: np.ndarray | None = None) -> None:
        return None  # the interpreter calls mvm / mvm_combined, which write zeros

    @staticmethod
    def _zeros(rows: int, cols: int, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            return np.zeros((rows, cols), np.float32)
        out.fill(0)
        return out

    def mvm(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
            p: Precision, out: np.ndarray | None = None) -> np.ndarray:
        return self._zeros(len(x), w, out)

    def mvm_combined(self, array: int, row: int, col: int, h: int, w: int, x: np.ndarray,
                     p: Precision, coef: np.ndarray,
                     out: np.ndarray | None = None) -> np.ndarray:
        return self._zeros(len(x), w // len(coef), out)
