"""A float32 Mul read only by the Add right after it is lowered with that Add as one vfma
(imcc/codegen/elementwise.py), bit for bit the two nodes' float32 result (numpy computing the
product and the sum in float32 is the oracle); where the pattern is not whole the two stay
two instructions. Pow by a constant 2 is the square, x * x in float32."""

import numpy as np
import pytest

from tests.compiler.test_free_movement import node_ops
from tests.compiler.helpers import helper, make_model, run_compiled

F = np.float32
R = np.random.default_rng(5)


def _feeds(**shapes):
    return {k: (R.standard_normal(s) * 3).astype(F) for k, s in shapes.items()}


@pytest.mark.parametrize("chip", ["ideal", "ideal-signed"])
def test_a_mul_read_by_the_add_after_it_is_one_vfma_bit_for_bit(chip, tmp_path):
    # attention's shape: scores [2, 3, 5] * a scalar + a mask broadcast over the heads
    nodes = [helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("Mul", ["r", "scale"], ["m"], name="mul"),
             helper.make_node("Add", ["mask", "m"], ["y"], name="add")]
    m = make_model(nodes, [("s", F, (2, 3, 5)), ("mask", F, (3, 5))], [("y", F, None)],
                   {"scale": np.array(0.35355339, F)})
    feeds = _feeds(s=(2, 3, 5), mask=(3, 5))
    (y,), res = run_compiled(m, feeds, tmp_path, chip=chip)
    ops = node_ops(res.asm)
    assert ops["mul"] == [] and ops["add"] == ["vfma"]
    want = np.maximum(feeds["s"], F(0)) * F(0.35355339) + feeds["mask"]
    np.testing.assert_array_equal(y, want)


def test_two_products_summed_keep_the_first_product(tmp_path):
    # the rotary embedding: x * cos + rot * sin; the second product joins the sum
    nodes = [helper.make_node("Mul", ["x", "c"], ["a"], name="mul0"),
             helper.make_node("Mul", ["r", "s"], ["b"], name="mul1"),
             helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    m = make_model(nodes, [(n, F, (4, 8)) for n in "xcrs"], [("y", F, None)])
    feeds = _feeds(x=(4, 8), c=(4, 8), r=(4, 8), s=(4, 8))
    (y,), res = run_compiled(m, feeds, tmp_path, chip="ideal-signed")
    ops = node_ops(res.asm)
    assert ops["mul0"] == ["vmul"] and ops["mul1"] == [] and ops["add"] == ["vfma"]
    np.testing.assert_array_equal(y, feeds["x"] * feeds["c"] + feeds["r"] * feeds["s"])


@pytest.mark.parametrize("case", ["read twice", "not adjacent", "graph output"])
def test_a_mul_that_is_not_only_the_next_adds_stays_a_vmul(case, tmp_path):
    nodes = [helper.make_node("Mul", ["x", "w"], ["m"], name="mul")]
    outs = [("y", F, None)]
    if case == "not adjacent":
        nodes.append(helper.make_node("Neg", ["x"], ["n"], name="neg"))
        nodes.append(helper.make_node("Add", ["m", "n"], ["y"], name="add"))
    else:
        nodes.append(helper.make_node("Add", ["m", "x"], ["y"], name="add"))
    if case == "read twice":
        nodes.append(helper.make_node("Relu", ["m"], ["z"]))
        outs.append(("z", F, None))
    if case == "graph output":
        outs.append(("m", F, None))
    m = make_model(nodes, [("x", F, (6,)), ("w", F, (6,))], outs)
    feeds = _feeds(x=(6,), w=(6,))
    got, res = run_compiled(m, feeds, tmp_path, chip="ideal-signed")
    ops = node_ops(res.asm)
    assert ops["mul"] == ["vmul"] and ops["add"] == ["vadd"]
    other = -feeds["x"] if case == "not adjacent" else feeds["x"]
    np.testing.assert_array_equal(got[0], feeds["x"] * feeds["w"] + other)


def test_pow_by_two_is_the_square(tmp_path):
    nodes = [helper.make_node("Pow", ["x", "two"], ["y"], name="pow")]
    m = make_model(nodes, [("x", F, (64,))], [("y", F, None)], {"two": np.array(2.0, F)})
    x = (R.standard_normal(64) * 1e3).astype(F)
    (y,), res = run_compiled(m, {"x": x}, tmp_path, chip="ideal-signed")
    assert node_ops(res.asm)["pow"] == ["vmul"]
    np.testing.assert_array_equal(y, x * x)
