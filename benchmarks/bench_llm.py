"""Language models on the machine: generation against onnxruntime, decode-step speed, scale.

* **agreement**: the ``llama``, ``qwen2`` and ``gpt2-past`` builders (``imcc.models.llama``) at
  the size ``--hidden``/``--layers``/``--vocab``, greedy generation of ``--new-tokens`` (32)
  after a prompt of ``--prompt`` tokens on the ``ideal`` and ``ideal-signed`` chips
  (``imcc.generate``, batched prefill); the tokens against onnxruntime running the same decoder
  with its own cache (the prompt in one call, then one token a call), and the largest logit
  difference over the steps relative to the step's largest logit.
* **speed**: the median wall time of a decode step on the interpreter against onnxruntime's
  decode step of the same model at the same cache lengths, and their ratio, measured in the
  same run: ``--repeats`` runs of each, alternating (the programs are compiled once); each run's
  ratio of median step times, and the median and range of those ratios (the host's load moves
  both; ``--clock cpu`` times the steps in the process's CPU time instead of wall time, which
  other work on the host's cores does not stretch). Both run on one thread: onnxruntime's
  session with ``intra_op_num_threads = 1``, numpy's BLAS (the interpreter's products) through
  ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to 1 before numpy
  is imported (unless the environment sets them), and ``threadpoolctl`` where it is installed
  (the line before the table says which limits held).
* ``--scale DIR``: a decoder folder (``--build-tinyllama DIR`` writes a TinyLlama-1.1B-shaped
  one, random weights in an external-data file) compiled for ``--scale-chip`` in a fresh
  process (decode step and a prefill of ``--scale-prompt`` tokens): compile time, peak
  resident memory as a multiple of the weight bytes, tiles and arrays against the lower
  bound; then a prefill of ``--scale-prompt`` tokens and ``--scale-new`` greedy decode steps:
  programming, prefill and per-token energy and latency from the cost model, and the tokens
  against onnxruntime. ``--scale-backend cost`` runs the generation on the cost backend
  (:mod:`runtime.costonly`: the costs without the arrays' cells, no tokens), for a chip whose
  cells this machine cannot hold (the 1.1B model on ``rram``: 126,272 arrays, 33 GB of float32
  conductances); the compile measures what it measures on any backend.

* ``--extrapolate DIR``: the cost model's programming, prefill and per-token energy and
  latency of the 22-layer TinyLlama on ``--scale-chip`` where the full model does not fit this
  machine (on ``rram`` its 126,272 programmed arrays would take 33 GB of float32 conductances
  here; ``--scale DIR --scale-backend cost`` costs the full model instead): TinyLlama-shaped
  decoders of one and two layers are built in ``DIR``, compiled and run as ``--scale`` runs
  them, with the chip's nonidealities off (the cost model counts the same events whatever the
  cells hold: tests/llm/test_generate_cost.py), and each figure taken as ``one layer + 21 x
  (two layers - one layer)``. On ``ideal-signed``, where the full model runs, this gives the
  measured per-token energy within 1 % (docs/llm.md, "Measured"). On ``rram`` the two-layer
  decoder programs 4.6 GiB of arrays: run it with ``IMCC_MAX_TOTAL_MIB=8192``.

``python benchmarks/bench_llm.py`` runs the first two (a minute on two cores); the scale part
takes what the model takes (the numbers of a run are in docs/llm.md, "Measured").
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS as for onnxruntime's session (set before numpy is imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

#: The clock of the step times: wall time, or with --clock cpu the process's CPU time (what the
#: step computes, whatever else the host's cores run meanwhile).
_STEP_CLOCK = [time.perf_counter]


def _oracle(model, prompt, n):
    import onnxruntime as ort

    from imcc.llm import decoder_interface

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    src = model if isinstance(model, str) else model.SerializeToString()
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    d = decoder_interface(model)
    names = [o.name for o in sess.get_outputs()]
    past = {f"past_key_values.{i}.{k}": np.zeros((1, d.kv_heads, 0, d.head_dim), np.float32)
            for i in range(d.layers) for k in ("key", "value")}
    cur, start, tokens, logits, times = list(prompt), 0, [], [], []
    for k in range(n):
        t = start + len(cur)
        feed = {"input_ids": np.array([cur], np.int64),
                "attention_mask": np.ones((1, t), np.int64),
                "position_ids": np.arange(start, t, dtype=np.int64)[None], **past}
        t0 = _STEP_CLOCK[0]()
        out = dict(zip(names, sess.run(None, feed)))
        if k:
            times.append(_STEP_CLOCK[0]() - t0)
        past = {p: out["present" + p[len("past_key_values"):]] for p in past}
        last = out["logits"][0, -1]
        tokens.append(int(np.argmax(last)))
        logits.append(last)
        start, cur = t, [tokens[-1]]
    return tokens, np.stack(logits), times


def _timed_generate(model, prompt, n, chip, program=None):
    """imcc.generate with the wall time of each machine run (decode steps are the last n-1)."""
    import imcc
    from runtime.machine import Machine

    times, real = [], Machine.run

    def timed(self, inputs, **kw):
        t0 = _STEP_CLOCK[0]()
        out = real(self, inputs, **kw)
        times.append(_STEP_CLOCK[0]() - t0)
        return out

    Machine.run = timed
    try:
        gen = imcc.generate(model, prompt, n, chip, program=program)
    finally:
        Machine.run = real
    return gen, times[len(times) - (n - 1):]


def _blas_threads() -> str:
    """Pin numpy's BLAS to one thread with threadpoolctl where it is installed; what holds."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "BLAS threads: " + ", ".join(
            f"{v}={os.environ.get(v)}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))
    threadpool_limits(1)
    pools = [f"{p.get('internal_api')} {p.get('num_threads')}" for p in threadpool_info()]
    return "BLAS threads (threadpoolctl): " + (", ".join(pools) or "no pool found")


