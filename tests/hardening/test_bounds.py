"""Every stage has a bound on time or work, and says which it hit: inputs that once ran until
killed (an assembler computing 10**(2**30), a read from a named pipe, quadratic error recovery,
onnx's shape inference spinning, an unbounded unrolling, an unbounded sweep) end in one error
line. Each case runs in a subprocess under a memory cap and a time limit (``capped``)."""

import os

import pytest

from isa import parser
from tests.hardening.helpers import assert_clean_failure, capped

# ---- assembler -------------------------------------------------------------------------------


def test_equ_chain_of_squares_is_refused_at_64_bits(tmp_path):
    """31 lines of ``.equ aN+1, aN*aN`` would compute 2**(2**31); values stop at 64 bits."""
    lines = [".equ a0, 2"] + [f".equ a{i + 1}, a{i}*a{i}" for i in range(31)]
    src = tmp_path / "sq.s"
    src.write_text("\n".join(lines + [".text", "halt"]) + "\n")
    out = tmp_path / "sq.imo"
    p = capped("asm", src, "-o", out, seconds=60)
    assert_clean_failure(p, "sq.s:7:10: error: the value of this expression does not fit in "
                         "64 bits", no_files=[out])


@pytest.mark.parametrize("directive", [".incbin", ".npy", ".map"])
def test_a_named_pipe_is_not_read(tmp_path, directive):
    """Opening a FIFO without a writer blocks forever; included files must be regular."""
    os.mkfifo(tmp_path / "pipe")
    section = ".weights\n" if directive != ".map" else ""
    src = tmp_path / "p.s"
    src.write_text(f'{section}{directive} "pipe"\n.text\nhalt\n')
    out = tmp_path / "p.imo"
    p = capped("asm", src, "-o", out, seconds=60)
    assert_clean_failure(p, "cannot read 'pipe': a pipe, not a regular file", no_files=[out])


def test_syntax_error_recovery_parses_each_line_at_most_twice(monkeypatch):
    """Recovery resumes after the bad line instead of re-parsing the whole file once per error:
    the text the parser reads (up to its error, when it fails) stays within twice the source,
    whatever the number of errors (it was once per error: 60 bad lines in 400 KB took more
    than a minute)."""
    rows = ["addi x1, x0, 5" if i % 100 else "addi x1, , ," for i in range(4000)]
    text = "\n".join(rows) + "\n"
    read = []
    real = parser._PARSER

    class Counting:
        def parse(self, chunk):
            try:
                result = real.parse(chunk)
            except Exception as e:
                line = e.tok.line if isinstance(e, parser._BadLiteral) else e.line
                read.append(len("\n".join(chunk.split("\n")[:line])))
                raise
            read.append(len(chunk))
            return result

    monkeypatch.setattr(parser, "_PARSER", Counting())
    source, errors = parser.parse_recovering(text, "big.s")
    assert len(errors) == 40
    assert [e.span.line for e in errors] == list(range(1, 4000, 100))
    assert len(source.lines) == 4000 - 40
    assert sum(read) <= 2 * len(text)


# ---- ONNX ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command, equation", [
    ("stats", "......"), ("compile", "......"), ("map", "......"), ("stats", "a......->a"),
    ("stats", "ab,b.c->a"), ("stats", "a->" * 500)])
def test_an_einsum_equation_onnx_cannot_infer_is_refused_first(tmp_path, command, equation):
    """``......`` made onnx's C++ shape inference spin at 100 % CPU for ever: imcc validates
    the equation before handing the model to onnx."""
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Einsum", ["x", "x"], ["y"], equation=equation)],
                          "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    p = tmp_path / "e.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    out = tmp_path / "e.imo"
    r = capped(command, p, *(["-o", out] if command == "compile" else []), seconds=60)
    assert_clean_failure(r, "the Einsum node writing 'y': Einsum equation",
                         "is not terms of letters with at most one '...' each", no_files=[out])


def _lstm(tmp_path, steps: int):
    """An LSTM of hidden size 1 over ``steps`` time steps: a 160-byte model."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((1, 4, 1), np.float32), "W")
    r = numpy_helper.from_array(np.ones((1, 4, 1), np.float32), "R")
    g = helper.make_graph([helper.make_node("LSTM", ["x", "W", "R"], ["Y", "Yh"],
                                            hidden_size=1)], "m",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, 1, 1])],
                          [helper.make_tensor_value_info("Yh", TensorProto.FLOAT, None)], [w, r])
    p = tmp_path / "lstm.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


@pytest.mark.parametrize("command", ["compile", "map"])
def test_an_rnn_unrolled_past_the_node_limit_stops_early(tmp_path, command):
    """T = 100,000 ran past 60 s: unrolling stops as soon as the graph passes --max-nodes."""
    out = tmp_path / "l.imo"
    r = capped(command, _lstm(tmp_path, 100_000), *(["-o", out] if command == "compile" else []),
               seconds=60)
    assert_clean_failure(r, "the LSTM node writing 'Y': unrolled over its 100000 time steps, the "
                         "lowered graph has more than the limit of 100000 nodes", "--max-nodes",
                         no_files=[out])


def test_the_node_limit_can_be_lowered_and_raised(tmp_path):
    p = _lstm(tmp_path, 100)
    r = capped("--max-nodes", 3000, "map", p, "-q")
    assert r.returncode == 0, r.stderr
    r = capped("--max-nodes", 500, "map", p, "-q")
    assert_clean_failure(r, "unrolled over its 100 time steps, the lowered graph has more than "
                         "the limit of 500 nodes")


# ---- explore ---------------------------------------------------------------------------------

EXPLORE = {
    "one sweep of 10**12 values": (["--sweep", "adc_bits=1..1e12"],
                                   "1000000000000 values, more than the 10000 one sweep may take"),
    "10**12 seeds": (["--seeds", str(10**12)], ("1 points x 1000000000000 seeds = "
                     "1000000000000 runs, more than the 100000 one explore evaluates")),
    "three sweeps of 10,000 values": (["--sweep", "adc_bits=1..10000", "--sweep",
                                       "cell_bits=1..10000", "--sweep", "noise=0..1:0.0002"],
                                      "10000 x 10000 x 5001 points x 3 seeds"),
}


@pytest.mark.parametrize("case", EXPLORE)
def test_an_explore_grid_is_capped_before_it_is_built(tmp_path, case):
    """Three sweeps of 10,000 values peaked at 3.8 GB building the grid; --seeds 10**12 was
    taken as given. The grid's size is checked from the sweeps' lengths first."""
    import numpy as np

    from tests.hardening.helpers import SAMPLES

    np.save(tmp_path / "x.npy", np.zeros((4, 1, 8), np.float32))
    args, needle = EXPLORE[case]
    r = capped("explore", SAMPLES / "models" / "mlp.onnx", "--data", tmp_path / "x.npy",
               "-o", tmp_path / "ex", *args, mib=1024)
    assert_clean_failure(r, needle)
    assert list(tmp_path.iterdir()) == [tmp_path / "x.npy"]
