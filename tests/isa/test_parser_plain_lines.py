"""The plain lines of assembly (what the code generator writes most) are read without the
grammar: the same nodes, errors and recovery as the grammar's parse of every line, on compiled
models' assembly, the samples, and seeded damage to them."""

import random
from pathlib import Path

import pytest

from isa.parser import _plain_line, parse_recovering

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def texts():
    from imcc.compiler import CompileOptions, compile_model
    from runtime.config import preset

    out = [p.read_text() for p in sorted((ROOT / "samples" / "asm").glob("*.s"))]
    for model, chip in (("tiny_gpt2", "ideal"),):
        out.append(compile_model(ROOT / "samples" / "models" / f"{model}.onnx", preset(chip),
                                 options=CompileOptions(priority="resource")).asm)
    return out


def _same(text: str) -> None:
    a, ea = parse_recovering(text, "f.s")
    b, eb = parse_recovering(text, "f.s", plain=False)
    assert a == b
    assert [(e.message, e.span) for e in ea] == [(e.message, e.span) for e in eb]


def test_compiled_assembly_reads_the_same(texts):
    for t in texts:
        _same(t)
    generated = texts[-1].split("\n")
    plain = sum(_plain_line(r, i + 1) is not None for i, r in enumerate(generated))
    assert plain > 0.95 * len(generated)  # the fast path does serve the compiler's output


@pytest.mark.parametrize("row", [
    "li x1, 5", "li x1,5#c", "start: halt", "a:", "  # only a comment", "",
    "li x10, weights + 0x10", "li x1, 0x", "li x1, 0x1_0", "li x1, 1_0", "li x1, 1.5",
    "li x1, -5", "li x1, a + b", "li x1, a + 1 + 2", "li , x1", "li x1,", "li x1 x2",
    "li x1, 99999999999999999999", "li x1, 0xfffffffffffffffff", "lw x1, 4(x2)",
    "a: b: halt", "li\tx1,\t5", ".equ n, 0x4a80    # note", "li x1, 5\r", "li x1, 0b101",
    "0x: halt", ".incbin \"f.bin\"", "li x1, 018", "li x1, 0x00000000000000001"])
def test_each_form_reads_the_same(row):
    _same(row + "\n")


def test_damaged_assembly_reads_the_same(texts):
    rng = random.Random(7)
    pieces = list(' \t,:#+-*()[]"x019aZ._$%') + ["0x", "\n", "%hi(", "1.5", "\r"]
    for _ in range(80):
        rows = rng.choice(texts).split("\n")[:80]
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(rows))
            j = rng.randint(0, len(rows[i]))
            rows[i] = rows[i][:j] + rng.choice(pieces) + rows[i][j + rng.randint(0, 1):]
        _same("\n".join(rows))
