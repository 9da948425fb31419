"""Decoders with past and generation on the machine, against onnxruntime running the same
ONNX decoder step by step with its own growing KV cache (the oracle)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli
from imcc.llm import compile_decoder, decoder_interface
from imcc.models import build
from isa.diagnostics import ConfigError, InputError, OnnxImportError

DECODERS = ("llama-tiny", "qwen2-tiny", "gpt2-past-tiny")
PROMPT = [1, 2, 3]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _empty_past(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    d = decoder_interface(model)
    return {f"past_key_values.{i}.{k}": np.zeros((1, d.kv_heads, 0, d.head_dim), np.float32)
            for i in range(d.layers) for k in ("key", "value")}


def _ort_step(sess, model, ids, past, start):
    t = start + len(ids)
    feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, t), np.int64),
            "position_ids": np.arange(start, t, dtype=np.int64)[None], **past}
    out = dict(zip([o.name for o in model.graph.output], sess.run(None, feed)))
    nxt = {k: out["present" + k[len("past_key_values"):]] for k in past}
    return out["logits"][0], nxt


def ort_generate(model, prompt, n, temperature=None, seed=0):
    """The oracle: the prompt in one call (empty past), then one token a call, the cache
    being each call's present; greedy or sampled like imcc.generate."""
    sess = _session(model)
    rng = np.random.default_rng(seed)
    logits, past = _ort_step(sess, model, prompt, _empty_past(model), 0)
    pos, tokens, chosen = len(prompt), [], []
    for k in range(n):
        last = logits[-1]
        if temperature is None:
            tok = int(np.argmax(last))
        else:
            z = last.astype(np.float64) / temperature
            p = np.exp(z - z.max())
            tok = int(rng.choice(len(p), p=p / p.sum()))
        tokens.append(tok)
        chosen.append(last)
        if k < n - 1:
            logits, past = _ort_step(sess, model, [tok], past, pos)
            pos += 1
    return tokens, np.stack(chosen)


@pytest.mark.parametrize("name", DECODERS)
def test_builders_cache_like_a_full_pass_in_onnxruntime(name):
    """The exported interface: a prompt then two steps on the returned cache give the logits
    of one pass over the whole sequence; every length symbolic."""
    m = build(name)
    onnx.checker.check_model(m, full_check=True)
    ids = [5, 7, 11, 13, 17]
    sess = _session(m)
    full, present = _ort_step(sess, m, ids, _empty_past(m), 0)
    logits, past = _ort_step(sess, m, ids[:3], _empty_past(m), 0)
    np.testing.assert_allclose(logits, full[:3], rtol=1e-5, atol=1e-5)
    for k in (3, 4):
        logits, past = _ort_step(sess, m, [ids[k]], past, k)
        np.testing.assert_allclose(logits[0], full[k], rtol=1e-4, atol=1e-5)
    assert past["past_key_values.0.key"].shape == present["past_key_values.0.key"].shape
    dims = [d.dim_param for d in m.graph.input[3].type.tensor_type.shape.dim]
    assert dims[0] == "batch_size" and dims[2] == "past_sequence_length"


@pytest.mark.parametrize("name", ["llama-tiny", "gpt2-past-tiny"])
def test_one_step_with_fixed_shapes_matches_onnxruntime(name):
    """One decode step compiled for a fixed context (past 7, mask 8) with a left-padded cache
    of random keys and values."""
    m = build(name, batch=1)
    d = decoder_interface(m)
    shapes = {"input_ids": [1, 1], "attention_mask": [1, 8], "position_ids": [1, 1]}
    rng = np.random.default_rng(1)
    feed = {"input_ids": np.array([[9]]), "attention_mask": np.array([[0, 0, 1, 1, 1, 1, 1, 1]]),
            "position_ids": np.array([[5]])}
    for i in range(d.layers):
        for k in ("key", "value"):
            shapes[f"past_key_values.{i}.{k}"] = [1, d.kv_heads, 7, d.head_dim]
            v = rng.standard_normal((1, d.kv_heads, 7, d.head_dim)).astype(np.float32)
            v[:, :, :2] = 0
            feed[f"past_key_values.{i}.{k}"] = v
    prog = imcc.compile(m, "ideal", input_shapes=shapes, priority="resource")
    got = prog.run(feed)
    want = dict(zip([o.name for o in m.graph.output], _session(m).run(None, feed)))
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("prefill", ["batched", "steps"])
def test_greedy_generation_on_the_machine_equals_onnxruntime(name, prefill):
    m = build(name, batch=1)
    gen = imcc.generate(m, PROMPT, 8, prefill=prefill)
    assert gen.prefill["runs"] == (1 if prefill == "batched" else len(PROMPT))
    tokens, logits = ort_generate(m, PROMPT, 8)
    assert gen.tokens == tokens
    scale = np.abs(logits).max(axis=1, keepdims=True)
    assert np.all(np.abs(gen.logits - logits) <= 1e-4 * scale)


