"""Element types at the machine's edge: float16, bfloat16 and float64 models compute in float32
and keep their declared types at the inputs and outputs (compute-float32, runtime/iodtypes.py);
Cast to float16 and bfloat16 rounds on the machine, inside a graph too; float 8 and 4-bit inputs
and outputs are exact. Compared with onnx's reference evaluator (and ml_dtypes' conversions)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend

F32_MAX = float(np.finfo(np.float32).max)


def _model(nodes, inputs, outputs, opset=21):
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _run(model, feeds):
    rep = imcc.backend.prepare(model, time_limit=0.1, workers=1)
    return rep.run(feeds), ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("elem, dtype, rtol", [(TensorProto.FLOAT16, np.float16, 1e-3),
                                               (TensorProto.DOUBLE, np.float64, 1e-6),
                                               (TensorProto.BFLOAT16, ml_dtypes.bfloat16, 1e-2)])
def test_model_in_a_wider_or_narrower_float_keeps_its_types(elem, dtype, rtol):
    """Inputs are read as float32, the graph computes in float32, outputs come back in the
    declared type, within that type's precision of the reference (which computes in it)."""
    nodes = [helper.make_node("Mul", ["a", "b"], ["m"]), helper.make_node("Relu", ["m"], ["r"]),
             helper.make_node("Add", ["r", "a"], ["y"]),
             helper.make_node("ReduceMax", ["y"], ["z"], keepdims=0)]
    model = _model(nodes, [("a", elem, [3, 4]), ("b", elem, [3, 4])],
                   [("y", elem, [3, 4]), ("z", elem, [])])
    rng = np.random.default_rng(1)
    feeds = {k: rng.uniform(-3, 3, (3, 4)).astype(dtype) for k in "ab"}
    got, want = _run(model, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol,
                                   atol=rtol)


def _edge_values(dtype) -> np.ndarray:
    """Values that test rounding to ``dtype``: ties on both sides, subnormals and the ties
    between them, the overflow threshold, float32's extremes, infinities and NaN."""
    fi = ml_dtypes.finfo(dtype)
    ulp1 = float(fi.eps)  # the spacing at 1
    top, sub = float(fi.max), float(fi.smallest_subnormal)
    half_top_ulp = 2.0 ** (int(fi.maxexp) - 1 - int(fi.nmant) - 1)
    v = [1 + ulp1 / 2, 1 + 1.5 * ulp1, 1 + ulp1 / 4, -(1 + ulp1 / 2), 3 * sub / 2, sub / 2,
         sub / 3, 5 * sub / 2, float(fi.smallest_normal) * (1 - ulp1 / 2), top,
         top + half_top_ulp * 0.99, top + half_top_ulp, -top - half_top_ulp, F32_MAX, -F32_MAX,
         np.inf, -np.inf, np.nan, 0.0, -0.0, 0.1, 1e-30, 12345.678]
    return np.array(v, np.float64).astype(np.float32)


@pytest.mark.parametrize("to, dtype", [(TensorProto.FLOAT16, "float16"),
                                       (TensorProto.BFLOAT16, "bfloat16")])
def test_cast_to_half_inside_a_graph_rounds_on_the_machine(to, dtype):
    """Cast(x, to=float16) -> Cast(to=float) inside a float32 graph: the middle tensor is float32
    on the machine, and the first Cast still rounds to the narrow type (nearest even,
    subnormals, overflow to infinity), exactly as ml_dtypes and onnx's reference do."""
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=to),
             helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)]
    x = _edge_values(dtype)
    model = _model(nodes, [("x", TensorProto.FLOAT, [x.size])],
                   [("y", TensorProto.FLOAT, [x.size])])
    (got,), (want,) = _run(model, {"x": x})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, x.astype(dtype).astype(np.float32))


@pytest.mark.parametrize("elem, dtype", [(TensorProto.FLOAT8E4M3FN, "float8_e4m3fn"),
                                         (TensorProto.FLOAT8E5M2FNUZ, "float8_e5m2fnuz"),
                                         (TensorProto.INT4, "int4"), (TensorProto.UINT4, "uint4"),
                                         (TensorProto.BFLOAT16, "bfloat16")])
def test_narrow_input_and_output_types_are_exact(elem, dtype):
    """An input of a type ml_dtypes holds is read exactly (float32 holds every value of it),
    and an output of it comes back in that type."""
    info = ml_dtypes.iinfo(dtype) if "int" in dtype else None
    x = (np.arange(info.min, info.max + 1) if info else
         np.array([0.5, -1.75, 3.0, 0.0, 2.0**-6, 1.25])).astype(dtype)
    nodes = [helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Neg", ["f"], ["n"]), helper.make_node("Neg", ["n"], ["g"]),
             helper.make_node("Cast", ["g"], ["y"], to=elem)]
    model = _model(nodes, [("x", elem, [x.size])],
                   [("f", TensorProto.FLOAT, [x.size]), ("y", elem, [x.size])])
    (f, y), (wf, wy) = _run(model, {"x": x})
    assert f.dtype == np.float32 and y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(f, wf)
    np.testing.assert_array_equal(y.astype(np.float32), wy.astype(np.float32))


