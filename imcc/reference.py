"""Run the original float ONNX model: the oracle that IMC results are compared with.

onnxruntime is used when it is installed (fast), onnx's reference evaluator otherwise. Inputs
are cast to the model's declared element types (token ids stay integers) and fed in chunks when
the model fixes its batch dimension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from isa.diagnostics import InputError, OnnxImportError


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
    feeds, shapes = {}, {}
    for name, vi in decl.items():
        et = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        feeds[name] = np.asarray(inputs[name]).astype(et)
        dims = vi.type.tensor_type.shape.dim
        shapes[name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                        for d in dims]
    engine, run0 = runner(model)

    def run(chunk):
        try:
            return run0(chunk)
        except Exception as e:  # the engine's own message (shape mismatch, bad values...)
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"{path}: {engine} cannot run the model on these inputs: "
                             f"{text}") from None

    names = [o.name for o in model.graph.output]
    # Several runs' worth of inputs (a leading batch dimension that the model fixes to a smaller
    # size): every input's leading count is the same multiple of its declared first dim.
    fixed = {shapes[k][0] for k in feeds if shapes[k] and shapes[k][0]}
    n = {len(v) if v.ndim else 1 for v in feeds.values()}
    exact = all(v.ndim == len(shapes[k]) and all(d is None or d == e for d, e in
                                                  zip(shapes[k], v.shape))
                for k, v in feeds.items())
    if exact or len(fixed) != 1 or len(n) != 1 or not all(shapes[k] for k in feeds):
        return dict(zip(names, run(feeds))), engine
    fixed, n = fixed.pop(), n.pop()
    parts: dict[str, list] = {k: [] for k in names}
    for s in range(0, n, fixed):
        chunk = {k: v[s : s + fixed] for k, v in feeds.items()}
        short = fixed - len(next(iter(chunk.values())))
        if short:
            chunk = {k: np.concatenate([v, np.repeat(v[-1:], short, 0)]) for k, v in chunk.items()}
        for k, v in zip(names, run(chunk)):
            parts[k].append(v[: fixed - short])
    return {k: np.concatenate(v) for k, v in parts.items()}, engine
