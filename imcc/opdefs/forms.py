"""Form checks: why a node of a supported operator is still not compilable (a form its lowering,
or the canonicalization pass that removes it, does not take), or None. The operator records
(:mod:`imcc.opdefs.table`) name the check each operator takes; :func:`imcc.partition.partition`
runs them."""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node


class NotConstant(str):
    """A check's answer that the node needs operand :attr:`tensor` to be a constant (the str is
    the message): :func:`imcc.partition.partition` names the graph inputs behind it."""

    tensor: str

    def __new__(cls, text: str, tensor: str) -> NotConstant:
        s = super().__new__(cls, text)
        s.tensor = tensor
        return s


def not_const(node: Node, graph: Graph, k: int, what: str,
              because: str = "") -> NotConstant | None:
    """Why operand ``k`` (``what``) disqualifies the node: it is given and not a constant
    (``because``, what a runtime value would do, is added to the message)."""
    t = node.inputs[k] if k < len(node.inputs) else ""
    return NotConstant(f"its {what} ({t!r}) is not a constant" + (f": {because}" if because
                                                                   else ""), t) \
        if t and not graph.is_const(t) else None


def float_input(node: Node, graph: Graph) -> str | None:
    """The first input is not float (the operator is supported on float32)."""
    x = node.inputs[0] if node.inputs else ""
    if x and graph.types[x].dtype not in ("float32", "float64"):
        return f"{graph.types[x].dtype} input {x!r} (this operator is supported on float32)"
    return None


def conv(node: Node, graph: Graph) -> str | None:
    if not graph.is_const(node.inputs[1]):
        return NotConstant("the weight is not a constant", node.inputs[1])
    return None


def pool(node: Node, graph: Graph) -> str | None:
    if graph.types[node.inputs[0]].rank < 3:
        return "pooling needs an (N, C, spatial...) input of rank 3 or more"
    return None


def resize(node: Node, graph: Graph) -> str | None:
    if node.attrs.get("mode") not in ("nearest", "linear", "cubic"):
        return f"mode {node.attrs.get('mode')!r} (nearest, linear and cubic are supported)"
    return None


def batchnorm(node: Node, graph: Graph) -> str | None:
    return ("training mode on this input (float32 of rank 2 or more is supported)"
            if node.attrs.get("training_mode", 0) else None)


def conv_transpose(node: Node, graph: Graph) -> str:
    return not_const(node, graph, 1, "weight") or "this form is not supported"


def dropout(node: Node, graph: Graph) -> str:
    return (not_const(node, graph, 2, "training_mode input")
            or not_const(node, graph, 1, "ratio (training mode copies the input at ratio 0)")
            or "training mode (random; imcc compiles inference, training_mode = false, or "
            "training mode at ratio 0)")


def einsum(node: Node, graph: Graph) -> str:
    eq = str(node.attrs.get("equation", "")).replace(" ", "")
    if len(node.inputs) > 2:
        return f"{len(node.inputs)} operands (one or two are supported)"
    out = eq.partition("->")[2].replace("...", "")
    if len(set(out)) < len(out):
        return "a letter repeated in the output"
    return ("this equation is not supported (operands that broadcast a letter of size 1 "
            "against a larger one)")


def constant_of_shape(node: Node, graph: Graph) -> str:
    return not_const(node, graph, 0, "shape input") or "this form is not supported"


#: What a runtime operand that sets an output's length would do.
_LENGTH = "the output's length would depend on the data"


def range_(node: Node, graph: Graph) -> str | None:
    for k, what in enumerate(("start", "limit", "delta")):
        why = not_const(node, graph, k, what, _LENGTH)
        if why:
            return why
    return None


def constant_operands(node: Node, graph: Graph) -> str | None:
    """An operator computed only when folded: every operand must be a constant."""
    for k in range(len(node.inputs)):
        why = not_const(node, graph, k, f"input {k}",
                        "the operator is computed from constants only")
        if why:
            return why
    return None


def compress(node: Node, graph: Graph) -> str | None:
    return not_const(node, graph, 1, "condition", _LENGTH)


def center_crop_pad(node: Node, graph: Graph) -> str | None:
    return not_const(node, graph, 1, "shape", "the output's shape would depend on the data")


def affine_grid(node: Node, graph: Graph) -> str | None:
    return not_const(node, graph, 1, "size", "the output's shape would depend on the data")


def col2im(node: Node, graph: Graph) -> str | None:
    return (not_const(node, graph, 1, "image_shape", "the output's shape would depend on the data")
            or not_const(node, graph, 2, "block_shape"))


def dft(node: Node, graph: Graph) -> str | None:
    return (not_const(node, graph, 1, "dft_length", "the output's shape would depend on the data")
            or not_const(node, graph, 2, "axis"))


def stft(node: Node, graph: Graph) -> str | None:
    return (not_const(node, graph, 1, "frame_step", "the output's shape would depend on the data")
            or not_const(node, graph, 3, "frame_length"))


#: The largest matrix ``Det`` expands (its elimination is ``n`` steps of about 20 nodes).
DET_MAX = 64
#: The most update x position comparisons a dense scatter (MaxUnpool) may take.
DENSE_SCATTER_LIMIT = 1 << 24


def unpooled_shape(xs, kernel, pads, strides) -> list[int]:
    """MaxUnpool's output shape from its input's: ``(d - 1) * stride - pads + kernel``."""
    r = len(kernel)
    return [*xs[:2], *((xs[2 + i] - 1) * strides[i] - pads[i] - pads[r + i] + kernel[i]
                       for i in range(r))]


