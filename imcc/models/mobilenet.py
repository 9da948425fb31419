"""Depthwise-separable convolutions: a MobileNet-v1 style block model, and MobileNetV2 with the
layers and sizes of torchvision's ``mobilenet_v2`` (3.5 M parameters)."""

from __future__ import annotations

import onnx

from imcc.models.builder import Dim, GraphBuilder, batchnorm, conv, flatten, gemm, relu, relu6
from imcc.models.builder import dropout as dropout_layer

NAMES = ("depthwise_separable", "mobilenet_v2")
_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))


def _cbr(b, x, cin, cout, k, stride, groups, name, act="relu6"):
    h = batchnorm(b, conv(b, x, cin, cout, k, stride=stride, pad=k // 2, groups=groups,
                          bias=False, name=f"{name}.0"), cout, f"{name}.1")
    if act == "relu6":
        return relu6(b, h, f"{name}.2")
    return relu(b, h, f"{name}.2") if act == "relu" else h


def inverted_residual(b, x, cin, cout, stride, expand, name):
    """1x1 expansion (unless expand == 1), 3x3 depthwise, 1x1 linear projection, + residual
    when the shape is kept."""
    hidden = cin * expand
    h = x
    k = 0
    if expand != 1:
        h = _cbr(b, h, cin, hidden, 1, 1, 1, f"{name}.conv.{k}")
        k += 1
    h = _cbr(b, h, hidden, hidden, 3, stride, hidden, f"{name}.conv.{k}")
    h = batchnorm(b, conv(b, h, hidden, cout, 1, bias=False, name=f"{name}.conv.{k + 1}"),
                  cout, f"{name}.conv.{k + 2}")
    if stride == 1 and cin == cout:
        h = b.node("Add", [x, h], name=f"/{name}/Add")
    return h


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def build(name: str = "mobilenet_v2", *, batch: Dim = 1, image: int | None = None,
          classes: int = 1000, width: float = 1.0, channels: int = 8, out_channels: int = 16,
          opset: int = 17, weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """``mobilenet_v2`` (``width`` multiplier), or ``depthwise_separable``: two blocks of
    3x3 depthwise conv-BN-Relu + 1x1 pointwise conv-BN-Relu (the first with stride 2)."""
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    if name == "depthwise_separable":
        image = image or 16
        x = b.input("input", [batch, channels, image, image])
        h = _cbr(b, x, channels, channels, 3, 2, channels, "dw1", "relu")
        h = _cbr(b, h, channels, out_channels, 1, 1, 1, "pw1", "relu")
        h = _cbr(b, h, out_channels, out_channels, 3, 1, out_channels, "dw2", "relu")
        h = _cbr(b, h, out_channels, out_channels, 1, 1, 1, "pw2", "relu")
        side = (image + 1) // 2
        b.output(h, "output", [batch, out_channels, side, side])
        return b.model()
    if name != "mobilenet_v2":
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(NAMES)}")
    image = image or 224
    x = b.input("input", [batch, 3, image, image])
    cin = _make_divisible(32 * width)
    last = _make_divisible(1280 * max(1.0, width))
    h = _cbr(b, x, 3, cin, 3, 2, 1, "features.0")
    idx = 1
    for t, c, n, s in _V2_SETTINGS:
        cout = _make_divisible(c * width)
        for i in range(n):
            h = inverted_residual(b, h, cin, cout, s if i == 0 else 1, t, f"features.{idx}")
            cin, idx = cout, idx + 1
    h = _cbr(b, h, cin, last, 1, 1, 1, f"features.{idx}")
    h = flatten(b, b.node("GlobalAveragePool", [h], name="/GlobalAveragePool"))
    h = dropout_layer(b, h, 0.2, "classifier.0")
    b.output(gemm(b, h, last, classes, name="classifier.1"), "logits", [batch, classes])
    return b.model()
