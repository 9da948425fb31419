"""Graph inputs bound as constants (imcc.compile(constants=...), imcc compile --const), the
refusals that name the inputs to bind, and imcc.backend compiling per run's values: against
onnx's reference evaluator."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import imcc
import imcc.backend
from imcc.cli import cli
from imcc.frontend.bind_constants import NeedsConstants

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _model(nodes, inputs, outputs, opset=21):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(*i) for i in inputs],
                          [helper.make_tensor_value_info(*o) for o in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _pad(mode="constant"):
    return _model([helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)],
                  [("x", F, [2, 3]), ("pads", I64, [4])], [("y", F, None)])


def _expect(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


X = np.arange(6, dtype=np.float32).reshape(2, 3) - 2


def test_compile_binds_a_shape_operand():
    pads = np.array([1, 0, 0, 2], np.int64)
    prog = imcc.compile(_pad("reflect"), constants={"pads": pads})
    assert [t.name for t in prog.inputs] == ["x"]
    got = prog.run({"x": X})["y"]
    np.testing.assert_allclose(got, _expect(_pad("reflect"), {"x": X, "pads": pads})[0])


def test_refusal_names_the_input_and_how_to_bind_it():
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(_pad())
    assert e.value.names == ("pads",)
    assert "--const pads=FILE.npy" in e.value.hint and "constants=" in e.value.hint
    assert "\n" not in e.value.message


def test_only_the_operand_that_sets_the_shape_is_named():
    # the Slice's data comes through arithmetic on x; its starts come from s through Add
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Add", ["s", "one"], ["s1"]),
             helper.make_node("Slice", ["r", "s1", "e"], ["y"])]
    m = _model(nodes, [("x", F, [4, 5]), ("s", I64, [1]), ("one", I64, [1]), ("e", I64, [1])],
               [("y", F, None)])
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(m)
    assert e.value.names == ("s", "one", "e")
    rep = imcc.backend.prepare(m)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    feeds = {"x": x, "s": np.array([0]), "one": np.array([1]), "e": np.array([3])}
    got = rep.run(feeds)[0]
    np.testing.assert_allclose(got, _expect(m, feeds)[0])
    assert "x" not in rep.constant_inputs


@pytest.mark.parametrize("value, words", [
    ({"nope": [0, 0, 0, 0]}, "'nope' is not an input of the model (its inputs: x, pads)"),
    ({"pads": [0, 0, 0]}, "has shape [3]; the model declares 4"),
    ({"pads": [0.5, 0, 0, 0]}, "holds exactly"),
])
def test_bad_constants_are_one_line_errors(value, words):
    with pytest.raises(imcc.Error) as e:
        imcc.compile(_pad(), constants=value)
    assert words in e.value.message and "\n" not in e.value.message


def test_backend_compiles_per_value_and_caches():
    m = _pad("edge")
    rep = imcc.backend.prepare(m)
    assert rep.constant_inputs == ("pads",) and rep.program is None
    a, b = np.array([0, 1, 0, 0]), np.array([1, 0, 2, 1])
    ya = rep.run([X, a])[0]
    prog_a = rep.program
    yb = rep.run([X, b])[0]
    assert rep.program is not prog_a
    np.testing.assert_allclose(ya, _expect(m, {"x": X, "pads": a})[0])
    np.testing.assert_allclose(yb, _expect(m, {"x": X, "pads": b})[0])
    assert ya.shape != yb.shape
    rep.run([X + 1, a])
    assert rep.program is prog_a  # the same values: the cached program
    # another dtype is another key; the value converts exactly to the input's type
    np.testing.assert_allclose(rep.run([X, a.astype(np.int32)])[0], ya)
    assert rep.program is not prog_a


def test_backend_binds_reduce_axes_slice_steps_and_resize_scales():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    cases = [
        (_model([helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)],
                [("x", F, [2, 3, 4, 4]), ("axes", I64, [2])], [("y", F, ["a", "b"])]),
         [{"axes": np.array([1, -1])}, {"axes": np.array([0, 2])}]),
        (_model([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
                [("x", F, [2, 3, 4, 4]), ("st", I64, [2]), ("en", I64, [2]),
                 ("ax", I64, [2]), ("sp", I64, [2])], [("y", F, list("abcd"))]),
         [{"st": np.array([3, 0]), "en": np.array([0, 9]), "ax": np.array([2, 1]),
           "sp": np.array([-1, 2])}]),
        (_model([helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest")],
                [("x", F, [2, 3, 4, 4]), ("sc", F, [4])], [("y", F, list("abcd"))]),
         [{"sc": np.array([1, 1, 2, 0.5], np.float32)}]),
    ]
    for m, values in cases:
        rep = imcc.backend.prepare(m)
        for v in values:
            feeds = {"x": x, **v}
            np.testing.assert_allclose(rep.run(feeds)[0], _expect(m, feeds)[0], rtol=1e-5,
                                       atol=1e-6)


def test_cli_const(tmp_path):
    path = tmp_path / "pad.onnx"
    onnx.save(_pad(), path)
    np.save(tmp_path / "pads.npy", np.array([0, 1, 0, 1]))
    out, page = tmp_path / "pad.imo", tmp_path / "pad.html"
    res = CliRunner().invoke(cli, ["compile", str(path), "-q", "--no-estimate", "-o", str(out),
                                   "--const", f"pads={tmp_path / 'pads.npy'}",
                                   "--html", str(page)])
    assert res.exit_code == 0, res.output
    got = imcc.load(out).run({"x": X})["y"]
    np.testing.assert_allclose(got, _expect(_pad(), {"x": X, "pads": np.array([0, 1, 0, 1])})[0])
    # the page's comparison feeds the float model the bound value too
    assert '"outputs":[{"name":"y","max_abs":0.0' in page.read_text()


@pytest.mark.parametrize("spec", ["pads={d}/missing.npy", "nope={d}/pads.npy",
                                  "pads={d}/bad.npy"])
def test_cli_const_bad_file_is_one_error_line(tmp_path, spec):
    path = tmp_path / "pad.onnx"
    onnx.save(_pad(), path)
    np.save(tmp_path / "pads.npy", np.array([0, 1, 0, 1]))
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    out = tmp_path / "pad.imo"
    res = CliRunner().invoke(cli, ["compile", str(path), "-q", "-o", str(out),
                                   "--const", spec.format(d=tmp_path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if not ln.startswith("    hint: ")]
    assert len(lines) == 1 and lines[0].startswith("imcc: error: "), res.output
    assert "--const" in lines[0] or "constants" in lines[0], res.output
    assert not out.exists()


def test_cli_refusal_suggests_const(tmp_path):
    path = tmp_path / "pad.onnx"
    onnx.save(_pad(), path)
    res = CliRunner().invoke(cli, ["compile", str(path), "-q", "-o", str(tmp_path / "p.imo")])
    assert res.exit_code == 2
    assert "--const pads=FILE.npy" in res.output


def test_backend_binds_expand_shape_and_tile_repeats():
    x = np.arange(3, dtype=np.float32).reshape(3, 1)
    cases = [
        (_model([helper.make_node("Expand", ["x", "shape"], ["y"])],
                [("x", F, [3, 1]), ("shape", I64, [3])], [("y", F, list("abc"))]),
         "shape", [np.array([2, 1, 4]), np.array([1, 3, 2])]),
        (_model([helper.make_node("Tile", ["x", "rep"], ["y"])],
                [("x", F, [3, 1]), ("rep", I64, [2])], [("y", F, list("ab"))]),
         "rep", [np.array([2, 3]), np.array([1, 1])]),
    ]
    for m, name, values in cases:
        rep = imcc.backend.prepare(m)
        assert rep.constant_inputs == (name,)
        for v in values:
            feeds = {"x": x, name: v}
            np.testing.assert_array_equal(rep.run(feeds)[0], _expect(m, feeds)[0])


def test_training_dropout_at_ratio_zero_copies_and_other_ratios_are_refused():
    node = helper.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], seed=0)
    m = _model([node], [("x", F, [2, 3]), ("r", F, []), ("t", TensorProto.BOOL, [])],
               [("y", F, [2, 3]), ("mask", TensorProto.BOOL, [2, 3])])
    rep = imcc.backend.prepare(m)
    feeds = {"x": X, "r": np.array(0.0, np.float32), "t": np.array(True)}
    for got, want in zip(rep.run(feeds), _expect(m, feeds), strict=True):
        np.testing.assert_array_equal(got, want)
    assert set(rep.constant_inputs) == {"r", "t"}
    with pytest.raises(imcc.Error, match="training mode"):
        rep.run({**feeds, "r": np.array(0.5, np.float32)})


def test_cli_run_compare_feeds_the_bound_values(tmp_path):
    path, pads = tmp_path / "pad.onnx", tmp_path / "pads.npy"
    onnx.save(_pad(), path)
    np.save(pads, np.array([0, 1, 0, 1]))
    np.save(tmp_path / "x.npy", X)
    out, page = tmp_path / "pad.imo", tmp_path / "run.html"
    res = CliRunner().invoke(cli, ["compile", str(path), "-q", "--no-estimate", "-o", str(out),
                                   "--const", f"pads={pads}"])
    assert res.exit_code == 0, res.output
    run = ["run", str(out), "--input", f"x={tmp_path / 'x.npy'}", "--compare", str(path)]
    # without the bound value the float model lacks an input: one error line
    res = CliRunner().invoke(cli, run)
    assert res.exit_code == 2 and "pads" in res.output, res.output
    res = CliRunner().invoke(cli, run + ["--const", f"pads={pads}", "--html", str(page)])
    assert res.exit_code == 0, res.output
    assert "y: max abs error 0," in res.output, res.output
    assert page.exists()
    res = CliRunner().invoke(cli, ["run", str(out), "--input", f"x={tmp_path / 'x.npy'}",
                                   "--const", f"pads={pads}"])
    assert res.exit_code == 2 and "--compare" in res.output


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_window_functions_fold_once_their_size_is_bound(op):
    model = _model([helper.make_node(op, ["n"], ["w"], periodic=0)], [("n", I64, [])],
                   [("w", F, ["N"])], opset=17)
    with pytest.raises(NeedsConstants) as e:
        imcc.compile(model)
    assert e.value.names == ("n",)
    for n in (1, 7, 10):
        prog = imcc.compile(model, constants={"n": np.array(n)})
        got = prog.run({})["w"]
        np.testing.assert_allclose(got, _expect(model, {"n": np.array(n)})[0], rtol=1e-6,
                                   atol=1e-7)
        assert got.shape == (n,)
