"""The weight section's cells are made in place, tile by tile (imcc/codegen/imc.py,
``WeightBlob``): every tile's bytes are those of its slice-blocks cut from the quantized layer
and put side by side, a reference column of zero weights after each block where the scheme has
one, as numpy builds them here; each tile's largest column sum is kept exactly where the
layer's ADC range depends on it. The compile around it is checked to give the same object with
Python's cycle collector running as with it paused."""

import gc
from pathlib import Path

import numpy as np
import pytest

from imcc.codegen import imc
from imcc.codegen.imc import adc_ranged, cell_format
from imcc.compiler import (
    CompileOptions,
    compile_model,
    map_model,
    quantize_weights,
    take_imc_weights,
)
from imcc.precision import precision_from_dict
from imcc.quant import slice_blocks
from imcc.tiling import quantize_layer
from isa import assembler
from isa.objfile import to_bytes
from runtime.config import derive, preset

MODELS = Path(__file__).resolve().parents[2] / "samples" / "models"
CHIPS = {
    "ideal": lambda: preset("ideal"),  # float differential: two blocks per weight
    "ideal-signed": lambda: preset("ideal-signed"),  # float direct: one block
    "ideal-int8": lambda: preset("ideal-int8"),  # 8-bit cells, ideal ADC
    "rram": lambda: preset("rram"),  # 2-bit cells, 8-bit ADC: column sums kept
    "rram-offset": lambda: derive(preset("rram"), {"signed": "offset"}),  # reference columns
    "pcm-arrays": lambda: preset("pcm"),  # with ARRAYS: a block per array
}
ARRAYS = precision_from_dict({"default": {"slices": "arrays"}}, "test")


def _expected_tile(t, lw, dtype) -> np.ndarray:
    """A tile's cells as numpy puts them together: its rows and columns of the quantized
    matrix, a zero column after them for a reference column, cut into the tile's slice-blocks
    and laid side by side."""
    sub = lw.values[t.block][t.k0:t.k1, t.n0:t.n1]
    if t.ref:
        sub = np.concatenate([sub, np.zeros((sub.shape[0], 1), sub.dtype)], axis=1)
    blocks = slice_blocks(sub, lw.spec, t.parts)
    return np.concatenate(list(blocks), axis=1).astype(dtype)


@pytest.mark.parametrize("chip", sorted(CHIPS))
@pytest.mark.parametrize("model", ["lenet.onnx", "depthwise_separable.onnx"])
def test_section_cells_are_the_sliced_tiles(chip, model):
    m = map_model(MODELS / model, CHIPS[chip](), options=CompileOptions(priority="resource"),
                  precision=ARRAYS if chip == "pcm-arrays" else None)
    layers = {p.layer: np.array(m.graph.constants[m.graph.node(p.layer).inputs[1]])
              for p in m.plans}
    m, taken = take_imc_weights(m)
    imc_layers, blob = quantize_weights(m, {p.layer: 0.5 for p in m.plans}, taken)
    section = np.frombuffer(blob, np.uint8)
    seen_ranged = False
    for p in m.plans:
        lw = quantize_layer(p, layers[p.layer])
        dt = np.dtype(cell_format(p)).newbyteorder("<")
        L = imc_layers[p.layer]
        for t in p.tiles:
            want = _expected_tile(t, lw, dt)
            off = L.weight_offset[t.id]
            got = section[off:off + want.nbytes].view(dt).reshape(want.shape)
            np.testing.assert_array_equal(got, want)
            assert got.tobytes() == want.tobytes()  # signed zeros and all
            if adc_ranged(p.precision):
                seen_ranged = True
                sums = np.abs(want.astype(np.float64)).sum(axis=0)
                assert L.col_max[t.id] == float(sums.max())
            else:
                assert L.col_max[t.id] == 0.0
    assert seen_ranged == (chip in ("rram", "rram-offset", "pcm-arrays"))


def test_section_in_memory_is_built_in_place_too(monkeypatch):
    chip = derive(preset("rram"), {"signed": "offset"})
    opts = CompileOptions(priority="resource")
    mapped = compile_model(MODELS / "lenet.onnx", chip, options=opts)
    monkeypatch.setattr(imc, "_spill_file", lambda: None)
    kept = compile_model(MODELS / "lenet.onnx", chip, options=opts)
    assert bytes(mapped.obj.weights) == bytes(kept.obj.weights)
    assert to_bytes(mapped.obj) == to_bytes(kept.obj) and mapped.asm == kept.asm


def test_collector_paused_gives_the_same_object(monkeypatch):
    opts = CompileOptions(priority="resource")
    paused = compile_model(MODELS / "lenet.onnx", preset("rram"), options=opts)
    assert gc.isenabled()  # given back as it was
    monkeypatch.setattr(assembler, "collector_paused", _running)
    monkeypatch.setattr("imcc.compiler.collector_paused", _running)
    running = compile_model(MODELS / "lenet.onnx", preset("rram"), options=opts)
    assert to_bytes(paused.obj) == to_bytes(running.obj) and paused.asm == running.asm


class _running:
    """A stand-in for ``collector_paused`` that collects all along, and often."""

    def __enter__(self):
        self.was = gc.get_threshold()
        gc.set_threshold(10, 2, 2)
        assert gc.isenabled()

    def __exit__(self, *exc):
        gc.set_threshold(*self.was)


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_quantize_in_chunks_is_the_whole_array_formula(monkeypatch, chunk):
    """quantize computes levels a chunk of rows at a time in the narrowest integers: the same
    values as the formula on the whole array (rint(W / (max|W| / qmax)), clipped; a given
    scale kept where every level fits), for several bit widths, percentiles and views."""
    from imcc import quant

    monkeypatch.setattr(quant, "_CHUNK", chunk)
    rng = np.random.default_rng(3)
    for trial in range(60):
        k, n = int(rng.integers(1, 90)), int(rng.integers(1, 30))
        w = (rng.standard_normal((n, k)) * rng.choice([1e-3, 1.0, 50.0])).astype(np.float32).T
        w[:, 0] = 0 if trial % 4 == 0 else w[:, 0]
        bits = int(rng.choice([2, 4, 8, 9, 16, 17]))
        qmax = (1 << (bits - 1)) - 1
        pct = 99.0 if trial % 3 == 0 else None
        r = np.abs(w).max(axis=0) if pct is None else \
            np.percentile(np.abs(w), pct, axis=0).astype(np.float32)
        scale = np.where(r > 0, r / qmax, 1.0).astype(np.float32)
        given = scale * np.float32(rng.choice([0.5, 1.0, 2.0])) if trial % 2 else None
        want_scale = scale
        if given is not None and np.abs(np.rint(w / given)).max() <= qmax:
            want_scale = given
        want = np.clip(np.rint(np.divide(w, want_scale, dtype=np.float32)), -qmax, qmax)
        got = quant.quantize(w, bits, pct, given)
        assert np.array_equal(got.scale, want_scale)
        assert np.array_equal(got.values, want) and got.values.itemsize <= (1 if bits <= 8 else 4)
