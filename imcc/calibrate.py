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

from imcc.frontend.external_data import let_go
from imcc.ir import Graph, storage_order, to_onnx, value_info
from imcc.opdefs import OPS, Sign
from imcc.staged import staged_runner
from isa.diagnostics import InputError


def nonnegative(graph: Graph, tensor: str, memo: dict | None = None) -> bool:
    """True when ``tensor`` can be proven >= 0 from the ops that produce it (their records'
    :attr:`~imcc.opdefs.OpDef.sign`; a Clip whose lower bound is a constant >= 0; never a cubic
    Resize)."""
    memo = {} if memo is None else memo
    if tensor in memo:
        return memo[tensor]
    memo[tensor] = False  # cycles are impossible in a DAG; this guards recursion depth only
    if graph.is_const(tensor):
        c = np.asarray(graph.constants[tensor])
        res = bool(c.size == 0 or (c.dtype != np.bool_ and np.all(c >= 0)) or c.dtype == np.bool_)
    else:
        node = graph.producer(tensor)
        d = OPS.get(node.op_type) if node is not None else None
        sign = d.sign if d is not None else Sign.UNKNOWN
        if node is None:  # a graph input
            res = False
        elif node.op_type == "Clip":
            lo = node.inputs[1] if len(node.inputs) > 1 else ""
            res = bool(lo and graph.is_const(lo) and float(np.asarray(graph.constants[lo])) >= 0)
        elif node.op_type == "Resize" and node.attrs.get("mode") == "cubic":
            res = False  # cubic interpolation overshoots: 0, 0, 5, 0 resized has -0.5
        elif sign is Sign.FIRST:
            res = nonnegative(graph, node.inputs[0], memo)
        elif sign is Sign.ALL:
            res = all(nonnegative(graph, t, memo) for t in node.inputs if t)
        else:
            res = sign is Sign.NONNEG
    memo[tensor] = res
    return res


_LARGE = 4096  # constants with more elements are fed as inputs instead of copied into a model
_SAMPLE = 1 << 20  # values kept per tensor and batch for percentiles


def _model_without_large_constants(graph: Graph, wanted: list[str], reduced: bool = False):
    """The graph as ONNX with the large constants turned into inputs (fed from the graph's own
    arrays at run time, so the weights are not copied into a second model). A constant that is
    a transposed view (Gemm's ``transB`` weight in the normal form) is fed as the array it views
    (numpy would copy it to make it contiguous), read by its Gemms with ``transB`` flipped
    (:func:`_feed_as`).

    The model's outputs are the graph's and the ``wanted`` tensors; with ``reduced``, each
    float ``wanted`` tensor's largest magnitude instead (a scalar, :func:`_absmax_name`, made by
    ``ReduceMax(Abs(t))`` inside the model): the engine then frees each activation once it is
    used, where an output would be kept (and copied out) until the run ends."""
    large = tuple(k for k, v in graph.constants.items() if np.asarray(v).size > _LARGE)
    small = {k: v for k, v in graph.constants.items() if k not in large}
    g = graph.replace(constants=small, inputs=tuple(graph.inputs) + large)
    model = to_onnx(g)
    existing = {o.name for o in model.graph.output}
    for t in wanted:
        if graph.is_const(t):
            continue
        ty = graph.types[t]
        if reduced and _reducible(ty):
            _add_absmax(model, t, _absmax_name(graph, t), np.dtype(ty.dtype))
        elif t not in existing:
            model.graph.output.append(onnx.helper.make_tensor_value_info(
                t, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(ty.dtype)), list(ty.shape)))
            existing.add(t)
    weights = {}
    for k in large:
        v = np.asarray(graph.constants[k])
        perm = storage_order(v)
        if perm is None or perm == tuple(range(v.ndim)):
            weights[k] = np.ascontiguousarray(v)
            continue
        fed = f"{k}__stored"
        while fed in graph.types or fed in weights:  # a name no tensor of the graph has
            fed += "_"
        weights[fed] = v.transpose(perm)
        _feed_as(model, k, fed, weights[fed], [int(i) for i in np.argsort(perm)])
    return model, weights


