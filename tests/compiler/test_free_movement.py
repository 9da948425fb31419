"""Data movement that costs no instruction (imcc/codegen/memory.py: Reshape aliases,
``plan_views``; imcc/codegen/imc.py: MVMs written straight into their output): a head split
and merge around an IMC layer, slices, transposes and broadcasts read in place by element-wise
ops, Concat and products of two activations. Every program is checked against onnx's
reference evaluator; the instructions of each node are read from its block of the assembly."""

import re

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model

F = np.float32
R = np.random.default_rng(11)


def node_ops(asm: str) -> dict[str, list[str]]:
    """The mnemonics each node emits (by node name; settings ``li``/``cfgi``/``csrw`` left out)."""
    ops: dict[str, list[str]] = {}
    current = None
    for line in asm.splitlines():
        if line.strip() == "halt":
            current = None
        head = re.match(r"\s*# (\S+): (\w+)(?: \[[\w-]+\])?\s*$", line)
        if head:
            current = head.group(1)
            ops[current] = []
            continue
        code = line.split("#", 1)[0].strip()
        mnemonic = code.split(" ", 1)[0]
        if current and code and mnemonic not in ("li", "cfgi", "csrw") and not code.endswith(":"):
            ops[current].append(mnemonic)
    return ops


@pytest.mark.parametrize("chip", ["ideal", "ideal-signed"])
def test_a_head_split_and_merge_around_a_projection_copy_nothing(chip, tmp_path):
    """One position of attention's projection: [1, 1, 64] @ W, split into 4 heads of 16
    (Reshape, then a Transpose that moves only a size-1 dim), scaled per head, merged back.
    On signed float cells the MVM writes the output itself (no one-block vsadd)."""
    w = R.standard_normal((64, 64)).astype(F)
    s = R.standard_normal((1, 4, 1, 16)).astype(F)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["q"], name="proj"),
             helper.make_node("Reshape", ["q", "split"], ["qh"], name="split"),
             helper.make_node("Transpose", ["qh"], ["qt"], perm=[0, 2, 1, 3], name="heads"),
             helper.make_node("Mul", ["qt", "s"], ["qs"], name="scale"),
             helper.make_node("Transpose", ["qs"], ["qm"], perm=[0, 2, 1, 3], name="unheads"),
             helper.make_node("Reshape", ["qm", "merge"], ["qr"], name="merge"),
             helper.make_node("Relu", ["qr"], ["y"], name="out")]
    m = make_model(nodes, [("x", F, (1, 1, 64))], [("y", F, None)],
                   inits={"w": w, "s": s, "split": np.array([1, 1, 4, 16]),
                          "merge": np.array([1, 1, 64])})
    res = check(m, {"x": R.standard_normal((1, 1, 64)).astype(F)}, tmp_path, tol=1e-5,
                chip=chip)
    ops = node_ops(res.asm)
    for name in ("split", "heads", "unheads", "merge"):
        assert ops[name] == [], (name, ops[name])
    if chip == "ideal-signed":
        assert "vsadd" not in ops["proj"] and "mvm" in ops["proj"], ops["proj"]


