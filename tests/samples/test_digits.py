"""The digit samples: held-back split, ONNX validity, and float accuracy under independent oracles.

Oracles: ``onnx.reference.ReferenceEvaluator`` always, onnxruntime when installed, and for the
Gemm-only models a plain numpy forward pass computed straight from the initializers. Nothing here
needs scikit-learn (it is only used by ``samples/digits/train.py``).
"""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"
MIN_ACCURACY = 0.95
# Which array of test.npz each model reads, and the node pattern it must keep (BN unfused).
MODELS = {
    "linear": ("x", ["Gemm"]),
    "mlp": ("x", ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]),
    "cnn": (
        "x_img",
        ["Conv", "BatchNormalization", "Relu", "MaxPool"] * 2 + ["Flatten", "Gemm"],
    ),
}


@pytest.fixture(scope="module")
def split() -> dict[str, np.ndarray]:
    with np.load(DIGITS / "test.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def load(name: str) -> onnx.ModelProto:
    return onnx.load(DIGITS / f"{name}.onnx")


def reference_logits(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    (logits,) = ReferenceEvaluator(model).run(None, {"input": x})
    return logits


def top1(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


def test_split_shapes_and_dtypes(split):
    x, x_img, y = split["x"], split["x_img"], split["y"]
    n = len(y)
    assert set(split) == {"x", "x_img", "y"}
    assert x.dtype == np.float32 and x.shape == (n, 64)
    assert x_img.dtype == np.float32 and x_img.shape == (n, 1, 8, 8)
    assert y.dtype == np.int64 and y.shape == (n,)
    np.testing.assert_array_equal(x_img.reshape(n, 64), x)


def test_split_is_pixels_over_16_and_stratified(split):
    x, y = split["x"], split["y"]
    levels = x * 16
    np.testing.assert_array_equal(levels, np.round(levels))
    assert levels.min() == 0 and levels.max() == 16
    counts = np.bincount(y, minlength=10)
    assert len(counts) == 10 and counts.min() > 0, counts
    # 30 % of each class of scikit-learn's 1797 digits (174..183 per class) is 52..55.
    assert 500 <= len(y) <= 560 and counts.min() >= 50 and counts.max() <= 56, counts


def dims(value: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


@pytest.mark.parametrize("name", MODELS)
def test_model_passes_checker_with_symbolic_batch(name):
    model = load(name)
    onnx.checker.check_model(model, full_check=True)
    assert [(op.domain, op.version) for op in model.opset_import] == [("", 17)]
    (inp,), (out,) = model.graph.input, model.graph.output
    in_shape = [64] if MODELS[name][0] == "x" else [1, 8, 8]
    assert (inp.name, dims(inp)) == ("input", ["N", *in_shape])
    assert (out.name, dims(out)) == ("logits", ["N", 10])


@pytest.mark.parametrize("name", MODELS)
def test_model_keeps_pytorch_like_node_pattern(name):
    graph = load(name).graph
    assert [node.op_type for node in graph.node] == MODELS[name][1]
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Gemm":
            assert attrs.get("transB") == 1 and not attrs.get("transA", 0)
        if node.op_type == "BatchNormalization":
            assert not attrs.get("training_mode", 0) and len(node.output) == 1


@pytest.mark.parametrize("name", MODELS)
def test_float_accuracy_under_reference_evaluator(name, split):
    key = MODELS[name][0]
    accuracy = top1(reference_logits(load(name), split[key]), split["y"])
    assert accuracy >= MIN_ACCURACY, f"{name}: top-1 {accuracy:.4f}"


@pytest.mark.parametrize("name", MODELS)
def test_batch_dimension_is_free(name, split):
    model, x = load(name), split[MODELS[name][0]]
    full = reference_logits(model, x[:7])
    for rows in (slice(0, 1), slice(1, 4)):
        np.testing.assert_allclose(
            reference_logits(model, x[rows]), full[rows], rtol=1e-5, atol=1e-5
        )


def assert_same_predictions(a: np.ndarray, b: np.ndarray) -> None:
    """Logits agree closely and top-1 matches wherever the top-2 margin is not a near tie."""
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    top2 = np.sort(a, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    np.testing.assert_array_equal(a.argmax(axis=1)[clear], b.argmax(axis=1)[clear])


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_agrees_with_reference(name, split):
    ort = pytest.importorskip("onnxruntime")
    path, x = DIGITS / f"{name}.onnx", split[MODELS[name][0]]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ort_logits,) = session.run(None, {"input": x})
    ref_logits = reference_logits(load(name), x)
    assert_same_predictions(ort_logits, ref_logits)
    assert top1(ort_logits, split["y"]) >= MIN_ACCURACY


def numpy_gemm_chain(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """Plain-numpy forward pass of a Gemm(transB=1)/Relu chain, read from the initializers."""
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gemm":
            x = x @ weights[node.input[1]].T + weights[node.input[2]]
        else:
            x = np.maximum(x, 0)
    return x


@pytest.mark.parametrize("name", ["linear", "mlp"])
def test_numpy_forward_agrees_with_reference(name, split):
    model = load(name)
    expected = numpy_gemm_chain(model, split["x"].astype(np.float64))
    assert_same_predictions(reference_logits(model, split["x"]), expected)


@pytest.mark.parametrize("name", MODELS)
def test_sample_files_stay_small(name):
    assert (DIGITS / f"{name}.onnx").stat().st_size < 64 * 1024
    assert (DIGITS / "test.npz").stat().st_size < 128 * 1024
