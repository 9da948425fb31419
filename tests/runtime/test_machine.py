"""Runs, reruns, inputs, batches, the cost model and tracing."""

import numpy as np
import pytest

from isa.spec import BY_MNEMONIC
from runtime.machine import InputError, run_batched
from tests.runtime.helpers import chip, machine, run

LAYER = """
.input "x", x, [4, 3]
.output "y", y, [4, 2]
    cfgi xbarr, {array}
    cfgi xbh, 3
    cfgi xbw, 2
    li x5, W
    wprog x5
infer:
    cfgi vl, 4
    cfgi xs, 3
    cfgi ys, 2
    li x6, x
    li x7, y
    mvm x7, x6
    halt
.rerun infer
.data
x: .zero 48
y: .zero 32
.weights
W: .u8 1, 2, 3, 4, 5, 6
"""
W = np.array([[1, 2], [3, 4], [5, 6]], np.float32)


def test_reruns_keep_the_arrays_and_reload_memory():
    m = machine(LAYER.format(array=0))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        np.testing.assert_allclose(m.run({"x": x})["y"], x @ W, rtol=1e-6)
    report = m.cost
    assert report.runs == 3 and report.cells_programmed == 6  # programmed once
    assert m.mnemonic_counts()["wprog"] == 1 and m.mnemonic_counts()["mvm"] == 3


def test_memory_is_reinitialised_from_data_every_run():
    src = """
    .output "n", n, [1]
        li x1, n
        lw x2, 0(x1)
        addi x2, x2, 1
        sw x2, 0(x1)
        halt
    .data
    n: .word 41
    """
    m = machine(src)
    for _ in range(2):
        assert m.run({})["n"].view(np.uint32).tolist() == [42]


def test_inputs_must_match_the_declaration():
    m = machine(LAYER.format(array=0))
    with pytest.raises(InputError, match=r"input 'x' has shape \[3, 4\]; the program declares "
                                         r"\[4, 3\]"):
        m.run({"x": np.zeros((3, 4))})
    with pytest.raises(InputError, match="unknown input 'z'; the program declares 'x' "):
        m.run({"x": np.zeros((4, 3)), "z": np.zeros(1)})
    with pytest.raises(InputError, match=r"input 'x' \(\[4, 3\]\) was not given"):
        m.run({})
    with pytest.raises(InputError, match="dtype <U1"):
        m.run({"x": np.full((4, 3), "a")})
    out = m.run({"x": np.ones((4, 3), np.int64)})  # integers are converted to float32
    assert out["y"].dtype == np.float32 and out["y"][0].tolist() == [9.0, 12.0]


