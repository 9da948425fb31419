"""Rank-0 (scalar) tensors at the boundary of a compiled program: scalar graph inputs and
outputs, and graph outputs that fold to a scalar constant. Compiled for the ideal chip, run on
the reference machine, compared with onnx's reference evaluator."""

import numpy as np

import imcc
from tests.compiler.helpers import helper, make_model, reference

F = np.float32


def _run(model, feeds):
    prog = imcc.compile(model, "ideal", time_limit=0.1)
    outs = prog.run(feeds)
    return prog, [outs[o.name] for o in model.graph.output]


def _same(got, want):
    want = np.asarray(want)
    assert isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_scalar_inputs_and_outputs():
    nodes = [helper.make_node("Pow", ["x", "e"], ["p"]),
             helper.make_node("Add", ["p", "b"], ["y"]),
             helper.make_node("ReduceSum", ["y"], ["total"], keepdims=0),
             helper.make_node("MatMul", ["v", "v"], ["dot"])]
    m = make_model(nodes, [("x", F, (2, 3)), ("e", F, ()), ("b", F, ()), ("v", F, (4,))],
                   [("y", F, None), ("total", F, None), ("dot", F, None)], opset=18)
    rng = np.random.default_rng(0)
    feeds = {"x": rng.uniform(0.5, 2, (2, 3)).astype(F), "e": np.array(2.5, F),
             "b": np.array(-1.25, F), "v": rng.standard_normal(4).astype(F)}
    prog, got = _run(m, feeds)
    assert {t.name: t.shape for t in prog.inputs} == {"x": (2, 3), "e": (), "b": (), "v": (4,)}
    assert prog.outputs[1].shape == () and prog.outputs[2].shape == ()
    for g, w in zip(got, reference(m, feeds)):
        _same(g, w)
    # the program was assembled from this text, which states rank 0 as []
    lines = prog.asm.splitlines()
    assert any(ln.startswith('.input "e", ') and ln.endswith(", []") for ln in lines)
    assert any(ln.startswith('.output "dot", ') and ln.endswith(", []") for ln in lines)


def test_outputs_that_fold_to_scalar_constants():
    """Size of a static tensor folds away: the graph output is a rank-0 constant."""
    nodes = [helper.make_node("Size", ["x"], ["n"]),
             helper.make_node("Relu", ["x"], ["y"]),
             helper.make_node("Constant", [], ["c"],
                              value=helper.make_tensor("c", 1, [], [0.5]))]
    m = make_model(nodes, [("x", F, (3, 4))],
                   [("n", np.int64, None), ("y", F, None), ("c", F, None)], opset=18)
    feeds = {"x": np.random.default_rng(1).standard_normal((3, 4)).astype(F)}
    prog, got = _run(m, feeds)
    assert prog.outputs[0].shape == () and prog.outputs[0].dtype == "int64"
    for g, w in zip(got, reference(m, feeds)):
        _same(g, w)


def test_a_scalar_input_goes_whole_to_every_chunk_of_a_batch():
    m = make_model([helper.make_node("Mul", ["x", "s"], ["y"])],
                   [("x", F, (2, 3)), ("s", F, ())], [("y", F, None)], opset=18)
    x = np.arange(15, dtype=F).reshape(5, 3)
    prog = imcc.compile(m, "ideal", time_limit=0.1)
    y = prog.run({"x": x, "s": np.array(3.0, F)})["y"]
    np.testing.assert_array_equal(y, x * 3)
    assert prog.cost.runs == 3
