"""The instruction-semantics registry: one handler per mnemonic of :data:`isa.spec.INSTRUCTIONS`.

A handler is ``fn(state, [pc,] *operands)``: its operands arrive in the order of
:func:`isa.encoding.operand_fields` (for ``lw rd, offset(rs1)``: ``rd, offset, rs1``). A first
parameter after the state named ``pc`` receives the instruction's byte address. A parameter named
``rd`` is a destination register: the pre-decoder maps ``x0`` to the sink slot, so handlers write
it without a test. A handler returns ``None`` to fall through or the index of the next
instruction (from :meth:`runtime.state.MachineState.jump`). Its docstring states its semantics.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from isa.encoding import operand_fields
from isa.spec import BY_MNEMONIC


@dataclass(frozen=True)
class Handler:
    """A registered handler and how the pre-decoder binds its operands."""

    mnemonic: str
    fn: Callable
    needs_pc: bool
    dest_positions: tuple[int, ...]  # operand positions that are destination registers


_HANDLERS: dict[str, Handler] = {}  # filled at import time by the @semantics decorators


def semantics(mnemonic: str):
    """Register ``fn`` as the semantics of ``mnemonic`` (which must be in the ISA table)."""

    def register(fn: Callable) -> Callable:
        spec = BY_MNEMONIC.get(mnemonic)
        if spec is None:
            raise ValueError(f"@semantics({mnemonic!r}): not an instruction of isa.spec")
        if mnemonic in _HANDLERS:
            raise ValueError(f"@semantics({mnemonic!r}): registered twice")
        params = list(inspect.signature(fn).parameters)[1:]
        needs_pc = bool(params) and params[0] == "pc"
        ops = params[1:] if needs_pc else params
        if len(ops) != len(operand_fields(spec)):
            raise ValueError(f"@semantics({mnemonic!r}): handler takes {len(ops)} operands, "
                             f"the table gives {len(operand_fields(spec))}")
        dest = tuple(i for i, name in enumerate(ops) if name == "rd")
        _HANDLERS[mnemonic] = Handler(mnemonic, fn, needs_pc, dest)
        return fn

    return register


def handlers() -> MappingProxyType:
    """Mnemonic -> :class:`Handler` for every registered instruction. Every handler module is
    registered by then: Python runs the package (``runtime/ops/__init__.py``, which imports
    them all) before this module."""
    return MappingProxyType(dict(_HANDLERS))
