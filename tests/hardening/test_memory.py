"""Limits are checked before allocation and bound the total, not only each tensor: a few bytes
of input must not make imcc allocate gigabytes. Each case runs under an address-space cap far
below what the input once made imcc allocate (``capped``)."""

import pytest

from tests.hardening.helpers import assert_clean_failure, capped


@pytest.mark.parametrize("body", [".data\n.zero 0x40000000", ".weights\n.u8 1\n.align 0x40000000",
                                  ".data\n" + ".zero 0x1000000\n" * 20])
def test_zero_fill_is_bounded_before_it_is_allocated(tmp_path, body):
    """A 20-byte source once wrote a 1 GiB object (``.align``: 2.1 GB peak). The zero fill of
    a source counts against --max-elements (in bytes), all its directives together."""
    src = tmp_path / "z.s"
    src.write_text(body + "\n.text\nhalt\n")
    out = tmp_path / "z.imo"
    p = capped("asm", src, "-o", out, mib=768)
    assert_clean_failure(p, "bytes, more than the limit of 268435456", "--max-elements",
                         no_files=[out])


def test_zero_fill_under_a_raised_limit(tmp_path):
    src = tmp_path / "z.s"
    src.write_text(".data\nbuf: .zero 0x100000\n.text\nhalt\n")
    p = capped("--max-elements", 2**20, "asm", src, "-o", tmp_path / "z.imo", mib=768)
    assert p.returncode == 0, p.stderr
    p = capped("--max-elements", 2**20 - 1, "asm", src, "-o", tmp_path / "z.imo", mib=768)
    assert_clean_failure(p, "to 1048576 bytes, more than the limit of 1048575")


def _save(tmp_path, nodes, inits, name="m.onnx", x_shape=(1,)):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     list(x_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    p = tmp_path / name
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


def _outer_product(tmp_path, n=20000):
    """An outer product of two Ranges whose length ONNX's inference cannot see (it comes from
    a ReduceSum of the input's shape): only the importer learns the operands' values."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ReduceSum", ["s"], ["k"], keepdims=0),
             helper.make_node("Mul", ["k", "n"], ["len"]),
             helper.make_node("Cast", ["len"], ["end"], to=TensorProto.FLOAT),
             helper.make_node("Range", ["zero", "end", "one"], ["r"]),
             helper.make_node("Unsqueeze", ["r", "ax1"], ["a"]),
             helper.make_node("Unsqueeze", ["r", "ax0"], ["b"]),
             helper.make_node("Mul", ["a", "b"], ["outer"]),
             helper.make_node("ReduceSum", ["outer"], ["t"], keepdims=1),
             helper.make_node("Add", ["x", "t"], ["y"])]
    inits = [numpy_helper.from_array(np.array(n // 9, np.int64), "n"),
             numpy_helper.from_array(np.float32(0), "zero"),
             numpy_helper.from_array(np.float32(1), "one"),
             numpy_helper.from_array(np.array([1], np.int64), "ax1"),
             numpy_helper.from_array(np.array([0], np.int64), "ax0")]
    return _save(tmp_path, nodes, inits, x_shape=(1, 8))


def test_max_elements_is_checked_before_the_importer_computes_a_value(tmp_path):
    """The importer evaluated the outer product (1.6 GB) and only then found it over the
    limit: its size now comes from ONNX's per-node inference first."""
    p = capped("--max-elements", 1_000_000, "stats", _outer_product(tmp_path), mib=900)
    assert_clean_failure(p, "its output 'outer' (shape [19998, 19998]) would have 399920004 "
                         "elements, more than the limit of 1000000")


def _folded_adds(tmp_path, n=2**26, adds=20):
    """A ConstantOfShape of ``n`` elements added to itself ``adds`` times: each sum is under the
    per-tensor limit, all of them together are ``adds`` times more."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    one = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["c"], value=one)]
    prev = "c"
    for i in range(adds):
        nodes.append(helper.make_node("Add", [prev, "c"], [f"a{i}"]))
        prev = f"a{i}"
    nodes += [helper.make_node("ReduceMax", [prev], ["m"], keepdims=1),
              helper.make_node("Add", ["x", "m"], ["y"])]
    return _save(tmp_path, nodes, [numpy_helper.from_array(np.array([n], np.int64), "shape")])


def test_constant_folding_bounds_the_total_of_its_values(tmp_path):
    """A 1 KB model made folding hold 5 GiB at once (and onnx's data propagation, before it,
    as much again): folded values are bounded together by --max-total-mib."""
    out = tmp_path / "m.imo"
    p = capped("compile", _folded_adds(tmp_path), "-o", out, mib=1024)
    assert_clean_failure(p, "the 22 constant node(s) folded together would take 5120.0 MiB, "
                         "more than the limit of 4096 MiB", "--max-total-mib", no_files=[out])


def test_the_total_limit_can_be_raised(tmp_path):
    p = _folded_adds(tmp_path, n=2**16, adds=8)  # 8 sums of 256 KiB
    r = capped("--max-total-mib", 1, "map", p, "-q", mib=1024)
    assert_clean_failure(r, "together would take 2.0 MiB, more than the limit of 1 MiB")
    r = capped("--max-total-mib", 3, "map", p, "-q", mib=1024)
    assert r.returncode == 0, r.stderr
