"""TfIdfVectorizer (imcc/passes/composite_ngram.py) compiled for the ideal chip and run on the
reference machine, against onnx's reference evaluator: random token rows, every mode, skips,
restricted n-gram lengths, shuffled output columns, 1-D and 2-D int32/int64 inputs."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model

R = np.random.default_rng(31)

#: Unigrams 2, 3, 5; bigrams (2, 3), (3, 5), (5, 5); trigram (2, 3, 5).
POOL = [2, 3, 5, 2, 3, 3, 5, 5, 5, 2, 3, 5]
COUNTS = [0, 3, 9]
GRAMS = 7


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("lo,hi,skip", [(1, 1, 0), (1, 2, 0), (2, 3, 2), (1, 3, 1), (3, 3, 3)])
@pytest.mark.parametrize("shape,dtype", [((3, 11), np.int64), ((9,), np.int32)])
def test_tfidf_vectorizer(mode, lo, hi, skip, shape, dtype, tmp_path):
    x = R.choice([2, 3, 5, 7], size=shape).astype(dtype)
    index = R.permutation(GRAMS + 2)[:GRAMS]  # columns out of order, two never written
    width = int(index.max()) + 1
    attrs = dict(mode=mode, min_gram_length=lo, max_gram_length=hi, max_skip_count=skip,
                 ngram_counts=COUNTS, ngram_indexes=index.tolist(), pool_int64s=POOL)
    if mode != "TF":
        attrs["weights"] = R.uniform(0.5, 2.0, width).round(3).tolist()
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], **attrs)
    out = [shape[0], width] if len(shape) == 2 else [width]
    m = make_model([node], [("x", dtype, shape)], [("y", np.float32, out)], opset=17)
    check(m, {"x": x}, tmp_path, tol=1e-6)
