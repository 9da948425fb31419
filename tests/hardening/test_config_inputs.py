"""Config, pack and run inputs: every parser's failure is one error line (numbers of thousands of
digits and deeply nested documents included), and limits reflect what the machine can hold (a
chip whose arrays no host holds, packing problems whose bounds grew with the square of their
distinct items, demands of 10**12, bins whose area overflows)."""

import ast
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.hardening.helpers import SAMPLES, assert_clean_failure, assert_user_error, capped, imcc

MLP = SAMPLES / "models" / "mlp.onnx"
DOT = SAMPLES / "asm" / "dot.s"
HUGE_INT = "9" * 5000
FAST = ("--no-estimate", "-q", "--time-limit", "0.5", "--workers", "1")

# ---- chip, precision and problem files -------------------------------------------------------

CHIPS = {
    "chip.json": ('{"name": "c", "tiles": ' + HUGE_INT + "}",
                  "not valid JSON: a number of more than 4300 digits"),
    "chip.toml": ('name = "c"\ntiles = ' + HUGE_INT + "\n",
                  "not valid TOML: a number of more than 4300 digits"),
    "deep.json": ('{"name": "c", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
                  "not valid JSON: nested more than 64 levels deep"),
    "deep.toml": ('name = "c"\nx = ' + "[" * 100_000 + "]" * 100_000 + "\n",
                  "not valid TOML: nested more than 64 levels deep"),
}


@pytest.mark.parametrize("name", CHIPS)
@pytest.mark.parametrize("command", ["compile", "run"])
def test_chip_files_beyond_what_parsers_take(tmp_path, name, command):
    text, needle = CHIPS[name]
    chip = tmp_path / name
    chip.write_text(text)
    out = tmp_path / "m.imo"
    args = (["compile", MLP, "-o", out, *FAST] if command == "compile" else ["run", DOT])
    assert_user_error(imcc(*args, "--config", chip), f"{name}: {needle}", no_files=[out])


@pytest.mark.parametrize("text, needle", [
    ("[default]\nweight_bits = " + HUGE_INT + "\n", "a number of more than 4300 digits"),
    ("[default]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 levels"),
])
def test_precision_files_beyond_what_parsers_take(tmp_path, text, needle):
    prec = tmp_path / "p.toml"
    prec.write_text(text)
    out = tmp_path / "m.imo"
    r = imcc("compile", MLP, "--chip", "ideal-int8", "--precision", prec, "-o", out, *FAST)
    assert_user_error(r, f"p.toml: not valid TOML: {needle}", no_files=[out])


PROBLEMS = {
    "huge.json": ('{"bin": [4, 4], "items": [[' + HUGE_INT + ", 1]]}",
                  "not valid JSON: a number of more than 4300 digits"),
    "deep.json": ('{"bin": [4, 4], "items": ' + "[" * 100_000 + "]" * 100_000 + "}",
                  "not valid JSON: nested more than 64 levels deep"),
    "huge.ins2D": ("1\n4 4\n1 " + HUGE_INT + " 1\n", "has more than 18 digits"),
    "area.ins2D": ("1\n4611686018427387904 4611686018427387904\n1 1 1\n",
                   "has more than 18 digits"),
    "side.ins2D": ("1\n10000000000 10000000000\n1 1 1\n",
                   "the bin is 10000000000x10000000000; the packer takes sides up to 16777216"),
    "side.json": ('{"bin": [4611686018427387904, 4611686018427387904], "items": [[1, 1]]}',
                  "the packer takes sides up to 16777216"),
}


@pytest.mark.parametrize("name", PROBLEMS)
def test_packing_problems_beyond_what_parsers_take(tmp_path, name):
    """Bin sides whose product passes 2**63 raised OverflowError in the bounds."""
    text, needle = PROBLEMS[name]
    prob = tmp_path / name
    prob.write_text(text)
    out = tmp_path / "placed.json"
    r = imcc("pack", prob, "--json", out, "--time-limit", "0.1")
    assert_user_error(r, needle, no_files=[out])


def test_a_demand_of_10_to_the_12_is_refused_before_the_copies_are_made(tmp_path):
    """A 28-byte 2DPackLib file built rects until memory ran out."""
    prob = tmp_path / "d.ins2D"
    prob.write_text("1\n10 10\n1 1 1 1000000000000\n")
    r = capped("pack", prob, "--time-limit", "0.1", mib=600)
    assert_clean_failure(r, "d.ins2D:3: the demands add up to more than 100000 rects")


_BOUNDS = """
import random
from imcc.packing.bounds import instance_bounds
from imcc.packing.problem import Rect, make_instance
rng = random.Random(0)
rects = [Rect(i, rng.randint(1, 1000), rng.randint(1, 1000)) for i in range(12000)]
print(instance_bounds(make_instance(rects, 1000, 1000, "resource")))
"""