def agreement(args) -> None:
    from imcc.llm import compile_decoder
    from imcc.models import build

    prompt = list(range(1, args.prompt + 1))
    print(f"agreement: {args.new_tokens} greedy tokens after {args.prompt}, hidden "
          f"{args.hidden}, {args.layers} layers, vocabulary {args.vocab}; decode-step times "
          f"({args.clock} clock): medians of {args.repeats} alternating runs of onnxruntime and "
          "the interpreter")
    print(f"onnxruntime: intra_op_num_threads 1; {_blas_threads()}")
    print(f"{'model':<16}{'chip':<14}{'tokens equal':>14}{'max rel logit diff':>20}"
          f"{'step imcc ms':>14}{'step ort ms':>13}{'ratio':>7}{'  ratios (min..max)':>20}")
    for name in args.models.split(","):
        kv = {"llama-tiny": 2, "qwen2-tiny": 1, "gpt2-past-tiny": None}[name]
        m = build(name, batch=1, hidden=args.hidden, layers=args.layers, vocab=args.vocab,
                  heads=args.hidden // 32, kv_heads=kv, intermediate=args.hidden * 3)
        for chip in args.chips.split(","):
            program = compile_decoder(m, chip, context=args.prompt + args.new_tokens - 1,
                                      prompt=args.prompt, calib_ids=prompt)
            equal, rel, mine, theirs = True, 0.0, [], []
            for _ in range(args.repeats):
                ref, ref_logits, ort_times = _oracle(m, prompt, args.new_tokens)
                gen, times = _timed_generate(m, prompt, args.new_tokens, chip, program)
                scale = np.abs(ref_logits).max(axis=1)
                rel = max(rel, float((np.abs(gen.logits - ref_logits).max(axis=1) / scale).max()))
                equal = equal and gen.tokens == ref
                mine.append(np.median(times) * 1e3)
                theirs.append(np.median(ort_times) * 1e3)
            ratios = np.array(mine) / np.array(theirs)
            print(f"{name:<16}{chip:<14}{equal!s:>14}{rel:>20.2e}{np.median(mine):>14.2f}"
                  f"{np.median(theirs):>13.3f}{np.median(ratios):>7.1f}"
                  f"{f'{ratios.min():.1f}..{ratios.max():.1f}':>20}", flush=True)


def build_tinyllama(folder: str, layers: int | None) -> None:
    import onnx

    from imcc.models import build

    t = time.perf_counter()
    m = build("tinyllama-1.1b", batch=1, layers=layers)
    os.makedirs(folder, exist_ok=True)
    onnx.save(m, os.path.join(folder, "model.onnx"), save_as_external_data=True,
              location="weights.bin")
    print(f"built {folder}: {time.perf_counter() - t:.0f} s")


def scale(args) -> None:
    """The measurement, in this (fresh) process."""
    import onnx

    import imcc
    from imcc.llm import compile_decoder

    graph = onnx.load(os.path.join(args.scale, "model.onnx"), load_external_data=False).graph
    weights = sum(4 * int(np.prod(t.dims)) for t in graph.initializer)  # float32 bytes
    del graph
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t, c = time.perf_counter(), time.process_time()
    p = compile_decoder(args.scale, args.scale_chip, context=args.scale_prompt + args.scale_new,
                        prompt=args.scale_prompt, fit=True)
    compile_s, compile_cpu = time.perf_counter() - t, time.process_time() - c
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r = p._compile_report()
    prompt = list(range(1, args.scale_prompt + 1))
    t = time.perf_counter()
    gen = imcc.generate(args.scale, prompt, args.scale_new, program=p,
                        backend=args.scale_backend)
    gen_s = time.perf_counter() - t
    doc = {"chip": p.chip.name, "backend": args.scale_backend, "weight_bytes": weights,
           "weight_section_bytes": len(p._obj.weights), "compile_s": round(compile_s, 1),
           "compile_cpu_s": round(compile_cpu, 1),
           "compile_peak_rss_x_weights": round(rss / weights, 2),
           "rss_before_compile_x_weights": round(rss0 / weights, 2),
           "tiles": r["tiles"], "arrays_used": r["arrays_used"], "lower_bound": r["lower_bound"],
           "packing": r["packing_status"], "generate_s": round(gen_s, 1),
           "peak_rss_x_weights": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                       * 1024 / weights, 2),
           "tokens": gen.to_json()["tokens"], "programming": gen.programming,
           "prefill": gen.prefill, "per_token": gen.per_token}
    if args.scale_oracle and args.scale_backend != "cost":
        gen.program = None  # the program's arrays, before onnxruntime loads its own weights
        del p
        gc.collect()
        ref, _, _ = _oracle(os.path.join(args.scale, "model.onnx"), prompt, args.scale_new)
        doc["onnxruntime_tokens"] = ref
        doc["tokens_equal"] = ref == gen.tokens
    print(json.dumps(doc, indent=1))


