"""Unsafe paths and output files: external data and included files that leave their folder
(``..``, absolute paths, symlinks) are refused; a failed command writes nothing and leaves a
file already at the output path as it was. Each case asserts the exit status, the message and
that no file was written."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.hardening.helpers import SAMPLES, assert_user_error, imcc


def _external_model(folder, location="w.bin"):
    w = np.arange(32, dtype=np.float32).reshape(8, 4)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [numpy_helper.from_array(w, "w")])
    p = folder / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p,
              save_as_external_data=True, location=location, size_threshold=0)
    return p


def _relocate(p, location):
    m = onnx.load(p, load_external_data=False)
    for e in m.graph.initializer[0].external_data:
        if e.key == "location":
            e.value = location
    p.write_bytes(m.SerializeToString())


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "symlinked-folder"])
def test_external_data_must_stay_in_the_models_folder(tmp_path, how):
    inner = tmp_path / "model"
    inner.mkdir()
    p = _external_model(inner)
    secret = tmp_path / "secret.bin"
    secret.write_bytes((inner / "w.bin").read_bytes())
    if how == "dotdot":
        _relocate(p, "../secret.bin")
    elif how == "absolute":
        _relocate(p, str(secret))
    elif how == "symlink":
        (inner / "w.bin").unlink()
        (inner / "w.bin").symlink_to(secret)
    else:
        (inner / "w.bin").unlink()
        (inner / "sub").symlink_to(tmp_path, target_is_directory=True)
        _relocate(p, "sub/secret.bin")
    out = tmp_path / "m.imo"
    needle = "is absolute" if how == "absolute" else "leaves the model's folder"
    assert_user_error(imcc("compile", p, "-o", out), needle, no_files=[out])


@pytest.mark.parametrize("path", ["../secret.bin", "/etc/hostname", "link.bin"])
def test_included_files_must_stay_in_the_sources_folder(tmp_path, path):
    inner = tmp_path / "src"
    inner.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x01\x02\x03\x04")
    (inner / "link.bin").symlink_to(tmp_path / "secret.bin")
    src = inner / "p.s"
    src.write_text(f'.text\nhalt\n.weights\nw: .incbin "{path}"\n')
    out = tmp_path / "p.imo"
    assert_user_error(imcc("asm", src, "-o", out), "p.s:4:12", "outside the source's folder",
                      no_files=[out])


def test_a_failed_compile_leaves_the_previous_output_alone(tmp_path):
    good = tmp_path / "m.imo"
    assert imcc("compile", SAMPLES / "models" / "mlp.onnx", "-o", good, "--no-estimate",
                "-q", "-S", "--map", tmp_path / "map.json").exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    r = imcc("compile", bad, "-o", good, "-S", "--map", tmp_path / "map.json")
    assert_user_error(r, "not a readable ONNX model")
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "bad.onnx"}
    assert after == before


def test_one_unwritable_output_means_no_output_at_all(tmp_path):
    """The object and the map are written all or nothing: a map path in a missing folder
    fails the command before the object appears (and an old object stays as it was)."""
    obj = tmp_path / "m.imo"
    obj.write_bytes(b"old")
    r = imcc("compile", SAMPLES / "models" / "mlp.onnx", "-o", obj, "--no-estimate", "-q",
             "--map", tmp_path / "missing" / "map.json")
    assert_user_error(r, "cannot write", "map.json")
    assert obj.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.imo"]
