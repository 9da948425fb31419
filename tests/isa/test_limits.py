"""imcc asm --chip: configuration writes are checked against the chip file (the same file the
compiler and the machine read), and the object records the chip."""

from click.testing import CliRunner

from imcc.cli import cli
from isa.objfile import read_object
from runtime.config import preset


def test_values_beyond_the_chip_are_errors_with_carets(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("cfgi xbarr, 600\ncfgi xbw, 256\ncfgi xbh, 300\ncfgi cellb, 3\nhalt\n")
    r = CliRunner().invoke(cli, ["asm", str(src), "--chip", "rram", "-o", str(tmp_path / "p.imo")])
    assert r.exit_code == 2
    rram = preset("rram")
    assert f"p.s:1:13: error: cfgi xbarr, 600: chip 'rram' has {rram.total_arrays} arrays" \
        in r.output
    assert "p.s:3:11: error: cfgi xbh, 300: the arrays of chip 'rram' have 256 rows" in r.output
    assert "p.s:4:13: error: cfgi cellb, 3" in r.output
    assert "xbw" not in r.output  # 256 columns is within the chip
    assert not (tmp_path / "p.imo").exists()


def test_the_object_records_the_chip(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("cfgi xbarr, 3\nhalt\n")
    out = tmp_path / "p.imo"
    r = CliRunner().invoke(cli, ["asm", str(src), "--chip", "rram", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert read_object(out).chip == ("rram", preset("rram").program_hash)
    r = CliRunner().invoke(cli, ["asm", str(src), "-o", str(out)])
    assert read_object(out).chip is None  # without a chip, nothing is recorded


def test_the_object_size_limit_counts_text_bytes_once(tmp_path):
    """The assembler refuses an object over --max-file-mib before writing it; .text's size is
    counted in bytes (4 a word) like the other sections. 10,000 instructions (40,000 bytes)
    beside 1 MiB less 50,000 bytes of data fit in 1 MiB; counted four times over they would not."""
    src = tmp_path / "p.s"
    data = 2**20 - 50_000
    src.write_text(f".data\n.zero {data}\n.text\n" + "nop\n" * 9_999 + "halt\n")
    out = tmp_path / "p.imo"
    r = CliRunner().invoke(cli, ["--max-file-mib", "1", "asm", str(src), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert len(read_object(out).text) == 10_000
    src.write_text(f".data\n.zero {data + 20_000}\n.text\n" + "nop\n" * 9_999 + "halt\n")
    r = CliRunner().invoke(cli, ["--max-file-mib", "1", "asm", str(src), "-o", str(out)])
    assert r.exit_code == 2 and "more than the limit of 1 MiB" in r.output, r.output
