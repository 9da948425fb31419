"""Pre-decoding and the dispatch loops of the reference machine (:mod:`runtime.machine`).

The program is pre-decoded once into a list of bound handlers (:mod:`runtime.ops`); the dispatch
loop then calls one per instruction and counts retirements per instruction, from which the
categories of the cost report and ``instret`` are derived.

A run of consecutive straight-line instructions (:func:`runtime.ops.scalar.straight`: no trap,
no jump, no read of ``instret``; a compiled program's ``li`` and ``cfgi`` settings before each
vector or array instruction) is also bound as one *block*, which calls their handlers in order
and counts each retirement: the fast loop runs a block in one step, and a jump into the middle
of one finds the instruction's own handler there. A block of ``lui``, ``addi`` and ``cfgi``
whose ``addi`` read only registers the block set before (or ``x0``), the settings a compiled
program makes before each vector or array instruction, writes the same values every time: it is
bound as those final register and CSR writes. The traced loop, and the fast loop within a chunk
of the step limit, run one instruction a step. Some instructions are bound more tightly
(:mod:`runtime.ops.bind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from isa.encoding import DecodeError, csr_name, decode
from isa.objfile import ObjectFile
from runtime.ops import scalar
from runtime.ops.bind import BINDERS
from runtime.ops.registry import handlers
from runtime.state import _IS_AGU, CSR_BASE, MASK, SINK, Halt, MachineState, Trap

CLOCK_STEPS = 1 << 14  # instructions between two looks at the clock in the dispatch loop
_AGU_AFTER = 8  # AGU settings a block of constant writes keeps the setting it leaves for

#: ``trap(index, message, hint)``: the machine's exception for a trap at instruction ``index``.
TrapFactory = Callable[[int, str, "str | None"], Exception]


def _raise(message: str) -> None:
    raise Trap(message)


@dataclass
class Decoded:
    """A pre-decoded program: one bound handler per instruction (and one past the end, which
    traps), the instruction indices of each category (a word that does not decode has none),
    the handlers with each block in place of its first instruction's (``blocks``), the most
    instructions a block holds (``span``) and the count of instructions the blocks retired
    beyond their first (``extra[0]``)."""

    handlers: list[Callable]
    by_category: tuple[tuple[str, tuple[int, ...]], ...]
    blocks: list[Callable]
    span: int
    extra: list[int]


def predecode(state: MachineState, obj: ObjectFile, hits: list[int],
              enter: Callable[[], None]) -> Decoded:
    """Bind every instruction word of ``obj`` to its handler once (no decoding in the run loop);
    ``enter()`` runs before the instruction at the ``.rerun`` label; blocks count their
    retirements in ``hits``."""
    table = handlers()
    prog: list[Callable] = []
    categories: list[str | None] = []
    plain: list[bool] = []  # straight-line
    specs: list[tuple | None] = []  # (mnemonic, operands) of the straight-line instructions
    for i, word in enumerate(obj.text):
        try:
            ins = decode(word)
        except DecodeError:
            prog.append(partial(_raise, f"unknown instruction word {word:#010x}"))
            categories.append(None)
            plain.append(False)
            specs.append(None)
            continue
        h = table[ins.mnemonic]
        args = list(ins.args)
        for p in h.dest_positions:
            if args[p] == 0:
                args[p] = SINK
        bind = BINDERS.get(ins.mnemonic)
        if bind is not None:
            prog.append(bind(state, *args))
        else:
            pre = (state, 4 * i) if h.needs_pc else (state,)
            prog.append(partial(h.fn, *pre, *args))
        categories.append(ins.spec.category.value)
        plain.append(scalar.straight(ins.mnemonic, ins.args))
        specs.append((ins.mnemonic, tuple(args)))
    prog.append(partial(_raise, "pc ran past the end of the text section"))
    rerun = obj.rerun
    if rerun is not None and rerun % 4 == 0 and 0 <= rerun < 4 * len(obj.text):
        prog[rerun >> 2] = partial(_entering, enter, prog[rerun >> 2])
        plain[rerun >> 2] = False
    groups: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        if cat is not None:
            groups.setdefault(cat, []).append(i)
    extra = [0]
    blocks, span = _blocks(prog, plain, hits, extra, state, specs)
    return Decoded(prog, tuple((c, tuple(ix)) for c, ix in groups.items()), blocks, span, extra)


def _blocks(prog: list[Callable], plain: list[bool], hits: list[int], extra: list[int],
            state: MachineState, specs: list[tuple | None]) -> tuple[list[Callable], int]:
    """``prog`` with each maximal run of two or more straight-line instructions bound as one
    block at its first instruction, and the longest run's length (1 without any)."""
    out, span, i, n = list(prog), 1, 0, len(plain)
    while i < n:
        j = i
        while j < n and plain[j]:
            j += 1
        if j - i > 1:
            writes = _constant_writes(specs[i:j])
            if writes is None:
                out[i] = _block(tuple(prog[i:j]), hits, range(i + 1, j), j, extra)
            else:
                out[i] = _writes_block(state, *writes, hits, range(i + 1, j), j, extra)
            span = max(span, j - i)
        i = j + 1
    return out, span


