"""The transformer operators of opsets 23 and later as compositions of operators the machine has:
``RotaryEmbedding`` and ``Attention`` (``RMSNormalization`` is one ``vrmsnorm`` and a ``vmul``:
:mod:`imcc.codegen.elementwise`).

Each follows onnx's definition (the specification and its reference implementation, which the
backend tests check): the heads of a 3-D input are split with ``Reshape``/``Transpose``, the
grouped key and value heads are repeated with a constant ``Gather``, the products are
``MatMul`` of two runtime tensors, and every mask (causal, sliding window, the ``attn_mask``
input, the padding that ``nonpad_kv_seqlen`` gives) becomes one additive bias of 0 and
``-inf``: a constant where the shapes fix it, ``Where`` of a comparison where it depends on an
input.
"""

from __future__ import annotations

import math

import numpy as np

from imcc.passes.composite_registry import FLOAT32, FLOATS, Ops, composite

_NEG_INF = np.float32(-np.inf)


def _reshape(o: Ops, t: str, shape) -> str:
    shape = tuple(int(d) for d in shape)
    return o.op("Reshape", t, o.rw.shape_const(f"{o.n.name}_shape", shape), shape=shape,
                dtype=o.rw.type(t).dtype)


def _slice(o: Ops, t: str, axis: int, start: int, end: int, step: int = 1) -> str:
    shape = list(o.rw.type(t).shape)
    shape[axis] = len(range(start, end, step))
    sc = o.rw.shape_const
    name = o.n.name
    return o.op("Slice", t, sc(f"{name}_starts", [start]), sc(f"{name}_ends", [end]),
                sc(f"{name}_axes", [axis]), sc(f"{name}_steps", [step]), shape=shape)


def _concat(o: Ops, parts: list[str], axis: int) -> str:
    shapes = [o.rw.type(p).shape for p in parts]
    shape = list(shapes[0])
    shape[axis] = sum(s[axis] for s in shapes)
    return o.op("Concat", *parts, shape=shape, axis=axis)


def _binary(o: Ops, op_type: str, a: str, b: str, dtype: str | None = None) -> str:
    shape = np.broadcast_shapes(o.rw.type(a).shape, o.rw.type(b).shape)
    return o.op(op_type, a, b, shape=shape, dtype=dtype or o.rw.type(a).dtype)


@composite("RotaryEmbedding", dtypes=FLOATS)
def _rotary_embedding(o: Ops) -> bool:
    """``RotaryEmbedding(x, cos, sin[, position_ids])``: per head, the first ``r`` features
    (``rotary_embedding_dim``, default the head size) split into halves ``x1``, ``x2`` (the even
    and odd features when ``interleaved``) become ``cos * x1 - sin * x2`` and
    ``sin * x1 + cos * x2`` (put back in the same places); the others pass. ``cos`` and ``sin``
    are ``cache[position_ids]`` ([batch, seq, r / 2]), or the caches themselves without
    ``position_ids``. A 3-D ``x`` [batch, seq, hidden] has ``num_heads`` heads."""
    n, a = o.n, o.n.attrs
    shape = o.xt.shape
    if o.xt.rank == 4:
        b, _, s, d = shape
        work, cshape = o.x, None
    elif o.xt.rank == 3:
        b, s, hidden = shape
        heads = int(a.get("num_heads", 0))
        if heads <= 0 or hidden % heads:
            return False
        d = hidden // heads
        work = _reshape(o, o.x, (b, s, heads, d))
    else:
        return False
    r = int(a.get("rotary_embedding_dim", 0)) or d
    half = r // 2
    if r % 2 or r > d:
        return False
    cshape = (b, 1, s, half) if o.xt.rank == 4 else (b, s, 1, half)
    caches = []
    pos = n.inputs[3] if len(n.inputs) > 3 else ""
    for cache in n.inputs[1:3]:
        if pos:
            cache = o.op("Gather", cache, pos, shape=(b, s, half), axis=0)
        if o.rw.type(cache).shape != (b, s, half):
            return False
        caches.append(_reshape(o, cache, cshape))
    cos, sin = caches
    if int(a.get("interleaved", 0)):
        x1, x2 = _slice(o, work, 3, 0, r, 2), _slice(o, work, 3, 1, r, 2)
    else:
        x1, x2 = _slice(o, work, 3, 0, half), _slice(o, work, 3, half, r)
    real = _binary(o, "Sub", _binary(o, "Mul", cos, x1), _binary(o, "Mul", sin, x2))
    imag = _binary(o, "Add", _binary(o, "Mul", sin, x1), _binary(o, "Mul", cos, x2))
    lead = o.rw.type(real).shape[:3]
    if int(a.get("interleaved", 0)):
        rows = int(np.prod(lead))
        pairs = _concat(o, [_reshape(o, real, (rows, half, 1)),
                            _reshape(o, imag, (rows, half, 1))], 2)
        rotated = _reshape(o, pairs, (*lead, r))
    else:
        rotated = _concat(o, [real, imag], 3)
    if r < d:
        rotated = _concat(o, [rotated, _slice(o, work, 3, r, d)], 3)
    if o.xt.rank == 3:
        rotated = _reshape(o, rotated, shape)
    o.rw.alias(n.outputs[0], rotated)
    return True


