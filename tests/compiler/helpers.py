"""Compile an ONNX model, run it on the reference machine, and compare with onnx's reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from imcc.compiler import CompileOptions, compile_model
from imcc.options import Tuning
from runtime.config import preset
from runtime.machine import Machine

OPSET = 18


def make_model(nodes, inputs, outputs, inits=(), opset=OPSET) -> onnx.ModelProto:
    """inputs/outputs: (name, numpy dtype, shape) triples; inits: name -> array."""
    def vi(name, dt, shape):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dt)),
                                             shape)

    g = helper.make_graph(nodes, "g", [vi(*i) for i in inputs], [vi(*o) for o in outputs],
                          initializer=[numpy_helper.from_array(np.asarray(v), k)
                                       for k, v in dict(inits).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    # Outputs given without a shape get the one onnx's shape inference finds.
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    return m


def reference(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return ReferenceEvaluator(model).run(None, feeds)


def run_compiled(model: onnx.ModelProto, feeds: dict, tmp_path: Path, *, chip="ideal",
                 calib=None, precision: str | None = None, tuning: Tuning = Tuning(), **opts):
    """Compile (``precision``: text of a precision file; ``tuning``: the code generator's chunk
    sizes) and run one batch."""
    from imcc.precision import load_precision

    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    cfg = preset(chip) if isinstance(chip, str) else chip
    prec = None
    if precision is not None:
        (tmp_path / "p.toml").write_text(precision)
        prec = load_precision(tmp_path / "p.toml", cfg.cell_bits)
    res = compile_model(path, cfg, calib=calib, precision=prec, options=CompileOptions(**opts),
                        tuning=tuning)
    m = Machine(cfg, res.obj)
    outs = m.run({k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})
    return [outs[o.name] for o in model.graph.output], res


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(1, max |want|): relative to the output's scale."""
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    if want.size == 0:
        return 0.0
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))


def check(model, feeds, tmp_path, tol=1e-5, **kw):
    want = reference(model, feeds)
    got, res = run_compiled(model, feeds, tmp_path, **kw)
    for g, w in zip(got, want):
        assert g.shape == tuple(np.asarray(w).shape)
        assert rel_err(g, w) <= tol, (rel_err(g, w), g.ravel()[:8], np.asarray(w).ravel()[:8])
    return res


__all__ = ["TensorProto", "check", "helper", "make_model", "reference", "reference_peaks",
           "rel_err", "run_compiled"]


def reference_peaks(model, x, names, batch=2):
    """max |t| over the samples ``x`` (fed to input ``x`` in chunks of ``batch``), each tensor
    an output of the original model run by onnx's reference evaluator."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.output.extend(helper.make_tensor_value_info(t, TensorProto.FLOAT, None)
                          for t in names if t != "y")
    ref = ReferenceEvaluator(m)
    outs = [o.name for o in m.graph.output]
    peak = dict.fromkeys(names, 0.0)
    for s in range(0, len(x), batch):
        got = dict(zip(outs, ref.run(None, {"x": x[s:s + batch]})))
        for t in names:
            peak[t] = max(peak[t], float(np.abs(got[t]).max()))
    return peak
