"""Concat computed in place (imcc/codegen/memory.py, ``place_concats``): inputs are written
straight into their slice of the output, DenseNet's growing concatenations share one buffer,
and whatever cannot be placed is still copied. Every program is checked against onnx's
reference evaluator; the copies a Concat still makes are read from its block of the
assembly."""

import re

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model

F = np.float32
R = np.random.default_rng(7)


def concat_copies(asm: str) -> dict[str, int]:
    """``vcopy`` instructions emitted for each Concat node (by node name)."""
    counts: dict[str, int] = {}
    current = None
    for line in asm.splitlines():
        head = re.match(r"\s*# (\S+): (\w+)", line)
        if head and not line.strip().startswith("#   "):
            current = head.group(1) if head.group(2) == "Concat" else None
            if current:
                counts[current] = 0
            continue
        code = line.split("#", 1)[0].strip()
        if current and code.split(" ", 1)[0] == "vcopy":
            counts[current] += 1
    return counts


def dense_block(batch: int, layers: int = 3, c0: int = 4, growth: int = 3, hw: int = 6):
    """DenseNet's pattern: layer i convolves the concatenation of every earlier output (the
    first feature is computed, as a pooling layer's output is in DenseNet)."""
    nodes, inits, feats = [helper.make_node("MaxPool", ["x"], ["f"], kernel_shape=[1, 1])], {}, ["f"]
    for i in range(layers):
        cat = "f" if i == 0 else f"cat{i}"
        if i:
            nodes.append(helper.make_node("Concat", list(feats), [cat], axis=1, name=f"cat{i}"))
        cin = c0 + growth * i
        inits[f"s{i}"] = R.random(cin).astype(F) + 0.5
        inits[f"b{i}"] = R.standard_normal(cin).astype(F)
        inits[f"m{i}"] = R.standard_normal(cin).astype(F)
        inits[f"v{i}"] = R.random(cin).astype(F) + 0.5
        inits[f"w{i}"] = R.standard_normal((growth, cin, 3, 3)).astype(F)
        nodes += [helper.make_node("BatchNormalization", [cat, f"s{i}", f"b{i}", f"m{i}", f"v{i}"],
                                   [f"bn{i}"]),
                  helper.make_node("Relu", [f"bn{i}"], [f"r{i}"]),
                  helper.make_node("Conv", [f"r{i}", f"w{i}"], [f"n{i}"], pads=[1, 1, 1, 1])]
        feats.append(f"n{i}")
    nodes.append(helper.make_node("Concat", feats, ["cat_out"], axis=1, name="cat_out"))
    nodes.append(helper.make_node("GlobalAveragePool", ["cat_out"], ["y"]))
    m = make_model(nodes, [("x", F, (batch, c0, hw, hw))], [("y", F, None)], inits=inits)
    return m, {"x": R.standard_normal((batch, c0, hw, hw)).astype(F)}


@pytest.mark.parametrize("chip", ["ideal", "ideal-signed"])
@pytest.mark.parametrize("batch", [1, 2])  # contiguous slices; strided ones
def test_dense_block_concatenations_cost_nothing(batch, chip, tmp_path):
    m, feeds = dense_block(batch)
    res = check(m, feeds, tmp_path, tol=1e-5, chip=chip)
    counts = concat_copies(res.asm)
    assert set(counts) == {"cat1", "cat2", "cat_out"}
    assert counts == {"cat1": 0, "cat2": 0, "cat_out": 0}


def test_graph_inputs_outputs_and_repeated_inputs_are_copied(tmp_path):
    w = R.standard_normal((6, 4)).astype(F)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Concat", ["r", "r", "a"], ["c"], axis=1, name="c"),  # r twice
             helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Concat", ["s", "c"], ["y"], axis=0, name="y")]  # a graph output
    m = make_model(nodes, [("a", F, (3, 6))], [("y", F, None)], inits={"w": w})
    res = check(m, {"a": R.standard_normal((3, 6)).astype(F)}, tmp_path)
    # y, a graph output, holds s and c in place; c holds r once in place, and copies r again
    # and the graph input a
    counts = concat_copies(res.asm)
    assert counts == {"c": 2, "y": 0}


@pytest.mark.parametrize("batch", [1, 2])
def test_consumers_that_need_contiguous_operands_keep_copies(batch, tmp_path):
    """A tensor in a strided slice may feed only ops that take strided operands: with a
    Transpose and a Reshape among the consumers, batch 2 keeps the copy (batch 1 slices along
    axis 1 are contiguous and need none)."""
    nodes = [helper.make_node("Relu", ["a"], ["p"]),
             helper.make_node("Neg", ["a"], ["q"]),
             helper.make_node("Transpose", ["p"], ["pt"], perm=[0, 2, 1]),
             helper.make_node("Reshape", ["q", "shape"], ["qr"]),
             helper.make_node("Concat", ["p", "q"], ["c"], axis=1, name="c"),
             helper.make_node("Softmax", ["c"], ["y"], axis=-1)]
    m = make_model(nodes, [("a", F, (batch, 3, 4))],
                   [("y", F, None), ("pt", F, None), ("qr", F, None)],
                   inits={"shape": np.array([batch, 12])})
    res = check(m, {"a": R.standard_normal((batch, 3, 4)).astype(F)}, tmp_path)
    counts = concat_copies(res.asm)
    # q is reshaped: always copied; p is placed when its slice is contiguous
    assert counts == {"c": 1 if batch == 1 else 2}


def test_nested_concatenations_along_different_axes(tmp_path):
    nodes = [helper.make_node("Relu", ["a"], ["p"]),
             helper.make_node("Neg", ["a"], ["q"]),
             helper.make_node("Concat", ["p", "q"], ["inner"], axis=2, name="inner"),
             helper.make_node("Sigmoid", ["a2"], ["r"]),
             helper.make_node("Concat", ["inner", "r"], ["outer"], axis=1, name="outer"),
             helper.make_node("Tanh", ["outer"], ["y"])]
    m = make_model(nodes, [("a", F, (2, 3, 4)), ("a2", F, (2, 5, 8))], [("y", F, None)])
    res = check(m, {"a": R.standard_normal((2, 3, 4)).astype(F),
                    "a2": R.standard_normal((2, 5, 8)).astype(F)}, tmp_path)
    counts = concat_copies(res.asm)
    assert counts == {"inner": 0, "outer": 0}