def test_greedy_generation_on_signed_float_cells_equals_onnxruntime():
    m = build("llama-tiny", batch=1, seed=3)
    gen = imcc.generate(m, [4, 8, 15, 16], 6, "ideal-signed")
    tokens, logits = ort_generate(m, [4, 8, 15, 16], 6)
    assert gen.tokens == tokens
    np.testing.assert_allclose(gen.logits, logits, rtol=1e-3, atol=1e-3 * np.abs(logits).max())


def test_sampling_with_a_seed_equals_the_oracle_and_differs_from_greedy():
    m = build("gpt2-past-tiny", batch=1)
    gen = imcc.generate(m, PROMPT, 8, temperature=2.0, seed=5)
    tokens, _ = ort_generate(m, PROMPT, 8, temperature=2.0, seed=5)
    assert gen.tokens == tokens
    assert tokens != ort_generate(m, PROMPT, 8)[0]


@pytest.mark.parametrize("prefill", ["batched", "steps"])
def test_the_cache_stays_on_the_machine_and_the_weights_are_programmed_once(monkeypatch,
                                                                             prefill):
    """The prompt's run (or its first token's) writes the (empty) cache; every later run leaves
    the past resident and gives the token, its position and the mask; cells are programmed by
    the machine's first run alone; a batched prefill is another program on the same
    machine."""
    from runtime.machine import Machine

    calls = []
    real = Machine.run

    def spy(self, inputs, **kw):
        before = self.cost.cells_programmed
        out = real(self, inputs, **kw)
        calls.append((sorted(inputs), tuple(kw.get("resident", ())),
                      self.cost.cells_programmed - before, id(self), self.obj,
                      np.asarray(inputs["input_ids"]).shape))
        return out

    monkeypatch.setattr(Machine, "run", spy)
    m = build("llama-tiny", batch=1)
    gen = imcc.generate(m, PROMPT, 4, prefill=prefill)
    past = sorted(f"past_key_values.{i}.{k}" for i in range(2) for k in ("key", "value"))
    small = ["attention_mask", "input_ids", "position_ids"]
    assert gen.program._slots  # the decode step writes its row in place: it is given the row
    step = sorted([*small, "imcc.cache_slot"])
    assert len({c[3] for c in calls}) == 1  # one machine
    runs = calls[2:]  # after the two runs that program the arrays and measure it
    prompt_runs = 1 if prefill == "batched" else len(PROMPT)
    assert len(runs) == prompt_runs + 4 - 1
    assert runs[0][0] == sorted((small if prefill == "batched" else step) + past)
    assert runs[0][1] == ()
    assert runs[0][5] == ((1, len(PROMPT)) if prefill == "batched" else (1, 1))
    for given, resident, *_ in runs[1:]:
        assert given == step and sorted(resident) == past
    assert all(c[5] == (1, 1) for c in runs[prompt_runs:])
    assert all(c[4] is gen.program._obj for c in runs[prompt_runs:])
    if prefill == "batched":
        assert calls[0][4] is gen.program._prefill._obj
        a, b = gen.program._prefill.storage_map, gen.program.storage_map
        assert a["entries"] == b["entries"] and a["arrays"] == b["arrays"]
    assert calls[0][2] == gen.programming["cells_programmed"] > 0
    assert all(c[2] == 0 for c in calls[1:])
    cells = sum(e["height"] * e["width"] for e in gen.program.storage_map["entries"])
    assert gen.programming["cells_programmed"] >= cells


