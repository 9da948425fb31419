"""Multi-layer perceptron: Gemm(transB=1) + Relu layers, as PyTorch exports ``nn.Sequential``."""

from __future__ import annotations

import onnx

from imcc.models.builder import Dim, GraphBuilder, gemm, relu

NAMES = ("mlp",)


def build(name: str = "mlp", *, batch: Dim = 1, features: int = 64,
          hidden: tuple[int, ...] = (64, 32), classes: int = 10, opset: int = 17,
          weights: str = "random", seed: int = 0) -> onnx.ModelProto:
    """An MLP ``features -> hidden... -> classes`` with ReLU between layers."""
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    h = b.input("input", [batch, features])
    fin = features
    for i, width in enumerate(hidden, 1):
        h = relu(b, gemm(b, h, fin, width, name=f"fc{i}"), name=f"relu{i}")
        fin = width
    logits = gemm(b, h, fin, classes, name=f"fc{len(hidden) + 1}")
    b.output(logits, "logits", [batch, classes])
    return b.model()
