"""Operators of opsets 23 and later (RMSNormalization, RotaryEmbedding, Attention, Swish,
SwiGLU, CumProd), compiled for the ideal chip and compared with onnx's reference evaluator; and
a small Llama-style block exported at opset 23."""

from __future__ import annotations

import numpy as np
import pytest

from tests.compiler.helpers import helper, make_model, reference, run_compiled

F = np.float32


def check(model, feeds, tmp_path, tol):
    """Each output as onnx's reference evaluator computes it (an infinite score where the
    reference has the same one: a masked position of qk_matmul_output)."""
    want = reference(model, feeds)
    got, _ = run_compiled(model, feeds, tmp_path)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("shape,axis", [((2, 3, 8), -1), ((2, 3, 8), 1), ((4, 6), 0)])
def test_rms_normalization(shape, axis, tmp_path):
    rng = _rng()
    scale = rng.standard_normal(shape[axis:]).astype(F)
    node = helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=axis, epsilon=1e-3)
    m = make_model([node], [("x", F, shape)], [("y", F, None)], {"s": scale}, opset=23)
    check(m, {"x": rng.standard_normal(shape).astype(F)}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rotary_dim", [0, 4])
@pytest.mark.parametrize("positions", [True, False])
def test_rotary_embedding_4d(interleaved, rotary_dim, positions, tmp_path):
    rng = _rng(1)
    b, h, s, d = 2, 3, 5, 8
    half = (rotary_dim or d) // 2
    inits = {}
    if positions:
        inits["pos"] = rng.integers(0, 7, (b, s)).astype(np.int64)
        cache_shape = (7, half)
    else:
        cache_shape = (b, s, half)
    angles = rng.uniform(-3, 3, cache_shape)
    inits.update(cos=np.cos(angles).astype(F), sin=np.sin(angles).astype(F))
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin"] + ["pos"] * positions, ["y"],
                            interleaved=interleaved, rotary_embedding_dim=rotary_dim)
    m = make_model([node], [("x", F, (b, h, s, d))], [("y", F, None)], inits, opset=23)
    check(m, {"x": rng.standard_normal((b, h, s, d)).astype(F)}, tmp_path, tol=1e-5)


