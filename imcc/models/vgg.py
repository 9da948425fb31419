"""VGG-16 (configuration D), with the layers and sizes of torchvision's ``vgg16`` (138.4 M
parameters)."""

from __future__ import annotations

import onnx

from imcc.models.builder import Dim, GraphBuilder, avgpool, conv, gemm, maxpool, relu, torch_flatten
from imcc.models.builder import dropout as dropout_layer

NAMES = ("vgg16",)
_CFG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M")


def build(name: str = "vgg16", *, batch: Dim = 1, image: int = 224, classes: int = 1000,
          width: float = 1.0, hidden: int = 4096, dropout: bool = True, opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """torchvision VGG-16; ``width`` scales the convolution channels, ``hidden`` the classifier.
    The adaptive pool to 7x7 is exported as AveragePool (kernel 1 at 224x224)."""
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    h = b.input("input", [batch, 3, image, image])
    cin, side, idx = 3, image, 0
    for v in _CFG16:
        if v == "M":
            h = maxpool(b, h, 2, 2, name=f"features.{idx}")
            side //= 2
            idx += 1
            continue
        c = max(1, round(v * width))
        h = relu(b, conv(b, h, cin, c, 3, pad=1, name=f"features.{idx}"), f"features.{idx + 1}")
        cin, idx = c, idx + 2
    out = 7 if side % 7 == 0 else 1
    h = avgpool(b, h, side // out, side // out, name="avgpool")
    h = torch_flatten(b, h)
    fin = cin * out * out
    for i in range(2):
        h = relu(b, gemm(b, h, fin, hidden, name=f"classifier.{3 * i}"), f"classifier.{3 * i + 1}")
        if dropout:
            h = dropout_layer(b, h, 0.5, f"classifier.{3 * i + 2}")
        fin = hidden
    b.output(gemm(b, h, hidden, classes, name="classifier.6"), "logits", [batch, classes])
    return b.model()