def test_run_batched_splits_pads_and_trims():
    m = machine(LAYER.format(array=0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    seen = []
    y = run_batched(m, {"x": x}, progress=lambda done, total: seen.append((done, total)))
    assert y["y"].shape == (10, 2)
    np.testing.assert_allclose(y["y"], x @ W, rtol=1e-6)
    assert seen == [(1, 3), (2, 3), (3, 3)] and m.runs == 3
    same = run_batched(m, {"x": x[:4]})  # exactly the declared shape: one plain run
    np.testing.assert_allclose(same["y"], x[:4] @ W, rtol=1e-6)
    with pytest.raises(InputError, match="may differ only in the leading dimension"):
        run_batched(m, {"x": np.zeros((10, 4))})


def test_run_batched_needs_a_batch_dimension_on_the_outputs():
    src = LAYER.format(array=0).replace('.output "y", y, [4, 2]', '.output "y", y, [8]')
    with pytest.raises(InputError, match=r"output 'y' \[8\] does not have the batch dimension"):
        run_batched(machine(src), {"x": np.zeros((9, 3))})


def test_cost_counts_follow_the_events():
    src = """
    .output "y", y, [5, 16]
        cfgi xbh, 32
        cfgi xbw, 16
        li x5, W
        wprog x5
        cfgi vl, 5
        cfgi xs, 32
        cfgi ys, 16
        cfgi ibits, 8
        cfgi isgn, 1
        cfgi dacb, 2
        cfgi adcb, {adcb}
        li x6, x
        li x7, y
        mvm x7, x6
        vsetli 80
        vrelu x7, x7
        li x8, 0x80000000
        li x9, 10
        send x8, x7, x9
        halt
    .data
    x: .zero 640
    y: .zero 320
    .weights
    W: .zero 512
    """.replace(".zero 512", ".u8 " + ", ".join(["1"] * 512))
    cfg = chip("rram", dac_bits=2, nonideal={"program_noise": 0.0, "read_noise": 0.0,
                                             "stuck_on": 0.0, "stuck_off": 0.0})
    m, _ = run(src.format(adcb=5), None, cfg)
    r = m.cost
    cycles = 4  # ceil((8 - 1) / 2)
    assert (r.mvms, r.dac_cycles) == (1, 5 * cycles)
    assert r.adc_conversions == 5 * cycles * 16 and r.dac_conversions == 5 * cycles * 32
    assert r.cells_programmed == 32 * 16 and r.vector_elements == 80 and r.bytes_sent == 40
    counts = {}
    for pc in range(0, 4 * len(m.obj.text), 4):
        cat = BY_MNEMONIC[m.instruction_text(pc).split()[0]].category.value
        counts[cat] = counts.get(cat, 0) + 1  # straight-line code: each runs once
    assert {k: v for k, v in r.by_category.items() if v} == counts
    assert r.instructions == len(m.obj.text)
    c = cfg.cost
    assert r.energy_breakdown_pj["adc"] == pytest.approx(
        r.adc_conversions * c.adc_pj * 2.0 ** (5 - c.adc_ref_bits))
    m6, _ = run(src.format(adcb=6), None, cfg)  # one more ADC bit doubles the ADC energy
    assert m6.cost.energy_breakdown_pj["adc"] == pytest.approx(2 * r.energy_breakdown_pj["adc"])
    assert m6.cost.energy_breakdown_pj["dac"] == r.energy_breakdown_pj["dac"]
    assert r.energy_pj == pytest.approx(sum(r.energy_breakdown_pj.values()))
    assert "5 ADC" not in r.summary() and "1 MVMs" in r.summary()


def _latency(body):
    src = "    cfgi xbh, 4\n    cfgi xbw, 4\n    cfgi vl, 10\n    cfgi xs, 4\n    cfgi ys, 4\n" \
          + body + "\n    halt\n"
    m, _ = run(src, None, chip("ideal", cost={"read_ns": 1000.0}))
    return m.cost.latency_ns


def test_mvms_on_different_arrays_overlap_and_on_one_array_serialize():
    one = _latency("    mvm x0, x0")
    same = _latency("    mvm x0, x0\n    mvm x0, x0")
    other = _latency("    mvm x0, x0\n    cfgi xbarr, 1\n    mvm x0, x0")
    assert one == pytest.approx(10 * 1000.0)
    assert same == pytest.approx(2 * one)
    assert other == pytest.approx(one)
    # a vector instruction writing global memory waits for both arrays
    chained = _latency("    mvm x0, x0\n    cfgi xbarr, 1\n    mvm x0, x0\n    vsetli 1\n"
                       "    vcopy x0, x0\n    cfgi xbarr, 2\n    mvm x0, x0")
    assert chained > 2 * one


def test_noise_is_reproducible_per_seed():
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32) * 20
    src = LAYER.format(array=0).replace("infer:", "    cfgi ibits, 8\n    cfgi isgn, 1\n"
                                        "    cfgi adcb, 8\ninfer:")
    src = src.replace(".u8 1, 2, 3, 4, 5, 6", ".u8 1, 2, 3, 0, 1, 2")  # 2-bit cells
    cfg = chip("rram", nonideal={"program_noise": 0.1, "read_noise": 0.05})
    outs = [machine(src, cfg, seed=s).run({"x": x})["y"] for s in (0, 0, 1)]
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])


