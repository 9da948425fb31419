"""A small helper to write ONNX graphs the way PyTorch's exporter does, with seeded weights.

A :class:`GraphBuilder` collects nodes and initializers for one model; it is a local, mutable
object of one ``build`` call. Layers are written as the exporter writes them: ``Conv`` without
fused BatchNormalization, ``Gemm(transB=1)`` for 2-D linear layers, ``MatMul + Add`` for 3-D
ones, reshapes computed from ``Shape -> Gather -> Unsqueeze -> Concat`` chains.

Weights: ``weights="random"`` draws them from ``numpy.random.default_rng(seed)`` (He-scaled
normal for matrices, mild ranges for normalization parameters); ``weights="shape"`` writes each
weight as ``ConstantOfShape`` of its shape instead, a model of the same structure and shapes
with no weight data (for statistics and benchmarks of full-size models).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str


class GraphBuilder:
    def __init__(self, name: str, *, opset: int = 17, weights: str = "random", seed: int = 0):
        if weights not in ("random", "shape"):
            raise ValueError(f"weights must be 'random' or 'shape', not {weights!r}")
        self.name, self.opset, self.weights = name, opset, weights
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}

    # -- naming -----------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    # -- graph interface --------------------------------------------------------------------
    def input(self, name: str, shape: Sequence[Dim], dtype: int = TensorProto.FLOAT) -> str:
        self._names.add(name)
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def output(self, tensor: str, name: str, shape: Sequence[Dim],
               dtype: int = TensorProto.FLOAT) -> str:
        """Expose ``tensor`` as graph output ``name`` (an Identity renames it, as exporters do
        when an output name is requested)."""
        if tensor != name:
            self.node("Identity", [tensor], name=f"/{name}/Identity", outputs=[name])
        self.outputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def node(self, op: str, inputs: Sequence[str], *, name: str | None = None,
             outputs: Sequence[str] | int = 1, **attrs) -> str | list[str]:
        """Add one node; returns its output name (or the list of names when several)."""
        nname = self.unique(name or f"/{op}")
        if isinstance(outputs, int):
            outs = [self.unique(f"{nname}_output_{k}") for k in range(outputs)]
        else:
            outs = list(outputs)
            self._names.update(outs)
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=nname, **attrs))
        return outs[0] if len(outs) == 1 else outs

    # -- data -------------------------------------------------------------------------------
    def const(self, value, dtype=None, name: str | None = None) -> str:
        """A small constant initializer (shape operands, scalars); equal ones are shared."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if name is None and key in self._consts:
            return self._consts[key]
        n = self.unique(name or f"onnx::Const_{len(self._consts)}")
        self.inits.append(numpy_helper.from_array(arr, n))
        if name is None:
            self._consts[key] = n
        return n

    def i64(self, *values: int) -> str:
        return self.const(np.array(values, np.int64))

    def weight(self, name: str, shape: Sequence[int], kind: str = "he",
               fan_in: int | None = None) -> str:
        """A parameter tensor: ``he`` (normal, std sqrt(2 / fan_in)), ``normal`` (std 0.02),
        ``bias`` (std 0.05), ``scale`` (uniform 0.5..1.5), ``var`` (uniform 0.5..1.5),
        ``mean`` (std 0.1)."""
        shape = tuple(int(d) for d in shape)
        if self.weights == "shape":
            fill = 1.0 if kind in ("scale", "var") else 0.0
            name = self.unique(name)
            self.node("ConstantOfShape", [self.i64(*shape)], name=f"/{name}/ConstantOfShape",
                      outputs=[name],
                      value=helper.make_tensor("value", TensorProto.FLOAT, [1], [fill]))
            return name
        r = self.rng
        if kind == "he":
            fan = fan_in or int(np.prod(shape[1:])) or 1
            v = r.standard_normal(shape, np.float32) * np.float32(math.sqrt(2.0 / fan))
        elif kind == "normal":
            v = r.standard_normal(shape, np.float32) * np.float32(0.02)
        elif kind == "bias":
            v = r.standard_normal(shape) * 0.05
        elif kind in ("scale", "var"):
            v = r.uniform(0.5, 1.5, shape)
        elif kind == "mean":
            v = r.standard_normal(shape) * 0.1
        else:
            raise ValueError(f"unknown weight kind {kind!r}")
        n = self.unique(name)
        self.inits.append(numpy_helper.from_array(v.astype(np.float32), n))
        return n

    # -- result -----------------------------------------------------------------------------
    def model(self) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                              initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="imcc.models")
        m.ir_version = 8 if self.opset <= 18 else 10
        return m


