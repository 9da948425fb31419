"""One line on stderr, nothing a file can forge: names taken from a file are escaped in every
message, and library warnings (numpy's RuntimeWarning) never reach the terminal."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.hardening.helpers import assert_clean_failure, capped

EVIL = "conv\nimcc: error: forged line\x1b[2J\x1b]0;title\x07"


def _save(tmp_path, nodes, inits=(), name="m.onnx", shape=(1, 8)):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    p = tmp_path / name
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


@pytest.mark.parametrize("command", ["stats", "compile", "map"])
def test_a_node_name_cannot_split_or_forge_the_error_line(tmp_path, command):
    """The cycle report printed node names raw: a newline in one forged a second line."""
    nodes = [helper.make_node("Relu", ["b"], ["a"], name=EVIL),
             helper.make_node("Relu", ["a"], ["b"], name="two"),
             helper.make_node("Relu", ["x"], ["y"], name="three")]
    p = _save(tmp_path, nodes)
    out = tmp_path / "m.imo"
    args = [command, p] + (["-o", out] if command == "compile" else [])
    r = capped(*args)
    assert_clean_failure(r, "the graph has a cycle", "conv\\nimcc: error: forged line\\x1b[2J",
                         no_files=[out])
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr


def _conv_bn(tmp_path):
    """A Conv and a BatchNormalization whose negative variance and infinite scale make the
    folded weights NaN (numpy warns while folding)."""
    w = np.ones((4, 3, 3, 3), np.float32)
    w[0, 0, 0, 0] = np.nan
    scale, var = np.ones(4, np.float32), np.ones(4, np.float32)
    scale[2], var[1] = np.inf, -5
    zeros = np.zeros(4, np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"])]
    return _save(tmp_path, nodes, [("w", w), ("s", scale), ("b", zeros), ("m", zeros),
                                   ("v", var)], shape=(1, 3, 8, 8))


@pytest.mark.parametrize("command", ["compile", "map"])
def test_nan_weights_are_one_error_without_warnings(tmp_path, command):
    """compile printed four RuntimeWarning lines (paths, source) before its error, and
    ``imcc map`` of the same model exited 0."""
    p = _conv_bn(tmp_path)
    out = tmp_path / "m.imo"
    args = [command, p, "-q"] + (["-o", out] if command == "compile" else [])
    r = capped(*args)
    assert_clean_failure(r, "NaN or infinite value(s), which no crossbar cell can store",
                         no_files=[out])
    assert len(r.stderr.splitlines()) == 1, r.stderr


def test_a_warning_is_one_line_too(tmp_path):
    """Warnings name files and patterns: what is not printable is escaped there as well."""
    from tests.hardening.helpers import SAMPLES

    prec = tmp_path / "p\nimcc: error: forged\x1b[2J.toml"
    prec.write_text('[[layer]]\nmatch = "nothing*"\nweight_bits = 8\n')
    r = capped("compile", SAMPLES / "models" / "mlp.onnx", "--chip", "ideal-int8", "--precision",
               prec, "-o", tmp_path / "m.imo", "--no-estimate", "--time-limit", "0.5")
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if "matches no IMC layer" in ln]
    assert len(warnings) == 1 and "p\\nimcc: error: forged\\x1b[2J.toml" in warnings[0], r.stderr
    assert "\x1b" not in r.stderr and not any(ln.startswith("imcc: error")
                                              for ln in r.stderr.splitlines())