def test_slices_transposes_and_broadcasts_are_read_in_place(tmp_path):
    """Rotary embedding's halves (two Slices, a Neg, a Concat), a Transpose and an Expand read
    by element-wise ops: only the Concat copies (its Slice input, read in place)."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="a"),
             helper.make_node("Slice", ["a", "s0", "s1", "ax"], ["lo"], name="lo"),
             helper.make_node("Slice", ["a", "s1", "s2", "ax"], ["hi"], name="hi"),
             helper.make_node("Neg", ["hi"], ["nhi"], name="neg"),
             helper.make_node("Concat", ["nhi", "lo"], ["rot"], axis=-1, name="rot"),
             helper.make_node("Mul", ["rot", "a"], ["r"], name="mul"),
             helper.make_node("Transpose", ["r"], ["rt"], perm=[3, 1, 2, 0], name="tr"),
             helper.make_node("Expand", ["b", "shape"], ["be"], name="expand"),
             helper.make_node("Add", ["rt", "be"], ["y"], name="add")]
    m = make_model(nodes, [("x", F, (2, 4, 3, 8)), ("b", F, (1, 4, 1, 1))], [("y", F, None)],
                   inits={"s0": np.array([0]), "s1": np.array([4]), "s2": np.array([8]),
                          "ax": np.array([3]), "shape": np.array([8, 4, 3, 2])})
    res = check(m, {"x": R.standard_normal((2, 4, 3, 8)).astype(F),
                    "b": R.standard_normal((1, 4, 1, 1)).astype(F)}, tmp_path, tol=0)
    ops = node_ops(res.asm)
    for name in ("lo", "hi", "tr", "expand"):
        assert ops[name] == [], (name, ops[name])
    assert ops["rot"] == ["vcopy"]  # lo; Neg writes its half in place


def test_a_view_keeps_the_tensor_it_reads_alive(tmp_path):
    """``a`` is last read by the Slice; its slice is read two nodes later, after ``b`` and
    ``c`` (each of a's size) are computed: their buffers must not take a's place."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Slice", ["a", "s0", "s1", "ax"], ["sa"], name="view"),
             helper.make_node("Exp", ["x"], ["b"]),
             helper.make_node("Neg", ["b"], ["c"]),
             helper.make_node("Mul", ["c", "sa"], ["y"])]
    m = make_model(nodes, [("x", F, (4, 16))], [("y", F, None)],
                   inits={"s0": np.array([0]), "s1": np.array([16]), "ax": np.array([1])})
    res = check(m, {"x": R.standard_normal((4, 16)).astype(F)}, tmp_path, tol=0)
    assert node_ops(res.asm)["view"] == []


