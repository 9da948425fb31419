"""docs/assembly.md is checked against the assembler: every ```asm block assembles, the error
example prints exactly what the page shows, and the complete example computes x @ W + b
(computed here with numpy) on the reference machine, directly and through the command line."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imcc.cli import cli
from isa.assembler import assemble
from isa.diagnostics import ErrorList, render
from isa.directives import DIRECTIVES
from runtime.config import preset
from runtime.machine import Machine, run_batched

DOC = Path(__file__).resolve().parents[2] / "docs" / "assembly.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", TEXT, flags=re.MULTILINE | re.DOTALL)
ASM = [body for tag, body in BLOCKS if tag == "asm"]
EXAMPLE = next(b for b in ASM if b.startswith("# matvec.s"))
SIGNED = next(b for b in ASM if b.startswith("# signed.s"))

# The oracle of the complete example: its matrix and bias, written out independently.
W = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], np.float64)
BIAS = np.array([0.5, -1.0, 2.25])


def _side_files(folder: Path) -> None:
    """The files that the .npy, .incbin and .map examples name."""
    np.save(folder / "w1.npy", np.arange(6, dtype=np.uint8).reshape(2, 3))
    (folder / "levels.bin").write_bytes(bytes([1, 2, 3, 4, 5]))
    (folder / "lut.bin").write_bytes(bytes(range(8)))
    (folder / "model.map.json").write_text(json.dumps({"arrays": []}))


def test_the_page_has_examples():
    assert len(ASM) >= 15
    assert sum(body.startswith("# matvec.s") for body in ASM) == 1


@pytest.mark.parametrize("body", ASM, ids=[f"block{i}" for i in range(len(ASM))])
def test_asm_block_assembles(body, tmp_path):
    _side_files(tmp_path)
    assemble(body, "doc.s", base_dir=tmp_path)


def test_every_directive_has_an_example():
    statement = re.compile(r"^\s*(?:\w+:\s*)*(\.[a-z0-9]+)", re.MULTILINE)
    used = {m for body in ASM for m in statement.findall(body)}
    assert set(DIRECTIVES) <= used, set(DIRECTIVES) - used


def test_chip_example_names_the_current_rram_hash():
    m = re.search(r'\.chip "rram", "([0-9a-f]+)"', TEXT)
    assert m and m.group(1) == preset("rram").program_hash


def test_error_example_prints_what_the_page_shows():
    idx = next(i for i, (tag, body) in enumerate(BLOCKS) if body.startswith("$ imcc asm bad.s"))
    tag, source = BLOCKS[idx - 1]
    assert tag == "text"
    with pytest.raises(ErrorList) as exc:
        assemble(source, "bad.s")
    shown = BLOCKS[idx][1].split("\n", 1)[1]
    assert render(exc.value) + "\n" == shown


def test_example_on_the_reference_machine():
    asm = assemble(EXAMPLE, "matvec.s")
    assert [(t.name, t.shape) for t in asm.obj.inputs] == [("x", (2, 4))]
    assert [(t.name, t.shape) for t in asm.obj.outputs] == [("y", (2, 3))]
    m = Machine(preset("ideal"), asm.obj, source=asm)
    rng = np.random.default_rng(7)
    for _ in range(3):  # the first run programs the array; later runs start at .rerun
        x = rng.uniform(-4, 4, size=(2, 4)).astype(np.float32)
        y = m.run({"x": x})["y"]
        assert y.dtype == np.float32 and y.shape == (2, 3)
        np.testing.assert_allclose(y, x.astype(np.float64) @ W + BIAS, rtol=1e-6, atol=1e-5)
    assert m.cost.cells_programmed == 12  # wprog ran once, on the first run only


def test_example_in_batches():
    asm = assemble(EXAMPLE, "matvec.s")
    m = Machine(preset("ideal"), asm.obj)
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = run_batched(m, {"x": x})["y"]
    assert m.runs == 3
    np.testing.assert_array_equal(y, x @ W + BIAS)


def test_example_command_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "matvec.s").write_text(EXAMPLE)
    x = np.array([[1, 0, 0, 1], [1, 1, 1, 1]], np.float32)
    np.save(tmp_path / "x.npy", x)
    runner = CliRunner()
    r = runner.invoke(cli, ["asm", "matvec.s", "-o", "matvec.imo"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["run", "matvec.imo", "--input", "x=x.npy", "--output", "y.npz"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "y.npz") as z:
        np.testing.assert_array_equal(z["y"], x @ W + BIAS)
    shown = next(b for tag, b in BLOCKS if tag == "text" and b.startswith("y: float32[2x3]"))
    assert shown in r.output


def test_signed_bit_sliced_example_computes_x_at_w():
    # The oracle: the signed weights the example's cells encode, written out independently.
    w = np.array([[5, -3], [-7, 2], [1, 6]], np.float64)
    x = np.array([[1, 2, 3], [-1, 0.5, 2]], np.float32)
    y = Machine(preset("ideal"), assemble(SIGNED, "signed.s").obj).run({"x": x})["y"]
    np.testing.assert_array_equal(y, x.astype(np.float64) @ w)
    rng = np.random.default_rng(0)
    xs = rng.integers(-8, 8, (2, 3)).astype(np.float32)
    y = Machine(preset("ideal"), assemble(SIGNED, "signed.s").obj).run({"x": xs})["y"]
    np.testing.assert_array_equal(y, xs.astype(np.float64) @ w)
    assert "y = [[-6, 19], [-6.5, 16]]" in TEXT
