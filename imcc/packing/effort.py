"""Deterministic effort accounting, so that a time limit never changes an answer.

The packer never reads the clock to decide anything. Work is counted in *units*: CP-SAT
reports its own deterministic time, and the heuristics charge a fixed number of units per
elementary step (one candidate position scored, one free rectangle split, one move
considered). ``UNITS_PER_SECOND`` converts a ``time_limit`` in seconds into units. The constants
were calibrated on the benchmark instances on a shared 2-core x86 machine so that a budget of
``T`` seconds takes at most about ``T`` seconds of wall-clock time there, and typically 50-90 %
of it (CP-SAT's deterministic second took 1.4 to 3 s depending on the model and the load). On
another machine the wall-clock time differs; the answer does not.
"""

from __future__ import annotations

UNITS_PER_SECOND = 1_600_000
CPSAT_SECONDS_PER_DET_SECOND = 3.0      # a deterministic second of CP-SAT took up to ~3 s here
CPSAT_SECONDS_PER_CALL = 0.006          # building the model and starting the solver
CPSAT_SECONDS_PER_LITERAL = 0.00035     # model size: one bin literal per item and bin


class Effort:
    """A budget of work units, spent by the search (owned by one :func:`pack` call)."""

    __slots__ = ("limit", "spent")

    def __init__(self, seconds: float):
        self.limit = int(max(0.0, seconds) * UNITS_PER_SECOND)
        self.spent = 0

    def charge(self, units: int) -> None:
        self.spent += units

    def det_seconds(self, units: int) -> float:
        """A CP-SAT deterministic time limit worth ``units``."""
        return max(0.0, units / UNITS_PER_SECOND / CPSAT_SECONDS_PER_DET_SECOND)

    def charge_cpsat(self, det_seconds: float, literals: int) -> None:
        """Charge one CP-SAT solve of ``literals`` bin literals that took ``det_seconds``."""
        seconds = (det_seconds * CPSAT_SECONDS_PER_DET_SECOND + CPSAT_SECONDS_PER_CALL
                   + CPSAT_SECONDS_PER_LITERAL * literals)
        self.spent += int(seconds * UNITS_PER_SECOND)

    @property
    def left(self) -> int:
        return self.limit - self.spent

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit

    def cpsat_seconds_left(self) -> float:
        """What is left, as a CP-SAT deterministic time limit."""
        return max(0.0, self.left / UNITS_PER_SECOND / CPSAT_SECONDS_PER_DET_SECOND)
