"""ResNets: basic and bottleneck residual blocks with downsampling, ResNet-18 and ResNet-50 with
the layers and sizes of torchvision (ResNet-50: 25.6 M parameters, stride on the 3x3 conv)."""

from __future__ import annotations

import onnx

from imcc.models.builder import Dim, GraphBuilder, batchnorm, conv, flatten, gemm, maxpool, relu

NAMES = ("resnet_basic_block", "resnet_bottleneck_block", "resnet18", "resnet50")


def _conv_bn(b: GraphBuilder, x: str, cin: int, cout: int, k: int, stride: int, name: str,
             bn: str) -> str:
    return batchnorm(b, conv(b, x, cin, cout, k, stride=stride, pad=k // 2, bias=False,
                             name=name), cout, bn)


def _shortcut(b, x, cin, cout, stride, name):
    if stride == 1 and cin == cout:
        return x
    return _conv_bn(b, x, cin, cout, 1, stride, f"{name}.downsample.0", f"{name}.downsample.1")


def basic_block(b: GraphBuilder, x: str, cin: int, cout: int, stride: int, name: str) -> str:
    """conv3x3-BN-Relu-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), Relu."""
    h = relu(b, _conv_bn(b, x, cin, cout, 3, stride, f"{name}.conv1", f"{name}.bn1"),
             f"{name}.relu")
    h = _conv_bn(b, h, cout, cout, 3, 1, f"{name}.conv2", f"{name}.bn2")
    s = _shortcut(b, x, cin, cout, stride, name)
    return relu(b, b.node("Add", [h, s], name=f"/{name}/Add"), f"{name}.relu_1")


def bottleneck(b: GraphBuilder, x: str, cin: int, width: int, stride: int, name: str) -> str:
    """conv1x1-BN-Relu, conv3x3(stride)-BN-Relu, conv1x1(4 * width)-BN, + shortcut, Relu."""
    cout = 4 * width
    h = relu(b, _conv_bn(b, x, cin, width, 1, 1, f"{name}.conv1", f"{name}.bn1"),
             f"{name}.relu")
    h = relu(b, _conv_bn(b, h, width, width, 3, stride, f"{name}.conv2", f"{name}.bn2"),
             f"{name}.relu_1")
    h = _conv_bn(b, h, width, cout, 1, 1, f"{name}.conv3", f"{name}.bn3")
    s = _shortcut(b, x, cin, cout, stride, name)
    return relu(b, b.node("Add", [h, s], name=f"/{name}/Add"), f"{name}.relu_2")


def _blocks_model(name, kind, batch, image, channels, width, opset, weights, seed):
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    x = b.input("input", [batch, channels, image, image])
    if kind == "basic":
        h = basic_block(b, x, channels, width, 2, "layer.0")
        h = basic_block(b, h, width, width, 1, "layer.1")
        cout = width
    else:
        h = bottleneck(b, x, channels, width, 2, "layer.0")
        h = bottleneck(b, h, 4 * width, width, 1, "layer.1")
        cout = 4 * width
    side = (image + 1) // 2
    b.output(h, "output", [batch, cout, side, side])
    return b.model()


def _resnet(name, block, depths, batch, image, classes, width, opset, weights, seed):
    b = GraphBuilder(name, opset=opset, weights=weights, seed=seed)
    x = b.input("input", [batch, 3, image, image])
    h = relu(b, _conv_bn(b, x, 3, width, 7, 2, "conv1", "bn1"), "relu")
    h = maxpool(b, h, 3, 2, 1, name="maxpool")
    cin = width
    for stage, n in enumerate(depths):
        w = width * 2 ** stage
        for i in range(n):
            stride = 2 if i == 0 and stage > 0 else 1
            name_i = f"layer{stage + 1}.{i}"
            if block == "basic":
                h = basic_block(b, h, cin, w, stride, name_i)
                cin = w
            else:
                h = bottleneck(b, h, cin, w, stride, name_i)
                cin = 4 * w
    h = flatten(b, b.node("GlobalAveragePool", [h], name="/avgpool/GlobalAveragePool"))
    b.output(gemm(b, h, cin, classes, name="fc"), "logits", [batch, classes])
    return b.model()


def build(name: str = "resnet50", *, batch: Dim = 1, image: int | None = None,
          classes: int = 1000, width: int | None = None, depths: tuple[int, ...] | None = None,
          channels: int = 8, opset: int = 17, weights: str = "random",
          seed: int = 0) -> onnx.ModelProto:
    """``resnet18`` / ``resnet50`` (``width`` = stem channels, 64; ``depths`` per stage), or a
    two-block model: ``resnet_basic_block`` / ``resnet_bottleneck_block`` (``channels`` in, the
    first block downsampling with stride 2 and a 1x1 projection, the second an identity block).
    """
    if name in ("resnet_basic_block", "resnet_bottleneck_block"):
        kind = "basic" if name == "resnet_basic_block" else "bottleneck"
        return _blocks_model(name, kind, batch, image or 16, channels, width or 8, opset,
                             weights, seed)
    if name == "resnet18":
        return _resnet(name, "basic", depths or (2, 2, 2, 2), batch, image or 224, classes,
                       width or 64, opset, weights, seed)
    if name == "resnet50":
        return _resnet(name, "bottleneck", depths or (3, 4, 6, 3), batch, image or 224, classes,
                       width or 64, opset, weights, seed)
    raise ValueError(f"unknown ResNet {name!r}; choose from {', '.join(NAMES)}")
