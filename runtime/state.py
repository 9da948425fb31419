"""The machine state the instruction handlers work on (docs/machine.md, "State").

Registers hold unsigned 32-bit Python ints. Slot 32 of the register list absorbs writes whose
destination is ``x0`` (the pre-decoder maps them there), so ``x0`` always reads 0 without a test
in every handler. CSRs ``0x800..0x8ff`` live in a list indexed by ``number - 0x800``; ``instret``
is computed from the retired-instruction counts.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from types import MappingProxyType

from isa.spec import AGU_RANK, CSRS

MASK = 0xFFFFFFFF
SINK = 32  # register slot receiving writes to x0
CSR_BASE = 0x800
CSR_SLOTS = 0x100
AGU_ELEMENT_LIMIT = 1 << 26  # larger vector operands trap instead of exhausting host memory

CSR_INDEX = MappingProxyType({c.name: c.number - CSR_BASE for c in CSRS if not c.readonly})
CSR_KIND = MappingProxyType({c.number - CSR_BASE: c.kind for c in CSRS if not c.readonly})
INSTRET = next(c.number for c in CSRS if c.name == "instret")
_AGU_N = tuple(CSR_INDEX[f"n{k}"] for k in range(AGU_RANK))
_AGU_S = tuple((op, tuple(CSR_INDEX[f"s{op}{k}"] for k in range(AGU_RANK))) for op in "dabc")
_NRED = CSR_INDEX["nred"]
_AGU_SLOTS = frozenset(_AGU_N) | {k for _, ks in _AGU_S for k in ks} | {_NRED}
#: CSR slot -> True for the address generator's registers (a write invalidates the cached Agu).
_IS_AGU = tuple(i in _AGU_SLOTS for i in range(CSR_SLOTS))
#: The address generator's CSR contents, in one tuple: the key of its :class:`Agu`.
_AGU_RAW = operator.itemgetter(*_AGU_N, *(k for _, ks in _AGU_S for k in ks), _NRED)
#: Settings kept at most (a loop walking through sizes makes a new one per iteration).
AGU_LIMIT = 1 << 9


class Trap(Exception):
    """Raised by a handler on a trap condition; the machine adds pc, instruction and source.
    ``hint`` says what the user may do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class Halt(Exception):
    """Raised by ``halt``."""


def signed(v: int) -> int:
    """The signed value of a 32-bit pattern."""
    return v - ((v & 0x80000000) << 1)


@dataclass(frozen=True)
class Agu:
    """The vector unit's address generator settings (sizes, per-operand strides, nred).

    One object per distinct setting (:meth:`MachineState.agu` interns them), so what a handler
    derives from a setting and its operand addresses (views, checks) can be kept in
    :attr:`plans` for the next instruction with the same setting."""

    n: tuple[int, ...]
    strides: MappingProxyType  # operand letter ('d', 'a', 'b', 'c') -> 6 signed strides
    nred: int
    elements: int = field(init=False)
    plans: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self):
        total = 1
        for k in self.n:
            total *= k
        object.__setattr__(self, "elements", total)

    @staticmethod
    def from_csrs(raw: tuple[int, ...]) -> Agu:
        """The setting of the CSR contents ``raw`` (in :data:`_AGU_RAW`'s order)."""
        r = len(_AGU_N)
        strides = MappingProxyType({op: tuple(signed(v) for v in raw[r * (k + 1) : r * (k + 2)])
                                    for k, (op, _) in enumerate(_AGU_S)})
        return Agu(tuple(raw[:r]), strides, raw[-1])

    def dims(self, op: str, dims: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shape and strides of operand ``op`` over the AGU dimensions ``dims``."""
        s = self.strides[op]
        return tuple(self.n[k] for k in dims), tuple(s[k] for k in dims)


@dataclass(frozen=True)
class MemoLimits:
    """How much the handlers keep in :attr:`MachineState.memo` (tests shrink it)."""

    #: Prepared mvms kept before the memo is emptied (a loop walking through addresses makes a
    #: new one per iteration).
    plans: int = 1 << 14


class MachineState:
    """Registers, CSRs, memory, crossbar, weight memory, cost counters and retired counts."""

    __slots__ = ("_agu", "_agus", "chip", "cost", "csr", "hits", "mem", "memo", "memo_limits",
                 "n_text", "scratch", "weights", "x", "xbar")

    def __init__(self, chip, mem, xbar, weights, n_text: int, cost, hits: list[int]):
        self.x = [0] * (SINK + 1)
        self.csr = [0] * CSR_SLOTS
        for c in CSRS:
            if not c.readonly:
                self.csr[c.number - CSR_BASE] = c.reset
        self.mem = mem
        self.xbar = xbar
        self.chip = chip
        self.weights = weights
        self.n_text = n_text
        self.cost = cost
        self.hits = hits
        self._agu: Agu | None = None
        self._agus: dict[tuple[int, ...], Agu] = {}  # CSR contents -> their interned Agu
        self.memo: dict = {}  # values derived from CSR contents by handlers (e.g. Precision)
        self.memo_limits = MemoLimits()
        self.scratch: dict = {}  # handler temporaries reused across instructions

    def jump(self, target: int) -> int:
        """Index of the instruction at byte address ``target``; trap if it is misaligned or
        outside the text section."""
        if target & 3 or not 0 <= target < 4 * self.n_text:
            raise Trap(f"jump target {target & MASK:#010x} is "
                       + ("misaligned" if target & 3 else
                          f"outside the text section (0x0..{4 * self.n_text:#x})"))
        return target >> 2

    def write_csr(self, index: int, value: int) -> None:
        self.csr[index] = value & MASK
        if _IS_AGU[index]:
            self._agu = None

    def stride(self, index: int) -> int:
        return signed(self.csr[index])

    def agu(self) -> Agu:
        """The current AGU settings (cached until the next CSR write; one object per distinct
        setting)."""
        a = self._agu
        if a is None:
            raw = _AGU_RAW(self.csr)
            a = self._agus.get(raw)
            if a is None:
                if len(self._agus) >= AGU_LIMIT:
                    self._agus.clear()
                a = self._agus[raw] = Agu.from_csrs(raw)
            self._agu = a
        return a
