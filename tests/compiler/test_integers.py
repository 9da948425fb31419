"""Integer arithmetic is exact or refused: integer Div truncates toward zero in every integer
type, outputs keep their declared type, and values beyond the whole numbers float32 holds
exactly (2**24) are refused at the boundary instead of coming back rounded. Oracle: onnx's
reference evaluator."""

import numpy as np
import pytest

import imcc
from isa.diagnostics import InputError, MachineTrap
from tests.compiler.helpers import helper, make_model, reference

def run(model, feeds):
    """Compile for the ideal chip and run once, the inputs handed over as they are."""
    prog = imcc.compile(model, "ideal", time_limit=0.1)
    outs = prog.run(feeds)
    return [outs[o.name] for o in model.graph.output]


INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def _div_model(dtype, shape=(4, 6)):
    return make_model([helper.make_node("Div", ["a", "b"], ["y"])],
                      [("a", dtype, shape), ("b", dtype, shape)], [("y", dtype, None)],
                      opset=14)


def _operands(dtype, shape=(4, 6), seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    hi = min(int(info.max), 2**24)
    lo = max(int(info.min), -hi)
    a = rng.integers(lo, hi, shape, endpoint=True)
    b = rng.integers(1, min(hi, 60), shape, endpoint=True)
    if info.min < 0:
        b = b * rng.choice([-1, 1], shape)
    # small quotients, with exact and inexact ones of both signs
    a.flat[:6] = [7, -7, 7, -7, 6, -1]
    b.flat[:6] = [2, 2, -2, -2, 3, 2] if info.min < 0 else [2, 3, 4, 5, 3, 2]
    if info.min >= 0:
        a.flat[:6] = np.abs(a.flat[:6])
    return {"a": a.astype(dtype), "b": b.astype(dtype)}


@pytest.mark.parametrize("dtype", INTS)
def test_integer_div_truncates_and_keeps_its_type(dtype):
    m = _div_model(dtype)
    feeds = _operands(dtype)
    (want,) = reference(m, feeds)
    (got,) = run(m, feeds)
    assert got.dtype == want.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


def test_integer_div_near_the_exact_limit():
    """The largest dividends the machine holds exactly, against divisors whose quotient lies
    just below an integer: the rounded float32 quotient must not reach it."""
    a = np.array([2**24 - 1, 2**24 - 1, 2**24 - 3, -(2**24 - 1), 2**24, 2**24 - 1], np.int32)
    b = np.array([2**23, 2**12 + 1, 3, 2**23, 2**24 - 1, 2], np.int32)
    m = _div_model("int32", (6,))
    feeds = {"a": a, "b": b}
    (want,) = reference(m, feeds)
    (got,) = run(m, feeds)
    np.testing.assert_array_equal(got, want)


def test_wide_integer_input_beyond_float32_is_refused():
    m = _div_model("int64", (2,))
    feeds = {"a": np.array([2**24 + 1, 5], np.int64), "b": np.array([1, 2], np.int64)}
    with pytest.raises(InputError, match=r"input 'a' \(int64\) holds 1\.67772e\+07 in magnitude, "
                                         r"beyond .*2\*\*24"):
        run(m, feeds)


def test_integer_output_beyond_float32_is_refused():
    m = make_model([helper.make_node("Mul", ["a", "b"], ["y"])],
                   [("a", "int32", (2,)), ("b", "int32", (2,))], [("y", "int32", None)])
    feeds = {"a": np.array([4097, 3], np.int32), "b": np.array([4097, 3], np.int32)}
    with pytest.raises(MachineTrap, match=r"output 'y' \(int32\) holds 1\.67854e\+07, beyond"):
        run(m, feeds)


def test_integer_div_compiles_through_the_command_line(tmp_path):
    """`imcc compile` estimates the cost with a run on zero inputs, where an integer 0 / 0 is
    undefined: that run must not refuse the program."""
    import onnx
    from click.testing import CliRunner

    from imcc.cli import cli

    path = tmp_path / "div.onnx"
    onnx.save(_div_model("int8"), path)
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "div.imo"),
                                 "--time-limit", "0.1"])
    assert r.exit_code == 0, r.output
    feeds = _operands("int8")
    (want,) = reference(_div_model("int8"), feeds)
    got = imcc.load(tmp_path / "div.imo", "ideal").run(feeds)["y"]
    np.testing.assert_array_equal(got, want)
