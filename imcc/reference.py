"""Run the original float ONNX model: the oracle that IMC results are compared with.

onnxruntime is used when it is installed (fast), onnx's reference evaluator otherwise. Inputs
are cast to the model's declared element types (token ids stay integers) and fed in chunks when
the model fixes its batch dimension.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter

from isa.diagnostics import InputError, OnnxImportError


def runner(model: onnx.ModelProto, *, lean: bool = False, plain: bool = False,
           arena: bool = True, refused: list[str] | None = None):
    """``(engine name, run(feeds) -> list of outputs)`` for an in-memory model: onnxruntime
    when it is installed and accepts the model, onnx's reference evaluator otherwise. ``lean``
    asks onnxruntime to hold as little memory as it can (the nodes run in the model's order, an
    activation is freed after its last reader, no block is planned for all of them at once):
    for a model whose outputs are small beside its activations (calibration's ranges); the
    outputs are the same. ``plain`` runs each node by its own kernel (none of onnxruntime's
    graph optimizations, which fuse nodes and change the last bits of some outputs depending on
    the nodes around them): a node's outputs are then the same bits whatever model it is part
    of (calibration in stages, :mod:`imcc.staged`). Without ``arena`` the memory a run takes
    is given back after it, not kept by the session for its next run (for one of many
    sessions). Where onnxruntime is installed but refuses the model, the first line of its
    reason is added to ``refused``."""
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        if plain:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            # threads that wait for work by spinning would take the cores from the sessions
            # of the next stages, which run while this one waits
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.enable_cpu_mem_arena = arena
        if lean:
            so.enable_mem_pattern = False
            order = getattr(getattr(ort, "ExecutionOrder", None), "PRIORITY_BASED", None)
            if order is not None:  # a build without it runs the same model, holding more
                so.execution_order = order
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        return "onnxruntime", lambda feeds: sess.run(None, feeds)
    except ImportError:  # onnxruntime missing (the core install)
        pass
    except Exception as e:  # onnxruntime unable to run this model
        if refused is not None:
            refused.append((str(e).strip().splitlines() or [type(e).__name__])[0])
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(_for_reference(model))
    return "onnx reference evaluator", lambda feeds: ref.run(None, feeds)


def _for_reference(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` as onnx's reference evaluator runs it: onnxruntime's own operators rewritten
    into standard ones (:mod:`imcc.frontend.contrib`), and a model with quantizers before
    opset 19 converted to opset 21 (the evaluator has no QuantizeLinear or DequantizeLinear
    before 19); ``model`` itself (not a copy) where neither applies, a converter's refusal
    leaving the opset as it is."""
    from imcc.frontend.contrib import expand_contrib, has_rewrites
    from imcc.frontend.opsets import default_opset

    def old_quantizers(m: onnx.ModelProto) -> bool:
        return default_opset(m) < 19 and any(n.op_type in ("QuantizeLinear", "DequantizeLinear")
                                             for n in m.graph.node)

    if not has_rewrites(model) and not old_quantizers(model):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    expand_contrib(out, "model", lambda i, n: f"node {n.name or i!r} ({n.op_type})")
    if old_quantizers(out):
        try:
            out = onnx.version_converter.convert_version(out, 21)
        except Exception:  # noqa: BLE001 - the converter refuses in several ways
            pass
    return out


def _check(model: onnx.ModelProto, path, shapes: dict[str, tuple[int, ...]]) -> None:
    """The checks and limits of imcc's own loader and importer, for the shapes the engine will
    be fed, before the model goes to an engine: an unknown operator, an inconsistent graph or a
    tensor over --max-elements is one error here, not a failure inside the engine."""
    from imcc.frontend import load_model_proto

    if any(0 in s for s in shapes.values()):
        raise InputError(f"{path}: an input has no rows ({shapes}); give at least one sample")
    from imcc.frontend.bind_constants import NeedsConstants

    try:
        load_model_proto(model, shapes, base_dir=Path(path).parent, where=str(path))
    except NeedsConstants:  # shapes set by input values: the engine is given them
        return
    except OnnxImportError as e:
        if "--input-shape" not in e.message:
            raise
        given = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
        raise InputError(f"{path}: cannot run the model on these inputs: {given} do not fit "
                         "the shapes it declares", hint="compare with the model the program "
                         "was compiled from") from None


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
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or tt.elem_type == onnx.TensorProto.STRING or \
                tt.elem_type not in onnx.helper.get_all_tensor_dtypes():
            raise OnnxImportError(f"{path}: input {name!r} is not a numeric tensor")
        feeds[name] = np.asarray(inputs[name]).astype(onnx.helper.tensor_dtype_to_np_dtype(
            tt.elem_type))
        shapes[name] = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                        for d in tt.shape.dim]

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
    whole = exact or len(fixed) != 1 or len(n) != 1 or not all(shapes[k] for k in feeds)
    _check(model, path, {k: tuple(v.shape) if whole else (min(fixed), *v.shape[1:])
                         for k, v in feeds.items()})
    try:
        engine, run0 = runner(model)
    except Exception as e:  # noqa: BLE001 - the evaluator refuses a model in many ways
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OnnxImportError(f"{path}: onnx's reference evaluator cannot load the model: "
                              f"{text}") from None
    if whole:
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
