"""IMC layers (Conv, Gemm, MatMul with constant weights) on a tiny chip of 16x16 arrays, so that
every layer is cut in K and N, tiles share arrays, and the efficiency priority replicates.

Float path (ideal chip): compared with onnx's reference evaluator. Quantized lossless chips:
compared with an integer oracle written here from the definitions in docs/machine.md (per-channel
symmetric weights, per-layer input step max|x| / qmax), independent of the compiler's code."""

import re
from pathlib import Path

import numpy as np
import pytest

from imcc.options import Tuning
from runtime.config import config_from_dict
from tests.compiler.helpers import check, helper, make_model, reference, run_compiled

F = np.float32
R = np.random.default_rng(1)


def chip(**kw):
    base = dict(name="tiny", tiles=16, arrays_per_tile=8, rows=16, cols=16, global_mib=16,
                cell_bits=8, weight_bits=0, input_bits=0, dac_bits=1, adc_bits=0)
    base.update(kw)
    return config_from_dict(base, "test")


def conv_model(cin=3, cout=5, k=3, groups=1, bias=True, image=(2, 9, 8), **attrs):
    kh, kw = (k, k) if isinstance(k, int) else k
    w = R.standard_normal((cout, cin // groups, kh, kw)).astype(F)
    inits = {"w": w}
    ins = ["a", "w"]
    if bias:
        inits["b"] = R.standard_normal(cout).astype(F)
        ins.append("b")
    nb, h, wd = image
    m = make_model([helper.make_node("Conv", ins, ["y"], group=groups, **attrs)],
                   [("a", F, (nb, cin, h, wd))], [("y", F, None)], inits=inits)
    return m, {"a": R.standard_normal((nb, cin, h, wd)).astype(F)}


CONVS = [
    dict(),
    dict(pads=[1, 1, 1, 1]),
    dict(strides=[2, 2], pads=[1, 0, 2, 1]),
    dict(dilations=[2, 2], pads=[2, 2, 2, 2]),
    dict(cin=4, cout=6, groups=2, pads=[1, 1, 1, 1]),
    dict(cin=8, cout=8, groups=8, pads=[1, 1, 1, 1]),  # depthwise
    dict(cin=8, cout=16, groups=8, k=1),  # depthwise multiplier 2, 1x1
    dict(cin=20, cout=24, k=1, bias=False),  # K and N both split
]


@pytest.mark.parametrize("priority", ["efficiency", "resource"])
@pytest.mark.parametrize("cfg", CONVS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv_float(cfg, priority, tmp_path):
    res = check(*conv_model(**cfg), tmp_path, tol=1e-5, chip=chip(), priority=priority)
    assert res.report["arrays_used"] >= res.report["lower_bound"]


GROUPED = [  # (conv, im2col copies: one per run of equal-sized super-blocks)
    (dict(cin=16, cout=16, groups=16, pads=[1, 1, 1, 1]), 2),  # 7 + 7 + 2 groups per block
    (dict(cin=16, cout=16, groups=16, strides=[2, 2], pads=[1, 1, 1, 1], image=(3, 9, 7)), 2),
    (dict(cin=12, cout=24, groups=6, pads=[0, 1, 2, 1], dilations=[1, 2]), 1),  # 3 + 3 groups
    (dict(cin=10, cout=10, groups=5, k=(1, 3), pads=[0, 1, 0, 1]), 1),
]


@pytest.mark.parametrize("cfg,copies", GROUPED,
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
                         if isinstance(c, dict) else str(c))
def test_grouped_conv_super_blocks(cfg, copies, tmp_path):
    # Arrays of 64 rows merge several groups block-diagonally, the last super-block sometimes
    # smaller: the im2col copies each run of equal blocks through one window.
    res = check(*conv_model(**cfg), tmp_path, tol=1e-5, chip=chip(rows=64, cols=64))
    assert res.asm.count("# im2col:") == copies


@pytest.mark.parametrize("priority", ["efficiency", "resource"])
def test_gemm_transb_and_matmul_rank3(priority, tmp_path):
    w1 = R.standard_normal((40, 37)).astype(F)  # Gemm transB: [N, K] -> K = 37
    w2 = R.standard_normal((40, 19)).astype(F)
    m = make_model([helper.make_node("Gemm", ["a", "w1", "b1"], ["h"], transB=1, alpha=0.5),
                    helper.make_node("Reshape", ["h", "s"], ["h3"]),
                    helper.make_node("MatMul", ["h3", "w2"], ["y"])],
                   [("a", F, (6, 37))], [("y", F, None)],
                   inits={"w1": w1, "b1": R.standard_normal(40).astype(F),
                          "s": np.array([2, 3, 40]), "w2": w2})
    check(m, {"a": R.standard_normal((6, 37)).astype(F)}, tmp_path, chip=chip(),
          priority=priority)


def test_conv_transpose(tmp_path):
    w = R.standard_normal((4, 3, 3, 3)).astype(F)
    m = make_model([helper.make_node("ConvTranspose", ["a", "w"], ["y"], strides=[2, 2],
                                     pads=[1, 1, 0, 0], output_padding=[1, 0])],
                   [("a", F, (1, 4, 5, 5))], [("y", F, None)], inits={"w": w})
    check(m, {"a": R.standard_normal((1, 4, 5, 5)).astype(F)}, tmp_path, chip=chip())


# ---- quantized, lossless -----------------------------------------------------------------


def _quant_weights(w2d: np.ndarray, bits: int):
    """[K, N] -> integers and per-column scales (symmetric, round half to even)."""
    qmax = 2 ** (bits - 1) - 1
    s = np.abs(w2d).max(axis=0) / qmax
    s = np.where(s > 0, s, 1.0).astype(F)
    return np.clip(np.rint(w2d / s), -qmax, qmax), s


def _oracle_gemm(x, w_kn, b, wbits, ibits):
    """Integer model of y = x @ w + b: exact integer products, then dequantization."""
    qw, sw = _quant_weights(w_kn.astype(F), wbits)
    qmax = 2 ** (ibits - 1) - 1
    si = np.float32(np.abs(x).max() / qmax)
    qx = np.clip(np.rint(x / si), -qmax, qmax)
    acc = qx.astype(np.float64) @ qw.astype(np.float64)
    return (acc * (si * sw).astype(np.float64) + b).astype(np.float64)


@pytest.mark.parametrize("cell_bits,signed,slices", [
    (8, "differential", "columns"), (2, "differential", "columns"), (3, "offset", "columns"),
    (1, "differential", "arrays"), (4, "offset", "arrays")])
@pytest.mark.parametrize("dac_bits", [1, 3, 8])
def test_gemm_quantized_lossless_equals_integer_oracle(cell_bits, signed, slices, dac_bits,
                                                       tmp_path):
    K, N = 37, 21
    w = R.standard_normal((N, K)).astype(F)
    b = R.standard_normal(N).astype(F)
    x = R.standard_normal((5, K)).astype(F)
    m = make_model([helper.make_node("Gemm", ["a", "w", "b"], ["y"], transB=1)],
                   [("a", F, (5, K))], [("y", F, None)], inits={"w": w, "b": b})
    cfg = chip(weight_bits=8, cell_bits=cell_bits, input_bits=8, dac_bits=dac_bits,
               adc_bits=0, signed=signed)
    got, res = run_compiled(m, {"a": x}, tmp_path, chip=cfg, calib={"a": x},
                            precision=f'[default]\nslices = "{slices}"\n', priority="resource")
    from collections import Counter

    per_tile = Counter(e["tile"] for e in res.storage_map["entries"])
    mag = 7 if signed == "differential" else 8
    blocks = -(-mag // cell_bits) * (2 if signed == "differential" else 1)
    # "arrays": every slice-block is its own rectangle; "columns": a tile holds all of them
    assert set(per_tile.values()) == ({1} if slices == "arrays" else {blocks})
    # side by side, the blocks are shift-and-added by the mvm itself; apart, by vsadd
    assert ("vsadd" in res.asm) == (slices == "arrays")
    assert (f"cfgi sablk, {blocks}" in res.asm) == (slices == "columns")
    assert max(e["col"] + e["width"] for e in res.storage_map["entries"]) <= 16
    want = _oracle_gemm(x, w.T, b, 8, 8)
    # float32 accumulation of exact integer partial sums: agreement to float32 rounding
    assert np.abs(got[0] - want).max() <= 1e-5 * np.abs(want).max()


def test_quantized_slices_in_separate_arrays_via_precision_file(tmp_path):
    K, N = 30, 10
    w = R.standard_normal((K, N)).astype(F)
    x = R.standard_normal((4, K)).astype(F)
    m = make_model([helper.make_node("MatMul", ["a", "w"], ["y"])], [("a", F, (4, K))],
                   [("y", F, None)], inits={"w": w})
    import onnx

    from imcc.compiler import CompileOptions, compile_model
    from imcc.precision import load_precision
    from runtime.machine import Machine

    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    prec = tmp_path / "p.toml"
    prec.write_text('[default]\nweight_bits = 7\ncell_bits = 2\nslices = "arrays"\n')
    cfg = chip(weight_bits=8, cell_bits=8, input_bits=6, dac_bits=2)
    res = compile_model(p, cfg, precision=load_precision(prec, 8), calib={"a": x},
                        options=CompileOptions(priority="resource"))
    entries = res.storage_map["entries"]
    # 7-bit weights on 2-bit cells, differential: 3 slices x 2 polarities, each its own rect
    assert {e["slice"] for e in entries} == {0, 1, 2} and {e["polarity"] for e in entries} == {"+", "-"}
    assert all(e["width"] <= 16 for e in entries)
    got = Machine(cfg, res.obj).run({"a": x})["y"]
    want = _oracle_gemm(x, w, 0.0, 7, 6)
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def _conv_oracle(m, x: np.ndarray, bits: int = 8) -> np.ndarray:
    """The model's one Conv in float64 on its weights quantized per output channel and its
    input quantized per layer (symmetric, ``bits`` bits): what a lossless chip computes."""
    from onnx import numpy_helper

    node = m.graph.node[0]
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    w = inits["w"]
    qw, sw = _quant_weights(w.reshape(w.shape[0], -1).T, bits)
    wq = (qw * sw).T.reshape(w.shape).astype(np.float64)
    qmax = 2 ** (bits - 1) - 1
    si = np.float32(np.abs(x).max() / qmax)
    xq = (np.clip(np.rint(x / si), -qmax, qmax) * si).astype(np.float64)
    new = {"w": wq} | ({"b": inits["b"].astype(np.float64)} if "b" in inits else {})
    mq = make_model([node], [("a", np.float64, x.shape)], [("y", np.float64, None)], inits=new)
    return reference(mq, {"a": xq})[0]


@pytest.mark.parametrize("budget", [None, 300])  # one patch; bands of output rows
def test_conv_quantized_lossless(budget, tmp_path):
    tuning = Tuning(patch_elements=budget) if budget else Tuning()
    m, feeds = conv_model(cin=6, cout=7, k=3, pads=[1, 1, 1, 1], strides=[2, 1])
    cfg = chip(weight_bits=8, cell_bits=4, input_bits=8, dac_bits=4)
    got, res = run_compiled(m, feeds, tmp_path, chip=cfg, calib=feeds, tuning=tuning)
    # 2 images of 5 x 8 outputs, K = 54: 432 patch elements per output row, over 300: a chunk
    # per output row
    assert res.asm.count("im2col: ") == (1 if budget is None else 10)
    want = _conv_oracle(m, feeds["a"])
    assert np.abs(got[0] - want).max() <= 1e-5 * np.abs(want).max()


# ---- stride-1 convs read their channels-last input in place (shifted windows) ------------

SHIFTED = [
    dict(pads=[1, 1, 1, 1]),  # K = 27 on 16-row arrays: the first tile spans kernel rows 0, 1
    dict(),  # no padding
    dict(cin=7, cout=20, k=(3, 5), pads=[1, 2, 0, 1]),  # asymmetric kernel and pads, N split
    dict(cin=20, cout=24, k=1, bias=False),  # 1x1: K split into 16 + 4
    dict(cin=2, cout=3, k=5, pads=[2, 2, 2, 2]),  # tiles of 16 rows over runs of 10
]


@pytest.mark.parametrize("signed", ["differential", "direct"])
@pytest.mark.parametrize("priority", ["efficiency", "resource"])
@pytest.mark.parametrize("cfg", SHIFTED, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv_shifted_windows_float(cfg, priority, signed, tmp_path):
    res = check(*conv_model(**cfg), tmp_path, tol=1e-5, chip=chip(signed=signed),
                priority=priority,
                tuning=Tuning(shifted_waste=100.0))  # small images: the border is large
    assert "shifted windows" in res.asm and "im2col" not in res.asm
    k = cfg.get("k", 3)
    kh, kw = (k, k) if isinstance(k, int) else k
    run = kw * cfg.get("cin", 3)
    if kh > 1 and run % 16:  # some 16-row tile spans two kernel rows: two MVMs read it
        assert re.search(r" rows 0:\d+ on array", res.asm)


@pytest.mark.parametrize("images,budget", [(2, None), (3, 2000)])  # one chunk; one per image
@pytest.mark.parametrize("dac_bits,adc_bits", [(4, 0), (1, 0), (8, 16)])
def test_conv_shifted_windows_quantized_lossless(images, budget, dac_bits, adc_bits, tmp_path):
    """Bit-serial inputs with an ideal ADC: a tile spanning two kernel rows is two exact
    integer MVMs. A real ADC (``adc_bits = 16``: wide enough to be lossless) converts each MVM
    on its own, so tiles that span kernel rows take the im2col copy instead."""
    tuning = Tuning(patch_elements=budget) if budget else Tuning()
    m, feeds = conv_model(cin=6, cout=7, k=3, pads=[1, 1, 1, 1], image=(images, 12, 12))
    cfg = chip(weight_bits=8, cell_bits=4, input_bits=8, dac_bits=dac_bits, adc_bits=adc_bits)
    got, res = run_compiled(m, feeds, tmp_path, chip=cfg, calib=feeds, tuning=tuning)
    want = _conv_oracle(m, feeds["a"])
    assert np.abs(got[0] - want).max() <= 1e-5 * np.abs(want).max()
    assert ("shifted windows" in res.asm) == (adc_bits == 0)
    if adc_bits == 0 and budget:
        assert res.asm.count("shifted windows") == images


def test_conv_shifted_windows_with_a_real_adc_when_tiles_fit_kernel_rows(tmp_path):
    """16 channels and 1x3 kernels on 16-row arrays: each tile is one kernel position, so the
    MVMs read the image in place even with a real ADC."""
    m, feeds = conv_model(cin=16, cout=5, k=(1, 3), pads=[0, 1, 0, 1], image=(2, 10, 10))
    cfg = chip(weight_bits=8, cell_bits=4, input_bits=8, dac_bits=8, adc_bits=16)
    got, res = run_compiled(m, feeds, tmp_path, chip=cfg, calib=feeds)
    want = _conv_oracle(m, feeds["a"])
    assert np.abs(got[0] - want).max() <= 1e-5 * np.abs(want).max()
    assert "shifted windows" in res.asm and not re.search(r" rows \d+:\d+ on array", res.asm)


@pytest.mark.parametrize("priority", ["efficiency", "resource"])
def test_same_model_twice_gives_identical_objects(priority, tmp_path):
    """Two compiles in separate processes with different hash seeds: same bytes (so nothing
    depends on wall-clock time, set or dict order)."""
    import os
    import subprocess
    import sys

    lenet = Path(__file__).resolve().parents[2] / "samples" / "models" / "lenet.onnx"
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"o{seed}.imo"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([sys.executable, "-m", "imcc", "compile", str(lenet), "-o", str(out),
                            "--chip", "ideal-int8", "--priority", priority, "--no-estimate",
                            "-q", "--time-limit", "2"], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_layers_on_different_tiles_communicate_with_send(tmp_path):
    """Three 16-input layers, each filling one 16x16 array, on a chip with one array per tile:
    every layer sits on its own tile, activations stay in tile buffers, and each layer
    receives its input from the previous tile with a send. The result is still exact."""
    nodes, inits = [], {}
    prev = "a"
    for i in range(3):
        inits[f"w{i}"] = R.standard_normal((16, 8)).astype(F)
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]),
                  helper.make_node("Relu", [f"h{i}"], [f"r{i}"]),
                  helper.make_node("Tile", [f"r{i}", "twice"], [f"c{i}"])]
        prev = f"c{i}"
    inits["twice"] = np.array([1, 2])
    m = make_model(nodes, [("a", F, (4, 16))], [("c2", F, None)], inits=inits)
    one_per_tile = chip(tiles=8, arrays_per_tile=1)
    res = check(m, {"a": R.standard_normal((4, 16)).astype(F)}, tmp_path, chip=one_per_tile,
                priority="resource")
    tiles = {e["layer"]: e["chip_tile"] for e in res.storage_map["entries"]}
    assert len(set(tiles.values())) == 3
    sends = res.report["instruction_counts"].get("send", 0)
    assert sends == 2, res.report["instruction_counts"]


@pytest.mark.parametrize("nb,oh,row,budget", [(4, 7, 10, 1000), (4, 7, 10, 140), (4, 7, 10, 139),
                                             (3, 7, 10, 25), (2, 5, 10, 5), (1, 1, 3, 1)])
def test_conv_chunks_cover_every_output_row_once_within_budget(nb, oh, row, budget):
    from imcc.codegen.conv import conv_chunks

    seen = np.zeros((nb, oh), dtype=int)
    for b0, b1, r0, r1 in conv_chunks(nb, oh, row, budget):
        assert 0 <= b0 < b1 <= nb and 0 <= r0 < r1 <= oh
        # Over budget only when a single output row is larger than it.
        assert (b1 - b0) * (r1 - r0) * row <= budget or (b1 - b0, r1 - r0) == (1, 1)
        seen[b0:b1, r0:r1] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize("budget", [2000, 500, 60])  # whole images, bands, one row per chunk
@pytest.mark.parametrize("priority,signed", [("efficiency", "differential"),
                                             ("resource", "differential"),
                                             ("efficiency", "direct")])
def test_conv_too_large_for_one_patch_is_cut_into_chunks(budget, priority, signed, tmp_path):
    # 2 images of 5 x 8 output positions, K = 27: a patch of 2,160 elements, 216 per output row.
    m, feeds = conv_model(cin=3, cout=5, k=3, strides=[2, 1], pads=[1, 1, 1, 1])
    res = check(m, feeds, tmp_path, tol=1e-5, chip=chip(signed=signed), priority=priority,
                tuning=Tuning(patch_elements=budget))
    # the differential pair's columns are subtracted by the mvm itself (sablk 2); signed float
    # cells need no shift-and-add at all
    assert "vsadd" not in res.asm
    assert ("cfgi sablk, 2" in res.asm) == (signed == "differential")
    chunks = {2000: 2, 500: 6, 60: 10}[budget]
    assert res.asm.count("im2col: ") == chunks


def test_chunked_conv_memory_is_one_chunk_of_scratch(tmp_path):
    w = R.standard_normal((16, 8, 3, 3)).astype(F)
    m = make_model([helper.make_node("Conv", ["a", "w"], ["y"], pads=[1, 1, 1, 1])],
                   [("a", F, (4, 8, 32, 32))], [("y", F, None)], inits={"w": w})
    feeds = {"a": R.standard_normal((4, 8, 32, 32)).astype(F)}
    res = check(m, feeds, tmp_path, tol=1e-5,
                tuning=Tuning(patch_elements=3000))  # 128 chunks of one output row
    assert res.asm.count("im2col: ") == 128
    # Input, padded input and output, float32; a chunk's patch, products and partial sums are
    # a few KiB. Stacking every chunk's partial sums would add the whole product again (1 MiB).
    tensors = 4 * (4 * 8 * 32 * 32 + 4 * 8 * 34 * 34 + 4 * 16 * 32 * 32)
    assert res.report["memory_bytes"] < tensors + 128 * 1024


@pytest.mark.parametrize("digital_reader", [False, True])
def test_weight_shared_by_layers_and_digital_ops(digital_reader, tmp_path):
    """A weight read by two crossbar layers (written into the weight section for each) and,
    optionally, by a digital op too (which must still see its values in the data section)."""
    w = R.standard_normal((6, 6)).astype(F)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("MatMul", ["r", "W"], ["b"])]
    if digital_reader:
        nodes.append(helper.make_node("Add", ["b", "W"], ["y"]))
    else:
        nodes.append(helper.make_node("Identity", ["b"], ["y"]))
    model = make_model(nodes, [("x", F, [6, 6])], [("y", F, None)], {"W": w})
    res = check(model, {"x": R.standard_normal((6, 6)).astype(F)}, tmp_path, tol=1e-5,
                chip=chip())
    assert len(res.obj.weights) >= 2 * w.size * 4  # one copy per layer (float32 cells)
