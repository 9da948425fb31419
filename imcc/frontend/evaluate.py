"""Evaluating constant sub-graphs with ``onnx.reference.ReferenceEvaluator``.

The importer uses it to learn the values of small constant tensors (shape operands); constant
folding uses it to replace every node whose inputs are all constants by its value. One
evaluator runs a whole batch of nodes. ``ConstantOfShape`` returns a read-only broadcast view
(zero strides), so a weight written as ``ConstantOfShape`` costs no memory until an operation
really needs its elements.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from imcc.frontend.opsets import newer_defaults
from imcc.ir import IR_VERSION, Node, node_to_proto, onnx_elem_type
from isa.diagnostics import OnnxImportError
from isa.hostlimits import check_elements

#: Operators whose result is not a function of their inputs: never folded.
NONDETERMINISTIC = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
    "Multinomial"})


@functools.cache
def _evaluator_ops() -> tuple[type, type, type]:
    """imcc's own operators for onnx's reference evaluator, ``(ConstantOfShape,
    GatherElements, DequantizeLinear)``. Made, and ``onnx.reference`` imported (11 MB), on the
    first evaluation only: many models have no constant sub-graph to evaluate."""
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_dequantize_linear import DequantizeLinear_19

    class ConstantOfShape(OpRun):
        """``ConstantOfShape`` as a broadcast view of its one-element ``value`` (default
        0.0)."""

        op_domain = ""

        def _run(self, shape, value=None):  # noqa: D102 (ONNX reference-op signature)
            v = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
            return (np.broadcast_to(v, tuple(int(d) for d in np.asarray(shape).reshape(-1))),)

    class DequantizeLinear(DequantizeLinear_19):
        """``DequantizeLinear`` before opset 19 (versions 10 and 13), which onnx's reference
        lacks: version 19's, which only added types (float 8, float16 and bfloat16 scales)."""

        op_domain = ""

        def _run(self, x, x_scale, x_zero_point=None, axis=None, block_size=None,  # noqa: D102
                 output_dtype=None):
            return super()._run(x, x_scale, x_zero_point, axis=1 if axis is None else axis)

    class GatherElements(OpRun):
        """``GatherElements`` by ``np.take_along_axis``. onnx's own picks with ``np.choose``,
        which takes at most 64 choices, and its fallback returns the wrong shape: the
        token-type ids of Hugging Face's BERT (a gather along 512 positions) failed."""

        op_domain = ""

        def _run(self, data, indices, axis=None):  # noqa: D102 (ONNX reference-op signature)
            return (gather_elements(np.asarray(data), np.asarray(indices),
                                    0 if axis is None else int(axis)),)

    return ConstantOfShape, GatherElements, DequantizeLinear


