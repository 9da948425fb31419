"""GatherElements of constants, folded at import by imcc's own operator
(``imcc.frontend.evaluate.gather_elements``): onnx's reference evaluator picks with
``np.choose``, which takes at most 64 choices, so Hugging Face's BERT, ALBERT and ELECTRA
exports (the token-type ids gathered along 512 positions, by both PyTorch exporters) failed to
import. Checked against an element-by-element loop and against onnxruntime."""

import itertools

import numpy as np
import pytest
from onnx import helper

from imcc.frontend.evaluate import gather_elements
from tests.compiler.helpers import make_model, run_compiled


def _loop(data: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """The operator's definition, one output element at a time."""
    out = np.empty(idx.shape, data.dtype)
    for pos in itertools.product(*(range(d) for d in idx.shape)):
        src = list(pos)
        k = int(idx[pos])
        src[axis] = k + data.shape[axis] if k < 0 else k
        out[pos] = data[tuple(src)]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_matches_the_definition(seed):
    rng = np.random.default_rng(seed)
    r = int(rng.integers(1, 4))
    shape = [int(d) for d in rng.integers(1, 5, r)]
    axis = int(rng.integers(-r, r))
    shape[axis] = int(rng.choice([1, 3, 65, 130]))  # past np.choose's 64 choices too
    data = rng.standard_normal(shape).astype(np.float32)
    ishape = [int(rng.integers(1, d + 1)) for d in shape]  # other axes may be shorter
    ishape[axis] = int(rng.integers(1, 9))
    n = shape[axis]
    idx = rng.integers(-n, n, ishape)
    np.testing.assert_array_equal(gather_elements(data, idx, axis), _loop(data, idx, axis % r))


@pytest.mark.parametrize("idx, axis, what", [
    (np.array([[0, 5]]), 1, "outside"), (np.array([[-6]]), 1, "outside"),
    (np.array([0, 1]), 0, "rank"), (np.array([[0]]), 2, "axis"),
    (np.zeros((3, 1), np.int64), 1, "reach past")])
def test_refuses_what_does_not_fit(idx, axis, what):
    with pytest.raises(ValueError, match=what):
        gather_elements(np.zeros((2, 5), np.float32), idx, axis)


def test_bert_token_type_pattern_matches_onnxruntime(tmp_path):
    """The graph of BERT's embeddings: a buffer of 512 token types expanded to the batch,
    GatherElements at the positions 0..S-1, the ids looked up in an embedding table."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    s, positions = 8, 512
    table = rng.standard_normal((2, 16)).astype(np.float32)
    nodes = [
        helper.make_node("ConstantOfShape", ["buf_shape"], ["zeros"],
                         value=helper.make_tensor("v", 7, [1], [0])),
        helper.make_node("Add", ["zeros", "parity"], ["buf"]),
        helper.make_node("Expand", ["buf", "batch_shape"], ["types"]),
        helper.make_node("GatherElements", ["types", "pos"], ["ids"], axis=1),
        helper.make_node("Gather", ["table", "ids"], ["emb"]),
        helper.make_node("Add", ["x", "emb"], ["y"]),
    ]
    pos = np.arange(s)[None] * 61 % positions - 3  # both parities, one index from the end
    inits = {"buf_shape": np.array([1, positions]), "batch_shape": np.array([1, positions]),
             "parity": np.arange(positions)[None] % 2, "pos": pos, "table": table}
    assert len(set((pos % 2).ravel())) == 2
    m = make_model(nodes, [("x", np.float32, [1, s, 16])], [("y", np.float32, None)], inits)
    x = rng.standard_normal((1, s, 16)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    (got,), _ = run_compiled(m, {"x": x}, tmp_path)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