def test_views_not_read_element_by_element_are_copied(tmp_path):
    """A Transpose read by a Softmax and one that is a graph output are copied; one read by a
    product of two activations (attention's K^T) is read in place (its product may round a few
    ulps otherwise than its copy's: the program is checked against the reference within
    1e-5)."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Transpose", ["a"], ["at"], perm=[1, 0], name="t_mm"),
             helper.make_node("MatMul", ["a", "at"], ["g"]),
             helper.make_node("Transpose", ["a"], ["as"], perm=[1, 0], name="t_sm"),
             helper.make_node("Softmax", ["as"], ["p"], axis=-1),
             helper.make_node("Transpose", ["a"], ["ao"], perm=[1, 0], name="t_out")]
    m = make_model(nodes, [("x", F, (3, 5))], [("g", F, None), ("p", F, None), ("ao", F, None)])
    res = check(m, {"x": R.standard_normal((3, 5)).astype(F)}, tmp_path, tol=1e-5)
    ops = node_ops(res.asm)
    assert ops["t_sm"] == ops["t_out"] == ["vcopy"]
    assert ops["t_mm"] == []


def test_a_concat_read_through_a_reshape_has_its_inputs_written_in_place(tmp_path):
    """A decoder's cache: ``present = Concat(past, new key)``, a graph output also read through
    a Reshape (repeat_kv's Unsqueeze). The new key (a strided slice: two heads) is computed in
    place; only the past, a graph input, is copied."""
    nodes = [helper.make_node("Neg", ["k"], ["kn"], name="key"),
             helper.make_node("Concat", ["past", "kn"], ["present"], axis=2, name="cat"),
             helper.make_node("Reshape", ["present", "shape"], ["flat"], name="unsqueeze"),
             helper.make_node("Relu", ["flat"], ["y"])]
    m = make_model(nodes, [("past", F, (1, 2, 3, 4)), ("k", F, (1, 2, 1, 4))],
                   [("present", F, None), ("y", F, None)],
                   inits={"shape": np.array([1, 2, 1, 16])})
    res = check(m, {"past": R.standard_normal((1, 2, 3, 4)).astype(F),
                    "k": R.standard_normal((1, 2, 1, 4)).astype(F)}, tmp_path, tol=0)
    ops = node_ops(res.asm)
    assert ops["cat"] == ["vcopy"] and ops["unsqueeze"] == [] and ops["key"] == ["vneg"]


def test_contiguous_parts_of_a_split_are_aliases(tmp_path):
    """GPT-2's fused projection split into Q, K and V along the last axis of [1, 1, 3 d]:
    each part is a run of the input's buffer, read in place (through Reshapes too); parts
    along an inner axis of a batch of 2 are not runs and are copied."""
    w = R.standard_normal((16, 48)).astype(F)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["qkv"]),
             helper.make_node("Split", ["qkv", "sizes"], ["q", "k", "v"], axis=2, name="split"),
             helper.make_node("Reshape", ["k", "heads"], ["kh"]),
             helper.make_node("Mul", ["q", "v"], ["qv"]),
             helper.make_node("Relu", ["kh"], ["y"]),
             helper.make_node("Relu", ["b"], ["br"]),
             helper.make_node("Split", ["br", "sizes"], ["b0", "b1", "b2"], axis=2, name="inner"),
             helper.make_node("Add", ["b0", "b2"], ["b02"]),
             helper.make_node("Mul", ["b02", "b1"], ["z"])]
    m = make_model(nodes, [("x", F, (1, 1, 16)), ("b", F, (2, 1, 48))],
                   [("qv", F, None), ("y", F, None), ("z", F, None)],
                   inits={"w": w, "sizes": np.array([16, 16, 16]),
                          "heads": np.array([1, 1, 2, 8])})
    res = check(m, {"x": R.standard_normal((1, 1, 16)).astype(F),
                    "b": R.standard_normal((2, 1, 48)).astype(F)}, tmp_path, tol=1e-5,
                chip="ideal-signed")
    ops = node_ops(res.asm)
    assert ops["split"] == [] and ops["inner"] == ["vcopy"] * 3



def test_a_slice_that_a_reshape_aliases_is_not_a_view(tmp_path):
    """A Reshape shares its input's buffer, so a Slice it reads must have a buffer of its own
    in row-major order: read as a strided view of the sliced tensor, the Reshape (and the
    Transpose and MatMul after it) read the elements around the slice. The graph is a 2x2
    convolution tap by tap, as ConvInteger's expansion writes one with a runtime weight."""
    i64 = lambda v: np.array(v, np.int64)  # noqa: E731
    nodes, inits, terms = [], {"ax": i64([2, 3]), "st": i64([1, 1]), "mc": i64([1, 1])}, []
    for i in range(2):
        for j in range(2):
            t = f"t{i}{j}"
            inits |= {f"s{t}": i64([i, j]), f"e{t}": i64([i + 2, j + 2]),
                      f"ws{t}": i64([i, j]), f"we{t}": i64([i + 1, j + 1])}
            nodes += [helper.make_node("Slice", ["x", f"s{t}", f"e{t}", "ax", "st"], [t + "x"]),
                      helper.make_node("Transpose", [t + "x"], [t + "xt"], perm=[0, 2, 3, 1]),
                      helper.make_node("Slice", ["w", f"ws{t}", f"we{t}", "ax"], [t + "w"]),
                      helper.make_node("Reshape", [t + "w", "mc"], [t + "wr"]),
                      helper.make_node("Transpose", [t + "wr"], [t + "wt"], perm=[1, 0]),
                      helper.make_node("MatMul", [t + "xt", t + "wt"], [t + "y"])]
            terms.append(t + "y")
    nodes += [helper.make_node("Sum", terms, ["s"]),
              helper.make_node("Transpose", ["s"], ["y"], perm=[0, 3, 1, 2])]
    m = make_model(nodes, [("x", F, [1, 1, 3, 3]), ("w", F, [1, 1, 2, 2])], [("y", F, None)],
                   inits)
    check(m, {"x": np.arange(1, 10, dtype=F).reshape(1, 1, 3, 3),
              "w": R.standard_normal((1, 1, 2, 2)).astype(F)}, tmp_path, tol=1e-6)
