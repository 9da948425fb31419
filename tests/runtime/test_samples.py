"""The hand-written samples produce exactly what their comments state, computed here with
numpy from the matrices written in those comments."""

from pathlib import Path

import numpy as np

from isa.assembler import assemble_file
from runtime.config import preset
from runtime.machine import Machine

ASM = Path(__file__).resolve().parents[2] / "samples" / "asm"


def _run(name, runs=2):
    asm = assemble_file(ASM / name)
    m = Machine(preset("ideal"), asm.obj, source=asm)
    outs = [m.run({}) for _ in range(runs)]  # a rerun (from .rerun, if any) gives the same
    for o in outs[1:]:
        assert all(np.array_equal(o[k], outs[0][k]) for k in o)
    return outs[0]


def test_dot():
    x = np.array([[1, 0, 0, 1], [1, 1, 1, 1]])
    w = np.arange(1, 13).reshape(4, 3)
    y = _run("dot.s")["y"]
    assert np.array_equal(y, x @ w)
    assert y.tolist() == [[11, 13, 15], [22, 26, 30]]


def test_batch_loop():
    w = np.array([[1, 0], [0, 1], [1, 1], [2, 3]])
    x = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [10, 10, 10, 10], [5, 0, 5, 0]])
    h = x @ w
    assert h.tolist() == [[12, 17], [0, 0], [40, 50], [10, 5]]
    y = _run("batch_loop.s")["y"]
    assert np.array_equal(y, np.maximum(h * 0.5 - 10, 0))
    assert y.tolist() == [[0, 0], [0, 0], [10, 15], [0, 0]]


def test_two_tiles():
    x = np.array([[1, 2, 3]])
    w1 = np.array([[1, 1], [0, 2], [3, 0]])
    w2 = np.array([[1, 0, 2], [1, 1, 0]])
    assert (x @ w1).tolist() == [[10, 5]]
    y = _run("two_tiles.s")["y"]
    assert np.array_equal(y, x @ w1 @ w2)
    assert y.tolist() == [[15, 5, 20]]
