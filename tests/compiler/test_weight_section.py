"""The weight section of a compiled model is written to an unnamed temporary file and mapped
read-only: the same bytes as the section built in memory, and a full disk is one error line."""

import mmap
import pickle
from pathlib import Path

import numpy as np
import pytest

from imcc.codegen import imc
from imcc.compiler import CompileOptions, compile_model
from isa.diagnostics import OutputError
from isa.objfile import from_bytes, to_bytes
from runtime.config import preset
from runtime.machine import Machine

MODEL = Path(__file__).resolve().parents[2] / "samples" / "models" / "lenet.onnx"


def _compile(chip="ideal"):
    return compile_model(MODEL, preset(chip), options=CompileOptions(priority="resource"))


@pytest.mark.parametrize("chip", ["ideal", "ideal-int8"])
def test_mapped_section_equals_the_section_built_in_memory(chip, monkeypatch):
    mapped = _compile(chip)
    w = mapped.obj.weights
    assert isinstance(w, memoryview) and w.readonly and isinstance(w.obj, mmap.mmap)
    monkeypatch.setattr(imc, "_spill_file", lambda: None)  # no temporary file: in memory
    kept = _compile(chip)
    assert not isinstance(kept.obj.weights.obj, mmap.mmap)
    assert to_bytes(mapped.obj) == to_bytes(kept.obj)
    assert mapped.asm == kept.asm


def test_mapped_section_pickles_and_runs():
    res = _compile()
    back = pickle.loads(pickle.dumps(res.obj))
    assert type(back.weights) is bytes and to_bytes(back) == to_bytes(res.obj)
    x = np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)
    name = res.obj.inputs[0].name
    a = Machine(res.chip, res.obj).run({name: x})
    b = Machine(res.chip, from_bytes(to_bytes(res.obj))).run({name: x})
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


class _FullDisk:
    def seek(self, off):
        return off

    def write(self, data):
        raise OSError(28, "No space left on device")

    def close(self):
        pass


def test_a_full_disk_is_one_error_line(monkeypatch):
    monkeypatch.setattr(imc, "_spill_file", _FullDisk)
    with pytest.raises(OutputError, match="cannot write the weight section to a temporary "
                                          "file in .*: No space left on device") as e:
        _compile()
    assert "TMPDIR" in e.value.hint and "\n" not in e.value.message


def test_object_written_piece_by_piece_from_the_mapped_section(tmp_path, monkeypatch):
    from isa import objfile
    from isa.objfile import read_object, write_object

    res = _compile()
    whole = to_bytes(res.obj)
    monkeypatch.setattr(objfile, "_MAPPED_PIECE", 4096)  # many pieces, each let go of
    assert len(list(objfile._mapped_pieces(memoryview(res.obj.weights)))) > 2
    write_object(res.obj, tmp_path / "m.imo")
    assert (tmp_path / "m.imo").read_bytes() == whole
    assert bytes(res.obj.weights) == bytes(read_object(tmp_path / "m.imo").weights)


def test_sections_compared_piece_by_piece(monkeypatch):
    from isa import objfile

    a, b = _compile().obj.weights, _compile().obj.weights
    monkeypatch.setattr(objfile, "_MAPPED_PIECE", 4096)
    assert objfile.same_bytes(a, b) and objfile.same_bytes(a, bytes(b))
    changed = bytearray(b)
    changed[len(changed) // 2] ^= 1
    assert not objfile.same_bytes(a, changed) and not objfile.same_bytes(a, bytes(b)[:-4])
    assert bytes(a) == bytes(b)  # still readable after its pages were let go of


def test_crossbar_weights_are_let_go_of_once_written():
    """After take_imc_weights the mapped graph holds stand-ins, and quantizing drops each
    crossbar-only weight: nothing of the compile keeps the model's weights alive."""
    import gc
    import weakref

    from imcc.compiler import input_scales, quantize_weights, take_imc_weights
    from imcc.mapper import map_model

    m = map_model(MODEL, preset("ideal"), options=CompileOptions(priority="resource"))
    in_scale = input_scales(m, None, CompileOptions(), [], lambda _m: None)
    names = {m.graph.node(p.layer).inputs[1] for p in m.plans}
    refs = [weakref.ref(m.graph.constants[w]) for w in names]
    m, weights = take_imc_weights(m)
    assert set(weights) == names
    assert all(m.graph.constants[w].strides == (0,) * m.graph.constants[w].ndim for w in names)
    quantize_weights(m, in_scale, weights)
    gc.collect()
    assert not weights and all(r() is None for r in refs)
