"""AlexNet, with the layers and sizes of torchvision's ``alexnet`` (61.1 M parameters)."""

from __future__ import annotations

import onnx

from imcc.models.builder import Dim, GraphBuilder, avgpool, conv, gemm, maxpool, relu, torch_flatten
from imcc.models.builder import dropout as dropout_layer

NAMES = ("alexnet",)


def build(name: str = "alexnet", *, batch: Dim = 1, image: int = 224, classes: int = 1000,
          width: float = 1.0, hidden: int = 4096, dropout: bool = True, opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """torchvision AlexNet; ``width`` scales every channel count, ``hidden`` the classifier.

    The adaptive average pool to 6x6 is the AveragePool PyTorch exports for it (kernel 1 at
    224x224; other image sizes pool to 6x6 when the feature map divides, else to 1x1).
    """
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    ch = [max(1, round(c * width)) for c in (64, 192, 384, 256, 256)]
    x = b.input("input", [batch, 3, image, image])
    h = relu(b, conv(b, x, 3, ch[0], 11, stride=4, pad=2, name="features.0"), "features.1")
    h = maxpool(b, h, 3, 2, name="features.2")
    h = relu(b, conv(b, h, ch[0], ch[1], 5, pad=2, name="features.3"), "features.4")
    h = maxpool(b, h, 3, 2, name="features.5")
    h = relu(b, conv(b, h, ch[1], ch[2], 3, pad=1, name="features.6"), "features.7")
    h = relu(b, conv(b, h, ch[2], ch[3], 3, pad=1, name="features.8"), "features.9")
    h = relu(b, conv(b, h, ch[3], ch[4], 3, pad=1, name="features.10"), "features.11")
    h = maxpool(b, h, 3, 2, name="features.12")
    side = (image + 4 - 11) // 4 + 1
    for k, s, p in ((3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 2, 0)):
        side = (side + 2 * p - k) // s + 1
    out = 6 if side % 6 == 0 else 1
    h = avgpool(b, h, side // out, side // out, name="avgpool")
    h = torch_flatten(b, h)
    feats = ch[4] * out * out
    for i, (fin, fout) in enumerate(((feats, hidden), (hidden, hidden))):
        if dropout:
            h = dropout_layer(b, h, 0.5, f"classifier.{3 * i}")
        h = relu(b, gemm(b, h, fin, fout, name=f"classifier.{3 * i + 1}"),
                 f"classifier.{3 * i + 2}")
    b.output(gemm(b, h, hidden, classes, name="classifier.6"), "logits", [batch, classes])
    return b.model()