# ---------------------------------------------------------------------------------------------
# Layers, as PyTorch exports them


def conv(b: GraphBuilder, x: str, cin: int, cout: int, k: int, *, stride: int = 1,
         pad: int = 0, groups: int = 1, bias: bool = True, dilation: int = 1,
         name: str = "conv") -> str:
    w = b.weight(f"{name}.weight", (cout, cin // groups, k, k))
    ins = [x, w] + ([b.weight(f"{name}.bias", (cout,), "bias")] if bias else [])
    return b.node("Conv", ins, name=f"/{name}/Conv", dilations=[dilation] * 2, group=groups,
                  kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2)


def batchnorm(b: GraphBuilder, x: str, c: int, name: str = "bn") -> str:
    ins = [x, b.weight(f"{name}.weight", (c,), "scale"), b.weight(f"{name}.bias", (c,), "bias"),
           b.weight(f"{name}.running_mean", (c,), "mean"),
           b.weight(f"{name}.running_var", (c,), "var")]
    return b.node("BatchNormalization", ins, name=f"/{name}/BatchNormalization",
                  epsilon=1e-5, momentum=0.9)


def relu(b: GraphBuilder, x: str, name: str = "relu") -> str:
    return b.node("Relu", [x], name=f"/{name}/Relu")


def relu6(b: GraphBuilder, x: str, name: str = "relu6") -> str:
    return b.node("Clip", [x, b.const(np.float32(0.0)), b.const(np.float32(6.0))],
                  name=f"/{name}/Clip")


def maxpool(b: GraphBuilder, x: str, k: int, stride: int, pad: int = 0,
            name: str = "maxpool", ceil: int = 0) -> str:
    return b.node("MaxPool", [x], name=f"/{name}/MaxPool", kernel_shape=[k, k],
                  strides=[stride] * 2, pads=[pad] * 4, ceil_mode=ceil)


def avgpool(b: GraphBuilder, x: str, k: int, stride: int, pad: int = 0,
            name: str = "avgpool") -> str:
    return b.node("AveragePool", [x], name=f"/{name}/AveragePool", kernel_shape=[k, k],
                  strides=[stride] * 2, pads=[pad] * 4)


def torch_flatten(b: GraphBuilder, x: str, name: str = "flatten") -> str:
    """``x.view(x.size(0), -1)``: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape."""
    s = b.node("Shape", [x], name=f"/{name}/Shape")
    n = b.node("Gather", [s, b.const(np.int64(0))], name=f"/{name}/Gather", axis=0)
    nu = unsqueeze(b, n, [0], name=f"{name}_u")
    shape = b.node("Concat", [nu, b.i64(-1)], name=f"/{name}/Concat", axis=0)
    return b.node("Reshape", [x, shape], name=f"/{name}/Reshape")


def flatten(b: GraphBuilder, x: str, name: str = "flatten") -> str:
    """``torch.flatten(x, 1)``: one Flatten node."""
    return b.node("Flatten", [x], name=f"/{name}/Flatten", axis=1)


def unsqueeze(b: GraphBuilder, x: str, axes: Sequence[int], name: str = "unsqueeze") -> str:
    return b.node("Unsqueeze", [x, b.i64(*axes)], name=f"/{name}/Unsqueeze")


def gemm(b: GraphBuilder, x: str, fin: int, fout: int, name: str = "fc") -> str:
    """``nn.Linear`` on a 2-D input: Gemm with transB=1 and a [out, in] weight."""
    w = b.weight(f"{name}.weight", (fout, fin), fan_in=fin)
    return b.node("Gemm", [x, w, b.weight(f"{name}.bias", (fout,), "bias")],
                  name=f"/{name}/Gemm", alpha=1.0, beta=1.0, transB=1)


def linear(b: GraphBuilder, x: str, fin: int, fout: int, name: str = "fc",
           bias: bool = True) -> str:
    """``nn.Linear`` on a 3-D input: MatMul with a [in, out] weight, then Add of the bias."""
    w = b.weight(f"{name}.weight_t", (fin, fout), fan_in=fin)
    y = b.node("MatMul", [x, w], name=f"/{name}/MatMul")
    if bias:
        y = b.node("Add", [b.weight(f"{name}.bias", (fout,), "bias"), y], name=f"/{name}/Add")
    return y


def layernorm(b: GraphBuilder, x: str, d: int, style: str, name: str = "ln",
              eps: float = 1e-5) -> str:
    """Layer norm over the last axis: one LayerNormalization (``fused``, opset >= 17) or the
    ``decomposed`` ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add form."""
    g, beta = b.weight(f"{name}.weight", (d,), "scale"), b.weight(f"{name}.bias", (d,), "bias")
    if style == "fused":
        if b.opset < 17:
            raise ValueError("LayerNormalization needs opset 17 or later; use 'decomposed'")
        return b.node("LayerNormalization", [x, g, beta], name=f"/{name}/LayerNormalization",
                      axis=-1, epsilon=eps)
    u = reduce_mean(b, x, name=f"{name}_mean")
    dev = b.node("Sub", [x, u], name=f"/{name}/Sub")
    sq = b.node("Pow", [dev, b.const(np.float32(2.0))], name=f"/{name}/Pow")
    var = reduce_mean(b, sq, name=f"{name}_var")
    den = b.node("Sqrt", [b.node("Add", [var, b.const(np.float32(eps))], name=f"/{name}/Add")],
                 name=f"/{name}/Sqrt")
    n = b.node("Div", [dev, den], name=f"/{name}/Div")
    return b.node("Add", [b.node("Mul", [n, g], name=f"/{name}/Mul"), beta],
                  name=f"/{name}/Add_1")


def reduce_mean(b: GraphBuilder, x: str, name: str) -> str:
    if b.opset >= 18:
        return b.node("ReduceMean", [x, b.i64(-1)], name=f"/{name}/ReduceMean", keepdims=1)
    return b.node("ReduceMean", [x], name=f"/{name}/ReduceMean", axes=[-1], keepdims=1)


def gelu(b: GraphBuilder, x: str, style: str, name: str = "gelu") -> str:
    """GELU as exported: ``erf`` (x * 0.5 * (1 + erf(x / sqrt 2))), ``tanh`` (GPT-2's
    gelu_new), or one ``Gelu`` node (``op``, opset >= 20)."""
    if style == "op":
        return b.node("Gelu", [x], name=f"/{name}/Gelu")
    if style == "erf":
        e = b.node("Erf", [b.node("Div", [x, b.const(np.float32(math.sqrt(2.0)))],
                                  name=f"/{name}/Div")], name=f"/{name}/Erf")
        one = b.node("Add", [e, b.const(np.float32(1.0))], name=f"/{name}/Add")
        return b.node("Mul", [b.node("Mul", [x, one], name=f"/{name}/Mul"),
                              b.const(np.float32(0.5))], name=f"/{name}/Mul_1")
    cube = b.node("Pow", [x, b.const(np.float32(3.0))], name=f"/{name}/Pow")
    inner = b.node("Add", [x, b.node("Mul", [cube, b.const(np.float32(0.044715))],
                                     name=f"/{name}/Mul")], name=f"/{name}/Add")
    t = b.node("Tanh", [b.node("Mul", [inner, b.const(np.float32(math.sqrt(2 / math.pi)))],
                               name=f"/{name}/Mul_1")], name=f"/{name}/Tanh")
    one = b.node("Add", [t, b.const(np.float32(1.0))], name=f"/{name}/Add_1")
    half = b.node("Mul", [x, b.const(np.float32(0.5))], name=f"/{name}/Mul_2")
    return b.node("Mul", [half, one], name=f"/{name}/Mul_3")


def dim_of(b: GraphBuilder, x: str, axis: int, name: str) -> str:
    """``x.size(axis)`` as exported: Shape -> Gather (a scalar int64)."""
    s = b.node("Shape", [x], name=f"/{name}/Shape")
    return b.node("Gather", [s, b.const(np.int64(axis))], name=f"/{name}/Gather", axis=0)


def shape_of(b: GraphBuilder, parts: Sequence[str | int], name: str) -> str:
    """A shape vector from scalar int64 tensors and Python ints: Unsqueeze each + Concat."""
    pieces = [unsqueeze(b, p, [0], name=f"{name}_{k}") if isinstance(p, str) else b.i64(p)
              for k, p in enumerate(parts)]
    return b.node("Concat", pieces, name=f"/{name}/Concat", axis=0)


def dropout(b: GraphBuilder, x: str, ratio: float, name: str = "dropout") -> str:
    """``nn.Dropout`` as exported in inference mode with the ratio as an input."""
    return b.node("Dropout", [x, b.const(np.float32(ratio))], name=f"/{name}/Dropout")
