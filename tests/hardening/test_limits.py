"""Every host limit: an input over it is refused before it is read or allocated, with exit 2,
a message that names the input and the option that raises the limit, and no output file."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from isa import hostlimits
from tests.hardening.helpers import SAMPLES, assert_user_error, imcc

F = np.float32
MIB = 2**20


def _mlp(n_in=8, n_out=4):
    w = np.random.default_rng(0).standard_normal((n_in, n_out)).astype(F)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


# ---- --max-file-mib --------------------------------------------------------------------------

def test_model_file_over_the_limit(tmp_path):
    p = tmp_path / "big.onnx"
    onnx.save(_mlp(1024, 320), p)  # 1.25 MiB of weights
    out = tmp_path / "big.imo"
    r = imcc("--max-file-mib", 1, "compile", p, "-o", out)
    assert_user_error(r, "big.onnx: the model is 1.3 MiB, more than the limit of 1 MiB",
                      "--max-file-mib", no_files=[out])
    r = imcc("--max-file-mib", 2, "stats", p)  # under the limit: fine
    assert r.exit_code == 0, r.output


def test_model_with_external_data_over_the_limit(tmp_path):
    m = _mlp(1024, 320)
    onnx.save(m, tmp_path / "ext.onnx", save_as_external_data=True, location="w.bin",
              size_threshold=0)
    assert (tmp_path / "ext.onnx").stat().st_size < 1000
    r = imcc("--max-file-mib", 1, "stats", tmp_path / "ext.onnx")
    assert_user_error(r, "the model with its external data is 1.3 MiB, more than the limit")


def test_object_file_over_the_limit(tmp_path):
    src = tmp_path / "big.s"
    src.write_text(".text\nhalt\n.data\nbuf: .zero 0x140000\n")
    assert imcc("asm", src, "-o", tmp_path / "big.imo").exit_code == 0
    for cmd in ("run", "disasm"):
        r = imcc("--max-file-mib", 1, cmd, tmp_path / "big.imo")
        assert_user_error(r, "big.imo: the object file is 1.3 MiB, more than the limit of 1 MiB")


def test_source_and_included_files_over_the_limit(tmp_path):
    src = tmp_path / "long.s"
    src.write_text("# padding\n" * (MIB // 10 + 10000) + "halt\n")
    assert_user_error(imcc("--max-file-mib", 1, "asm", src, "-o", tmp_path / "l.imo"),
                      "long.s: the source is", no_files=[tmp_path / "l.imo"])
    (tmp_path / "blob.bin").write_bytes(bytes(MIB + 4))
    inc = tmp_path / "inc.s"
    inc.write_text('.text\nhalt\n.weights\nw: .incbin "blob.bin"\n')
    r = imcc("--max-file-mib", 1, "asm", inc, "-o", tmp_path / "i.imo")
    assert_user_error(r, "inc.s:4:12: error: 'blob.bin' is 1.0 MiB, more than the limit",
                      no_files=[tmp_path / "i.imo"])


def test_config_precision_problem_and_data_files_over_the_limit(tmp_path):
    pad = "#" * (MIB + 10) + "\n"
    chip = tmp_path / "chip.toml"
    chip.write_text(pad)
    prec = tmp_path / "prec.toml"
    prec.write_text(pad)
    prob = tmp_path / "prob.json"
    prob.write_text(" " * (MIB + 10) + '{"bin": [4, 4], "items": [[1, 1]]}')
    data = tmp_path / "x.npy"
    np.save(data, np.zeros((1, 8), F))
    data.write_bytes(data.read_bytes() + bytes(MIB))  # trailing junk makes it large
    mlp = tmp_path / "m.onnx"
    onnx.save(_mlp(), mlp)
    out = tmp_path / "m.imo"
    cases = [
        (("compile", mlp, "--config", chip, "-o", out), "chip.toml: the chip file is"),
        (("compile", mlp, "--precision", prec, "-o", out), "prec.toml: the precision file is"),
        (("pack", prob), "prob.json: the problem file is"),
        (("compile", mlp, "--calib", data, "-o", out), "x.npy is 1.0 MiB"),
    ]
    for args, needle in cases:
        assert_user_error(imcc("--max-file-mib", 1, *args), needle, "more than the limit",
                          no_files=[out])


def test_environment_sets_the_limit(tmp_path):
    p = tmp_path / "big.onnx"
    onnx.save(_mlp(1024, 320), p)
    r = imcc("stats", p, env={"IMCC_MAX_FILE_MIB": "1"})
    assert_user_error(r, "more than the limit of 1 MiB")
    r = imcc("--max-file-mib", 2, "stats", p, env={"IMCC_MAX_FILE_MIB": "1"})
    assert r.exit_code == 0, r.output  # the command line wins


@pytest.mark.parametrize("env, refused", [({"IMCC_MAX_FILE_MIB": "1"}, True),
                                          ({"IMCC_MAX_FILE_MIB": "16"}, False),
                                          ({"IMCC_MAX_FILE_MIB": "lots"}, False)])
def test_the_environment_holds_for_the_python_interface(tmp_path, env, refused):
    """imcc.compile in a fresh interpreter with the variable set (a bad value leaves the
    default there: only the command line reports it)."""
    import os
    import subprocess
    import sys

    p = tmp_path / "big.onnx"
    onnx.save(_mlp(1024, 320), p)  # 1.25 MiB of weights
    code = ("import imcc\n"
            "try:\n"
            f"    imcc.compile({str(p)!r})\n"
            "except imcc.Error as e:\n"
            "    print('refused:', e.message)\n"
            "else:\n"
            "    print('compiled')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=300)
    assert r.returncode == 0, r.stderr
    if refused:
        assert r.stdout.startswith("refused:") and "more than the limit of 1 MiB" in r.stdout
    else:
        assert r.stdout.strip() == "compiled"


# ---- --max-elements --------------------------------------------------------------------------

def _save(tmp_path, nodes, inputs, outputs, inits=(), name="m"):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    p = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


def _const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))


X4 = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def test_graph_input_over_the_limit(tmp_path):
    p = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])],
              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [100000, 100000])], [Y])
    out = tmp_path / "m.imo"
    assert_user_error(imcc("compile", p, "-o", out),
                      "input 'x' (shape [100000, 100000]) would have 10000000000 elements, "
                      "more than the limit of 268435456", "--max-elements", no_files=[out])


@pytest.mark.parametrize("op", ["Expand", "Tile"])
def test_node_output_over_the_limit(tmp_path, op):
    arg = [1000, 1000, 4] if op == "Expand" else [1000, 1000]
    p = _save(tmp_path, [_const("s", np.array(arg, np.int64)), helper.make_node(op, ["x", "s"],
                                                                               ["y"])], [X4], [Y])
    out = tmp_path / "m.imo"
    r = imcc("--max-elements", 1000000, "compile", p, "-o", out)
    assert_user_error(r, f"the {op} node writing 'y': its output 'y'",
                      "more than the limit of 1000000",
                      no_files=[out])
    assert imcc("--max-elements", 4000000, "stats", p).exit_code == 0


def test_value_dependent_size_checked_before_evaluation(tmp_path):
    """A Range whose bound is computed (ONNX inference cannot size it): the importer must
    evaluate it, and checks the size its input values imply first."""
    nodes = [_const("a", np.array(0, F)), _const("v", np.array([5e8, 5e8], F)),
             helper.make_node("ReduceSum", ["v"], ["b"], keepdims=0),
             _const("d", np.array(1, F)),
             helper.make_node("Range", ["a", "b", "d"], ["r"]),
             helper.make_node("ReduceMax", ["r"], ["q"], keepdims=1),
             helper.make_node("Add", ["x", "q"], ["y"])]
    p = _save(tmp_path, nodes, [X4], [Y])
    r = imcc("stats", p)
    assert_user_error(r, "the Range node writing 'r': its output", "would have 1000000000 "
                      "elements, more than the limit of 268435456")
    # and with a small bound the same graph compiles (the check does not refuse good models)
    nodes[1] = _const("v", np.array([3, 4], F))
    assert imcc("stats", _save(tmp_path, nodes, [X4], [Y], name="ok")).exit_code == 0


def test_evaluator_guards_each_size_generating_operator():
    from imcc.frontend.evaluate import evaluate
    from imcc.ir import Node

    x = np.zeros((2, 3), F)
    cases = [
        (Node("e", "Expand", ("x", "s"), ("y",), {}), {"s": np.array([50, 2, 3], np.int64)}, 300),
        (Node("t", "Tile", ("x", "s"), ("y",), {}), {"s": np.array([10, 5], np.int64)}, 300),
        (Node("p", "Pad", ("x", "s"), ("y",), {"mode": "constant"}),
         {"s": np.array([0, 0, 20, 20], np.int64)}, 506),
        (Node("r", "Resize", ("x", "", "s"), ("y",), {"mode": "nearest"}),
         {"s": np.array([10, 10], F)}, 600),
    ]
    for node, feeds, least in cases:
        with hostlimits.limits(max_elements=least - 1):
            with pytest.raises(hostlimits.LimitError, match=f"node '{node.name}'"):
                evaluate([node], {"x": x, **feeds}, ["y"], 17)
        with hostlimits.limits(max_elements=10 * least):
            out = evaluate([node], {"x": x, **feeds}, ["y"], 17)["y"]
            assert least // 2 <= out.size <= 10 * least  # the bound is an upper bound


def test_data_file_arrays_checked_from_their_headers(tmp_path):
    src = tmp_path / "relu.s"
    src.write_text('.input "x", x, [4]\n.output "x", x, [4]\nhalt\n.data\nx: .zero 16\n')
    np.save(tmp_path / "big.npy", np.zeros(5000, F))
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros(2**22, F))  # 16 MiB in 16 KiB
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    for spec, needle in [(f"x={tmp_path / 'big.npy'}", "has a dimension of 5000"),
                         (f"x={tmp_path / 'bomb.npz'}:x", "array 'x.npy' has a dimension of 4194304")]:
        r = imcc("--max-elements", 1000, "run", src, "--input", spec)
        assert_user_error(r, needle, "more than the limit of 1000")


def test_npy_directive_checked_from_its_header(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((64, 64), F))
    src = tmp_path / "w.s"
    src.write_text('.text\nhalt\n.weights\nw: .npy "w.npy"\n')
    r = imcc("--max-elements", 1000, "asm", src, "-o", tmp_path / "w.imo")
    assert_user_error(r, "w.s:4:9: error: 'w.npy' would have 4096 elements",
                      no_files=[tmp_path / "w.imo"])
    assert imcc("asm", src, "-o", tmp_path / "w.imo").exit_code == 0


def test_step_limit_is_a_clean_trap(tmp_path):
    src = tmp_path / "loop.s"
    src.write_text("loop: j loop\n")
    r = imcc("run", src, "--max-steps", 1000)
    assert_user_error(r, "step limit of 1000 instructions reached", "--max-steps")


def test_machine_memory_is_bounded_by_the_chip(tmp_path):
    """A program cannot reach memory the chip does not have: a trap, not a host allocation."""
    src = tmp_path / "far.s"
    src.write_text("li x5, 0x7ffffff0\nlw x6, 0(x5)\nhalt\n")
    assert_user_error(imcc("run", src), "trap at pc")
    chip = tmp_path / "huge.toml"
    chip.write_text((SAMPLES / "configs" / "ideal.toml").read_text().replace(
        "global_mib = 64", "global_mib = 1000000"))
    assert "global_mib = 1000000" in chip.read_text()
    assert_user_error(imcc("run", src, "--config", chip), "global_mib")


# ---- the packer's rects per instance ---------------------------------------------------------

def test_a_model_with_more_tiles_than_the_packer_places(tmp_path, monkeypatch):
    """The limit is fixed (100,000); lowered here so a small model passes it."""
    from imcc.packing import problem

    monkeypatch.setattr(problem, "MAX_RECTS", 2)
    out = tmp_path / "cnn.imo"
    r = imcc("compile", SAMPLES / "digits" / "cnn.onnx", "--chip", "rram", "-o", out)
    assert_user_error(r, "tiles of at most 256x256 cells", "smaller than an array: more than "
                      "the 2 the packer places", "--set cell_bits=N", no_files=[out])


def test_whole_array_tiles_beyond_the_packer_limit_take_an_array_each(monkeypatch):
    """Past the packer's limit the tiles that fill a whole array are placed one an array, the
    others packed: the same program as the packer's own placement (which also puts them first),
    and a model whose smaller tiles alone pass the limit is still refused."""
    import imcc
    from imcc.packing import problem

    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((512, 512)).astype(F), rng.standard_normal((512, 10)).astype(F)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    plain = imcc.compile(model, "ideal-signed")
    monkeypatch.setattr(problem, "MAX_RECTS", 3)  # 4 whole-array tiles and 2 smaller ones
    limited = imcc.compile(model, "ideal-signed")
    assert limited.asm == plain.asm  # the same placements, so the same program
    assert limited.storage_map["entries"] == plain.storage_map["entries"]
    assert limited.report["arrays_used"] == plain.report["arrays_used"] == 6
    assert limited.report["lower_bound"] == plain.report["lower_bound"]
    monkeypatch.setattr(problem, "MAX_RECTS", 1)
    with pytest.raises(hostlimits.ConfigError, match="2 of them smaller than an array"):
        imcc.compile(model, "ideal-signed")


def test_a_weight_section_past_the_isa_s_addresses_is_one_error_before_it_is_written(
        tmp_path, monkeypatch):
    """wprog's pages reach 256 TiB of weight memory; lowered here."""
    from imcc.codegen import imc

    monkeypatch.setattr(imc, "MAX_WEIGHT_BYTES", 1000)
    out = tmp_path / "cnn.imo"
    r = imcc("compile", SAMPLES / "digits" / "cnn.onnx", "--chip", "rram", "-o", out)
    assert_user_error(r, "GiB weight section wprog's pages reach",
                      "fewer weight bits or more bits per cell", no_files=[out])
    assert len(r.output.strip().splitlines()) <= 2  # the error and its hint
