"""Limits are checked before allocation and bound the total, not only each tensor: a few bytes
of input must not make imcc allocate gigabytes. Each case runs under an address-space cap far
below what the input once made imcc allocate (``capped``)."""

import pytest

from tests.hardening.helpers import assert_clean_failure, capped


@pytest.mark.parametrize("body", [".data\n.zero 0x40000000", ".weights\n.u8 1\n.align 0x40000000",
                                  ".data\n" + ".zero 0x1000000\n" * 20])
def test_zero_fill_is_bounded_before_it_is_allocated(tmp_path, body):
    """A 20-byte source once wrote a 1 GiB object (``.align``: 2.1 GB peak). The zero fill of
    a source counts against --max-elements (in bytes), all its directives together."""
    src = tmp_path / "z.s"
    src.write_text(body + "\n.text\nhalt\n")
    out = tmp_path / "z.imo"
    p = capped("asm", src, "-o", out, mib=768)
    assert_clean_failure(p, "bytes, more than the limit of 268435456", "--max-elements",
                         no_files=[out])


def test_zero_fill_under_a_raised_limit(tmp_path):
    src = tmp_path / "z.s"
    src.write_text(".data\nbuf: .zero 0x100000\n.text\nhalt\n")
    p = capped("--max-elements", 2**20, "asm", src, "-o", tmp_path / "z.imo", mib=768)
    assert p.returncode == 0, p.stderr
    p = capped("--max-elements", 2**20 - 1, "asm", src, "-o", tmp_path / "z.imo", mib=768)
    assert_clean_failure(p, "to 1048576 bytes, more than the limit of 1048575")