def _constant_writes(specs: list[tuple | None]) -> tuple[tuple, tuple, bool] | None:
    """The final register and CSR writes of a run of ``lui``, ``addi`` and ``cfgi`` whose
    values do not depend on the machine's state (each ``addi`` reads ``x0`` or a register the
    run set before), and whether an AGU CSR is among them; None for any other run."""
    regs: dict[int, int] = {0: 0}
    csrs: dict[int, int] = {}
    for spec in specs:
        if spec is None:
            return None
        mnemonic, args = spec
        if mnemonic == "lui":
            regs[args[0]] = scalar.upper(args[1])
        elif mnemonic == "addi" and args[1] in regs:
            regs[args[0]] = (regs[args[1]] + args[2]) & MASK
        elif mnemonic == "cfgi" and scalar.writable(args[0]):
            csrs[args[0] - CSR_BASE] = args[1] & MASK
        else:
            return None
    regs.pop(0)
    return (tuple(regs.items()), tuple(csrs.items()),
            any(_IS_AGU[k] for k in csrs))


def _writes_block(state: MachineState, regs: tuple, csrs: tuple, agu: bool, hits: list[int],
                  rest: range, after: int, extra: list[int]) -> Callable[[], int]:
    """A block of constant writes (:func:`_constant_writes`): what its instructions' handlers
    would leave, its retirements counted as :func:`_block` counts them."""
    more, x, csr = len(rest), state.x, state.csr
    after_agu: dict[int, tuple] = {}  # id of the setting before -> (it, the setting after)

    def block() -> int:
        for k, v in regs:
            x[k] = v
        for k, v in csrs:
            csr[k] = v
        if agu:
            # The same setting before gives the same setting after (the writes are constant):
            # the one state.agu() gave after the block's last run from it.
            prev = state._agu
            seen = after_agu.get(id(prev)) if prev is not None else None
            if seen is not None and seen[0] is prev:
                state._agu = seen[1]
            else:
                state._agu = None
                if prev is not None:
                    if len(after_agu) >= _AGU_AFTER:
                        after_agu.clear()
                    after_agu[id(prev)] = (prev, state.agu())
        for k in rest:
            hits[k] += 1
        extra[0] += more
        return after

    return block


def _block(steps: tuple[Callable, ...], hits: list[int], rest: range, after: int,
           extra: list[int]) -> Callable[[], int]:
    """Run ``steps`` in order; count the retirements of the instructions ``rest`` (the loop
    counts the first); continue at ``after``."""
    more = len(rest)

    def block() -> int:
        for step in steps:
            step()
        for k in rest:
            hits[k] += 1
        extra[0] += more
        return after

    return block


def _entering(enter: Callable[[], None], handler: Callable):
    """The handler of the instruction at ``.rerun``, after ``enter()``."""
    enter()
    return handler()


def count_by_category(decoded: Decoded, hits: list[int], into: dict[str, int]) -> None:
    """Add the instructions retired per category (``hits`` per instruction) to ``into``."""
    get = hits.__getitem__
    for cat, idx in decoded.by_category:
        into[cat] += sum(map(get, idx))


def run_fast(decoded: Decoded, hits: list[int], clock: Callable[[], None], i: int, budget: int,
             max_steps: int, trap: TrapFactory) -> int:
    """Run from instruction ``i`` until ``halt``; returns the number of instructions retired.
    ``clock()`` is called at least every :data:`CLOCK_STEPS` instructions; past ``budget``
    instructions the run traps with the step limit ``max_steps``. Blocks run as one step while
    a chunk of steps cannot pass the budget, single instructions after that."""
    extra = decoded.extra
    extra[0] = 0
    loops = n = 0  # steps of the loop: the instructions retired, less the blocks' extra
    try:
        while True:
            left = budget - loops - extra[0]
            if left <= 0:
                break
            if left >= CLOCK_STEPS:  # the chunk retires at most CLOCK_STEPS instructions
                prog, chunk = decoded.blocks, CLOCK_STEPS // decoded.span
            else:
                prog, chunk = decoded.handlers, left
            for n in range(chunk):
                r = prog[i]()
                hits[i] += 1
                i = i + 1 if r is None else r
            loops += chunk
            n = 0
            clock()
    except Halt:
        hits[i] += 1
        return loops + n + 1 + extra[0]
    except Trap as t:
        raise trap(i, str(t), t.hint) from None
    raise trap(i, f"step limit of {max_steps} instructions reached",
               "a loop that never ends? raise the limit with --max-steps")


def run_traced(decoded: Decoded, hits: list[int], st: MachineState, i: int, limit: int,
               trace: Callable[[str], None], text: Callable[[int], str], trap: TrapFactory):
    """Run up to ``limit`` instructions from ``i``, reporting each to ``trace`` (its address,
    ``text(pc)`` and the registers and CSRs it changed); returns (next index, steps,
    halted)."""
    prog = decoded.handlers
    for n in range(limit):
        x0, c0 = list(st.x), list(st.csr)
        pc = 4 * i
        try:
            r = prog[i]()
        except Halt:
            hits[i] += 1
            trace(f"{pc:#010x}  {text(pc)}")
            return i, n + 1, True
        except Trap as t:
            raise trap(i, str(t), t.hint) from None
        hits[i] += 1
        changes = [f"x{k}={st.x[k]:#x}" for k in range(1, SINK) if st.x[k] != x0[k]]
        changes += [f"{csr_name(k + CSR_BASE)}={st.csr[k]:#x}" for k in range(len(c0))
                    if st.csr[k] != c0[k]]
        trace(f"{pc:#010x}  {text(pc):<32} {' '.join(changes)}".rstrip())
        i = i + 1 if r is None else r
    return i, limit, False
