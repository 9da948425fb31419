"""The IR: immutability, the verifier's checks, to_onnx against plain numpy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from onnx.reference import ReferenceEvaluator

from imcc.ir import AttrMap, Graph, Node, TensorType, format_graph, to_onnx
from imcc.verify import verify
from isa.diagnostics import VerifyError

F = "float32"


def _graph(nodes, types, constants=None, inputs=("x",), outputs=("y",)):
    return Graph("g", tuple(nodes), tuple(inputs), tuple(outputs), types, constants or {}, 21)


def _linear_relu():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10 - 0.5
    b = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    nodes = [Node("fc", "Gemm", ("x", "w", "b"), ("h",),
                  {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}),
             Node("act", "Relu", ("h",), ("y",))]
    types = {"x": TensorType((2, 3), F), "w": TensorType((3, 4), F), "b": TensorType((4,), F),
             "h": TensorType((2, 4), F), "y": TensorType((2, 4), F)}
    return _graph(nodes, types, {"w": w, "b": b}), w, b


def test_to_onnx_matches_numpy():
    g, w, b = _linear_relu()
    verify(g)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    (y,) = ReferenceEvaluator(to_onnx(g)).run(None, {"x": x})
    np.testing.assert_allclose(y, np.maximum(x @ w + b, 0), rtol=1e-6, atol=1e-6)


def test_frozen_and_read_only():
    g, w, _ = _linear_relu()
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.name = "h"
    with pytest.raises(TypeError):
        g.types["z"] = TensorType((1,), F)
    with pytest.raises(ValueError):
        g.constants["w"][0, 0] = 1.0
    w[0, 0] = 42.0  # the caller's array stays writable and the graph holds a view of it
    assert g.producer("h").name == "fc" and g.consumers("h")[0].name == "act"
    assert g.producer("x") is None and g.is_const("w") and not g.is_const("x")


def test_attr_map_is_immutable_and_hashable():
    a = AttrMap({"perm": [1, 0], "value": np.zeros(2, np.float32), "name": b"x"})
    assert a["perm"] == (1, 0) and a["name"] == "x"
    assert hash(a) == hash(AttrMap({"perm": (1, 0), "value": np.zeros(2, np.float32),
                                    "name": "x"}))
    with pytest.raises(ValueError):
        a["value"][0] = 1
    with pytest.raises(TypeError):
        a["perm"] = (0, 1)
    n = Node("t", "Transpose", ("x",), ("y",), {"perm": [1, 0]})
    assert hash(n) == hash(Node("t", "Transpose", ("x",), ("y",), {"perm": (1, 0)}))


def _broken(kind):
    g, _, _ = _linear_relu()
    nodes, types, consts = list(g.nodes), dict(g.types), dict(g.constants)
    if kind == "duplicate name":
        nodes[1] = nodes[1].replace(name="fc")
    elif kind == "use before definition":
        nodes.reverse()
    elif kind == "missing type":
        del types["h"]
    elif kind == "wrong shape":
        types["h"] = TensorType((2, 5), F)
        types["y"] = TensorType((2, 5), F)
    elif kind == "wrong dtype":
        types["y"] = TensorType((2, 4), "int64")
    elif kind == "constant mismatch":
        consts["b"] = np.zeros(3, np.float32)
    elif kind == "undefined output":
        return _graph(nodes, types, consts, outputs=("zz",))
    elif kind == "unknown op":
        nodes[1] = nodes[1].replace(op_type="Frobnicate")
    return _graph(nodes, types, consts)


@pytest.mark.parametrize("kind,needle", [
    ("duplicate name", "used twice"),
    ("use before definition", "before it is defined"),
    ("missing type", "has no type"),
    ("wrong shape", "recorded as [2, 5]"),
    ("wrong dtype", "recorded as int64"),
    ("constant mismatch", "constant 'b'"),
    ("undefined output", "never defined"),
    ("unknown op", "not an ONNX operator"),
])
def test_verifier_rejects(kind, needle):
    with pytest.raises(VerifyError) as e:
        verify(_broken(kind))
    assert needle in e.value.message


def test_verifier_error_marks_the_node():
    with pytest.raises(VerifyError) as e:
        verify(_broken("wrong shape"))
    marked = [ln for ln in e.value.ir_text.splitlines() if ln.startswith(">>")]
    assert len(marked) == 1 and "# fc" in marked[0]


def test_format_graph_context_window():
    nodes = [Node(f"n{i}", "Relu", (f"t{i}",), (f"t{i + 1}",)) for i in range(20)]
    types = {f"t{i}": TensorType((2,), F) for i in range(21)}
    g = _graph(nodes, types, inputs=("t0",), outputs=("t20",))
    verify(g)
    text = format_graph(g, mark="n10", context=2)
    assert "... 8 nodes" in text and "... 7 nodes" in text and ">>" in text
    assert text.count("Relu") == 5