def _reducible(ty) -> bool:
    """Whether a tensor of type ``ty`` is reduced to its largest magnitude inside the model: a
    float32 or float64 one with values (the types ``Abs`` and ``ReduceMax`` take in every
    engine)."""
    return np.dtype(ty.dtype) in (np.float32, np.float64) and 0 not in ty.shape


def _absmax_name(graph: Graph, t: str) -> str:
    """The name of ``t``'s largest magnitude in the calibration model: one no tensor of the
    graph has."""
    name = f"{t}__absmax"
    while name in graph.types or f"{name}__abs" in graph.types:
        name += "_"
    return name


def _add_absmax(model: onnx.ModelProto, t: str, out: str, dtype: np.dtype) -> None:
    """Add ``out = ReduceMax(Abs(t))`` (a scalar of ``t``'s type ``dtype``) to the model's
    outputs, its nodes right after the one that makes ``t`` (the engines run the nodes in their
    order: ``t`` can be freed once its other readers ran, not kept to the end of the run)."""
    g = model.graph
    at = next((i + 1 for i, n in enumerate(g.node) if t in n.output), 0)
    g.node.insert(at, onnx.helper.make_node("ReduceMax", [f"{out}__abs"], [out], keepdims=0))
    g.node.insert(at, onnx.helper.make_node("Abs", [t], [f"{out}__abs"]))
    g.output.append(onnx.helper.make_tensor_value_info(
        out, onnx.helper.np_dtype_to_tensor_dtype(dtype), []))


def _feed_as(model: onnx.ModelProto, name: str, fed: str, value: np.ndarray,
             perm: list[int]) -> None:
    """Graph input ``name`` becomes ``fed``, an input of ``value``'s type and shape: a Gemm
    that reads it as its B operand (``perm`` swapping two axes) reads ``fed`` with ``transB``
    flipped, any other reader ``Transpose(fed, perm)`` (a copy of the weight in each run)."""
    g = model.graph
    keep = [i for i in g.input if i.name != name]
    del g.input[:]
    g.input.extend(keep)
    g.input.append(onnx.helper.make_tensor_value_info(
        fed, onnx.helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
    transposed = False
    for n in g.node:
        if name not in n.input:
            continue
        if perm == [1, 0] and n.op_type == "Gemm" and list(n.input).count(name) == 1 \
                and n.input[1] == name:
            n.input[1] = fed
            old = next((a for a in n.attribute if a.name == "transB"), None)
            if old is None:
                n.attribute.append(onnx.helper.make_attribute("transB", 1))
            else:
                old.i = 1 - old.i
        else:
            transposed = True
    if transposed:
        g.node.insert(0, onnx.helper.make_node("Transpose", [fed], [name], perm=perm))


def activation_ranges(graph: Graph, tensors: list[str], samples: dict[str, np.ndarray], *,
                      method: str = "minmax", percentile: float = 99.99,
                      notes: list[str] | None = None) -> dict[str, float]:
    """Magnitude range of each of ``tensors`` over ``samples`` (arrays with a leading batch
    dimension, fed in chunks of the graph's own batch size). Where onnxruntime is installed but
    refuses the calibration model, onnx's reference evaluator runs it, and ``notes`` gets a
    line that says so.

    ``minmax`` keeps a running maximum; ``percentile`` keeps an evenly strided subsample of at
    most 2**20 values per tensor and chunk, so memory stays bounded for large models."""
    wanted = list(dict.fromkeys(tensors))
    reduced = method != "percentile"
    model, weights = _model_without_large_constants(graph, wanted, reduced)
    absmax = {t: _absmax_name(graph, t) for t in wanted
              if reduced and not graph.is_const(t) and _reducible(graph.types[t])}
    needed = [absmax.get(t, t) for t in wanted if not graph.is_const(t)]
    refused: list[str] = []
    group, run = staged_runner(
        model, weights, list(dict.fromkeys(needed)),
        lambda t: value_info(t, graph.types[t]) if t in graph.types else None,
        lean=reduced, refused=refused)
    del model
    if refused and notes is not None:
        notes.append(f"calibration: onnxruntime cannot run the calibration model ({refused[0]}); "
                     "onnx's reference evaluator ran it instead, more slowly")
    inputs = [t for t in graph.inputs if not graph.is_const(t)]
    b = max(1, graph.types[inputs[0]].shape[0] if graph.types[inputs[0]].shape else 1)
    check_samples(graph, inputs, samples, b)
    n = min(len(samples[t]) for t in inputs)
    peak = {t: 0.0 for t in wanted}
    kept: dict[str, list[np.ndarray]] = {t: [] for t in wanted}
    starts = range(0, n, b)
    for first in range(0, len(starts), group):
        for outs in run([_chunk(graph, inputs, samples, s, b)
                         for s in starts[first : first + group]]):
            _gather(graph, wanted, absmax, outs, peak, kept if method == "percentile" else None)
    for w in weights.values():  # read again tile by tile when quantizing
        let_go(w)
    if method != "percentile":
        return peak
    return {t: float(np.percentile(np.concatenate(kept[t]), percentile)) if kept[t] else 0.0
            for t in wanted}


def _chunk(graph: Graph, inputs: list[str], samples: dict, s: int, b: int) -> dict:
    """The feeds of the samples from ``s`` on, ``b`` of them (the last chunk padded by
    repeating its first sample)."""
    feeds = {}
    for t in inputs:
        chunk = np.asarray(samples[t][s : s + b])
        if len(chunk) < b:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], b - len(chunk), 0)])
        feeds[t] = chunk.astype(graph.types[t].dtype).reshape(graph.types[t].shape)
    return feeds


