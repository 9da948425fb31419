"""Object files: exact round trip, and every kind of damage is one clear error."""

import struct

import pytest

from isa.assembler import assemble
from isa.diagnostics import ObjectFileError
from isa.objfile import FORMAT_VERSION, MAGIC, from_bytes, read_object, to_bytes, write_object

SRC = """
.chip "ideal", "0123456789abcdef"
.input "x", buf, [1, 2]
.output "y", buf + 8, [1, 1]
.text
start: li x1, 5
       halt
.data
buf: .float 1, 2, 3
.weights
w: .u8 1, 2, 3
"""


@pytest.fixture
def blob():
    return to_bytes(assemble(SRC, "t.s").obj)


def test_round_trip_preserves_everything(blob, tmp_path):
    obj = from_bytes(blob)
    assert to_bytes(obj) == blob
    assert obj.chip == ("ideal", "0123456789abcdef")
    assert [t.name for t in obj.inputs] == ["x"] and obj.outputs[0].addr == 8
    assert obj.weights == bytes([1, 2, 3])
    assert struct.unpack("<3f", obj.data) == (1.0, 2.0, 3.0)
    write_object(obj, tmp_path / "t.imo")
    assert read_object(tmp_path / "t.imo") == obj


def test_weights_are_a_read_only_view_that_pickles_and_writes_like_bytes(blob):
    """A read object's weights view the file's bytes (no copy of the largest section); the
    object still pickles (explore's worker processes) and re-serializes to the same file."""
    import pickle

    import numpy as np

    obj = from_bytes(blob)
    assert isinstance(obj.weights, memoryview) and obj.weights.readonly
    back = pickle.loads(pickle.dumps(obj))
    assert back == obj and type(back.weights) is bytes and to_bytes(back) == blob
    arr = np.frombuffer(bytes(obj.weights), np.uint8).copy()
    arr.flags.writeable = False  # what the compiler hands over: a view of a numpy buffer
    from dataclasses import replace

    assert to_bytes(replace(obj, weights=memoryview(arr))) == blob


def test_not_an_object(tmp_path):
    with pytest.raises(ObjectFileError, match="not an imcc object file"):
        from_bytes(b"\x7fELF" + bytes(100), "a.out")


def test_truncated(blob):
    for cut in (10, len(blob) // 2, len(blob) - 1):
        with pytest.raises(ObjectFileError, match="corrupt|truncated"):
            from_bytes(blob[:cut], "t.imo")


def test_flipped_byte(blob):
    bad = bytearray(blob)
    bad[len(blob) // 2] ^= 0x40
    with pytest.raises(ObjectFileError, match="checksum mismatch"):
        from_bytes(bytes(bad), "t.imo")


def test_other_version(blob):
    bad = bytearray(blob)
    struct.pack_into("<H", bad, len(MAGIC), FORMAT_VERSION + 1)
    with pytest.raises(ObjectFileError, match=f"version {FORMAT_VERSION + 1}"):
        from_bytes(bytes(bad), "t.imo")


def test_bad_metadata_with_valid_checksum(blob):
    # A file whose checksum is right but whose JSON is wrong (e.g. written by another tool).
    import hashlib

    body = bytearray(blob[:-32])
    i = body.find(b'"entry"')
    body[i : i + 7] = b'"entrX"'
    forged = bytes(body) + hashlib.sha256(body).digest()
    with pytest.raises(ObjectFileError, match="bad metadata"):
        from_bytes(forged, "t.imo")


def test_unreadable_path(tmp_path):
    with pytest.raises(ObjectFileError, match="cannot read"):
        read_object(tmp_path / "missing.imo")


def test_scalar_tensors_round_trip():
    """Rank 0 is written `[]`: assembled, stored in the object, disassembled and assembled
    again to the same bytes, with every declared element type."""
    from isa.disassembler import disassemble

    src = ('.input "s", buf, []\n.input "u", buf + 4, [], uint16\n'
           '.output "y", buf + 8, [], uint64\n.text\n halt\n.data\nbuf: .zero 12\n')
    first = to_bytes(assemble(src, "s.s").obj)
    obj = from_bytes(first)
    assert [(t.name, t.shape, t.dtype) for t in (*obj.inputs, *obj.outputs)] == \
        [("s", (), "float32"), ("u", (), "uint16"), ("y", (), "uint64")]
    assert [t.nbytes for t in obj.inputs] == [4, 4]
    listing = disassemble(obj).text
    assert '.input "s", 0x0, []\n' in listing and '.output "y", 0x8, [], uint64\n' in listing
    assert to_bytes(assemble(listing, "d.s").obj) == first