def gather_elements(data: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    """ONNX ``GatherElements``: ``out[..., i, ...] = data[..., indices[..., i, ...], ...]`` along
    ``axis`` (negative indices count from the end); the indices' other axes may be shorter than
    the data's. ``ValueError`` names what does not fit."""
    r = data.ndim
    if indices.ndim != r or not -r <= axis < r:
        raise ValueError(f"indices of rank {indices.ndim} and axis {axis} for data of rank {r}")
    axis %= r
    n = data.shape[axis]
    idx = indices.astype(np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"an index is outside [{-n}, {n - 1}], the size of axis {axis}")
    if any(k != axis and i > d for k, (i, d) in enumerate(zip(idx.shape, data.shape))):
        raise ValueError(f"indices of shape {list(idx.shape)} reach past data of shape "
                         f"{list(data.shape)}")
    part = data[tuple(slice(None) if k == axis else slice(0, i) for k, i in enumerate(idx.shape))]
    return np.take_along_axis(part, np.where(idx < 0, idx + n, idx), axis=axis)


def _ints(v) -> list[int]:
    return [int(d) for d in np.asarray(v).reshape(-1)]


def _output_elements(node: Node, feeds: Mapping[str, np.ndarray]) -> int | None:
    """An upper bound of the elements of the output of ``node``, one of the operators whose
    output size comes from its input *values*, when those values are in ``feeds``; else None.
    Checked before the evaluator allocates anything."""
    vals = [feeds.get(i) if i else None for i in node.inputs]
    if not vals or vals[0] is None:
        return None
    x = np.asarray(vals[0])
    op = node.op_type
    if op == "Range" and len(vals) == 3 and all(v is not None for v in vals):
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in vals)
        if delta == 0 or not all(np.isfinite([start, limit, delta])):
            return None  # the evaluator reports it
        return max(0, math.ceil((limit - start) / delta))
    if op == "Expand" and len(vals) == 2 and vals[1] is not None:
        shape = _ints(vals[1])
        r = max(len(shape), x.ndim)
        a = [1] * (r - x.ndim) + list(x.shape)
        b = [1] * (r - len(shape)) + shape
        return math.prod(max(p, q, 0) for p, q in zip(a, b))
    if op == "Tile" and len(vals) == 2 and vals[1] is not None:
        return math.prod(max(0, d * k) for d, k in zip(x.shape, _ints(vals[1])))
    if op == "Pad":
        pads = _ints(vals[1]) if len(vals) > 1 and vals[1] is not None else _ints(
            node.attrs.get("pads", []))
        if not pads or len(pads) % 2:
            return None
        k = len(pads) // 2
        axes = (_ints(vals[3]) if len(vals) > 3 and vals[3] is not None
                else list(range(x.ndim))[:k])
        dims = list(x.shape)
        for j, a in enumerate(axes[:k]):
            if -x.ndim <= a < x.ndim:
                dims[a] += max(0, pads[j]) + max(0, pads[k + j])
        return math.prod(max(0, d) for d in dims)
    if op in ("Resize", "Upsample"):
        sizes = vals[3] if op == "Resize" and len(vals) > 3 else None
        if sizes is not None and np.asarray(sizes).size:
            return math.prod(max(0, d) for d in _ints(sizes))
        scales = (vals[2] if op == "Resize" and len(vals) > 2 else
                  vals[1] if op == "Upsample" and len(vals) > 1 else None)
        if scales is not None and np.asarray(scales).size:
            f = np.abs(np.asarray(scales, np.float64).reshape(-1))
            if not np.all(np.isfinite(f)):
                return None
            total = 1.0
            for d, k in zip(x.shape, f):
                total *= d * max(1.0, float(k)) + 1
            return int(min(total, 2.0**62))
    if op == "OneHot" and len(vals) > 1 and vals[1] is not None:
        return x.size * max(0, abs(_ints(vals[1])[0]))
    return None


def _node_text(n: Node) -> str:
    return f"node {n.name!r} ({n.op_type})"


def _check_sizes(nodes: Sequence[Node], feeds: Mapping[str, np.ndarray], where: str,
                 label: Callable[[Node], str]) -> None:
    for n in nodes:
        bound = _output_elements(n, feeds)
        if bound is not None:
            check_elements(bound, f"{where}{label(n)}: its output")


def _value_info(name: str, arr: np.ndarray) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_elem_type(arr.dtype.name), list(arr.shape))


def _as_base(n: Node, opset: int) -> Node:
    """``n`` without the attributes of versions after opset 21 that it holds at their default
    (:func:`imcc.frontend.opsets.newer_defaults`)."""
    new = newer_defaults(n.op_type, opset)
    if not new:
        return n
    return n.replace(attrs={k: v for k, v in n.attrs.items() if k not in new or v != new[k]})


def evaluate(nodes: Sequence[Node], feeds: Mapping[str, np.ndarray], outputs: Sequence[str],
             opset: int, where: str = "",
             label: Callable[[Node], str] | None = None) -> dict[str, np.ndarray]:
    """Run ``nodes`` (topologically ordered, every input in ``feeds`` or produced earlier) and
    return the arrays of ``outputs``. A failure names the batch's first node (as ``label``
    words it: :func:`imcc.ir.describe`): it means the model's constant data is inconsistent (an
    index out of range, a bad shape operand)."""
    label = label or _node_text
    if not outputs:
        return {}
    used = {i for n in nodes for i in n.inputs if i}
    inputs = [k for k in feeds if k in used]
    graph = helper.make_graph(
        [node_to_proto(_as_base(n, opset), opset) for n in nodes], "fold",
        [_value_info(k, np.asarray(feeds[k])) for k in inputs],
        [helper.make_empty_tensor_value_info(o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = IR_VERSION
    _check_sizes(nodes, feeds, where, label)
    try:
        from onnx.reference import ReferenceEvaluator

        constant_of_shape, gather_elements_op, dequantize = _evaluator_ops()
        ev = ReferenceEvaluator(model, new_ops=[constant_of_shape, gather_elements_op]
                                + ([dequantize] if opset < 19 else []))
        vals = ev.run(list(outputs), {k: np.asarray(feeds[k]) for k in inputs})
    except Exception as e:  # the reference evaluator raises many exception types
        first = nodes[0] if len(nodes) == 1 else None
        what = label(first) if first else "a constant sub-graph"
        raise OnnxImportError(f"{where}cannot evaluate {what}: {type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                              ) from None
    return {o: np.asarray(v) for o, v in zip(outputs, vals)}