def test_rotary_embedding_3d_needs_num_heads_and_splits_them(tmp_path):
    rng = _rng(2)
    b, s, heads, d = 1, 4, 2, 6
    angles = rng.uniform(-3, 3, (8, d // 2))
    inits = {"cos": np.cos(angles).astype(F), "sin": np.sin(angles).astype(F),
             "pos": np.array([[3, 1, 4, 1]], np.int64)}
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"],
                            num_heads=heads, interleaved=1)
    m = make_model([node], [("x", F, (b, s, heads * d))], [("y", F, None)], inits, opset=23)
    check(m, {"x": rng.standard_normal((b, s, heads * d)).astype(F)}, tmp_path, tol=1e-5)


def _attention_model(attrs, shapes, inits, opset, outputs=("y",), extra=()):
    names = ["q", "k", "v", *extra]
    node = helper.make_node("Attention", names, list(outputs), **attrs)
    inputs = [(n, F, shapes[n]) for n in ("q", "k", "v")]
    inputs += [(n, F, shapes[n]) for n in extra if n and n not in inits]
    return make_model([node], inputs, [(o, F, None) for o in outputs if o], inits, opset=opset)


def _feeds(shapes, names, seed=3):
    rng = _rng(seed)
    return {n: rng.standard_normal(shapes[n]).astype(F) for n in names}


@pytest.mark.parametrize("attrs", [
    {}, {"is_causal": 1}, {"scale": 0.3}, {"softcap": 2.0}, {"is_causal": 1, "softcap": 1.5}])
def test_attention_4d_grouped_query(attrs, tmp_path):
    shapes = {"q": (2, 4, 3, 8), "k": (2, 2, 5, 8), "v": (2, 2, 5, 6)}
    m = _attention_model(attrs, shapes, {}, 23)
    check(m, _feeds(shapes, "qkv"), tmp_path, tol=1e-5)


def test_attention_3d_heads_with_past_and_present(tmp_path):
    """3-D inputs split by q_num_heads / kv_num_heads; the cache grows by the new keys, and the
    causal mask counts the past (query i sees keys up to i + past length)."""
    shapes = {"q": (1, 3, 4 * 4), "k": (1, 3, 2 * 4), "v": (1, 3, 2 * 4),
              "pk": (1, 2, 5, 4), "pv": (1, 2, 5, 4)}
    m = _attention_model({"q_num_heads": 4, "kv_num_heads": 2, "is_causal": 1}, shapes, {}, 23,
                         outputs=("y", "present_k", "present_v"), extra=("", "pk", "pv"))
    check(m, _feeds(shapes, ["q", "k", "v", "pk", "pv"]), tmp_path, tol=1e-5)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_attention_masks_and_qk_output(mode, tmp_path):
    """A boolean mask shorter than the keys (padded as masked) with a row it masks entirely
    (its output is 0, not NaN), and each qk_matmul_output_mode."""
    shapes = {"q": (1, 2, 3, 4), "k": (1, 2, 6, 4), "v": (1, 2, 6, 4)}
    mask = np.array([[True, False, True, True], [False] * 4, [True, True, False, True]])
    m = _attention_model({"qk_matmul_output_mode": mode, "softcap": 3.0}, shapes,
                         {"mask": mask}, 23, outputs=("y", "", "", "qk"), extra=("mask",))
    check(m, _feeds(shapes, "qkv"), tmp_path, tol=1e-5)


def test_attention_float_mask_of_rank_3(tmp_path):
    shapes = {"q": (2, 3, 4, 4), "k": (2, 3, 4, 4), "v": (2, 3, 4, 4), "mask": (3, 4, 4)}
    m = _attention_model({"is_causal": 1}, shapes, {}, 23, extra=("mask",))
    check(m, _feeds(shapes, ["q", "k", "v", "mask"]), tmp_path, tol=1e-5)


@pytest.mark.parametrize("attrs,opset", [
    ({"is_causal": 1}, 24), ({}, 24), ({"left_window_size": 1, "right_window_size": 0}, 25),
    ({"is_causal": 1, "left_window_size": 2}, 25)])
def test_attention_external_cache_and_windows(attrs, opset, tmp_path):
    """``nonpad_kv_seqlen`` (opset 24): batch b holds that many valid keys, and the causal and
    window bounds count the queries from the end of them; one batch's count leaves queries
    with no key at all."""
    shapes = {"q": (3, 2, 2, 4), "k": (3, 2, 6, 4), "v": (3, 2, 6, 4)}
    inits = {"nonpad": np.array([6, 3, 1], np.int64)}
    m = _attention_model(attrs, shapes, inits, opset, extra=("", "", "", "nonpad"))
    check(m, _feeds(shapes, "qkv"), tmp_path, tol=1e-5)


def test_attention_local_window_without_cache(tmp_path):
    shapes = {"q": (1, 2, 5, 4), "k": (1, 2, 5, 4), "v": (1, 2, 5, 4)}
    m = _attention_model({"left_window_size": 1, "right_window_size": 1}, shapes, {}, 25)
    check(m, _feeds(shapes, "qkv"), tmp_path, tol=1e-5)


def _llama_block(seq: int, dim: int, q_heads: int, kv_heads: int, seed: int = 0):
    """One decoder layer of a Llama-architecture model as an opset-23 exporter writes it:
    RMSNormalization, Q/K/V projections, RotaryEmbedding of Q and K, grouped-query causal
    Attention, the output projection and residual, then RMSNormalization and a SwiGLU MLP."""
    rng = _rng(seed)
    d = dim // q_heads
    hidden = 2 * dim

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(F)

    freq = 1.0 / (10000 ** (np.arange(0, d, 2) / d))
    angles = np.arange(16)[:, None] * freq[None, :]
    inits = {"ln1": (1 + 0.1 * rng.standard_normal(dim)).astype(F),
             "ln2": (1 + 0.1 * rng.standard_normal(dim)).astype(F),
             "wq": w(dim, dim), "wk": w(dim, kv_heads * d), "wv": w(dim, kv_heads * d),
             "wo": w(dim, dim), "wg": w(dim, hidden), "wu": w(dim, hidden),
             "wd": w(hidden, dim), "cos": np.cos(angles).astype(F),
             "sin": np.sin(angles).astype(F),
             "pos": np.arange(seq, dtype=np.int64)[None, :]}
    n = helper.make_node
    nodes = [
        n("RMSNormalization", ["x", "ln1"], ["h"], epsilon=1e-6),
        n("MatMul", ["h", "wq"], ["q0"]), n("MatMul", ["h", "wk"], ["k0"]),
        n("MatMul", ["h", "wv"], ["v"]),
        n("RotaryEmbedding", ["q0", "cos", "sin", "pos"], ["q"], num_heads=q_heads),
        n("RotaryEmbedding", ["k0", "cos", "sin", "pos"], ["k"], num_heads=kv_heads),
        n("Attention", ["q", "k", "v"], ["a"], is_causal=1, q_num_heads=q_heads,
          kv_num_heads=kv_heads),
        n("MatMul", ["a", "wo"], ["o"]), n("Add", ["x", "o"], ["r"]),
        n("RMSNormalization", ["r", "ln2"], ["h2"], epsilon=1e-6),
        n("MatMul", ["h2", "wg"], ["g"]), n("MatMul", ["h2", "wu"], ["u"]),
        n("Sigmoid", ["g"], ["sg"]), n("Mul", ["g", "sg"], ["silu"]),
        n("Mul", ["silu", "u"], ["gu"]), n("MatMul", ["gu", "wd"], ["dn"]),
        n("Add", ["r", "dn"], ["y"]),
    ]
    return make_model(nodes, [("x", F, (1, seq, dim))], [("y", F, (1, seq, dim))], inits,
                      opset=23)


def test_llama_block_at_opset_23(tmp_path):
    m = _llama_block(seq=6, dim=16, q_heads=4, kv_heads=2)
    x = _rng(7).standard_normal((1, 6, 16)).astype(F)
    check(m, {"x": x}, tmp_path, tol=1e-4)


def test_gather_nd_of_positions_as_an_opset_18_export_writes_it(tmp_path):
    """PyTorch's dynamo exporter at opset 18 reads a Llama's rotary caches at the position ids
    with GatherND (indices [batch, seq, 1]); the ids come from a Range."""
    rng = _rng(4)
    seq, half = 5, 4
    cache = rng.standard_normal((16, half)).astype(F)
    n = helper.make_node
    nodes = [
        n("Range", ["start", "limit", "delta"], ["ids"]),
        n("Unsqueeze", ["ids", "axes"], ["idx"]),
        n("Unsqueeze", ["idx", "axes0"], ["idx3"]),
        n("GatherND", ["cache", "idx3"], ["c"]),
        n("Mul", ["x", "c"], ["y"]),
    ]
    inits = {"cache": cache, "start": np.array(2, np.int64), "limit": np.array(2 + seq, np.int64),
             "delta": np.array(1, np.int64), "axes": np.array([-1], np.int64),
             "axes0": np.array([0], np.int64)}
    m = make_model(nodes, [("x", F, (1, seq, half))], [("y", F, None)], inits, opset=18)
    check(m, {"x": rng.standard_normal((1, seq, half)).astype(F)}, tmp_path, tol=1e-6)


def test_gather_nd_of_runtime_positions(tmp_path):
    rng = _rng(5)
    cache = rng.standard_normal((16, 4)).astype(F)
    node = helper.make_node("GatherND", ["cache", "idx"], ["y"])
    m = make_model([node], [("idx", np.int64, (1, 3, 1))], [("y", F, None)], {"cache": cache},
                   opset=18)
    check(m, {"idx": np.array([[[4], [0], [15]]], np.int64)}, tmp_path, tol=1e-6)



@pytest.mark.parametrize("alpha", [1.0, 0.7])
def test_swish_and_swiglu(alpha, tmp_path):
    rng = _rng(6)
    nodes = [helper.make_node("Swish", ["a"], ["s"], alpha=alpha),
             helper.make_node("SwiGLU", ["a", "b"], ["g"], alpha=alpha)]
    m = make_model(nodes, [("a", F, (2, 5)), ("b", F, (2, 5))], [("s", F, None), ("g", F, None)],
                   opset=28)
    check(m, {"a": 3 * rng.standard_normal((2, 5)).astype(F),
              "b": rng.standard_normal((2, 5)).astype(F)}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod_with_a_constant_axis(axis, exclusive, reverse, tmp_path):
    rng = _rng(8)
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive,
                            reverse=reverse)
    m = make_model([node], [("x", F, (3, 4))], [("y", F, None)],
                   {"axis": np.array(axis, np.int64)}, opset=26)
    check(m, {"x": rng.uniform(0.5, 2.0, (3, 4)).astype(F)}, tmp_path, tol=1e-5)


@pytest.mark.parametrize("dtype,direction,opset", [
    (np.int8, "LEFT", 28), (np.int8, "RIGHT", 28), (np.int16, "LEFT", 28),
    (np.int32, "RIGHT", 28), (np.uint8, "LEFT", 11), (np.uint16, "RIGHT", 11)])
def test_bitshift(dtype, direction, opset, tmp_path):
    """Overflowing left shifts keep the low bits; right shifts of negative numbers are
    arithmetic; shifts outside 0 .. width - 1 (negative ones too, for a signed type) give 0, or
    -1 for a negative number shifted right."""
    info = np.iinfo(dtype)
    width = info.bits
    top, bottom = min(info.max, 2**24), max(info.min, -(2**24))  # the machine's exact integers
    x = np.array([1, 3, top, bottom, 5, 100, top // 3, 7], dtype)
    shifts = [0, 1, 1, 2, width - 1, width, 3, width + 5]
    if info.min < 0:
        x[4:6] = [-5, -100]
        shifts[6] = -1
    y = np.array(shifts, dtype)
    node = helper.make_node("BitShift", ["x", "y"], ["z"], direction=direction)
    m = make_model([node], [("x", dtype, (8,)), ("y", dtype, (8,))], [("z", dtype, None)],
                   opset=opset)
    check(m, {"x": x, "y": y}, tmp_path, tol=0)


def test_castlike_of_a_constant_is_a_constant(tmp_path):
    """ONNX's function bodies (Attention's) pad with ``CastLike(-inf, Q)``: it reads only Q's
    type, so Pad's constant_value is a constant."""
    nodes = [helper.make_node("CastLike", ["neg", "x"], ["fill"]),
             helper.make_node("Pad", ["x", "pads", "fill"], ["y"])]
    m = make_model(nodes, [("x", F, (2, 3))], [("y", F, None)],
                   {"neg": np.array(-np.inf, np.float64), "pads": np.array([0, 1, 0, 2])},
                   opset=23)
    check(m, {"x": _rng(9).standard_normal((2, 3)).astype(F)}, tmp_path, tol=0)


@pytest.mark.parametrize("mode,starts", [("linear", [0, 3]), ("circular", [4, 5])])
@pytest.mark.parametrize("axis", [-2, 1])
def test_tensor_scatter_writes_the_update_at_runtime_positions(mode, starts, axis, tmp_path):
    rng = _rng(10)
    past_shape = (2, 6, 3) if axis == 1 else (2, 2, 6, 3)
    update_shape = list(past_shape)
    update_shape[axis] = 2
    node = helper.make_node("TensorScatter", ["past", "update", "at"], ["present"], mode=mode,
                            axis=axis)
    m = make_model([node], [("past", F, past_shape), ("update", F, tuple(update_shape)),
                            ("at", np.int64, (2,))], [("present", F, None)], opset=24)
    feeds = {"past": rng.standard_normal(past_shape).astype(F),
             "update": rng.standard_normal(update_shape).astype(F),
             "at": np.array(starts, np.int64)}
    check(m, feeds, tmp_path, tol=0)


def test_dynamo_export_of_a_llama_layer_reads_positions_with_gather_nd(tmp_path):
    """PyTorch's dynamo exporter at opset 18 reads a Llama's rotary caches at the runtime
    ``position_ids`` with GatherND; the exported layer (RMSNorm, rotary embeddings, grouped-query
    causal attention) compiles and computes what onnx's reference computes."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    import onnx

    d, heads, kv_heads, seq = 16, 4, 2, 6
    size = d // heads

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.Parameter(1 + 0.1 * torch.randn(d))
            self.q = torch.nn.Linear(d, d, bias=False)
            self.k = torch.nn.Linear(d, kv_heads * size, bias=False)
            self.v = torch.nn.Linear(d, kv_heads * size, bias=False)
            self.o = torch.nn.Linear(d, d, bias=False)
            freq = 1.0 / (10000 ** (torch.arange(0, size, 2).float() / size))
            angles = torch.outer(torch.arange(32).float(), freq)
            angles = torch.cat([angles, angles], -1)
            self.register_buffer("cos_cached", angles.cos())
            self.register_buffer("sin_cached", angles.sin())

        def forward(self, x, position_ids):
            b, s, _ = x.shape
            h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm
            q = self.q(h).view(b, s, heads, size).transpose(1, 2)
            k = self.k(h).view(b, s, kv_heads, size).transpose(1, 2)
            v = self.v(h).view(b, s, kv_heads, size).transpose(1, 2)
            cos = self.cos_cached[position_ids].unsqueeze(1)
            sin = self.sin_cached[position_ids].unsqueeze(1)

            def rotated(t):
                return torch.cat([-t[..., size // 2:], t[..., : size // 2]], -1)

            q, k = q * cos + rotated(q) * sin, k * cos + rotated(k) * sin
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return x + self.o(a.transpose(1, 2).reshape(b, s, d))

    torch.manual_seed(0)
    x = torch.randn(1, seq, d)
    positions = torch.arange(2, 2 + seq).unsqueeze(0)
    path = tmp_path / "layer.onnx"
    torch.onnx.export(Layer().eval(), (x, positions), dynamo=True, opset_version=18).save(path)
    model = onnx.load(path)
    assert "GatherND" in {n.op_type for n in model.graph.node}
    feeds = {"x": x.numpy(), "position_ids": positions.numpy()}
    want = reference(model, feeds)
    got, _ = run_compiled(model, feeds, tmp_path)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["none", "silu"])
@pytest.mark.parametrize("with_state", [True, False])
def test_causal_conv_with_state(activation, with_state, tmp_path):
    rng = _rng(11)
    b, c, length, k = 2, 3, 5, 4
    names = ["x", "w", "bias"] + ["past"] * with_state
    node = helper.make_node("CausalConvWithState", names, ["y", "present"],
                            activation=activation)
    inputs = [("x", F, (b, c, length)), ("w", F, (c, 1, k))]
    inputs += [("past", F, (b, c, k - 1))] * with_state
    m = make_model([node], inputs, [("y", F, None), ("present", F, None)],
                   {"bias": rng.standard_normal(c).astype(F)}, opset=27)
    feeds = {"x": rng.standard_normal((b, c, length)).astype(F),
             "w": rng.standard_normal((c, 1, k)).astype(F)}
    if with_state:
        feeds["past"] = rng.standard_normal((b, c, k - 1)).astype(F)
    check(m, feeds, tmp_path, tol=1e-5)


@pytest.mark.parametrize("rule,decay_width,past", [
    ("linear", None, False), ("gated", 1, True), ("delta", None, True),
    ("gated_delta", 4, False), ("gated_delta", 1, True)])
def test_linear_attention_recurrence(rule, decay_width, past, tmp_path):
    """Each update rule over 4 steps, grouped query heads (4 query, 2 key-value), the decay per
    head or per key feature, with and without a past state."""
    rng = _rng(12)
    b, steps, hq, hk, dk, dv = 2, 4, 4, 2, 4, 3
    names = ["q", "k", "v", "past" if past else "", "", ""]
    shapes = {"q": (b, steps, hq * dk), "k": (b, steps, hk * dk), "v": (b, steps, hk * dv),
              "past": (b, hk, dk, dv)}
    if rule in ("gated", "gated_delta"):
        names[4] = "decay"
        shapes["decay"] = (b, steps, hk * decay_width)
    if rule in ("delta", "gated_delta"):
        names[5] = "beta"
        shapes["beta"] = (b, steps, hk)
    while not names[-1]:
        names.pop()
    node = helper.make_node("LinearAttention", names, ["y", "state"], update_rule=rule,
                            q_num_heads=hq, kv_num_heads=hk)
    used = [x for x in names if x]
    m = make_model([node], [(x, F, shapes[x]) for x in used],
                   [("y", F, None), ("state", F, None)], opset=27)
    feeds = {x: (0.5 * rng.standard_normal(shapes[x])).astype(F) for x in used}
    if "decay" in feeds:
        feeds["decay"] = -np.abs(feeds["decay"])
    if "beta" in feeds:
        feeds["beta"] = rng.uniform(0, 1, shapes["beta"]).astype(F)
    check(m, feeds, tmp_path, tol=1e-5)


@pytest.mark.parametrize("src,dst", [(np.int8, np.uint8), (np.uint16, np.int16),
                                     (np.bool_, np.uint8), (np.int32, np.uint32)])
def test_bitcast_between_integers_of_one_width(src, dst, tmp_path):
    values = {np.int8: [-128, -1, 0, 127], np.uint16: [0, 1, 32768, 65535],
              np.bool_: [True, False, True, True], np.int32: [-5, 0, 7, -(2**20)]}[src]
    node = helper.make_node("BitCast", ["x"], ["y"],
                            to=helper.np_dtype_to_tensor_dtype(np.dtype(dst)))
    m = make_model([node], [("x", src, (4,))], [("y", dst, None)], opset=26)
    if dst == np.uint32:  # -5 reads as 2**32 - 5, beyond the machine's exact integers
        import imcc

        with pytest.raises(imcc.Error, match="2\\*\\*24"):
            check(m, {"x": np.array(values, src)}, tmp_path, tol=0)
        return
    check(m, {"x": np.array(values, src)}, tmp_path, tol=0)


def test_bitcast_between_float_and_integer_is_refused_in_words(tmp_path):
    import imcc

    node = helper.make_node("BitCast", ["x"], ["y"], to=helper.np_dtype_to_tensor_dtype(
        np.dtype(np.int32)))
    m = make_model([node], [("x", F, (3,))], [("y", np.int32, None)], opset=26)
    with pytest.raises(imcc.Error, match="float32 to int32: the machine holds values"):
        run_compiled(m, {"x": np.ones(3, F)}, tmp_path)


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_cumprod_with_a_runtime_axis(axis, tmp_path):
    """The axis a graph input: the product along every axis, the one it names selected."""
    rng = _rng(13)
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=1)
    m = make_model([node], [("x", np.int32, (3, 4)), ("axis", np.int64, ())],
                   [("y", np.int32, None)], opset=26)
    check(m, {"x": rng.integers(-3, 4, (3, 4)).astype(np.int32),
              "axis": np.array(axis, np.int64)}, tmp_path, tol=0)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 1)])
def test_cumsum_with_a_runtime_axis(axis, exclusive, reverse, tmp_path):
    rng = _rng(14)
    node = helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive,
                            reverse=reverse)
    m = make_model([node], [("x", F, (3, 4)), ("axis", np.int64, ())], [("y", F, None)],
                   opset=18)
    check(m, {"x": rng.standard_normal((3, 4)).astype(F), "axis": np.array(axis, np.int64)},
          tmp_path, tol=1e-6)