def _gather(graph: Graph, wanted: list[str], absmax: dict, outs: dict, peak: dict,
            kept: dict | None) -> None:
    """Fold one run's ``outs`` into the running maxima ``peak`` (and, for percentiles, the
    subsamples ``kept``)."""
    for t in wanted:
        if t in absmax:
            peak[t] = max(peak[t], float(outs[absmax[t]]))
            continue
        v = np.abs(np.asarray(graph.constants[t] if graph.is_const(t) else outs[t]))
        peak[t] = max(peak[t], float(v.max()) if v.size else 0.0)
        if kept is not None:
            flat = v.ravel()
            kept[t].append(flat[:: max(1, flat.size // _SAMPLE)].astype(np.float32))


_SAMPLES_HINT = ("give one array per model input, samples along the first axis (--calib "
                 "NAME=FILE on the command line, calib={NAME: array} in Python)")


def check_samples(graph: Graph, inputs: list[str], samples: dict, batch: int) -> None:
    """Raise :class:`InputError` unless ``samples`` has an array of numbers for each of the
    graph's ``inputs`` and no other, each with at least one sample of the input's size (the
    graph's input shape holds ``batch`` samples)."""
    def shape(t: str) -> str:
        return "[" + ", ".join(str(d) for d in graph.types[t].shape) + "]"

    names = ", ".join(f"'{t}' {shape(t)}" for t in inputs) or "none"
    unknown = sorted(set(samples) - set(inputs))
    if unknown:
        raise InputError(f"calibration data: the model has no input '{unknown[0]}' (its "
                         f"inputs: {names})", hint=_SAMPLES_HINT)
    missing = [t for t in inputs if t not in samples]
    if missing:
        raise InputError(f"calibration data: no samples for input '{missing[0]}' (the model's "
                         f"inputs: {names})", hint=_SAMPLES_HINT)
    for t in inputs:
        a = np.asarray(samples[t])
        if a.dtype.kind not in "biuf":
            raise InputError(f"calibration data for input '{t}' has dtype {a.dtype}; expected "
                             "numbers")
        size = int(np.prod(graph.types[t].shape, dtype=np.int64))
        each = int(np.prod(a.shape[1:], dtype=np.int64))
        if a.ndim == 0 or len(a) == 0 or each * batch != size:
            raise InputError(f"calibration data for input '{t}' has shape "
                             f"[{', '.join(map(str, a.shape))}]; expected samples along the "
                             f"first axis, each of {size // batch} value(s) (the input is "
                             f"{shape(t)})", hint=_SAMPLES_HINT)