def test_trace_reports_register_and_csr_changes():
    lines = []
    m = machine(LAYER.format(array=0))
    m.run({"x": np.zeros((4, 3))}, trace=lines.append, trace_limit=4)
    assert len(lines) == 4
    assert lines[0] == "0x00000000  cfgi xbarr, 0"
    assert lines[1].startswith("0x00000004  cfgi xbh, 3") and lines[1].endswith("xbh=0x3")
    # li x5, W of the weights label W = 0 is lui + addi; x5 stays 0, so no change is listed
    assert lines[3] == "0x0000000c  lui x5, 0x0"
    lines.clear()
    m.run({"x": np.zeros((4, 3))}, trace=lines.append, trace_limit=100)
    assert lines[-1].endswith("halt") and len(lines) == 9  # from .rerun to halt


WRITES = {
    "sw": "    li x5, 7\n    sw x5, 8(x1)",
    "vector": "    li x6, %f32(1.5)\n    addi x7, x1, 8\n    vsetli 2\n    vfill x7, x6",
    "mvm": "    cfgi xbh, 1\n    cfgi xbw, 2\n    li x8, W\n    wprog x8\n    li x7, one\n"
           "    addi x9, x1, 8\n    mvm x9, x7",
    "send": "    li x7, one\n    addi x9, x1, 8\n    li x10, 1\n    send x9, x7, x10",
}


@pytest.mark.parametrize("path", sorted(WRITES))
def test_every_write_path_is_undone_by_the_next_run(path):
    # Each run snapshots tile 0's scratch words into global memory, then writes the scratch
    # through one write path. The snapshot must be zero in every run: memory is
    # re-initialised whatever wrote it, and only the written extent needs zeroing.
    src = f"""
    .output "before", before, [8]
        vsetli 8
        li x1, 0x80000100
        li x2, before
        vcopy x2, x1
    {WRITES[path]}
        halt
    .data
    one: .float 1
    before: .zero 32
    .weights
    W: .u8 2, 3
    """
    m = machine(src)
    for _ in range(3):
        assert not m.run({})["before"].any()
    assert m.state.mem.u32[1][(0x100 + 8) >> 2] != 0  # the last run did write


def test_a_trapped_run_does_not_count_and_the_next_run_starts_over():
    src = """
    .input "x", x, [1]
    .output "y", y, [1]
        li x1, x
        lw x2, 0(x1)
        bnez x2, fine
        lw x3, 2(x1)            # traps when x = 0
    fine:
        li x4, %f32(5.0)
        li x5, y
        sw x4, 0(x5)
        halt
    .rerun fine
    .data
    x: .zero 4
    y: .zero 4
    """
    from isa.diagnostics import MachineTrap

    m = machine(src)
    with pytest.raises(MachineTrap):
        m.run({"x": np.zeros(1)})
    assert m.runs == 0 and m.cost.runs == 0
    with pytest.raises(MachineTrap):  # still the first run: it starts at the entry again
        m.run({"x": np.zeros(1)})
    assert m.run({"x": np.ones(1)})["y"].tolist() == [5.0] and m.runs == 1
    assert m.run({"x": np.zeros(1)})["y"].tolist() == [5.0]  # from .rerun: no trap


def test_memory_keeps_derived_values_until_their_words_are_written():
    import runtime.memory as memory

    mem = memory.Memory(1 << 16, 2, 4096)
    a, b = np.ones(3), np.zeros(2)
    assert mem.remember("a", 0, 10, 20, a) is a
    mem.remember("b", 1, 0, 8, b)
    mem.touch(0, 20, 30)  # beside a's words, and b is in another region
    mem.touch(1, 8, 9)
    assert mem.derived == {"a": a, "b": b}
    mem.touch(0, 19, 20)  # a's last word: everything goes
    assert mem.derived == {}
    mem.remember("a", 0, 10, 20, a)
    mem.reset()
    assert mem.derived == {}
    # a store of 15 words: a (10 words) fits, a and c do not
    mem = memory.Memory(1 << 16, 2, 4096, memory.MemoryLimits(derived_bytes=4 * 15))
    mem.remember("a", 0, 10, 20, a)
    mem.remember("c", 0, 40, 45, b)
    assert list(mem.derived) == ["a", "c"]
    mem.remember("d", 0, 50, 56, b)
    assert list(mem.derived) == ["d"]
    mem.remember("e", 0, 60, 80, b)  # larger than the store: not kept
    assert mem.derived == {}
    mem.touch(0, 52, 53)  # nothing watched any more
    assert mem.derived == {}
