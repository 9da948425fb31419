"""The fuse-layernorm pass: decomposed layer norms become one LayerNormalization where the
pattern is whole, and stay as they are otherwise; the compiled result against onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from imcc.frontend import load_model_proto
from imcc.passes import canonicalize

from .helpers import canonical_matches_original, reference


def _model(*, axes=(-1,), form="div", bias=True, shape=(2, 3, 8), scale_shape=None,
           order="xm", extra_out=None, pow_exp=2.0, opset=17):
    """``x -> layer norm over axes`` written out as exporters before opset 17 do."""
    rng = np.random.default_rng(1)
    norm = shape[len(shape) + min(axes):] if min(axes) < 0 else shape[min(axes):]
    inits = [numpy_helper.from_array(np.array(axes, np.int64), "axes"),
             numpy_helper.from_array(np.array(pow_exp, np.float32), "two"),
             numpy_helper.from_array(np.array(1e-5, np.float32), "eps"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, scale_shape or norm)
                                     .astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.standard_normal(norm).astype(np.float32), "beta"),
             numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    mean = helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1) if opset >= 18 \
        else helper.make_node("ReduceMean", ["x"], ["m"], axes=list(axes), keepdims=1)
    var = helper.make_node("ReduceMean", ["p", "axes"], ["v"], keepdims=1) if opset >= 18 \
        else helper.make_node("ReduceMean", ["p"], ["v"], axes=list(axes), keepdims=1)
    nodes = [mean, helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["p"]), var,
             helper.make_node("Add", ["v", "eps"] if order == "xm" else ["eps", "v"], ["a"]),
             helper.make_node("Sqrt", ["a"], ["s"])]
    if form == "div":
        nodes.append(helper.make_node("Div", ["d", "s"], ["n"]))
    else:
        nodes += [helper.make_node("Reciprocal", ["s"], ["r"]),
                  helper.make_node("Mul", ["d", "r"], ["n"])]
    nodes.append(helper.make_node("Mul", ["n", "gamma"] if order == "xm" else ["gamma", "n"],
                                  ["g"]))
    last = "g"
    if bias:
        nodes.append(helper.make_node("Add", ["g", "beta"], ["y"]))
        last = "y"
    nodes.append(helper.make_node("Mul", [last, "one"], ["out"]))  # the norm's reader
    outs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)]
    if extra_out:
        outs.append(helper.make_tensor_value_info(extra_out, TensorProto.FLOAT, None))
    g = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      shape)], outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _ops(model):
    g = canonicalize(load_model_proto(model, {"x": tuple(
        d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)}))
    return [n.op_type for n in g.nodes], g


@pytest.mark.parametrize("kw", [{}, {"form": "reciprocal"}, {"bias": False}, {"order": "mx"},
                                {"axes": (-2, -1)}, {"opset": 13}, {"opset": 18},
                                {"scale_shape": (1, 8)}])
def test_decomposed_layer_norm_becomes_one_node(kw):
    model = _model(**kw)
    g = canonical_matches_original(model)
    ops = [n.op_type for n in g.nodes]
    assert ops.count("LayerNormalization") == 1
    assert not {"ReduceMean", "Sub", "Pow", "Sqrt", "Div", "Reciprocal"} & set(ops), ops
    ln = next(n for n in g.nodes if n.op_type == "LayerNormalization")
    assert ln.attrs["axis"] == min(kw.get("axes", (-1,)))
    assert ln.attrs["epsilon"] == pytest.approx(1e-5)
    assert len(ln.inputs) == (2 if kw.get("bias") is False else 3)


@pytest.mark.parametrize("kw", [
    {"extra_out": "m"},           # the mean is read elsewhere (an output)
    {"extra_out": "s"},           # so is the standard deviation
    {"scale_shape": (3, 8)},      # the scale varies over an axis not normalized
    {"pow_exp": 3.0},             # not a square
])
def test_partial_or_different_patterns_stay(kw):
    model = _model(**kw)
    ops, _ = _ops(model)
    assert "LayerNormalization" not in ops
    assert "ReduceMean" in ops


def test_fused_layer_norm_compiles_and_matches_onnxruntime():
    import imcc

    ort = pytest.importorskip("onnxruntime")
    model = _model(shape=(4, 64))
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32) * 3 + 1
    prog = imcc.compile(model, chip="ideal-signed")
    assert "vnorm" in prog.asm and "vpow" not in prog.asm
    got = prog.run({"x": x})["out"]
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, reference(model, {"x": x})[0], rtol=1e-5, atol=1e-5)
