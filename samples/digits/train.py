"""Train the digit sample models once, in plain numpy, and export them to ONNX.

    python samples/digits/train.py [--seed 0] [--out samples/digits]

Writes ``linear.onnx``, ``mlp.onnx``, ``cnn.onnx`` and the held-back split ``test.npz`` (keys
``x`` float32 [n, 64], ``x_img`` float32 [n, 1, 8, 8], ``y`` int64 [n]), each atomically, and
prints every model's train/test top-1 accuracy as measured on the exported ONNX file by
``onnx.reference.ReferenceEvaluator``. The same seed gives the same bytes.

scikit-learn is needed here only for its bundled copy of the 8x8 digits set; nothing else in the
project imports it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from artifacts import npz_bytes, write_atomic
from export import to_onnx
from layers import BatchNorm2d, Conv2d, Dense, Flatten, MaxPool2d, Relu, Sequential
from onnx.reference import ReferenceEvaluator
from optim import TrainConfig, accuracy, train

TEST_FRACTION = 0.3
N_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """Pixels scaled to [0, 1] as float32 rows of 64, and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices holding back ``fraction`` of every class for the test."""
    test = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test.append(members[: round(fraction * len(members))])
    test_idx = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(y)), test_idx), test_idx


def load_split(rng: np.random.Generator) -> Split:
    """scikit-learn's 8x8 digits (1797 images), pixel / 16, split with :func:`stratified_split`."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train_idx, test_idx = stratified_split(y, TEST_FRACTION, rng)
    return Split(x[train_idx], y[train_idx], x[test_idx], y[test_idx])


def build_linear(rng: np.random.Generator) -> Sequential:
    """Softmax regression: one Gemm 64 -> 10."""
    return Sequential([("fc", Dense(64, N_CLASSES, rng))])


def build_mlp(rng: np.random.Generator) -> Sequential:
    """MLP 64 -> 64 -> 32 -> 10 with ReLU."""
    return Sequential(
        [
            ("fc1", Dense(64, 64, rng)),
            ("relu1", Relu()),
            ("fc2", Dense(64, 32, rng)),
            ("relu2", Relu()),
            ("fc3", Dense(32, N_CLASSES, rng)),
        ]
    )


def build_cnn(rng: np.random.Generator) -> Sequential:
    """Two (Conv 3x3 + BatchNorm + ReLU + MaxPool 2x2) stages on 1x8x8, then Flatten + Gemm."""
    return Sequential(
        [
            ("conv1", Conv2d(1, 8, 3, rng)),
            ("bn1", BatchNorm2d(8)),
            ("relu1", Relu()),
            ("pool1", MaxPool2d()),
            ("conv2", Conv2d(8, 16, 3, rng)),
            ("bn2", BatchNorm2d(16)),
            ("relu2", Relu()),
            ("pool2", MaxPool2d()),
            ("flatten", Flatten()),
            ("fc", Dense(16 * 2 * 2, N_CLASSES, rng)),
        ]
    )


@dataclass(frozen=True)
class ModelSpec:
    """How one sample is built, fed, trained and described."""

    name: str
    build: Callable[[np.random.Generator], Sequential]
    input_shape: tuple[int, ...]
    config: TrainConfig
    doc: str


SPECS = (
    ModelSpec(
        "linear",
        build_linear,
        (64,),
        TrainConfig(epochs=100, lr=1e-2, weight_decay=1e-3),
        "Softmax regression: Gemm 64 -> 10.",
    ),
    ModelSpec(
        "mlp", build_mlp, (64,), TrainConfig(epochs=100), "MLP 64 -> 64 -> 32 -> 10 with ReLU."
    ),
    ModelSpec(
        "cnn",
        build_cnn,
        (1, 8, 8),
        TrainConfig(epochs=60),
        "CNN: 2 x (Conv 3x3 + BatchNormalization + Relu + MaxPool 2x2), Flatten, Gemm.",
    ),
)

DOC_SUFFIX = (
    " Classifies 8x8 handwritten digits (scikit-learn load_digits, pixel / 16, float32)."
    " Input 'input' [N, ...], output 'logits' [N, 10]. Made by samples/digits/train.py."
)


def as_input(x: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Rows of 64 pixels reshaped to the model's input shape."""
    return x.reshape(len(x), *spec.input_shape)


def onnx_accuracy(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the exported model under onnx's reference evaluator."""
    (logits,) = ReferenceEvaluator(model).run(None, {"input": x})
    return float((logits.argmax(axis=1) == y).mean())


def make_model(spec: ModelSpec, data: Split, seed: int) -> onnx.ModelProto:
    """Trains one sample from its own seeded stream and exports it."""
    rng = np.random.default_rng([seed, SPECS.index(spec) + 1])
    model = spec.build(rng)
    x_train = as_input(data.x_train, spec).astype(np.float64)
    train(model, x_train, data.y_train, spec.config, rng)
    numpy_acc = accuracy(model, as_input(data.x_test, spec).astype(np.float64), data.y_test)
    print(f"{spec.name}: numpy float64 test accuracy {numpy_acc:.4f}", file=sys.stderr)
    return to_onnx(model, spec.input_shape, N_CLASSES, spec.doc + DOC_SUFFIX)


def held_back_arrays(data: Split) -> dict[str, np.ndarray]:
    """The held-back split as stored in test.npz."""
    x = np.ascontiguousarray(data.x_test, dtype=np.float32)
    return {"x": x, "x_img": x.reshape(-1, 1, 8, 8), "y": data.y_test.astype(np.int64)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: split, train, export and report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    data = load_split(np.random.default_rng([args.seed, 0]))
    write_atomic(args.out / "test.npz", npz_bytes(held_back_arrays(data)))
    print(f"split: {len(data.y_train)} train, {len(data.y_test)} test")
    for spec in SPECS:
        model = make_model(spec, data, args.seed)
        path = args.out / f"{spec.name}.onnx"
        write_atomic(path, model.SerializeToString(deterministic=True))
        train_acc = onnx_accuracy(model, as_input(data.x_train, spec), data.y_train)
        test_acc = onnx_accuracy(model, as_input(data.x_test, spec), data.y_test)
        print(
            f"{path.name:12s} train {train_acc:.4f}  test {test_acc:.4f}  "
            f"{path.stat().st_size} bytes"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