def test_unsigned_output_keeps_its_type():
    nodes = [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.UINT16)]
    model = _model(nodes, [("x", TensorProto.FLOAT, [4])], [("y", TensorProto.UINT16, [4])])
    (got,), (want,) = _run(model, {"x": np.array([0, 1.5, 300.7, 65535], np.float32)})
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, want)


def test_float64_input_beyond_float32_is_refused():
    """A float64 value float32 cannot hold would become infinity on the machine: an input
    error, not a silent infinity."""
    model = _model([helper.make_node("Neg", ["x"], ["y"])], [("x", TensorProto.DOUBLE, [2])],
                   [("y", TensorProto.DOUBLE, [2])])
    rep = imcc.backend.prepare(model, time_limit=0.1, workers=1)
    with pytest.raises(imcc.Error, match=r"input 'x' \(float64\) holds 1e\+300, beyond float32"):
        rep.run({"x": np.array([1.0, 1e300])})


@pytest.mark.parametrize("to", [TensorProto.FLOAT4E2M1, TensorProto.INT2, TensorProto.UINT2])
def test_cast_to_4_bit_float_and_2_bit_integers_inside_a_graph(to):
    """float4e2m1 rounds to nearest even and saturates at +-6 (NaN gives 0); int2 and uint2
    truncate, 0 out of range: as onnx's reference computes them, kept inside a float32 graph."""
    x = np.array([0.3, 0.75, 1.25, 2.5, 3.5, 5, 6, 7, 100, -100, np.inf, -np.inf, np.nan, -0.0,
                  0.24, 0.26, -1.5, -2.7, 1.9], np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=to),
             helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)]
    model = _model(nodes, [("x", TensorProto.FLOAT, [x.size])],
                   [("y", TensorProto.FLOAT, [x.size])], opset=25)
    (got,), (want,) = _run(model, {"x": x})
    np.testing.assert_array_equal(got, want)


def test_float8e8m0_input_is_read_exactly_and_cast_to_it_is_refused():
    x = np.exp2(np.array([-127, -3, 0, 5, 127], np.float32)).astype("float8_e8m0fnu")
    read = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
                  [("x", TensorProto.FLOAT8E8M0, [5])], [("y", TensorProto.FLOAT, [5])],
                  opset=25)
    (got,), (want,) = _run(read, {"x": x})
    np.testing.assert_array_equal(got, want)
    write = _model([helper.make_node("Cast", ["y"], ["x"], to=TensorProto.FLOAT8E8M0)],
                   [("y", TensorProto.FLOAT, [5])], [("x", TensorProto.FLOAT8E8M0, [5])],
                   opset=25)
    with pytest.raises(imcc.Error, match="Cast from float32 to float8_e8m0fnu is not supported"):
        imcc.backend.prepare(write, time_limit=0.1, workers=1)


def test_declared_outputs_read_inside_too():
    """A float64 graph output that a Cast writes, or that is a constant, and that the graph
    also reads: the output keeps its type, the readers read it as float32 (an Einsum lowered
    to MatMul here)."""
    nodes = [helper.make_node("Cast", ["a"], ["d"], to=TensorProto.DOUBLE),
             helper.make_node("Einsum", ["d", "c"], ["z"], equation="i,i->")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info(n, TensorProto.DOUBLE, s)
                           for n, s in (("d", [5]), ("c", [5]), ("z", []))],
                          [helper.make_tensor("c", TensorProto.DOUBLE, [5], [1, -2, 3, 0.5, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    got, want = _run(model, {"a": np.array([1.5, 2, -3, 4, 0.25], np.float32)})
    for g_, w in zip(got, want, strict=True):
        assert g_.dtype == w.dtype == np.float64 and g_.shape == w.shape
        np.testing.assert_allclose(g_, w, rtol=1e-6)


def test_float16_input_passed_through_to_an_output():
    model = _model([helper.make_node("Identity", ["x"], ["y"])],
                   [("x", TensorProto.FLOAT16, [3])], [("y", TensorProto.FLOAT16, [3])])
    x = np.array([1.5, -65504, 6e-8], np.float16)
    (got,), _ = _run(model, {"x": x})
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, x)


def test_float64_constant_beyond_float32_is_refused():
    model = _model([helper.make_node("Mul", ["x", "c"], ["y"])], [("x", TensorProto.DOUBLE, [2])],
                   [("y", TensorProto.DOUBLE, [2])])
    model.graph.initializer.append(helper.make_tensor("c", TensorProto.DOUBLE, [2], [1.0, 1e300]))
    with pytest.raises(imcc.Error, match=r"constant 'c' \(float64\) holds 1e\+300, beyond float32"):
        imcc.backend.prepare(model, time_limit=0.1, workers=1)