def _heads(o: Ops, t: str, heads: int) -> str | None:
    """A 3-D [batch, seq, heads * size] input as [batch, heads, seq, size]."""
    b, s, hidden = o.rw.type(t).shape
    if heads <= 0 or hidden % heads:
        return None
    split = _reshape(o, t, (b, s, heads, hidden // heads))
    return o.op("Transpose", split, shape=(b, heads, s, hidden // heads), perm=(0, 2, 1, 3))


def _allowed(o: Ops, cond: str) -> str:
    """The additive bias of a boolean ``cond``: 0 where it holds, ``-inf`` elsewhere."""
    return o.op("Where", cond, o.const(0.0, "float32"), o.const(_NEG_INF, "float32"),
                shape=o.rw.type(cond).shape, dtype="float32")


def _positions(s: int, length: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """The absolute position ``offset + i`` of each query ``i`` [s, 1], and each key's ``j``
    [1, length]."""
    return np.arange(s)[:, None] + offset, np.arange(length)[None, :]


def _static_bias(causal: bool, left: int, right: int, s: int, length: int,
                 offset: int) -> np.ndarray:
    """The masks fixed by the shapes (causal, sliding window) with the past length ``offset``:
    query ``i`` attends key ``j`` iff ``j <= i + offset`` (causal) and
    ``i + offset - left <= j <= i + offset + right`` (each bound when not -1)."""
    p, j = _positions(s, length, offset)
    allowed = np.ones((s, length), bool)
    if causal:
        allowed &= j <= p
    if left >= 0:
        allowed &= p - j <= left
    if right >= 0:
        allowed &= j - p <= right
    return np.where(allowed, np.float32(0), _NEG_INF).astype(np.float32)


def _nonpad_bias(o: Ops, nonpad: str, causal: bool, left: int, right: int, b: int, s: int,
                 length: int) -> str:
    """The masks of an external cache whose batch ``k`` holds ``nonpad[k]`` valid keys: key
    ``j`` is attended iff ``j < nonpad[k]``, and the causal and window bounds count query ``i``
    at position ``i + nonpad[k] - s``. [batch, 1, s, length]."""
    nb = _reshape(o, o.op("Cast", nonpad, shape=(b,), dtype="float32", to=1, saturate=1),
                  (b, 1, 1))
    i, j = _positions(s, length, 0)
    conds = [_binary(o, "Less", o.const(np.broadcast_to(j, (1, s, length)), "float32"), nb,
                     "bool")]
    # each bound as (constant) <= nonpad or nonpad <= (constant), with p = i + nonpad - s
    if causal:  # j <= p  <=>  j - i + s <= nonpad
        conds.append(_binary(o, "LessOrEqual", o.const((j - i + s)[None], "float32"), nb, "bool"))
    if left >= 0:  # p - j <= left  <=>  nonpad <= left + j - i + s
        conds.append(_binary(o, "LessOrEqual", nb, o.const((left + j - i + s)[None], "float32"),
                             "bool"))
    if right >= 0:  # j - p <= right  <=>  j - i + s - right <= nonpad
        conds.append(_binary(o, "LessOrEqual", o.const((j - i + s - right)[None], "float32"),
                             nb, "bool"))
    cond = conds[0]
    for c in conds[1:]:
        cond = _binary(o, "And", cond, c, "bool")
    return _reshape(o, _allowed(o, cond), (b, 1, s, length))


def _mask_bias(o: Ops, mask: str, length: int) -> str:
    """``attn_mask`` as an additive bias (a boolean mask: 0 where true, ``-inf`` where false),
    its last axis padded with ``-inf`` to the keys' ``length``."""
    mt = o.rw.type(mask)
    bias = _allowed(o, mask) if mt.dtype == "bool" else mask
    short = length - mt.shape[-1]
    if short > 0:
        fill = o.const(np.full((*mt.shape[:-1], short), _NEG_INF, np.float32), "float32")
        bias = _concat(o, [bias, fill], mt.rank - 1)
    return bias


def _bias(o: Ops, mask: str, nonpad: str, past: int, b: int, s: int,
          length: int) -> tuple[str | None, str | None]:
    """The additive bias of the scores and the guard of the query rows it masks entirely (their
    probabilities are 0, not the NaN of a softmax of ``-inf``): tensor names, or None."""
    a = o.n.attrs
    causal = bool(int(a.get("is_causal", 0)))
    left, right = int(a.get("left_window_size", -1)), int(a.get("right_window_size", -1))
    terms: list[str] = []
    if mask:
        terms.append(_mask_bias(o, mask, length))
    if nonpad:
        terms.append(_nonpad_bias(o, nonpad, causal, left, right, b, s, length))
        static = np.zeros((s, length), np.float32)
    else:
        static = _static_bias(causal, left, right, s, length, past)
    if not terms:
        if not np.isneginf(static).any():
            return None, None
        full = np.isneginf(static.max(axis=-1, keepdims=True))
        return o.const(static, "float32"), (o.const(full, "bool") if full.any() else None)
    bias = terms[0]
    for t in terms[1:] + ([o.const(static, "float32")] if np.isneginf(static).any() else []):
        bias = _binary(o, "Add", bias, t)
    peak = o.on(bias).reduce("ReduceMax", bias, [-1], 1)
    guard = _binary(o, "Equal", peak, o.const(_NEG_INF, "float32"), "bool")
    return bias, guard


def _attention_inputs(o: Ops) -> tuple[str, str, str] | None:
    """Q, K and V as [batch, heads, seq, size] (3-D inputs split by ``q_num_heads`` and
    ``kv_num_heads``)."""
    q, k, v = o.n.inputs[:3]
    if o.xt.rank == 4:
        return q, k, v
    if o.xt.rank != 3:
        return None
    hq, hk = int(o.n.attrs.get("q_num_heads", 0)), int(o.n.attrs.get("kv_num_heads", 0))
    parts = (_heads(o, q, hq), _heads(o, k, hk), _heads(o, v, hk))
    return None if None in parts else parts


@composite("Attention", dtypes=FLOAT32)
def _attention(o: Ops) -> bool:
    """``Attention(Q, K, V[, attn_mask, past_key, past_value, nonpad_kv_seqlen])``:
    ``present_key = Concat(past_key, K)`` (and the values alike) along the sequence;
    ``Y = softmax(softcap(Q K^T * scale) + bias) V``, with ``scale`` default
    ``1 / sqrt(head size)`` (applied as ``sqrt(scale)`` to each of Q and K),
    ``softcap(x) = c * tanh(x / c)`` where ``softcap = c > 0``, the key and value heads each
    repeated for ``q_num_heads / kv_num_heads`` query heads (grouped-query attention), and the
    bias the sum of the masks (:func:`_bias`); a query row every key of which is masked gives
    0. ``qk_matmul_output`` is the softcapped scores (mode 0, 1), with the bias (2) or the
    probabilities (3). ``softmax_precision`` is met: the machine computes in float32."""
    n, a = o.n, o.n.attrs
    ins = list(n.inputs) + [""] * (7 - len(n.inputs))
    mask, past_k, past_v, nonpad = ins[3:7]
    outs = list(n.outputs) + [""] * (4 - len(n.outputs))
    got = _attention_inputs(o)
    if got is None or bool(past_k) != bool(past_v) or (nonpad and past_k):
        return False
    q, k, v = got
    b, hq, s, d = o.rw.type(q).shape
    hk = o.rw.type(k).shape[1]
    past = o.rw.type(past_k).shape[2] if past_k else 0
    if past_k:
        k, v = _concat(o, [past_k, k], 2), _concat(o, [past_v, v], 2)
    for out, t in ((outs[1], k), (outs[2], v)):
        if out:
            o.rw.alias(out, t)
    length = o.rw.type(k).shape[2]
    if hq != hk:
        if hq % hk:
            return False
        heads = o.rw.const(f"{n.name}_heads", np.repeat(np.arange(hk), hq // hk))
        k, v = (o.op("Gather", t, heads, shape=(b, hq, *o.rw.type(t).shape[2:]), axis=1)
                for t in (k, v))
    scale = a.get("scale")
    root = np.float32(math.sqrt(float(scale) if scale is not None else 1 / math.sqrt(d)))
    kt = o.op("Transpose", _binary(o, "Mul", k, o.const(root)), shape=(b, hq, d, length),
              perm=(0, 1, 3, 2))
    scores = o.op("MatMul", _binary(o, "Mul", q, o.const(root)), kt, shape=(b, hq, s, length))
    cap = float(a.get("softcap", 0.0) or 0.0)
    if cap > 0:
        scores = o.op("Mul", o.op("Tanh", o.op("Div", scores, o.const(cap), shape=(b, hq, s,
                                                                                    length)),
                                  shape=(b, hq, s, length)), o.const(cap), shape=(b, hq, s, length))
    bias, guard = _bias(o, mask, nonpad, past, b, s, length)
    biased = _binary(o, "Add", scores, bias) if bias else scores
    probs = o.op("Softmax", biased, shape=o.rw.type(biased).shape, axis=-1)
    if guard:
        probs = o.op("Where", guard, o.const(0.0), probs, shape=o.rw.type(probs).shape)
    y = o.op("MatMul", probs, v, shape=(*o.rw.type(probs).shape[:3], o.rw.type(v).shape[3]))
    if o.xt.rank == 3:
        yb, yh, ys, yd = o.rw.type(y).shape
        y = _reshape(o, o.op("Transpose", y, shape=(yb, ys, yh, yd), perm=(0, 2, 1, 3)),
                     (yb, ys, yh * yd))
    mode = int(a.get("qk_matmul_output_mode", 0))
    if outs[3]:
        o.rw.alias(outs[3], {2: biased, 3: probs}.get(mode, scores))
    o.rw.alias(outs[0], y)
    return True


def _per_step(o: Ops, t: str | None, heads: int, width: int) -> str | None:
    """A [batch, seq, heads * width] (or [batch, seq, heads]: ``width`` 1) input of
    LinearAttention as [batch, heads, seq, width]."""
    if not t:
        return None
    b, s, last = o.rw.type(t).shape
    if last == heads * width and width > 1:
        return _heads(o, t, heads)
    if last not in (heads, 1):
        return None
    split = _reshape(o, t, (b, s, last, 1))
    return o.op("Transpose", split, shape=(b, last, s, 1), perm=(0, 2, 1, 3),
                dtype=o.rw.type(t).dtype)


def _sum_keys(o: Ops, t: str) -> str:
    """The sum of a [batch, heads, d_k, d_v] tensor over d_k, keeping the axis."""
    return o.on(t).reduce("ReduceSum", t, [2], 1)


def _column(o: Ops, t: str, step: int) -> str:
    """Step ``step`` of a [batch, heads, seq, width] tensor as [batch, heads, width, 1]."""
    b, h, _, w = o.rw.type(t).shape
    return _reshape(o, _slice(o, t, 2, step, step + 1), (b, h, w, 1))


@composite("LinearAttention", dtypes=FLOATS)
def _linear_attention(o: Ops) -> bool:
    """``LinearAttention(query, key, value[, past_state, decay, beta])`` (opset 27), unrolled
    over the sequence: per step ``t``, ``S *= exp(decay_t)`` (``gated`` rules), ``v_t =
    beta_t * (v_t - S^T k_t)`` (``delta`` rules), ``S += k_t v_t^T``, and the output
    ``scale * q_t^T S`` with each key-value head's state read by its group of query heads;
    ``scale`` 0 means ``1 / sqrt(d_k)``; ``present_state`` is the last ``S``."""
    n, a = o.n, o.n.attrs
    ins = list(n.inputs) + [""] * (6 - len(n.inputs))
    rule = str(a.get("update_rule", "gated_delta"))
    hq, hk = int(a.get("q_num_heads", 0)), int(a.get("kv_num_heads", 0))
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if rule not in ("linear", "gated", "delta", "gated_delta") or o.xt.rank != 3 or hk <= 0 \
            or hq % hk or gated != bool(ins[4]) or delta != bool(ins[5]):
        return False
    q, k, v = (_heads(o, t, h) for t, h in ((ins[0], hq), (ins[1], hk), (ins[2], hk)))
    if None in (q, k, v):
        return False
    b, _, steps, dk = o.rw.type(q).shape
    dv = o.rw.type(v).shape[3]
    decay = _per_step(o, ins[4], hk, dk)
    beta = _per_step(o, ins[5], hk, 1)
    if (gated and decay is None) or (delta and beta is None):
        return False
    state = ins[3] or o.rw.const(f"{n.name}_state", np.zeros((b, hk, dk, dv), o.xt.dtype))
    if decay:
        decay = o.op("Exp", decay, shape=o.rw.type(decay).shape)
    scale = float(a.get("scale", 0.0) or 0.0) or 1 / math.sqrt(dk)
    heads = o.rw.const(f"{n.name}_heads", np.repeat(np.arange(hk), hq // hk))
    outs = []
    for t in range(steps):
        kt = _column(o, k, t)
        vt = _slice(o, v, 2, t, t + 1)  # [b, hk, 1, dv]
        if decay:
            state = _binary(o, "Mul", state, _column(o, decay, t))
        if beta:
            got = _sum_keys(o, _binary(o, "Mul", state, kt))
            vt = _binary(o, "Mul", _slice(o, beta, 2, t, t + 1), _binary(o, "Sub", vt, got))
        state = _binary(o, "Add", state, _binary(o, "Mul", kt, vt))
        read = state if hq == hk else o.op("Gather", state, heads, shape=(b, hq, dk, dv),
                                           axis=1)
        prod = _binary(o, "Mul", read, _column(o, q, t))
        outs.append(_binary(o, "Mul", _sum_keys(o, prod), o.const(scale)))
    y = _concat(o, outs, 2) if len(outs) > 1 else outs[0]
    y = _reshape(o, o.op("Transpose", y, shape=(b, steps, hq, dv), perm=(0, 2, 1, 3)),
                 (b, steps, hq * dv))
    names = list(n.outputs) + [""]
    o.rw.alias(names[0], y)
    if names[1]:
        o.rw.alias(names[1], state)
    return True
