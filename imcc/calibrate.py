"""Activation ranges of the IMC layers' inputs, from the float model on sample inputs.

The input of every IMC layer is quantized with one step (``iscale``) per layer. Its range comes
from evaluating the canonical float graph on calibration samples (onnxruntime when installed,
onnx's reference evaluator otherwise): ``minmax`` takes the largest magnitude seen,
``percentile`` the given percentile of magnitudes (robust to outliers). Whether an input can be
negative is decided statically (:func:`nonnegative`), never from the samples, so a test input
outside the calibration set is clipped, not mis-signed.
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.ir import Graph, to_onnx

_NONNEG_SOURCES = {"Relu", "Sigmoid", "Softmax", "Exp", "Abs", "Sqrt", "HardSigmoid",
                   "Softplus"}
_NONNEG_IF_INPUTS = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Reshape",
                     "Transpose", "Concat", "Slice", "Split", "Expand", "Tile", "Identity",
                     "ReduceMax", "ReduceMean", "ReduceSum", "ReduceMin", "Resize", "Add", "Mul",
                     "Max", "Min", "Gather", "Pad", "Flatten", "Squeeze", "Unsqueeze",
                     "DepthToSpace", "SpaceToDepth"}


def nonnegative(graph: Graph, tensor: str, memo: dict | None = None) -> bool:
    """True when ``tensor`` can be proven >= 0 from the ops that produce it."""
    memo = {} if memo is None else memo
    if tensor in memo:
        return memo[tensor]
    memo[tensor] = False  # cycles are impossible in a DAG; this guards recursion depth only
    if graph.is_const(tensor):
        c = np.asarray(graph.constants[tensor])
        res = bool(c.size == 0 or (c.dtype != np.bool_ and np.all(c >= 0)) or c.dtype == np.bool_)
    else:
        node = graph.producer(tensor)
        if node is None:
            res = False
        elif node.op_type in _NONNEG_SOURCES:
            res = True
        elif node.op_type == "Clip":
            lo = node.inputs[1] if len(node.inputs) > 1 else ""
            res = bool(lo and graph.is_const(lo) and float(np.asarray(graph.constants[lo])) >= 0)
        elif node.op_type in ("Gather",):
            res = nonnegative(graph, node.inputs[0], memo)
        elif node.op_type in ("Pad", "Slice", "Reshape", "Expand", "Tile", "Resize", "Split",
                              "Squeeze", "Unsqueeze"):
            res = nonnegative(graph, node.inputs[0], memo)
        elif node.op_type in _NONNEG_IF_INPUTS:
            res = all(nonnegative(graph, t, memo) for t in node.inputs if t)
        else:
            res = False
    memo[tensor] = res
    return res


def _evaluator(model: onnx.ModelProto):
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        return lambda feeds: sess.run(None, feeds)
    except Exception:  # onnxruntime missing or unable to run this model: the reference evaluator
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(model)
        return lambda feeds: ref.run(None, feeds)


def activation_ranges(graph: Graph, tensors: list[str], samples: dict[str, np.ndarray], *,
                      method: str = "minmax", percentile: float = 99.99) -> dict[str, float]:
    """Magnitude range of each of ``tensors`` over ``samples`` (arrays with a leading batch
    dimension, fed in chunks of the graph's own batch size)."""
    wanted = [t for t in dict.fromkeys(tensors)]
    model = to_onnx(graph)
    existing = {o.name for o in model.graph.output}
    for t in wanted:
        if t not in existing and not graph.is_const(t):
            ty = graph.types[t]
            model.graph.output.append(onnx.helper.make_tensor_value_info(
                t, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(ty.dtype)), list(ty.shape)))
    names = [o.name for o in model.graph.output]
    run = _evaluator(model)
    inputs = [t for t in graph.inputs if not graph.is_const(t)]
    batch = {t: graph.types[t].shape[0] if graph.types[t].shape else 1 for t in inputs}
    n = min(len(samples[t]) for t in inputs)
    seen: dict[str, list[np.ndarray]] = {t: [] for t in wanted}
    b = max(1, batch[inputs[0]])
    for s in range(0, n, b):
        feeds = {}
        for t in inputs:
            chunk = np.asarray(samples[t][s : s + b])
            if len(chunk) < b:  # pad the last chunk by repeating its first sample
                chunk = np.concatenate([chunk, np.repeat(chunk[:1], b - len(chunk), 0)])
            feeds[t] = chunk.astype(graph.types[t].dtype).reshape(graph.types[t].shape)
        outs = dict(zip(names, run(feeds)))
        for t in wanted:
            v = graph.constants[t] if graph.is_const(t) else outs[t]
            seen[t].append(np.abs(np.asarray(v, dtype=np.float64)).ravel())
    out = {}
    for t in wanted:
        a = np.concatenate(seen[t]) if seen[t] else np.zeros(1)
        if method == "percentile":
            out[t] = float(np.percentile(a, percentile))
        else:
            out[t] = float(a.max())
    return out