def test_bounds_of_12000_distinct_items_fit_in_memory(tmp_path):
    """A 209 KB problem of 20,000 distinct items peaked at 3.6 GB: the clique bound compared
    every pair of kinds (1.1 GB for each int64 temporary at 12,000), the dual-feasible functions
    took a parameter per distinct size."""
    import subprocess
    import sys

    from tests.hardening.helpers import ROOT

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1024 * 2**20, 1024 * 2**20))

    p = subprocess.run([sys.executable, "-c", _BOUNDS], cwd=ROOT, check=False,
                       capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert p.returncode == 0, p.stderr[-1500:]
    bounds = ast.literal_eval(p.stdout)
    assert bounds["incompatible"] >= bounds["area"] > 0


# ---- run -------------------------------------------------------------------------------------

def test_a_chip_whose_arrays_no_host_holds(tmp_path):
    """rows = cols = 65536 is inside the chip file's ranges: each array allocated 16 GiB (32 GiB
    of float64 with stuck cells) when a 4x3 program first programmed it."""
    chip = tmp_path / "huge.json"
    chip.write_text(json.dumps({"name": "huge", "rows": 65536, "cols": 65536, "tiles": 1,
                                "arrays_per_tile": 1, "weight_bits": 0, "input_bits": 0,
                                "adc_bits": 0, "cell_bits": 11,
                                "nonideal": {"stuck_on": 0.01}}))
    r = capped("run", DOT, "--config", chip, mib=1024)
    assert_clean_failure(r, "an array of chip 'huge' (65536x65536 cells of float32) would take "
                         "16384.0 MiB, more than the limit of 4096 MiB",
                         "--max-total-mib")


def test_the_arrays_a_program_programs_are_bounded_together(tmp_path):
    chip = tmp_path / "wide.json"
    chip.write_text(json.dumps({"name": "wide", "rows": 4096, "cols": 4096, "tiles": 2,
                                "arrays_per_tile": 8, "weight_bits": 0, "input_bits": 0,
                                "adc_bits": 0, "cell_bits": 11,
                                "nonideal": {"stuck_on": 0.01}}))
    r = capped("--max-total-mib", 300, "run", SAMPLES / "asm" / "two_tiles.s", "--config", chip,
               mib=1536)
    assert_clean_failure(r, "the 2 arrays the program programs on chip 'wide' together would "
                         "take 384.0 MiB, more than the limit of 300 MiB", "--max-total-mib")


def _model(tmp_path, name, nodes, outputs, inits=()):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     ["N", 3])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", "M"])
                           for o in outputs], list(inits))
    p = tmp_path / name
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


@pytest.fixture
def program(tmp_path):
    """A compiled x @ w whose output is named ``file``, and 4 samples of x."""
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    model = _model(tmp_path, "m.onnx", [helper.make_node("MatMul", ["x", "w"], ["file"])],
                   ["file"], [w])
    obj = tmp_path / "m.imo"
    assert imcc("compile", model, "-o", obj, *FAST).exit_code == 0
    np.save(tmp_path / "x.npy", np.ones((4, 3), np.float32))
    return obj, tmp_path / "x.npy"


def test_an_output_named_file(tmp_path, program):
    """np.savez(file, **outputs) took an output named 'file' for its own parameter."""
    obj, x = program
    out = tmp_path / "o.npz"
    r = imcc("run", obj, "--input", x, "--output", out)
    assert r.exit_code == 0, r.output
    assert np.load(out)["file"].tolist() == [[3.0, 3.0]] * 4


def test_an_input_batch_of_zero_rows(tmp_path, program):
    obj, _ = program
    np.save(tmp_path / "none.npy", np.ones((0, 3), np.float32))
    r = imcc("run", obj, "--input", tmp_path / "none.npy")
    assert_user_error(r, "input 'x' has a batch of 0 rows (shape [0, 3]); give at least one "
                      "sample")


@pytest.mark.parametrize("labels", [np.array(["a", "b", "c", "d"]), np.array([1j, 2, 3, 4]),
                                    np.array([0.5, 1, 2, 3])])
def test_labels_that_are_not_class_numbers(tmp_path, program, labels):
    obj, x = program
    np.save(tmp_path / "y.npy", labels)
    r = imcc("run", obj, "--input", x, "--labels", tmp_path / "y.npy")
    assert_user_error(r, f"--labels: the labels are of type {labels.dtype}; labels are class "
                      "numbers (integers)")


def test_compare_refuses_an_unknown_operator(tmp_path, program):
    """The model went to onnx's reference evaluator unchecked: NotImplementedError."""
    obj, x = program
    model = _model(tmp_path, "foo.onnx", [helper.make_node("Foo", ["x"], ["file"])], ["file"])
    r = imcc("run", obj, "--input", x, "--compare", model)
    assert_user_error(r, "foo.onnx: invalid ONNX model: No Op registered for Foo")


def test_compare_applies_max_elements(tmp_path, program):
    """--max-elements did not apply to the model --compare ran."""
    obj, x = program
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    reps = numpy_helper.from_array(np.array([1, 30000], np.int64), "reps")
    model = _model(tmp_path, "wide.onnx", [helper.make_node("MatMul", ["x", "w"], ["file"]),
                                           helper.make_node("Tile", ["x", "reps"], ["big"])],
                   ["file", "big"], [w, reps])
    assert imcc("run", obj, "--input", x, "--compare", model).exit_code == 0
    r = imcc("--max-elements", 100_000, "run", obj, "--input", x, "--compare", model)
    assert_user_error(r, "wide.onnx", "'big'", "would have 360000 elements, more than the "
                      "limit of 100000")