def test_context_overflow_is_one_error():
    m = build("llama-tiny", batch=1)
    with pytest.raises(InputError, match="context overflow: a prompt of 3 tokens and 6 new "
                                         "tokens need a context of 8 tokens; the program "
                                         "holds 5"):
        imcc.generate(m, PROMPT, 6, context=5)
    prog = compile_decoder(m, context=6)
    with pytest.raises(InputError, match="need a context of 7 tokens; the program holds 6"):
        imcc.generate(m, PROMPT, 5, program=prog)
    assert imcc.generate(m, PROMPT, 4, program=prog).tokens == ort_generate(m, PROMPT, 4)[0]


def test_a_cache_larger_than_the_chip_memory_is_one_error():
    m = build("llama-tiny", batch=1)
    with pytest.raises(ConfigError, match=r"a context of 4002 tokens does not fit: its KV "
                                          r"cache takes 1\.95 MiB"):
        imcc.generate(m, PROMPT, 4000, set={"global_mib": 2})


def test_fit_compiles_the_prefill_and_the_step_once_for_the_chip_that_holds_the_cache(
        monkeypatch):
    """With fit, the prefill is compiled first on a chip grown for its memory and the cache
    region after it, the decode step on that chip, and neither again; the cells are made once
    for both; both programs are those a plain compile for the final chip gives, each step
    making its own cells."""
    from imcc import compiler, decoder

    m = build("llama-tiny", batch=1)
    calls, cells = [], []
    real, real_levels = decoder._compile_step, compiler._cell_levels
    monkeypatch.setattr(decoder, "_compile_step",
                        lambda *a, **k: calls.append(a[4]) or real(*a, **k))
    monkeypatch.setattr(compiler, "_cell_levels",
                        lambda *a, **k: cells.append(1) or real_levels(*a, **k))
    prog = compile_decoder(m, "ideal-signed", context=2000, prompt=30, fit=True,
                           set={"global_mib": 1})
    assert calls == [30, 1] and len(cells) == 1
    assert prog.chip.global_mib > 1 and prog._prefill.chip.name == prog.chip.name
    monkeypatch.setattr(decoder, "_compile_step", real)
    real_quantize = compiler.quantize_weights
    monkeypatch.setattr(compiler, "quantize_weights",
                        lambda m, s, w, cells=None: real_quantize(m, s, w, None))
    plain = compile_decoder(m, prog.chip, context=2000, prompt=30)
    assert len(cells) == 3
    assert plain.to_bytes() == prog.to_bytes()
    assert plain._prefill.to_bytes() == prog._prefill.to_bytes()


def test_a_model_without_past_is_refused():
    with pytest.raises(OnnxImportError, match="not a decoder with past"):
        imcc.generate(build("gpt2", layers=1, hidden=32, heads=2, ffn=64, vocab=50, max_pos=16,
                            seq=4), [1], 2)


