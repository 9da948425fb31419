"""Cast converts as onnx's reference evaluator does: float 8 types (all four, saturating or
not) at every tie, subnormal and overflow boundary; 4-bit integers; integer narrowing with
wrap-around. Values come back as float32 (the machine's word), each equal to the reference's
value in the destination type."""

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto

import imcc
from tests.compiler.helpers import helper, reference

F8 = {"float8_e4m3fn": TensorProto.FLOAT8E4M3FN, "float8_e4m3fnuz": TensorProto.FLOAT8E4M3FNUZ,
      "float8_e5m2": TensorProto.FLOAT8E5M2, "float8_e5m2fnuz": TensorProto.FLOAT8E5M2FNUZ}


def _cast_model(src, to, n, **attrs):
    node = helper.make_node("Cast", ["x"], ["y"], to=to, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", src, [n])],
                          [helper.make_tensor_value_info("y", to, [n])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


def _run(model, x):
    prog = imcc.compile(model, "ideal", time_limit=0.1)
    return prog.run({"x": x})["y"]


def _float8_probes(dtype) -> np.ndarray:
    """Every finite value of the type, the midpoints between neighbours (ties) and the float32
    numbers either side of them, both signs; the overflow boundary; specials."""
    allv = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
    v = np.unique(np.abs(allv[np.isfinite(allv)]))
    top = float(ml_dtypes.finfo(dtype).max)
    ulp = float(v[-1] - v[-2])
    mids = ((v[:-1].astype(np.float64) + v[1:]) / 2).astype(np.float32)
    beyond = np.array([top + ulp / 2, top + ulp, 2 * top, 1e6, 3e38], np.float32)
    pos = np.concatenate([v, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf), beyond,
                          np.nextafter(beyond[:1], 0), np.nextafter(beyond[:1], np.inf),
                          [v[1] / 2, v[1] / 4, 1e-30]]).astype(np.float32)
    return np.concatenate([pos, -pos, [np.inf, -np.inf, np.nan, -0.0]]).astype(np.float32)


@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("dtype", list(F8))
def test_cast_to_float8(dtype, saturate):
    x = _float8_probes(dtype)
    m = _cast_model(TensorProto.FLOAT, F8[dtype], len(x), saturate=saturate)
    want = reference(m, {"x": x})[0].astype(np.float32)
    got = _run(m, x)
    np.testing.assert_array_equal(got, want)
    finite = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(got[finite]), np.signbit(want[finite]))


@pytest.mark.parametrize("to", [TensorProto.INT4, TensorProto.UINT4])
def test_cast_float_to_4_bit_integers(to):
    x = np.concatenate([np.arange(-20, 20, 0.25), [np.nan, np.inf, -np.inf, -0.0]])
    x = x.astype(np.float32)
    m = _cast_model(TensorProto.FLOAT, to, len(x))
    want = reference(m, {"x": x})[0].astype(np.float32)
    np.testing.assert_array_equal(_run(m, x), want)


@pytest.mark.parametrize("src,to", [
    (TensorProto.INT8, TensorProto.INT4), (TensorProto.INT8, TensorProto.UINT4),
    (TensorProto.INT16, TensorProto.INT8), (TensorProto.INT32, TensorProto.UINT8),
    (TensorProto.INT64, TensorProto.INT16), (TensorProto.INT32, TensorProto.UINT16),
    (TensorProto.UINT16, TensorProto.INT8), (TensorProto.INT8, TensorProto.UINT8)])
def test_cast_to_a_narrower_integer_keeps_the_low_bits(src, to):
    """Cast back to float inside the graph, so the narrowed value is what flows on."""
    dt = helper.tensor_dtype_to_np_dtype(src)
    info = np.iinfo(dt)
    x = np.concatenate([np.arange(-300, 300, 7), [40000, -40000, 2**24 - 1, -(2**24) + 1],
                        [info.min, info.max]])
    x = np.clip(x, max(info.min, -(2**24)), min(info.max, 2**24)).astype(dt)
    nodes = [helper.make_node("Cast", ["x"], ["n"], to=to),
             helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", src, [len(x)])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [len(x)])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    np.testing.assert_array_equal(_run(m, x), reference(m, {"x": x})[0])
