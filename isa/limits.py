"""Range checks of a program against a chip's limits, at assembly time.

Configuration writes with an immediate (``cfgi``) are compared with what the chip has: array
index and region against the number and size of its arrays, cell bits, DAC/ADC/input bits
against its converters. Values computed at run time (``csrw`` from a register) are checked by
the machine when used. The limits are a plain mapping (CSR name -> (largest value, why)), so
this module needs no chip-configuration code.
"""

from __future__ import annotations

from collections.abc import Mapping

from isa.assembler import Assembly
from isa.diagnostics import AsmError, ErrorList
from isa.encoding import DecodeError, decode
from isa.spec import CSR_BY_NUMBER


def check_limits(asm: Assembly, limits: Mapping[str, tuple[int, str]]) -> None:
    """Raise :class:`ErrorList` naming every ``cfgi`` whose value exceeds ``limits``."""
    stmts = {}
    for line in asm.source.lines:
        if line.statement is not None:
            stmts[line.line] = line.statement
    errors = []
    for i, word in enumerate(asm.obj.text):
        try:
            ins = decode(word)
        except DecodeError:
            continue
        if ins.mnemonic != "cfgi":
            continue
        csr = CSR_BY_NUMBER[ins.args[0]].name
        value = ins.args[1]
        if csr not in limits or value <= limits[csr][0]:
            continue
        hi, why = limits[csr]
        line = asm.line_of_pc.get(4 * i)
        st = stmts.get(line)
        span = None
        if st is not None and len(st.operands) == 2:
            span = asm.source.span(st.operands[1].pos)
        errors.append(AsmError(f"cfgi {csr}, {value}: {why} (at most {hi})", span,
                               source=asm.source.text))
    if errors:
        raise ErrorList(errors)