def test_cli_json_and_api_parity(tmp_path):
    m = build("qwen2-tiny")
    folder = tmp_path / "qwen2"
    folder.mkdir()
    onnx.save(m, folder / "model.onnx")
    out = tmp_path / "gen.json"
    r = CliRunner().invoke(cli, ["generate", str(folder), "--prompt-ids", "1,2,3",
                                 "--max-new-tokens", "5", "--chip", "ideal", "--json", str(out),
                                 "--layers"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    api = imcc.generate(folder, PROMPT, 5, "ideal")
    oracle, _ = ort_generate(m, PROMPT, 5)
    assert doc["tokens"] == api.tokens == oracle
    assert doc == json.loads(json.dumps(api.to_json()))
    assert doc["prompt_ids"] == PROMPT and doc["context"] == 7 and doc["chip"] == "ideal"
    assert doc["prefill"]["tokens"] == 3 and doc["prefill"]["runs"] == 1
    assert doc["prefill"]["energy_pj"] > 0
    assert [s["token"] for s in doc["steps"]] == oracle[1:]
    assert [s["position"] for s in doc["steps"]] == [3, 4, 5, 6]
    assert all(s["energy_pj"] > 0 and s["latency_ns"] > 0 for s in doc["steps"])
    mean = np.mean([s["energy_pj"] for s in doc["steps"]])
    assert doc["per_token"]["energy_pj"] == pytest.approx(mean)
    assert doc["kv_cache_bytes"] == 2 * 2 * 1 * 7 * 16 * 4  # layers, key/value, heads, rows
    assert f"tokens: {' '.join(map(str, oracle))}" in r.output
    assert "/model.layers.1.mlp.down_proj/MatMul" in r.output
    r = CliRunner().invoke(cli, ["generate", str(folder), "--prompt-ids", "1,2,3",
                                 "--max-new-tokens", "5", "--temperature", "1.5", "--seed", "2"])
    assert r.exit_code == 0, r.output
    sampled = imcc.generate(folder, PROMPT, 5, temperature=1.5, seed=2).tokens
    assert f"tokens: {' '.join(map(str, sampled))}" in r.output


def test_cli_errors_are_one_line(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(build("llama-tiny"), path)
    r = CliRunner().invoke(cli, ["generate", str(path), "--prompt-ids", "1,x",
                                 "--max-new-tokens", "2"])
    assert r.exit_code == 2 and "expected comma-separated token ids" in r.output
    r = CliRunner().invoke(cli, ["generate", str(path), "--prompt-ids", "1,2",
                                 "--max-new-tokens", "4", "--context", "3"])
    assert r.exit_code == 2 and "context overflow" in r.output
    assert r.output.count("imcc: error") == 1
    r = CliRunner().invoke(cli, ["generate", str(path), "--prompt-ids", "1,2",
                                 "--max-new-tokens", "4", "--greedy", "--temperature", "1"])
    assert r.exit_code == 2 and "not both" in r.output
    r = CliRunner().invoke(cli, ["generate", str(path), "--prompt-ids", "1,999",
                                 "--max-new-tokens", "2"])
    assert r.exit_code == 2 and "outside the vocabulary of 128" in r.output


def test_docs_llm_examples_run():
    import doctest
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "llm.md"
    res = doctest.testfile(str(page), module_relative=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 3 and res.failed == 0


def test_quantized_chips_calibrate_on_the_prompt():
    """On ideal-int8 (8-bit weights and inputs) the input scales come from the prompt's own
    activations: the tokens are onnxruntime's and the logits within a few percent, where
    scales from random inputs miss by more than the logits' size."""
    from imcc.llm import compile_decoder

    m = build("llama-tiny", batch=1)
    prompt = [5, 9, 14, 20, 33, 41]
    tokens, logits = ort_generate(m, prompt, 8)
    gen = imcc.generate(m, prompt, 8, "ideal-int8")
    assert gen.tokens == tokens
    rel = np.abs(gen.logits - logits).max() / np.abs(logits).max()
    assert rel < 0.15
    blind = imcc.generate(m, prompt, 8, program=compile_decoder(m, "ideal-int8", context=13,
                                                                  prompt=6))
    assert np.abs(blind.logits - logits).max() / np.abs(logits).max() > 3 * rel


@pytest.mark.parametrize("ops", [("MatMul",), ("MatMul", "Gather")])
def test_a_decoder_quantized_to_4_bits_by_onnxruntime_generates_its_tokens(ops):
    """onnxruntime's MatMulNBitsQuantizer (4-bit blocks of 32, the weights of the int4 decoders
    published for onnxruntime and transformers.js) on the tiny Llama, its embedding table too
    (GatherBlockQuantized, uint4: the model converted to opset 21 first, as the quantizer
    needs): imcc.generate gives the tokens onnxruntime gives for the quantized model, the
    logits within 1e-4 of their scale."""
    nbits = pytest.importorskip("onnxruntime.quantization.matmul_nbits_quantizer")
    m = build("llama-tiny", batch=1)
    if "Gather" in ops:
        m = onnx.version_converter.convert_version(m, 21)
    q = nbits.MatMulNBitsQuantizer(m, block_size=32, is_symmetric=False,
                                   op_types_to_quantize=ops)
    q.process()
    m = q.model.model
    kinds = {n.op_type for n in m.graph.node if n.domain == "com.microsoft"}
    assert kinds == ({"MatMulNBits", "GatherBlockQuantized"} if "Gather" in ops
                     else {"MatMulNBits"})
    gen = imcc.generate(m, PROMPT, 8)
    tokens, logits = ort_generate(m, PROMPT, 8)
    assert gen.tokens == tokens
    scale = np.abs(logits).max(axis=1, keepdims=True)
    assert np.all(np.abs(gen.logits - logits) <= 1e-4 * scale)
