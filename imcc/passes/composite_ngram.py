"""The expansion of ``expand-composites`` for ``TfIdfVectorizer`` (n-gram counts of integer
tokens, as text pipelines exported from scikit-learn use it).

Each pool n-gram's count in a row is the number of start positions where every token matches,
for each skip distance (``1 .. max_skip_count + 1``; unigrams once): per n-gram length, the
tokens compared with every pool entry at once (``Equal`` of ``[N, C, 1]`` with ``[1, 1, P]``),
the comparisons of the ``n`` positions shifted by the skip and combined with ``And``, and summed
over the positions. The counts reach the output's columns (``ngram_indexes``) through a
``MatMul`` by a constant 0/1 matrix, which also carries the ``TFIDF`` weights: a fixed linear
map, which the crossbars take. ``IDF`` is the weight where a count is positive.
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.passes.composite_index import _bin, _cast, _const, _reduce, _reshape, _slice
from imcc.passes.composite_registry import Ops, composite

_FLOAT = int(onnx.TensorProto.FLOAT)


def _pool(n) -> list[tuple[int, np.ndarray, int]] | None:
    """``(length, tokens [P, length], first id)`` for each n-gram length in the pool (ids count
    every pool n-gram in order, from 0), or None where the pool is not integers."""
    a = n.attrs
    pool = a.get("pool_int64s")
    if pool is None or a.get("pool_strings"):
        return None
    pool = np.asarray(pool, np.int64)
    starts = [int(s) for s in a.get("ngram_counts") or ()]
    out, gram_id = [], 0
    for size, start in enumerate(starts, start=1):
        end = starts[size] if size < len(starts) else len(pool)
        items = pool[start:end]
        if len(items) % size:
            return None
        grams = items.reshape(-1, size)
        out.append((size, grams, gram_id))
        gram_id += len(grams)
    return out


def _counts(o: Ops, x: str, size: int, grams: np.ndarray, skips: int, counted_once: bool):
    """``[N, P]``: each n-gram's matches in each row of ``x`` (``[N, C]``), summed over the
    skip distances (one for unigrams, or where ``counted_once``)."""
    batch, c = o.rw.type(x).shape
    p = len(grams)
    x3 = _reshape(o, x, [batch, c, 1])
    equal = [_bin(o, "Equal", x3, _const(o, "grams", grams[:, j].reshape(1, 1, p), np.int64),
                  dtype="bool") for j in range(size)]
    total = None
    for d in range(1, 2 if counted_once else skips + 2):
        span = c - (size - 1) * d
        if span <= 0:
            break
        hit = None
        for j, e in enumerate(equal):
            part = _slice(o, e, 1, j * d, j * d + span)
            hit = part if hit is None else _bin(o, "And", hit, part, dtype="bool")
        count = _reduce(o, "ReduceSum", _cast(o, hit, "float32", _FLOAT), 1, 0)
        total = count if total is None else _bin(o, "Add", total, count)
    return total


@composite("TfIdfVectorizer")
def _tfidf_vectorizer(o: Ops) -> bool:
    """``TfIdfVectorizer(X)``: per row, the count of each pool n-gram of a length in
    ``[min_gram_length, max_gram_length]`` (each skip distance up to ``max_skip_count + 1``;
    unigrams once), at column ``ngram_indexes[id]``; ``TF`` the counts, ``IDF`` ``weights``
    (or 1) where a count is positive, ``TFIDF`` counts times ``weights``."""
    n = o.n
    a = n.attrs
    grams = _pool(n)
    xs = tuple(o.xt.shape)
    mode = str(a.get("mode", "TF"))
    if grams is None or len(xs) not in (1, 2) or o.xt.dtype not in ("int32", "int64") \
            or mode not in ("TF", "IDF", "TFIDF") or 0 in xs:
        return False
    lo, hi = int(a.get("min_gram_length", 1)), int(a.get("max_gram_length", 1))
    skips = int(a.get("max_skip_count", 0))
    index = [int(i) for i in a.get("ngram_indexes") or ()]
    weights = [float(w) for w in a.get("weights") or ()]
    width = max(index) + 1 if index else 0
    total = sum(len(g) for _, g, _ in grams)
    if width < 1 or len(index) != total or min(index) < 0 or (weights and len(weights) != width):
        return False
    x = o.x if len(xs) == 2 else _reshape(o, o.x, [1, xs[0]])
    if o.xt.dtype != "int64":
        x = _cast(o, x, "int64", int(onnx.TensorProto.INT64))
    batch = o.rw.type(x).shape[0]
    parts, rows = [], []
    for size, g, first in grams:
        if lo <= size <= hi and len(g):
            parts.append(_counts(o, x, size, g, skips, size == 1))
            rows += range(first, first + len(g))
    scale = np.asarray(weights, np.float32) if weights and mode == "TFIDF" else np.ones(width)
    to_columns = np.zeros((max(len(rows), 1), width), np.float32)
    for r, k in enumerate(rows):
        to_columns[r, index[k]] = scale[index[k]]
    if not parts:  # no n-gram length in range: every count is 0
        counts = _const(o, "none", np.zeros((batch, 1), np.float32), np.float32)
    else:
        counts = parts[0] if len(parts) == 1 else o.op(
            "Concat", *parts, shape=[batch, len(rows)], dtype="float32", axis=1)
    y = o.op("MatMul", counts, _const(o, "columns", to_columns, np.float32),
             shape=[batch, width], dtype="float32")
    if mode == "IDF":
        seen = _bin(o, "Greater", y, _const(o, "zero", 0.0, np.float32), dtype="bool")
        w = np.asarray(weights or np.ones(width), np.float32)
        y = o.op("Where", seen, _const(o, "idf", w, np.float32),
                 _const(o, "zero", 0.0, np.float32), shape=[batch, width], dtype="float32")
    o.final("Reshape", y, o.rw.shape_const(f"{n.name}_out", [batch, width] if len(xs) == 2
                                           else [width]))
    return True
