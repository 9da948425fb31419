"""``.byte`` and ``.half``: little-endian values packed into the memory words as the
byte-addressed loads read them (checked against bytes written out by hand, and by running
lb/lbu/lh/lhu on the reference machine); their range, alignment and section rules; and the
disassembler's exact round trip of byte-granular data."""

import pytest

from isa.assembler import assemble
from isa.diagnostics import ErrorList
from isa.directives import DIRECTIVES
from isa.disassembler import disassemble
from runtime.config import preset
from runtime.machine import Machine

DATA = """.data
b:      .byte 0xff, 0, -16, 0x0f
h:      .half 0x00ff, -256, 0x0ff0
c:      .byte 0x80
        .align 4
w:      .word 0x12345678
tail:   .byte 1
"""
# The same bytes, written out: 4 bytes, 3 halfwords low byte first, 1 byte, 1 byte of
# alignment, 1 word low byte first, 1 byte and the 3 zero bytes that end .data on a word.
EXPECTED = bytes([0xFF, 0x00, 0xF0, 0x0F,  0xFF, 0x00, 0x00, 0xFF, 0xF0, 0x0F,  0x80,
                  0,  0x78, 0x56, 0x34, 0x12,  0x01, 0, 0, 0])


def test_bytes_and_halves_are_packed_little_endian():
    obj = assemble(DATA).obj
    assert obj.data == EXPECTED
    labels = {s.name: s.value for s in obj.symbols}
    assert (labels["b"], labels["h"], labels["c"], labels["w"], labels["tail"]) == (0, 4, 10, 12, 16)


# (load, label, offset, expected value in x5 as an unsigned 32-bit word)
LOADS = [
    ("lb", "b", 0, 0xFFFFFFFF), ("lbu", "b", 0, 0xFF), ("lb", "b", 2, 0xFFFFFFF0),
    ("lb", "b", 3, 0x0F), ("lbu", "b", 2, 0xF0), ("lh", "h", 0, 0xFF), ("lh", "h", 2, 0xFFFFFF00),
    ("lhu", "h", 2, 0xFF00), ("lhu", "h", 4, 0x0FF0), ("lb", "c", 0, 0xFFFFFF80),
    ("lbu", "c", 0, 0x80), ("lw", "w", 0, 0x12345678), ("lbu", "w", 1, 0x56),
    ("lhu", "w", 2, 0x1234), ("lw", "tail", 0, 1),
]


@pytest.mark.parametrize("load, label, offset, want", LOADS)
def test_loads_read_what_byte_and_half_wrote(load, label, offset, want):
    m = Machine(preset("ideal"), assemble(f"li x6, {label}\n{load} x5, {offset}(x6)\nhalt\n"
                                          + DATA).obj)
    m.run({})
    assert m.state.x[5] & 0xFFFFFFFF == want


@pytest.mark.parametrize("src, message", [
    (".data\n.byte 256\n", "value 256 doesn't fit in .byte (-128..255)"),
    (".data\n.byte -129\n", "value -129 doesn't fit in .byte (-128..255)"),
    (".data\n.half 65536\n", "value 65536 doesn't fit in .half (-32768..65535)"),
    (".data\n.byte 1\n.half 2\n", ".half at .data offset 1 is not 2-byte aligned"),
    (".data\n.byte 1\n.word 2\n", ".word at .data offset 1 is not 4-byte aligned"),
    (".data\n.half 1\n.float 2\n", ".float at .data offset 2 is not 4-byte aligned"),
    (".byte 1\n", ".byte is not allowed in .text (only in .data)"),
    (".weights\n.half 1\n", ".half is not allowed in .weights (only in .data)"),
    (".data\n.byte\n", ".byte expects at least one value"),
])
def test_bad_byte_and_half_are_errors(src, message):
    with pytest.raises(ErrorList) as e:
        assemble(src)
    assert [err.message for err in e.value.errors] == [message]


def test_a_misaligned_word_names_the_fix():
    with pytest.raises(ErrorList) as e:
        assemble(".data\n.byte 1\n.word 2\n")
    assert e.value.errors[0].hint.startswith("put .align 4 before it")


def test_byte_granular_data_disassembles_exactly():
    src = DATA + "odd:    .byte 2\nlast:   .half 4\n"
    obj = assemble(src).obj
    listing = disassemble(obj)
    assert listing.complete
    again = assemble(listing.text).obj
    assert again.data == obj.data and again.symbols == obj.symbols


def test_byte_granular_data_goes_to_side_files_exactly(tmp_path):
    # Over the inline limit, .data is cut at its labels into .incbin files: a piece of an odd
    # number of bytes is fine there too.
    src = ".data\nodd: .byte 1, 2, 3\nrest: .zero 70000\n"
    obj = assemble(src).obj
    listing = disassemble(obj, base_name=str(tmp_path / "re"))
    assert listing.complete and len(listing.side_files) == 2
    for name, blob in listing.side_files.items():
        (tmp_path / name.rsplit("/", 1)[-1]).write_bytes(blob)
    again = assemble(listing.text, base_dir=tmp_path).obj
    assert again.data == obj.data and again.symbols == obj.symbols


@pytest.mark.parametrize("name", [n for n, d in DIRECTIVES.items() if d.sections])
def test_each_directive_is_refused_outside_its_sections(name):
    d = DIRECTIVES[name]
    for section in {"text", "data", "weights"} - set(d.sections):
        with pytest.raises(ErrorList) as e:
            assemble(f".{section}\n{name} 1\n")
        (err,) = e.value.errors
        assert err.message.startswith(f"{name} is not allowed in .{section}"), err.message
