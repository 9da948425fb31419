"""Weight memory past 4 GiB: ``wprog`` reads at ``wpage * 2**32 + rs1`` (CSR ``wpage``)."""

import dataclasses
import mmap
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

from isa.assembler import assemble
from isa.spec import WEIGHT_PAGE
from runtime.config import preset
from runtime.machine import Machine

SRC = """
.input "x", x, [1, 4]
.output "y", y, [1, 3]
    cfgi wpage, {page}
    cfgi xbh, 4
    cfgi xbw, 3
    cfgi ibits, 8
    cfgi isgn, 1
    cfgi dacb, 8
    li x5, {offset}
    wprog x5
    li x6, x
    li x7, y
    mvm x7, x6
    halt
.data
x: .zero 16
y: .zero 12
.weights
    .u8 0
"""


def _sparse_weights(tmp_path, writes: dict[int, np.ndarray], size: int):
    """A read-only map of a sparse file of ``size`` bytes holding ``writes`` (offset -> bytes):
    a weight section past 4 GiB without 4 GiB of memory or disk."""
    path = tmp_path / "weights.bin"
    with open(path, "wb") as f:
        f.truncate(size)
        for off, data in writes.items():
            f.seek(off)
            f.write(data.tobytes())
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


@pytest.mark.parametrize("page, offset", [(1, 16), (0, 16), (1, 0)])
def test_wprog_reads_the_page_wpage_names(tmp_path, page, offset):
    rng = np.random.default_rng(page * 7 + offset)
    low, high = (rng.integers(0, 256, (4, 3), dtype=np.uint8) for _ in range(2))
    weights = _sparse_weights(tmp_path, {offset: low, WEIGHT_PAGE + offset: high},
                              WEIGHT_PAGE + 4096)
    obj = assemble(textwrap.dedent(SRC.format(page=page, offset=offset)), "t.s").obj
    m = Machine(preset("ideal-int8"), dataclasses.replace(obj, weights=weights))
    x = rng.integers(-100, 100, (1, 4)).astype(np.float32)
    y = m.run({"x": x})["y"]
    g = (high if page else low).astype(np.float64)
    np.testing.assert_array_equal(y, x.astype(np.float64) @ g)
    del m
    weights.close()


def test_wprog_past_the_end_of_a_paged_section_traps(tmp_path):
    from isa.diagnostics import MachineTrap

    weights = _sparse_weights(tmp_path, {}, 4096)
    obj = assemble(textwrap.dedent(SRC.format(page=1, offset=0)), "t.s").obj
    m = Machine(preset("ideal-int8"), dataclasses.replace(obj, weights=weights))
    with pytest.raises(MachineTrap, match="at offset 0x100000000 run past the end of weight memory"):
        m.run({"x": np.zeros((1, 4), np.float32)})
    del m
    weights.close()


@pytest.mark.parametrize("chip", ["ideal", "ideal-int8"])
def test_a_compiled_program_split_over_pages_computes_the_same(monkeypatch, chip):
    """The code generator's pages and the machine's addressing agree: with pages of 64 bytes
    (the cnn's few kB of cells on 32x32 arrays) the program sets wpage per tile and computes
    the same bits as the one-page program (tiles straddle pages too); on the float chip, what
    onnxruntime computes."""
    import imcc
    from imcc.codegen import imc
    from runtime.ops import xbar
    from tests.hardening.helpers import SAMPLES

    model = SAMPLES / "digits" / "cnn.onnx"
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    small = {"rows": 32, "cols": 32}
    one = imcc.compile(str(model), chip=chip, set=small)
    monkeypatch.setattr(imc, "WEIGHT_PAGE", 64)
    monkeypatch.setattr(xbar, "WEIGHT_PAGE", 64)
    paged = imcc.compile(str(model), chip=chip, set=small)
    assert paged.asm.count("cfgi wpage") >= 4 and "wpage" not in one.asm
    a, b = (list(p.run({"input": x}).values())[0] for p in (one, paged))
    np.testing.assert_array_equal(a, b)
    if chip == "ideal":
        ref = ort.InferenceSession(str(model)).run(None, {"input": x})[0]
        np.testing.assert_allclose(b, ref, rtol=1e-4, atol=1e-5)
