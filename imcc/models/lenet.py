"""LeNet-style CNN with BatchNormalization: two Conv-BN-Relu-MaxPool stages, three Gemm layers."""

from __future__ import annotations

import onnx

from imcc.models.builder import (
    Dim,
    GraphBuilder,
    batchnorm,
    conv,
    gemm,
    maxpool,
    relu,
    torch_flatten,
)

NAMES = ("lenet",)


def build(name: str = "lenet", *, batch: Dim = 1, image: int = 28, channels: int = 1,
          classes: int = 10, widths: tuple[int, int] = (6, 16), opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """LeNet-5 layout (5x5 convolutions, the first padded) with BN after each convolution."""
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    x = b.input("input", [batch, channels, image, image])
    c1, c2 = widths
    h = relu(b, batchnorm(b, conv(b, x, channels, c1, 5, pad=2, name="conv1"), c1, "bn1"),
             "relu1")
    h = maxpool(b, h, 2, 2, name="pool1")
    h = relu(b, batchnorm(b, conv(b, h, c1, c2, 5, name="conv2"), c2, "bn2"), "relu2")
    h = maxpool(b, h, 2, 2, name="pool2")
    side = (image // 2 - 4) // 2
    h = torch_flatten(b, h)
    h = relu(b, gemm(b, h, c2 * side * side, 120, name="fc1"), "relu3")
    h = relu(b, gemm(b, h, 120, 84, name="fc2"), "relu4")
    b.output(gemm(b, h, 84, classes, name="fc3"), "logits", [batch, classes])
    return b.model()
