"""The ``cost`` backend (runtime/costonly.py): the cost model without the arrays' cells, its
report equal to the numpy backend's on compiled programs, which do not branch on MVM results."""

import dataclasses
import json
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli
from imcc.models import build
from tests.hardening.helpers import SAMPLES

CNN = SAMPLES / "digits" / "cnn.onnx"


def _report(cost) -> dict:
    return {f.name: (dict(v) if hasattr(v := getattr(cost, f.name), "keys") else v)
            for f in dataclasses.fields(cost)}


@pytest.mark.parametrize("chip", ["rram", "ideal-int8", "ideal", "pcm"])
def test_a_compiled_model_costs_the_same_on_the_cost_backend(chip):
    """pcm: drift compensation's reference reads, an hour after programming."""
    prog = imcc.compile(str(CNN), chip=chip, batch=2)
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8)).astype(np.float32)
    t = 3600.0 if chip == "pcm" else 0.0
    full = prog.run({"input": x}, time=t)  # three runs of the batch of 2
    numpy_cost = _report(prog.cost)
    counted = prog.run({"input": x}, backend="cost", time=t)
    assert _report(prog.cost) == numpy_cost
    assert numpy_cost["cells_programmed"] > 0 and numpy_cost["mvms"] > 0
    assert any(np.any(v != 0) for v in full.values())  # the numpy run computed something
    assert {k: v.shape for k, v in counted.items()} == {k: v.shape for k, v in full.items()}


def test_the_cost_backend_keeps_no_cells():
    """numpy keeps every programmed array as float32 conductances; the cost backend none (the
    memory a first run allocates, each on a fresh program with 1 MiB of global memory)."""
    x = np.zeros((1, 1, 8, 8), np.float32)
    peaks = {}
    for backend in ("numpy", "cost"):
        prog = imcc.compile(str(CNN), chip="rram", set={"global_mib": 1})
        cells = 4 * prog._compile_report()["arrays_used"] * prog.chip.rows * prog.chip.cols
        tracemalloc.start()
        prog.run({"input": x}, backend=backend)
        peaks[backend] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["numpy"] - peaks["cost"] > cells > 0, (peaks, cells)


def test_generation_costs_the_same_and_says_its_tokens_are_not_computed():
    model = build("llama-tiny")
    real = imcc.generate(model, [1, 2, 3, 4], 4, "rram", fit=True)
    counted = imcc.generate(model, [1, 2, 3, 4], 4, "rram", program=real.program,
                            backend="cost")
    assert counted.programming == real.programming and real.programming["energy_pj"] > 0
    assert counted.prefill == real.prefill
    strip = [[{k: v for k, v in s.items() if k != "token"} for s in g.steps]
             for g in (real, counted)]
    assert strip[0] == strip[1] and len(strip[0]) == 3
    doc = counted.to_json()
    assert doc["backend"] == "cost" and doc["tokens"] is None
    assert all(s["token"] is None for s in doc["steps"])
    assert real.to_json()["tokens"] == real.tokens


def test_cli_run_and_generate_on_the_cost_backend(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["run", str(SAMPLES / "asm" / "dot.s"), "--backend", "cost"])
    assert r.exit_code == 0, r.output
    assert "outputs: not computed (--backend cost" in r.output and "cost on chip" in r.output
    out = tmp_path / "y.npz"
    r = runner.invoke(cli, ["run", str(SAMPLES / "asm" / "dot.s"), "--backend", "cost",
                            "--output", str(out)])
    assert r.exit_code == 2 and "--backend cost computes the cost model alone" in r.output
    assert "Traceback" not in r.output and not out.exists()
    model = tmp_path / "m.onnx"
    import onnx
    onnx.save(build("gpt2-past-tiny"), model)
    js = tmp_path / "g.json"
    r = runner.invoke(cli, ["generate", str(model), "--prompt-ids", "1,2,3",
                            "--max-new-tokens", "3", "--backend", "cost", "--json", str(js), "-q"])
    assert r.exit_code == 0, r.output
    assert "tokens: not computed (--backend cost" in r.output
    doc = json.loads(js.read_text())
    assert doc["tokens"] is None and doc["per_token"]["energy_pj"] > 0
