"""DenseNets: a dense block + transition model, and DenseNet-121 with the layers and sizes of
torchvision's ``densenet121`` (8.0 M parameters)."""

from __future__ import annotations

import onnx

from imcc.models.builder import (
    Dim,
    GraphBuilder,
    avgpool,
    batchnorm,
    conv,
    flatten,
    gemm,
    maxpool,
    relu,
)

NAMES = ("dense_block", "densenet121")


def dense_layer(b, x, cin, growth, bn_size, name):
    """BN-Relu-conv1x1(bn_size * growth)-BN-Relu-conv3x3(growth)."""
    h = relu(b, batchnorm(b, x, cin, f"{name}.norm1"), f"{name}.relu1")
    h = conv(b, h, cin, bn_size * growth, 1, bias=False, name=f"{name}.conv1")
    h = relu(b, batchnorm(b, h, bn_size * growth, f"{name}.norm2"), f"{name}.relu2")
    return conv(b, h, bn_size * growth, growth, 3, pad=1, bias=False, name=f"{name}.conv2")


def dense_block(b, x, cin, layers, growth, bn_size, name):
    """Each layer reads the concatenation of the block input and every earlier layer's output."""
    feats = [x]
    for i in range(layers):
        inp = feats[0] if len(feats) == 1 else b.node(
            "Concat", feats, name=f"/{name}/denselayer{i + 1}/Concat", axis=1)
        feats.append(dense_layer(b, inp, cin + i * growth, growth, bn_size,
                                 f"{name}.denselayer{i + 1}"))
    return b.node("Concat", feats, name=f"/{name}/Concat", axis=1), cin + layers * growth


def transition(b, x, cin, cout, name):
    h = relu(b, batchnorm(b, x, cin, f"{name}.norm"), f"{name}.relu")
    h = conv(b, h, cin, cout, 1, bias=False, name=f"{name}.conv")
    return avgpool(b, h, 2, 2, name=f"{name}.pool")


def build(name: str = "densenet121", *, batch: Dim = 1, image: int | None = None,
          classes: int = 1000, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16),
          init_features: int = 64, bn_size: int = 4, channels: int = 8, layers: int = 3,
          opset: int = 17, weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """``densenet121`` (``growth``, ``blocks``, ``init_features``, ``bn_size`` as torchvision),
    or ``dense_block``: a ``layers``-layer dense block on ``channels`` inputs, then a
    transition that halves channels and resolution."""
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    if name == "dense_block":
        image = image or 8
        x = b.input("input", [batch, channels, image, image])
        h, c = dense_block(b, x, channels, layers, growth, bn_size, "block")
        h = transition(b, h, c, c // 2, "transition")
        b.output(h, "output", [batch, c // 2, image // 2, image // 2])
        return b.model()
    if name != "densenet121":
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(NAMES)}")
    image = image or 224
    x = b.input("input", [batch, 3, image, image])
    h = conv(b, x, 3, init_features, 7, stride=2, pad=3, bias=False, name="features.conv0")
    h = relu(b, batchnorm(b, h, init_features, "features.norm0"), "features.relu0")
    h = maxpool(b, h, 3, 2, 1, name="features.pool0")
    c = init_features
    for i, n in enumerate(blocks):
        h, c = dense_block(b, h, c, n, growth, bn_size, f"features.denseblock{i + 1}")
        if i != len(blocks) - 1:
            h = transition(b, h, c, c // 2, f"features.transition{i + 1}")
            c //= 2
    h = relu(b, batchnorm(b, h, c, "features.norm5"), "relu")
    h = flatten(b, b.node("GlobalAveragePool", [h], name="/GlobalAveragePool"))
    b.output(gemm(b, h, c, classes, name="classifier"), "logits", [batch, classes])
    return b.model()
