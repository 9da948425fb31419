"""Pre-decoding and the dispatch loops of the reference machine (:mod:`runtime.machine`).

The program is pre-decoded once into a list of bound handlers (:mod:`runtime.ops`); the dispatch
loop then calls one per instruction and counts retirements per instruction, from which the
categories of the cost report and ``instret`` are derived.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from isa.encoding import DecodeError, csr_name, decode
from isa.objfile import ObjectFile
from runtime.ops.registry import handlers
from runtime.state import CSR_BASE, SINK, Halt, MachineState, Trap

CLOCK_STEPS = 1 << 14  # instructions between two looks at the clock in the dispatch loop

#: ``trap(index, message, hint)``: the machine's exception for a trap at instruction ``index``.
TrapFactory = Callable[[int, str, "str | None"], Exception]


def _raise(message: str) -> None:
    raise Trap(message)


@dataclass
class Decoded:
    """A pre-decoded program: one bound handler per instruction (and one past the end, which
    traps), the category of each (None for a word that does not decode), and the instruction
    indices of each category."""

    handlers: list[Callable]
    categories: list[str | None]
    by_category: tuple[tuple[str, tuple[int, ...]], ...]


def predecode(state: MachineState, obj: ObjectFile, enter: Callable[[], None]) -> Decoded:
    """Bind every instruction word of ``obj`` to its handler once (no decoding in the run loop);
    ``enter()`` runs before the instruction at the ``.rerun`` label."""
    table = handlers()
    prog: list[Callable] = []
    categories: list[str | None] = []
    for i, word in enumerate(obj.text):
        try:
            ins = decode(word)
        except DecodeError:
            prog.append(partial(_raise, f"unknown instruction word {word:#010x}"))
            categories.append(None)
            continue
        h = table[ins.mnemonic]
        args = list(ins.args)
        for p in h.dest_positions:
            if args[p] == 0:
                args[p] = SINK
        pre = (state, 4 * i) if h.needs_pc else (state,)
        prog.append(partial(h.fn, *pre, *args))
        categories.append(ins.spec.category.value)
    prog.append(partial(_raise, "pc ran past the end of the text section"))
    rerun = obj.rerun
    if rerun is not None and rerun % 4 == 0 and 0 <= rerun < 4 * len(obj.text):
        prog[rerun >> 2] = partial(_entering, enter, prog[rerun >> 2])
    groups: dict[str, list[int]] = {}
    for i, cat in enumerate(categories):
        if cat is not None:
            groups.setdefault(cat, []).append(i)
    return Decoded(prog, categories, tuple((c, tuple(ix)) for c, ix in groups.items()))


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
    ``clock()`` is called every :data:`CLOCK_STEPS` instructions; past ``budget`` instructions
    the run traps with the step limit ``max_steps``."""
    prog = decoded.handlers
    done = n = 0
    try:
        while done < budget:
            chunk = min(budget - done, CLOCK_STEPS)
            for n in range(chunk):
                r = prog[i]()
                hits[i] += 1
                i = i + 1 if r is None else r
            done += chunk
            n = 0
            clock()
    except Halt:
        hits[i] += 1
        return done + n + 1
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
