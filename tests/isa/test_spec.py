"""The instruction table checks itself (riscv-opcodes style), and a broken table is caught."""

import dataclasses
from types import MappingProxyType

import pytest

from isa import spec
from isa.spec import FIELDS, FORMATS, INSTRUCTIONS, SpecError


def test_every_format_covers_32_bits_once():
    for name, fields in FORMATS.items():
        bits = [0] * 32
        for f in fields:
            for b in range(32):
                if FIELDS[f].word_mask >> b & 1:
                    bits[b] += 1
        assert bits == [1] * 32, name


def test_no_two_instructions_match_one_word():
    # Construct the word most likely to match both: A's fixed bits, and B's fixed bits wherever
    # A leaves the bit free. If even that word fails B's test, no word matches both.
    for a in INSTRUCTIONS:
        for b in INSTRUCTIONS:
            if a is not b:
                w = a.match | (b.match & ~a.mask)
                assert w & b.mask != b.match, (a.mnemonic, b.mnemonic)


def test_validator_catches_overlap():
    add = spec.BY_MNEMONIC["add"]
    clone = dataclasses.replace(add, mnemonic="add2")
    with pytest.raises(SpecError, match="overlap"):
        spec.validate_spec((*INSTRUCTIONS, clone))


def test_validator_catches_unassigned_field():
    add = spec.BY_MNEMONIC["add"]
    fixed = dict(add.fixed)
    del fixed["funct7"]
    broken = dataclasses.replace(add, mnemonic="addz", fixed=MappingProxyType(fixed))
    with pytest.raises(SpecError, match="neither fixed nor an operand"):
        spec.validate_spec((*INSTRUCTIONS[1:], broken))


def test_validator_catches_value_too_wide():
    add = spec.BY_MNEMONIC["add"]
    fixed = dict(add.fixed, funct3=9)
    broken = dataclasses.replace(add, fixed=MappingProxyType(fixed))
    with pytest.raises(SpecError, match="doesn't fit"):
        spec.validate_spec((broken, *INSTRUCTIONS[1:]))