def max_unpool(node: Node, graph: Graph) -> str | None:
    why = not_const(node, graph, 2, "output_shape",
                    "the output's shape would depend on the data")
    if why:
        return why
    xs = graph.types[node.inputs[0]].shape
    r = len(xs) - 2
    kernel = list(node.attrs.get("kernel_shape") or ())
    if len(kernel) != r or r < 1:
        return None
    out = unpooled_shape(xs, kernel, list(node.attrs.get("pads") or [0] * 2 * r),
                         list(node.attrs.get("strides") or [1] * r))
    total = int(np.prod(xs)) * int(np.prod(out))
    if total > DENSE_SCATTER_LIMIT:
        return (f"{total} comparisons of its indices with the output's positions (at most "
                f"{DENSE_SCATTER_LIMIT}: the machine has no scatter)")
    return None


def deform_conv(node: Node, graph: Graph) -> str | None:
    why = not_const(node, graph, 1, "weight") or not_const(node, graph, 3, "bias")
    if why:
        return why
    if len(graph.types[node.inputs[0]].shape) != 4:
        return "only 2-D deformable convolution (an (N, C, H, W) input) is supported"
    return None


def roi_align(node: Node, graph: Graph) -> str | None:
    if int(node.attrs.get("sampling_ratio", 0)) < 1:
        return ("sampling_ratio = 0 (points per bin from each ROI's size, known only at run "
                "time; give a sampling_ratio of 1 or more)")
    return float_input(node, graph) or "this form is not supported"


def tfidf_vectorizer(node: Node, graph: Graph) -> str | None:
    if node.attrs.get("pool_strings"):
        return "a pool of strings (the machine holds numeric tensors; map the tokens to integers)"
    return None


def reverse_sequence(node: Node, graph: Graph) -> str | None:
    return not_const(node, graph, 1, "sequence_lens")


def reduce_composite(node: Node, graph: Graph) -> str:
    return (not_const(node, graph, 1, "axes input")
            or "noop_with_empty_axes = 1 with empty axes is not supported")


def reduce_prod(node: Node, graph: Graph) -> str:
    if 0 in graph.types[node.inputs[0]].shape:
        return "an empty input (a dimension of size 0)"
    return float_input(node, graph) or reduce_composite(node, graph)


def cumprod(node: Node, graph: Graph) -> str:
    x = node.inputs[0]
    if graph.types[x].dtype not in ("float32", "float64", "int32", "int64"):
        return f"{graph.types[x].dtype} input {x!r} (supported on float32, int32 and int64)"
    return "an axis too long to unroll (one Mul per element)"


def bitcast_kinds(src: str, dst: str) -> bool:
    """Whether ``BitCast`` from element type ``src`` to ``dst`` is one imcc computes: between
    integer types (bool included) of one width, a change of sign convention only."""
    a, b = np.dtype(src), np.dtype(dst)
    return a.itemsize == b.itemsize and a.kind in "biu" and b.kind in "biu"


def bitcast(node: Node, graph: Graph) -> str:
    src, dst = graph.types[node.inputs[0]].dtype, graph.types[node.outputs[0]].dtype
    if not bitcast_kinds(src, dst):
        return (f"a bit pattern from {src} to {dst}: the machine holds values, not bits "
                "(integers of one width are supported)")
    return "this form is not supported"


def lp_normalization(node: Node, graph: Graph) -> str | None:
    p = node.attrs.get("p", 2)
    return f"p = {p} (1 and 2 are supported)" if int(p) not in (1, 2) else None


def lp_pool(node: Node, graph: Graph) -> str:
    return float_input(node, graph) or f"p = {node.attrs.get('p', 2)} (p >= 1 is supported)"


def group_normalization(node: Node, graph: Graph) -> str:
    return (float_input(node, graph)
            or "num_groups must divide the channels, with one scale and bias per channel")


#: The integer types a quantized tensor may have, and the range each saturates to.
INT_RANGES = {"uint8": (0, 255), "int8": (-128, 127), "uint16": (0, 65535),
              "int16": (-32768, 32767), "uint4": (0, 15), "int4": (-8, 7), "uint2": (0, 3),
              "int2": (-2, 1)}
FLOAT8 = frozenset({"float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz"})
FLOAT4 = "float4_e2m1fn"


def quant(node: Node, graph: Graph) -> str:
    """Why ``expand-composites`` left a quantized node (imcc/passes/composite_quant.py)."""
    if node.op_type == "QuantizeLinear":
        out = graph.types[node.outputs[0]].dtype
        if out not in INT_RANGES and out not in FLOAT8 and out != FLOAT4:
            return f"output type {out} (integer, float 8 and float4e2m1 are supported)"
    if node.op_type in ("QLinearConv", "ConvInteger"):
        w = node.inputs[3 if node.op_type == "QLinearConv" else 1]
        if graph.types[node.inputs[0]].rank != 4 and not graph.is_const(w):
            return (f"its weight ({w!r}) is not a constant and the convolution is not 2-D (a "
                    "runtime weight is multiplied tap by tap in 2-D)")
        if not graph.is_const(w):
            return (f"its weight ({w!r}) is not a constant, and the convolution has groups or "
                    "more than 1024 taps times input channels (a runtime weight is multiplied "
                    "tap by tap)")
    if node.op_type == "MatMulInteger" and len(node.inputs) > 2 and node.inputs[2] and \
            graph.types[node.inputs[2]].numel > 1:
        return "a zero point per row of A (a scalar one is supported)"
    return "this form is not supported"
