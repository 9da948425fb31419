"""Export a trained :class:`layers.Sequential` to ONNX (opset 17) with PyTorch-like node patterns.

Each layer type has one small function that emits its node(s) and initializers. Names follow
``torch.onnx.export``: nodes ``/fc1/Gemm``, values ``/fc1/Gemm_output_0``, initializers
``fc1.weight``. BatchNormalization stays a separate node in inference mode (not folded into the
Conv), so a compiler that folds it has something to fold. The batch dimension is symbolic ``N``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from layers import BatchNorm2d, Conv2d, Dense, Flatten, Layer, MaxPool2d, Relu, Sequential
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR version that introduced opset 17; readable by older runtimes too
BATCH = "N"


@dataclass
class GraphParts:
    """Nodes and initializers accumulated while walking the layers."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)

    def constant(self, name: str, value: np.ndarray) -> str:
        """Adds a float32 initializer and returns its name."""
        self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def node(self, op: str, scope: str, inputs: list[str], **attrs: object) -> str:
        """Adds one node named like PyTorch's exporter and returns its output's name."""
        out = f"/{scope}/{op}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"/{scope}/{op}", **attrs))
        return out


def _gemm(parts: GraphParts, name: str, layer: Dense, x: str) -> str:
    """Dense -> Gemm(x, weight [out, in], bias, transB=1), like nn.Linear."""
    w = parts.constant(f"{name}.weight", layer.params["weight"])
    b = parts.constant(f"{name}.bias", layer.params["bias"])
    return parts.node("Gemm", name, [x, w, b], alpha=1.0, beta=1.0, transB=1)


def _relu(parts: GraphParts, name: str, layer: Relu, x: str) -> str:
    """Relu -> Relu."""
    return parts.node("Relu", name, [x])


def _conv(parts: GraphParts, name: str, layer: Conv2d, x: str) -> str:
    """Conv2d -> Conv without a bias input, stride 1, symmetric padding."""
    w = parts.constant(f"{name}.weight", layer.params["weight"])
    k, p = layer.k, layer.pad
    return parts.node(
        "Conv",
        name,
        [x, w],
        dilations=[1, 1],
        group=1,
        kernel_shape=[k, k],
        pads=[p, p, p, p],
        strides=[1, 1],
    )


def _batchnorm(parts: GraphParts, name: str, layer: BatchNorm2d, x: str) -> str:
    """BatchNorm2d -> inference-mode BatchNormalization (scale, bias, mean, var)."""
    inputs = [x] + [
        parts.constant(f"{name}.{key}", tensor)
        for key, tensor in (*layer.params.items(), *layer.buffers.items())
    ]
    # ONNX's momentum weights the old running value: PyTorch's 0.1 becomes 0.9.
    return parts.node(
        "BatchNormalization",
        name,
        inputs,
        epsilon=layer.eps,
        momentum=1.0 - layer.momentum,
    )


def _maxpool(parts: GraphParts, name: str, layer: MaxPool2d, x: str) -> str:
    """MaxPool2d -> MaxPool 2x2, stride 2, no padding."""
    return parts.node(
        "MaxPool",
        name,
        [x],
        ceil_mode=0,
        dilations=[1, 1],
        kernel_shape=[2, 2],
        pads=[0, 0, 0, 0],
        strides=[2, 2],
    )


def _flatten(parts: GraphParts, name: str, layer: Flatten, x: str) -> str:
    """Flatten -> Flatten(axis=1)."""
    return parts.node("Flatten", name, [x], axis=1)


EMITTERS: dict[type, Callable[[GraphParts, str, Layer, str], str]] = {
    Dense: _gemm,
    Relu: _relu,
    Conv2d: _conv,
    BatchNorm2d: _batchnorm,
    MaxPool2d: _maxpool,
    Flatten: _flatten,
}


def to_onnx(
    model: Sequential, input_shape: tuple[int, ...], n_out: int, doc: str
) -> onnx.ModelProto:
    """The model as ONNX: input ``input`` [N, *input_shape] -> output ``logits`` [N, n_out]."""
    parts, x = GraphParts(), "input"
    for name, layer in model.layers:
        x = EMITTERS[type(layer)](parts, name, layer, x)
    parts.nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        parts.nodes,
        "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [BATCH, n_out])],
        initializer=parts.initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="imcc samples/digits/train.py",
        doc_string=doc,
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model
