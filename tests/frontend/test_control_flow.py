"""Static control flow (imcc/frontend/control_flow.py): an ``If`` whose condition is known at
compile time compiles as the branch it takes, a ``Loop`` with a constant trip count and a
``Scan`` as their unrolled bodies; compiled for the ideal chip and run on the reference
machine, against onnx's reference evaluator (onnxruntime for a Scan along another axis or
reversed). An If on a runtime condition computes both branches and selects; a trip count that
depends on the data is still refused."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import imcc
from tests.compiler.helpers import make_model, reference

F = np.float32
R = np.random.default_rng(3)


def _branch(name, nodes, out, shape, inits=()):
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(out, 1, shape)],
                             initializer=list(inits))


def _run(model, feeds):
    prog = imcc.compile(model, "ideal", time_limit=0.1, workers=1)
    out = prog.run(feeds)
    return [out[o.name] for o in model.graph.output]


def _if_model(cond_nodes, cond_inits, cond_inputs=()):
    """``y = If(c, then: Relu(x) * w, else: x - 1)``, ``w`` an initializer of the branch, ``x``
    read from the outer scope."""
    then = _branch("then", [helper.make_node("Relu", ["x"], ["r"]),
                            helper.make_node("Mul", ["r", "w"], ["t"])], "t", (2, 3),
                   [numpy_helper.from_array(np.full((3,), 2.0, F), "w")])
    other = _branch("else", [helper.make_node("Sub", ["x", "one"], ["e"])], "e", (2, 3))
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    return make_model(cond_nodes + [node], [("x", F, (2, 3)), *cond_inputs], [("y", F, (2, 3))],
                      inits={"one": np.array(1.0, F), **cond_inits}, opset=17)


@pytest.mark.parametrize("cond", [True, False])
def test_if_with_a_constant_condition_takes_its_branch(cond):
    m = _if_model([], {"c": np.array(cond)})
    x = R.standard_normal((2, 3)).astype(F)
    np.testing.assert_allclose(_run(m, {"x": x})[0], reference(m, {"x": x})[0], rtol=1e-6)


def test_if_on_the_rank_of_an_input():
    """The exporters' form: the condition computed from a shape (``Size(Shape(x)) == 2``)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Size", ["s"], ["n"]),
             helper.make_node("Equal", ["n", "two"], ["c"])]
    m = _if_model(nodes, {"two": np.array(2, np.int64)})
    x = R.standard_normal((2, 3)).astype(F)
    got = _run(m, {"x": x})[0]
    np.testing.assert_allclose(got, reference(m, {"x": x})[0], rtol=1e-6)
    np.testing.assert_allclose(got, np.maximum(x, 0) * 2, rtol=1e-6)


def _loop_model(trip_as_input: bool):
    """``for i in range(4): s = s * 0.5 + x * i``, each ``s`` also a scan output (``n``, the
    trip count, an initializer or a graph input)."""
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Mul", ["s_in", "half"], ["h"]),
         helper.make_node("Add", ["h", "xi"], ["s_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"]),
         helper.make_node("Identity", ["s_out"], ["scan"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("s_in", 1, (3,))],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("s_out", 1, (3,)),
         helper.make_tensor_value_info("scan", 1, (3,))])
    node = helper.make_node("Loop", ["n", "go", "s0"], ["s", "all"], body=body)
    inits = {"go": np.array(True), "half": np.array(0.5, F)}
    inputs = [("x", F, (3,)), ("s0", F, (3,))]
    if trip_as_input:
        inputs.append(("n", np.int64, ()))
    else:
        inits["n"] = np.array(4, np.int64)
    return make_model([node], inputs, [("s", F, (3,)), ("all", F, (4, 3))], inits=inits,
                      opset=17)


