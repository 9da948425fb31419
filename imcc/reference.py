"""Run the original float ONNX model: the oracle that IMC results are compared with.

onnxruntime is used when it is installed (fast), onnx's reference evaluator otherwise. Inputs
are cast to the model's declared element types (token ids stay integers) and fed in chunks when
the model fixes its batch dimension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from isa.diagnostics import OnnxImportError


def runner(model: onnx.ModelProto):
    """``(engine name, run(feeds) -> list of outputs)`` for an in-memory model: onnxruntime
    when it is installed and accepts the model, onnx's reference evaluator otherwise."""
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        return "onnxruntime", lambda feeds: sess.run(None, feeds)
    except Exception:  # onnxruntime missing, or unable to run this model
        pass
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(model)
    return "onnx reference evaluator", lambda feeds: ref.run(None, feeds)


def evaluate(path: str | Path, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """Outputs of the float model on ``inputs`` (leading batch dimension), and which engine ran."""
    from imcc.frontend.loader import read_model_file

    model = read_model_file(path)
    inits = {t.name for t in model.graph.initializer}
    decl = {i.name: i for i in model.graph.input if i.name not in inits}
    missing = set(decl) - set(inputs)
    if missing:
        raise OnnxImportError(f"{path}: the model needs input(s) {sorted(missing)} that were "
                              "not given")
    feeds, fixed = {}, None
    for name, vi in decl.items():
        et = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        feeds[name] = np.asarray(inputs[name]).astype(et)
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            fixed = dims[0].dim_value
    engine, run = runner(model)
    names = [o.name for o in model.graph.output]
    n = len(next(iter(feeds.values()))) if feeds else 1
    if fixed is None or fixed == n:
        return dict(zip(names, run(feeds))), engine
    parts: dict[str, list] = {k: [] for k in names}
    for s in range(0, n, fixed):
        chunk = {k: v[s : s + fixed] for k, v in feeds.items()}
        short = fixed - len(next(iter(chunk.values())))
        if short:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], short, 0)]) for k, v in chunk.items()}
        for k, v in zip(names, run(chunk)):
            parts[k].append(v[: fixed - short])
    return {k: np.concatenate(v) for k, v in parts.items()}, engine
