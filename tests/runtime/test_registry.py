"""The interpreter's dispatch is derived from the ISA table (layering: tests/test_layering.py)."""

from isa.spec import INSTRUCTIONS
from runtime.ops.registry import handlers


def test_every_instruction_has_a_documented_handler():
    table = handlers()
    assert set(table) == {s.mnemonic for s in INSTRUCTIONS}
    for mn, h in table.items():
        assert h.fn.__doc__ and h.fn.__doc__.strip(), mn
