"""The compiler imports onnx's reference evaluator (about 11 MB of the process) only when a
model needs it: a model without constant sub-graphs compiles without it, and a model with one
gets the values the evaluator computes. The operators' changes after opset 21 (every schema of
every version, about 6 MB) are read only for a model of such an opset."""

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    from imcc.compiler import CompileOptions, compile_model
    from imcc.mapper import canonical_graph, load_graph
    from runtime.config import preset
    assert "onnx.reference" not in sys.modules, "imported with the compiler"
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    inits = [numpy_helper.from_array(w, "w")]
    if sys.argv[1] == "folded":  # w2 = w + w: a constant sub-graph, folded by the evaluator
        nodes = [helper.make_node("Add", ["w", "w"], ["w2"]),
                 helper.make_node("MatMul", ["x", "w2"], ["y"])]
    g = helper.make_graph(nodes, "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    g = canonical_graph(load_graph(m, CompileOptions()))
    mm = [n for n in g.nodes if n.op_type in ("MatMul", "Gemm")][0]
    np.testing.assert_array_equal(np.asarray(g.constants[mm.inputs[1]]), w + w if
                                  sys.argv[1] == "folded" else w)
    compile_model(m, preset("ideal"))
    from imcc.frontend.opsets import changes
    assert changes.cache_info().currsize == 0, "opset 17 read the changes of newer opsets"
    print("onnx.reference" in sys.modules)
""")


def _run(case: str) -> str:
    p = subprocess.run([sys.executable, "-c", _SCRIPT, case], capture_output=True, text=True,
                       check=False)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[-1]


def test_a_model_without_constant_subgraphs_does_not_import_the_evaluator():
    assert _run("plain") == "False"


def test_a_model_with_one_imports_it_when_it_folds():
    assert _run("folded") == "True"
