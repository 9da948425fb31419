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
