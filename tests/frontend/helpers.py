"""Shared test helpers: random inputs, the ONNX reference evaluator as oracle, normal-form checks.

Tolerance for comparing a canonicalized graph with the original model (both run by
``onnx.reference.ReferenceEvaluator``): ``rtol = 1e-4`` and ``atol = 1e-5 * max(1, max|ref|)``.
Canonicalization reorders float32 arithmetic (BatchNormalization folding, alpha/beta folding),
so bit equality is not expected.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from imcc.frontend import load_model_proto
from imcc.ir import Graph, to_onnx
from imcc.partition import OP_TABLE, partition
from imcc.passes import PASSES, canonicalize

RTOL = 1e-4
ATOL_SCALE = 1e-5


def input_shapes(model: onnx.ModelProto, default: int = 2) -> dict[str, tuple[int, ...]]:
    """Static shapes for the model's inputs, symbolic dims replaced by ``default``."""
    inits = {t.name for t in model.graph.initializer}
    out = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        dims = i.type.tensor_type.shape.dim
        out[i.name] = tuple(d.dim_value if d.HasField("dim_value") else default for d in dims)
    return out


def random_feeds(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]],
                 seed: int = 0, vocab: int = 50) -> dict[str, np.ndarray]:
    """Seeded inputs: normal floats; token ids below ``vocab``; 0/1 masks with a 1 in front."""
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        shape = shapes[i.name]
        et = i.type.tensor_type.elem_type
        if et == onnx.TensorProto.INT64:
            if "mask" in i.name:
                v = rng.integers(0, 2, shape)
                v[..., 0] = 1
            else:
                v = rng.integers(0, vocab, shape)
            feeds[i.name] = v.astype(np.int64)
        elif et == onnx.TensorProto.BOOL:
            feeds[i.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ReferenceEvaluator(model).run(None, feeds)


def onnxruntime_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The second oracle, for what the reference evaluator gets wrong: its
    BatchNormalization-9 (opsets 9..13) mixes in batch statistics whenever ``momentum`` is set,
    although the operator is inference-only."""
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_matches(expected: list[np.ndarray], got: list[np.ndarray]) -> None:
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        assert e.shape == g.shape and e.dtype == g.dtype, (e.shape, e.dtype, g.shape, g.dtype)
        if e.dtype == bool or np.issubdtype(e.dtype, np.integer):
            np.testing.assert_array_equal(g, e)
        else:
            atol = ATOL_SCALE * max(1.0, float(np.max(np.abs(e))) if e.size else 1.0)
            np.testing.assert_allclose(g, e, rtol=RTOL, atol=atol)


class PassLog:
    """Hooks that record which passes ran and verify nothing (verification is verify_each)."""

    def __init__(self) -> None:
        self.after_names: list[str] = []

    def before(self, p, graph) -> None:
        pass

    def after(self, p, graph) -> None:
        self.after_names.append(p.name)


def canonical_matches_original(model: onnx.ModelProto, shapes=None, seed: int = 0,
                               vocab: int = 50, oracle: str = "reference") -> Graph:
    """Load, canonicalize with the verifier after every pass, compare with the original model
    under the reference evaluator; return the canonical graph."""
    shapes = shapes or input_shapes(model)
    g = load_model_proto(model, shapes)
    log = PassLog()
    c = canonicalize(g, verify_each=True, hooks=log)
    assert set(log.after_names) <= set(PASSES) and log.after_names
    feeds = random_feeds(model, shapes, seed, vocab)
    expected = reference(model, feeds) if oracle == "reference" else onnxruntime_run(model, feeds)
    assert_matches(expected, reference(to_onnx(c), feeds))
    return c


def check_normal_form(g: Graph, opset: int = 21) -> None:
    """Assert the documented normal forms (docs/frontend.md) hold for a canonical graph (of a
    model at opset 21 or below, else at the model's own ``opset``)."""
    assert g.opset == opset
    for n in g.nodes:
        assert n.op_type in OP_TABLE, n
        for t in n.inputs + n.outputs:
            if t:
                assert g.types[t].dtype in ("float32", "int64", "bool"), (n, t)
        if n.op_type == "Reshape":
            shape = g.constants[n.inputs[1]]
            assert shape.dtype == np.int64 and (shape > 0).all(), n
            assert n.attrs["allowzero"] == 0
        if n.op_type == "Conv":
            assert g.types[n.inputs[0]].rank == 4 and g.is_const(n.inputs[1])
            w = g.constants[n.inputs[1]]
            assert w.shape[1] * n.attrs["group"] == g.types[n.inputs[0]].shape[1]
            assert n.attrs["auto_pad"] == "NOTSET" and len(n.attrs["pads"]) == 4
            for key in ("strides", "dilations", "kernel_shape"):
                assert len(n.attrs[key]) == 2
            if len(n.inputs) > 2 and n.inputs[2]:
                assert g.constants[n.inputs[2]].shape == (w.shape[0],)
        if n.op_type == "Gemm":
            assert dict(n.attrs) == {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
            a, b = g.types[n.inputs[0]], g.constants[n.inputs[1]]
            assert a.rank == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]
            if len(n.inputs) > 2 and n.inputs[2]:
                assert g.constants[n.inputs[2]].shape == (b.shape[1],)
        if n.op_type == "MatMul" and g.is_const(n.inputs[1]):
            # a constant [K, N] weight, or (rank > 2, leading dims not all 1) a DYNAMIC product
            b = g.constants[n.inputs[1]]
            assert b.ndim >= 2 and g.types[n.inputs[0]].rank >= 2
            assert b.ndim == 2 or any(d != 1 for d in b.shape[:-2])
    partition(g)