def test_loop_with_a_constant_trip_count_is_unrolled():
    m = _loop_model(False)
    feeds = {"x": R.standard_normal(3).astype(F), "s0": R.standard_normal(3).astype(F)}
    for got, want in zip(_run(m, feeds), reference(m, feeds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_loop_whose_trip_count_is_an_input_names_it_to_bind():
    """A trip count fed at run time: the refusal names the input and how to bind it; bound
    (``constants=``, what ``--const`` and imcc.backend do), the loop unrolls."""
    m = _loop_model(True)
    with pytest.raises(imcc.Error, match="control flow") as e:
        imcc.compile(m, "ideal", time_limit=0.1, workers=1)
    assert "--const n=FILE.npy" in str(e.value.hint)
    feeds = {"x": R.standard_normal(3).astype(F), "s0": R.standard_normal(3).astype(F)}
    prog = imcc.compile(m, "ideal", time_limit=0.1, workers=1,
                        constants={"n": np.array(4, np.int64)})
    out = prog.run(feeds)
    want = reference(m, {**feeds, "n": np.array(4, np.int64)})
    for o, w in zip(m.graph.output, want, strict=True):
        np.testing.assert_allclose(out[o.name], w, rtol=1e-6)


def test_a_sequence_output_is_refused_a_constant_sequence_inside_folds():
    """A constant sequence inside the graph folds away (SequenceAt of it is a tensor); a graph
    output that is a sequence is refused with why, never returned as an array."""
    x = numpy_helper.from_array(np.arange(5, dtype=F), "x")
    nodes = [helper.make_node("Constant", [], ["c"], value=x),
             helper.make_node("SequenceConstruct", ["c"], ["seq"]),
             helper.make_node("SequenceAt", ["seq", "zero"], ["y"]),
             helper.make_node("Add", ["y", "a"], ["z"])]
    m = make_model(nodes, [("a", F, (5,))], [("z", F, (5,))],
                   inits={"zero": np.array(0, np.int64)}, opset=17)
    a = R.standard_normal(5).astype(F)
    np.testing.assert_array_equal(_run(m, {"a": a})[0], np.arange(5, dtype=F) + a)
    seq_out = helper.make_tensor_sequence_value_info("seq", TensorProto.FLOAT, (5,))
    m.graph.output.append(seq_out)
    with pytest.raises(imcc.Error, match="output 'seq' is a sequence, not a numeric tensor"):
        imcc.compile(m, "ideal", time_limit=0.1, workers=1)


@pytest.mark.parametrize("cond", [True, False])
def test_if_on_a_runtime_condition_computes_both_branches_and_selects(cond):
    m = _if_model([], {}, [("c", np.bool_, ())])
    feeds = {"x": R.standard_normal((2, 3)).astype(F), "c": np.array(cond)}
    np.testing.assert_allclose(_run(m, feeds)[0], reference(m, feeds)[0], rtol=1e-6)


def test_if_on_a_runtime_condition_with_branches_of_other_shapes_is_refused():
    then = _branch("then", [helper.make_node("Relu", ["x"], ["t"])], "t", (2, 3))
    other = _branch("else", [helper.make_node("Transpose", ["x"], ["e"])], "e", (3, 2))
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    m = make_model([node], [("x", F, (2, 3)), ("c", np.bool_, ())], [("y", F, ("a", "b"))],
                   opset=11)
    with pytest.raises(imcc.Error, match="control flow with subgraphs is not supported"):
        imcc.compile(m, "ideal", time_limit=0.1, workers=1)


@pytest.mark.parametrize("opset", [11, 17])  # Unsqueeze's axes an attribute, then an input
@pytest.mark.parametrize("direction", [0, 1])
def test_scan_over_a_static_length_is_unrolled(opset, direction):
    """A running sum over the rows of ``x`` (axis 1), forward or reversed, each partial sum a
    scan output stacked along axis 1."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "row"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["each"])],
        "body",
        [helper.make_tensor_value_info("acc_in", 1, (2,)),
         helper.make_tensor_value_info("row", 1, (2,))],
        [helper.make_tensor_value_info("acc_out", 1, (2,)),
         helper.make_tensor_value_info("each", 1, (2,))])
    node = helper.make_node("Scan", ["init", "x"], ["total", "sums"], body=body,
                            num_scan_inputs=1, scan_input_axes=[1],
                            scan_input_directions=[direction], scan_output_axes=[1])
    m = make_model([node], [("init", F, (2,)), ("x", F, (2, 5))],
                   [("total", F, (2,)), ("sums", F, (2, 5))], opset=opset)
    feeds = {"init": R.standard_normal(2).astype(F), "x": R.standard_normal((2, 5)).astype(F)}
    # onnx's reference evaluator scans along axis 0 forward only: onnxruntime is the oracle
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, want in zip(_run(m, feeds), sess.run(None, feeds), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_corrupt_initializer_beside_control_flow_is_an_error_not_a_crash():
    """The search for known conditions reads small initializers; one whose bytes do not fill
    its shape (a damaged file) is left to the loader's checks, which name it."""
    m = _if_model([], {"c": np.array(True)})
    bad = numpy_helper.from_array(np.zeros(4, F), "pad")
    bad.raw_data = bad.raw_data[:6]  # 6 bytes for 4 float32
    m.graph.initializer.append(bad)
    with pytest.raises(imcc.Error, match="pad"):
        imcc.compile(m, "ideal", time_limit=0.1, workers=1)


def test_if_on_the_shape_of_a_computed_tensor():
    """PyTorch's TorchScript export of LocalResponseNorm: the If tests the rank of a padded
    tensor whose pads a chain of ConstantOfShape, Concat, Reshape and Cast computes (onnx's
    data propagation does not follow it; imcc folds it first)."""
    nodes = [helper.make_node("ConstantOfShape", ["two"], ["zeros"]),
             helper.make_node("Concat", ["lead", "zeros"], ["p6"], axis=0),
             helper.make_node("Reshape", ["p6", "shape2x2"], ["p23"]),
             helper.make_node("Transpose", ["p23"], ["p32"], perm=[1, 0]),
             helper.make_node("Reshape", ["p32", "flat"], ["pf"]),
             helper.make_node("Cast", ["pf"], ["pads"], to=TensorProto.INT64),
             helper.make_node("Pad", ["x", "pads"], ["xp"]),
             helper.make_node("Shape", ["xp"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["rows"]),
             helper.make_node("Equal", ["rows", "four_rows"], ["c"])]
    # branches of other shapes (as the export's Squeeze and Identity): no Where can select
    then = _branch("then", [helper.make_node("Neg", ["xp"], ["n"]),
                            helper.make_node("Reshape", ["n", "flat"], ["t"])], "t", (12,))
    other = _branch("else", [helper.make_node("Identity", ["xp"], ["e"])], "e", (4, 3))
    nodes += [helper.make_node("If", ["c"], ["b"], then_branch=then, else_branch=other),
              helper.make_node("Reshape", ["b", "shape4x3"], ["y"])]
    m = make_model(nodes, [("x", F, (2, 3))], [("y", F, (4, 3))], inits={
        "shape4x3": np.array([4, 3], np.int64),
        "two": np.array([2], np.int64), "lead": np.array([1., 1.], F),
        "shape2x2": np.array([2, 2], np.int64), "flat": np.array([-1], np.int64),
        "zero": np.array(0, np.int64), "four_rows": np.array(4, np.int64)}, opset=17)
    x = R.standard_normal((2, 3)).astype(F)
    got = _run(m, {"x": x})[0]
    np.testing.assert_allclose(got, reference(m, {"x": x})[0], rtol=1e-6)
    np.testing.assert_array_equal(got, -np.pad(x, ((1, 1), (0, 0))))  # pads [1, 0, 1, 0]


def test_loop_over_a_computed_length_whose_condition_is_an_outer_true():
    """PyTorch's export of EmbeddingBag: the trip count is a length read from the shape of a
    reshaped input, and the body's condition is an outer ``True`` cast, not its input passed
    through."""
    body = helper.make_graph(
        [helper.make_node("Unsqueeze", ["i", "ax0"], ["i1"]),
         helper.make_node("Gather", ["xf", "i1"], ["v"]),
         helper.make_node("Cast", ["go"], ["c_out"], to=TensorProto.BOOL)],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", 1, (1,))])
    nodes = [helper.make_node("Reshape", ["x", "flat"], ["xf"]),
             helper.make_node("Shape", ["xf"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"]),
             helper.make_node("Loop", ["n", "go"], ["all"], body=body)]
    m = make_model(nodes, [("x", F, (2, 3))], [("all", F, (6, 1))], inits={
        "flat": np.array([-1], np.int64), "zero": np.array(0, np.int64),
        "ax0": np.array([0], np.int64), "go": np.array(True)}, opset=17)
    x = R.standard_normal((2, 3)).astype(F)
    got = _run(m, {"x": x})[0]
    np.testing.assert_array_equal(got, x.reshape(6, 1))
    np.testing.assert_allclose(got, reference(m, {"x": x})[0], rtol=0)