#: The chip settings that switch the nonidealities off (the cost model does not see them).
_CLEAN = {"nonideal.program_noise": 0, "nonideal.read_noise": 0, "nonideal.stuck_on": 0,
          "nonideal.stuck_off": 0}


def extrapolate(args) -> None:
    """``--extrapolate``: one and two layers measured, 22 layers extrapolated."""
    import imcc
    from imcc.llm import compile_decoder

    prompt = list(range(1, args.scale_prompt + 1))
    costs = {}
    for layers in (1, 2):
        folder = os.path.join(args.extrapolate, f"layers{layers}")
        if not os.path.exists(os.path.join(folder, "model.onnx")):
            build_tinyllama(folder, layers)
        p = compile_decoder(folder, args.scale_chip, context=args.scale_prompt + args.scale_new,
                            prompt=args.scale_prompt, fit=True, set=_CLEAN)
        gen = imcc.generate(folder, prompt, args.scale_new, program=p)
        costs[layers] = {"tiles": p._compile_report()["tiles"], "programming": gen.programming,
                         "prefill": gen.prefill, "per_token": gen.per_token}
        print(f"{layers} layer(s):", json.dumps(costs[layers]), flush=True)
        del p, gen

    def ex(one, two):
        return one + 21 * (two - one)

    doc = {"chip": args.scale_chip, "tiles": ex(costs[1]["tiles"], costs[2]["tiles"])}
    for part in ("programming", "prefill", "per_token"):
        doc[part] = {k: ex(v, costs[2][part][k]) for k, v in costs[1][part].items()
                     if k not in ("tokens", "runs")}
    print("22 layers, extrapolated:", json.dumps(doc, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=2000)
    ap.add_argument("--prompt", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--models", default="llama-tiny,qwen2-tiny,gpt2-past-tiny",
                    help="builders of the agreement and speed parts, comma-separated")
    ap.add_argument("--chips", default="ideal,ideal-signed", help="chips, comma-separated")
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating runs of onnxruntime and the interpreter per model and "
                         "chip (the times are their medians)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="step times in wall time or in the process's CPU time")
    ap.add_argument("--build-tinyllama", metavar="DIR")
    ap.add_argument("--tinyllama-layers", type=int, help="fewer layers than TinyLlama's 22")
    ap.add_argument("--scale", metavar="DIR")
    ap.add_argument("--scale-chip", default="ideal-signed")
    ap.add_argument("--scale-prompt", type=int, default=16)
    ap.add_argument("--scale-new", type=int, default=8)
    ap.add_argument("--scale-backend", choices=("numpy", "cost"), default="numpy",
                    help="crossbar backend of the generation (cost: the cost model alone)")
    ap.add_argument("--scale-oracle", action="store_true",
                    help="also run onnxruntime on the model (it holds its own copy)")
    ap.add_argument("--extrapolate", metavar="DIR",
                    help="the 22-layer TinyLlama's costs on --scale-chip from 1 and 2 layers")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_tinyllama:
        build_tinyllama(args.build_tinyllama, args.tinyllama_layers)
        return
    if args.extrapolate:
        extrapolate(args)
        return
    if args.scale:
        if args.in_process:
            scale(args)
        else:  # a fresh process, so that the peak memory is the measurement's own
            subprocess.run([sys.executable, *sys.argv, "--in-process"], check=True)
        return
    if args.clock == "cpu":
        _STEP_CLOCK[0] = time.process_time
    agreement(args)


if __name__ == "__main__":
    main()
