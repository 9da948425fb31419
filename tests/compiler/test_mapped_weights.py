"""Large initializers are mapped from their file (imcc/frontend/external_data.py): the arrays
hold the file's bytes as numpy reads them, at any offset (inside an ``.onnx``, data may start
at any byte), read-only, and ``let_go`` (which BatchNorm folding calls on each weight it
replaced) keeps the values, of a writable mapping's written pages too."""

import mmap

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from imcc.frontend import load_model
from imcc.frontend.external_data import ExternalData, let_go, read_external
from imcc.passes.fold_batchnorm import fold_batchnorm


def _tensor(name: str, shape) -> onnx.TensorProto:
    t = onnx.TensorProto(name=name, data_type=onnx.TensorProto.FLOAT, dims=list(shape))
    t.data_location = onnx.TensorProto.EXTERNAL
    return t


@pytest.mark.parametrize("offset", [0, 4, 1, 4097, 65536 + 3])
def test_mapped_array_is_the_file_bytes(tmp_path, offset):
    values = np.random.default_rng(offset).standard_normal((37, 53)).astype(np.float32)
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x7f" * offset + values.tobytes() + b"tail")
    arr = read_external(_tensor("w", values.shape), ExternalData(path, offset, values.nbytes),
                        "m")
    want = np.fromfile(path, np.uint8)[offset:offset + values.nbytes].view(np.float32)
    assert arr.shape == values.shape and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, want.reshape(values.shape))
    with pytest.raises(ValueError):  # read-only, as the graph's constants are
        arr[3, 4] = 123.0
    let_go(arr)  # the pages leave the process; reading them again gives the same values
    let_go(arr[::2, 1:])  # a view: its pages
    np.testing.assert_array_equal(arr, values)
    assert path.read_bytes()[offset:offset + values.nbytes] == values.tobytes()


def test_let_go_of_a_writable_mapping_keeps_the_pages_written(tmp_path):
    values = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    path = tmp_path / "data.bin"
    path.write_bytes(values.tobytes())
    with open(path, "rb") as f:
        view = mmap.mmap(f.fileno(), values.nbytes, access=mmap.ACCESS_COPY)
    arr = np.frombuffer(view, np.float32)
    arr[4000] = 123.0  # a private copy of the page
    let_go(arr)
    want = values.copy()
    want[4000] = 123.0
    np.testing.assert_array_equal(arr, want)
    assert path.read_bytes() == values.tobytes()


def test_let_go_of_an_array_in_memory_changes_nothing():
    a = np.arange(10000, dtype=np.float32)
    let_go(a)
    let_go(a[5:])
    np.testing.assert_array_equal(a, np.arange(10000, dtype=np.float32))


def _conv_bn_model(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    bn = [rng.uniform(0.5, 2, 64).astype(np.float32) for _ in range(4)]
    inits = [numpy_helper.from_array(w, "w")] + [
        numpy_helper.from_array(v, n) for v, n in zip(bn, ("s", "b", "m", "v"))]
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"])],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 32, 8, 8])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64, 8, 8])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, location="m.data", size_threshold=0)
    return path, w


def test_folding_a_mapped_weight_keeps_both_graphs_values(tmp_path):
    path, w = _conv_bn_model(tmp_path)
    g = load_model(path, {})
    before = np.array(g.constants["w"])
    folded = fold_batchnorm(g)
    np.testing.assert_array_equal(g.constants["w"], w)  # the pass is pure: still readable
    np.testing.assert_array_equal(before, w)
    again = fold_batchnorm(load_model(path, {}))
    for k, v in folded.constants.items():
        np.testing.assert_array_equal(v, again.constants[k])
