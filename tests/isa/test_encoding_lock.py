"""Encodings are stable: the table agrees with the committed record of every instruction's
fixed bits (tests/isa/encodings.lock) unless the object format version was raised."""

import pytest

from isa.objfile import FORMAT_VERSION
from isa.spec import INSTRUCTIONS
from tests.isa import encodings_lock

VERSION, LOCKED = encodings_lock.read()
CURRENT = {s.mnemonic: (s.match, s.mask) for s in INSTRUCTIONS}


def test_record_is_for_this_format_version():
    assert VERSION == FORMAT_VERSION, (
        f"encodings.lock records format version {VERSION}, objects are {FORMAT_VERSION}: "
        "rewrite it with `python -m tests.isa.encodings_lock --bump`")


@pytest.mark.parametrize("mnemonic", sorted(LOCKED))
def test_locked_encoding_unchanged(mnemonic):
    if VERSION != FORMAT_VERSION:
        pytest.skip("format version raised: the record is rewritten (test above)")
    assert CURRENT.get(mnemonic) == LOCKED[mnemonic], (
        f"the encoding of '{mnemonic}' changed (or it was removed): objects of format version "
        f"{FORMAT_VERSION} would decode to other instructions. Restore it, or raise "
        "isa.objfile.FORMAT_VERSION and rewrite the record with --bump")


def test_every_instruction_is_recorded():
    missing = sorted(set(CURRENT) - set(LOCKED))
    assert not missing, (f"{missing} not in encodings.lock: append them with "
                         "`python -m tests.isa.encodings_lock`")


def test_record_catches_a_moved_encoding(tmp_path):
    # The check this file makes, on a record where one encoding differs.
    lock = tmp_path / "encodings.lock"
    encodings_lock.write(lock, bump=True)
    text = lock.read_text().replace("vsub       0x0200002b", "vsub       0x0400002b")
    lock.write_text(text)
    _, table = encodings_lock.read(lock)
    assert [m for m, mm in table.items() if CURRENT[m] != mm] == ["vsub"]
    with pytest.raises(SystemExit, match="vsub"):
        encodings_lock.write(lock)
