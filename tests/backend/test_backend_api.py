"""imcc.backend's own interface, against onnx's reference evaluator; the expected-failure list
names real cases, each once."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend
from tests.backend.expected_failures import EXPECTED_FAILURES, EXPECTED_MISMATCHES


def _model(nodes, inputs, outputs, opset=17, inits=()):
    g = helper.make_graph(nodes, "m", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def test_prepare_run_matches_reference():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["h"]),
                    helper.make_node("Relu", ["h"], ["y"]),
                    helper.make_node("Sub", ["y", "b"], ["z"])],
                   [_vi("x", [2, 4]), _vi("b", [2, 3])], [_vi("y", [2, 3]), _vi("z", [2, 3])],
                   inits=[onnx.numpy_helper.from_array(w, "w")])
    x = rng.standard_normal((2, 4)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x, "b": b})
    rep = imcc.backend.prepare(model)
    got = rep.run([x, b])
    assert len(got) == 2
    for g, r in zip(got, want, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    by_name = rep.run({"b": b, "x": x})
    np.testing.assert_array_equal(by_name[1], got[1])
    np.testing.assert_array_equal(imcc.backend.run_model(model, [x, b])[0], got[0])


def test_run_node_matches_reference():
    x = np.array([[-2.5, 0.5], [1.5, -0.25]], np.float32)
    node = helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.3)
    (y,) = imcc.backend.run_node(node, [x])
    np.testing.assert_allclose(y, np.where(x < 0, 0.3 * x, x), rtol=1e-6)


def test_devices_and_refusals():
    assert imcc.backend.supports_device("CPU")
    assert not imcc.backend.supports_device("CUDA")
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(imcc.Error, match="CPU only"):
        imcc.backend.prepare(model, "CUDA")
    strings = _model([helper.make_node("Identity", ["x"], ["y"])],
                     [_vi("x", [2], TensorProto.STRING)], [_vi("y", [2], TensorProto.STRING)])
    with pytest.raises(imcc.Error, match="not a numeric tensor"):
        imcc.backend.prepare(strings)
    rep = imcc.backend.prepare(model)
    with pytest.raises(imcc.Error, match="2 input"):
        rep.run([np.zeros(2, np.float32), np.zeros(2, np.float32)])


def test_expected_failures_are_real_cases_listed_once():
    import warnings

    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # onnx's case definitions overflow casts on purpose
        names = {t.name for t in load_model_tests(kind="node")}
    for kind in ("simple", "pytorch-converted", "pytorch-operator"):
        names |= {t.name for t in load_model_tests(kind=kind)}
    listed = [n for groups in (EXPECTED_FAILURES, EXPECTED_MISMATCHES)
              for group in groups.values() for n in group]
    assert len(listed) == len(set(listed))
    assert not set(listed) - names
