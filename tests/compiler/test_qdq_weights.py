"""QDQ weights (imcc/qdq.py): a DequantizeLinear of a constant integer weight sets its layer's
weight precision and per-output-channel scales, and the arrays hold the model's codes.

Oracles: onnxruntime on the QDQ model (it dequantizes the weight in float) for a chip whose
only quantization is the weights' (float inputs, ideal ADC: the integer codes times the scale
are the dequantized weight exactly); the codes read back from the programmed cells through the
storage map, compared with the model's integer initializer minus its zero point. The codes are
kept well inside their type's range, so the chip's own per-channel quantization (max |w| to
127) would have programmed other codes."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runtime.machine import Machine
from tests.compiler.helpers import make_model, rel_err, run_compiled
from tests.compiler.test_imc import chip

F = np.float32
R = np.random.default_rng(2022)

ort = pytest.importorskip("onnxruntime")


def lossless(weight_bits=8, **kw):
    """Weights quantized to ``weight_bits``; inputs, converters and cells otherwise exact."""
    return chip(weight_bits=weight_bits, cell_bits=4, input_bits=0, adc_bits=0, **kw)


def ort_run(m, feeds) -> np.ndarray:
    """onnxruntime without graph optimizations: its QDQ fusions would quantize the activations
    too (a MatMul of a dequantized weight becomes an integer MatMul of requantized inputs)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


def qdq_model(op, wshape, q, scale, zp=None, axis=1, xshape=(2, 3, 6, 6), bias=True,
              opset=21, **attrs):
    """``DequantizeLinear(q, scale, zp) -> op(a, w[, b])``."""
    inits = {"wq": q, "ws": scale}
    dq_in = ["wq", "ws"] + (["wz"] if zp is not None else [])
    if zp is not None:
        inits["wz"] = zp
    ins = ["a", "w"]
    if bias:
        n_out = wshape[0] if op == "Conv" else wshape[-1]
        if op == "ConvTranspose":
            n_out = wshape[1] * attrs.get("group", 1)
        if op == "Gemm" and attrs.get("transB"):
            n_out = wshape[0]
        inits["b"] = R.standard_normal(n_out).astype(F)
        ins.append("b")
    nodes = [helper.make_node("DequantizeLinear", dq_in, ["w"], axis=axis, name="dq"),
             helper.make_node(op, ins, ["y"], name="layer", **attrs)]
    m = make_model(nodes, [("a", F, xshape)], [("y", F, None)], inits=inits, opset=opset)
    return m, {"a": R.standard_normal(xshape).astype(F)}


def programmed_codes(res, machine: Machine, layer: str = "layer") -> np.ndarray:
    """The layer's [K, N] integer weights as the cells hold them: each storage-map entry's
    levels times its bit weight, signed by polarity (replica 0, one block)."""
    smap = res.storage_map
    (info,) = [x for x in smap["layers"] if x["name"] == layer]
    v = np.zeros((info["K"], info["N"]))
    for e in smap["entries"]:
        if e["layer"] != layer or e["replica"] != 0:
            continue
        (k0, k1), (n0, n1) = e["rows"], e["cols"]
        cells = machine.xbar.cells(e["array"])[e["row"]:e["row"] + k1 - k0,
                                               e["col"]:e["col"] + n1 - n0]
        v[k0:k1, n0:n1] += (1 if e["polarity"] == "+" else -1) * e["bit_weight"] * cells
    return v


def compile_and_run(m, feeds, cfg, tmp_path):
    got, res = run_compiled(m, feeds, tmp_path, chip=cfg)
    machine = Machine(cfg, res.obj)
    machine.run(feeds)
    return got[0], res, machine


def _codes(shape, lo=-50, hi=50, dtype=np.int8):
    return R.integers(lo, hi + 1, shape).astype(dtype)


def test_conv_per_channel_int8_keeps_the_codes(tmp_path):
    q = _codes((5, 3, 1, 1))  # 1x1 kernel: the [K, N] matrix is q[:, :, 0, 0].T
    s = (R.random(5) * 0.05 + 0.01).astype(F)
    m, feeds = qdq_model("Conv", q.shape, q, s, axis=0)
    got, res, machine = compile_and_run(m, feeds, lossless(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert np.array_equal(programmed_codes(res, machine), q[:, :, 0, 0].T)
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 8
    assert not res.report["warnings"]


@pytest.mark.parametrize("case", ["conv3x3_per_tensor", "convtranspose_groups", "conv3d"])
def test_conv_forms_match_onnxruntime(case, tmp_path):
    if case == "conv3x3_per_tensor":
        q = _codes((4, 3, 3, 3))
        m, feeds = qdq_model("Conv", q.shape, q, np.array(0.02, F), pads=[1, 1, 1, 1])
    elif case == "convtranspose_groups":  # W [Cin, Cout/g, k, k], channels along axis 1
        q = _codes((4, 3, 2, 2))
        m, feeds = qdq_model("ConvTranspose", q.shape, q, (R.random(3) * 0.05 + 0.01).astype(F),
                             axis=1, xshape=(1, 4, 5, 5), group=2, strides=[2, 2])
    else:
        q = _codes((4, 2, 2, 2, 2))
        m, feeds = qdq_model("Conv", q.shape, q, (R.random(4) * 0.05 + 0.01).astype(F),
                             axis=0, xshape=(1, 2, 4, 4, 4))
    got, res, _ = compile_and_run(m, feeds, lossless(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 8
    assert not res.report["warnings"]


@pytest.mark.parametrize("zp,bits", [(128, 8), (0, 9)])  # codes -48..52; 80..180: 9 bits
def test_matmul_uint8_zero_point_folds_into_signed_codes(zp, bits, tmp_path):
    q = _codes((12, 7), 80, 180, np.uint8)
    m, feeds = qdq_model("MatMul", q.shape, q, np.array(0.03, F), zp=np.array(zp, np.uint8),
                         xshape=(4, 12), bias=False)
    got, res, machine = compile_and_run(m, feeds, lossless(weight_bits=9), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert np.array_equal(programmed_codes(res, machine), q.astype(int) - zp)
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == bits


def test_gemm_transposed_per_channel(tmp_path):
    q = _codes((6, 10))  # B^T [N, K], one scale per output channel along axis 0
    s = (R.random(6) * 0.05 + 0.01).astype(F)
    m, feeds = qdq_model("Gemm", q.shape, q, s, axis=0, xshape=(3, 10), transB=1)
    got, res, machine = compile_and_run(m, feeds, lossless(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert np.array_equal(programmed_codes(res, machine), q.T)


def test_matmul_of_a_transposed_per_channel_weight(tmp_path):
    q = _codes((6, 10))  # [N, K] scaled along axis 0, transposed to the MatMul's [K, N]
    s = (R.random(6) * 0.05 + 0.01).astype(F)
    m = make_model([helper.make_node("DequantizeLinear", ["wq", "ws"], ["wt"], axis=0),
                    helper.make_node("Transpose", ["wt"], ["w"], perm=[1, 0]),
                    helper.make_node("MatMul", ["a", "w"], ["y"], name="layer")],
                   [("a", F, (3, 10))], [("y", F, None)], inits={"wq": q, "ws": s}, opset=21)
    feeds = {"a": R.standard_normal((3, 10)).astype(F)}
    got, res, machine = compile_and_run(m, feeds, lossless(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert np.array_equal(programmed_codes(res, machine), q.T)
    assert not res.report["warnings"]


def test_int4_codes_set_four_bit_weights(tmp_path):
    q = _codes((16, 5), -7, 7, np.int8)
    m, feeds = qdq_model("MatMul", q.shape, q, (R.random(5) * 0.05 + 0.01).astype(F),
                         xshape=(2, 16), bias=False)
    t = helper.make_tensor("wq", TensorProto.INT4, q.shape, q.ravel().tolist())
    m.graph.initializer[[i.name for i in m.graph.initializer].index("wq")].CopyFrom(t)
    assert np.array_equal(numpy_helper.to_array(t).astype(int), q)
    got, res, machine = compile_and_run(m, feeds, lossless(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 4
    assert np.array_equal(programmed_codes(res, machine), q)


def test_fewer_weight_bits_than_the_codes_is_one_warning(tmp_path):
    q = _codes((12, 7))
    m, feeds = qdq_model("MatMul", q.shape, q, np.array(0.03, F), xshape=(4, 12), bias=False)
    _, res, _ = compile_and_run(m, feeds, lossless(weight_bits=4), tmp_path)
    (w,) = res.report["warnings"]
    assert "'layer'" in w and "8-bit codes" in w and "4-bit weights" in w
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 4
    # a precision file that gives the layer 8 bits keeps the codes
    prec = '[[layer]]\nmatch = "layer"\nweight_bits = 8\n'
    got, res = run_compiled(m, feeds, tmp_path, chip=lossless(weight_bits=4), precision=prec)
    assert not res.report["warnings"]
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 8
    assert rel_err(got[0], ort_run(m, feeds)) <= 1e-6


@pytest.mark.parametrize("blocked", [False, True])
def test_scales_along_the_inputs_or_in_blocks_are_one_warning(blocked, tmp_path):
    q = _codes((12, 7))  # MatMul [K, N] scaled per row (input), or per block of 4 rows
    scale = (R.random((3, 7) if blocked else 12) * 0.05 + 0.01).astype(F)
    m, feeds = qdq_model("MatMul", q.shape, q, scale, axis=0, xshape=(4, 12), bias=False)
    if blocked:
        m.graph.node[0].attribute.append(helper.make_attribute("block_size", 4))
    got, res, _ = compile_and_run(m, feeds, lossless(), tmp_path)
    (w,) = res.report["warnings"]
    assert "'layer'" in w and "in blocks or along another axis" in w
    assert rel_err(got, ort_run(m, feeds)) <= 1e-2  # requantized to 8 bits per column


@pytest.mark.parametrize("chip_bits,kept", [(9, True), (8, False)])
def test_an_int8_code_of_minus_128_needs_nine_bits(chip_bits, kept, tmp_path):
    q = _codes((12, 7))
    q[3, 2] = -128  # symmetric codes: 8 magnitude bits, 9 with the sign
    m, feeds = qdq_model("MatMul", q.shape, q, np.array(0.03, F), xshape=(4, 12), bias=False)
    got, res, machine = compile_and_run(m, feeds, lossless(weight_bits=chip_bits), tmp_path)
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == chip_bits
    assert np.array_equal(programmed_codes(res, machine), q) == kept
    assert bool(res.report["warnings"]) != kept
    if kept:
        assert rel_err(got, ort_run(m, feeds)) <= 1e-6


def test_a_weight_changed_by_a_folded_batchnorm_is_one_warning(tmp_path):
    q = _codes((4, 3, 1, 1))
    m, feeds = qdq_model("Conv", q.shape, q, np.array(0.02, F), axis=0, bias=False)
    g = m.graph
    bn = {"g": R.random(4) + 0.5, "be": R.standard_normal(4), "mu": R.standard_normal(4),
          "var": R.random(4) + 0.5}
    g.initializer.extend(numpy_helper.from_array(v.astype(F), k) for k, v in bn.items())
    g.node[1].output[0] = "c"
    g.node.append(helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["y"]))
    got, res, _ = compile_and_run(m, feeds, lossless(), tmp_path)
    (w,) = res.report["warnings"]
    assert "'layer'" in w and "BatchNormalization" in w
    assert rel_err(got, ort_run(m, feeds)) <= 1e-2  # requantized to 8 bits


def test_float_chip_keeps_the_float_weight(tmp_path):
    q = _codes((12, 7))
    m, feeds = qdq_model("MatMul", q.shape, q, np.array(0.03, F), xshape=(4, 12), bias=False)
    got, res, _ = compile_and_run(m, feeds, chip(), tmp_path)
    assert rel_err(got, ort_run(m, feeds)) <= 1e-6
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 0


def test_quantize_static_model(tmp_path):
    """A model quantized by onnxruntime's quantize_static (QDQ, int8 per-channel weights whose
    largest code is 127, at opset 17: DequantizeLinear before opset 19 folds too)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    w = R.standard_normal((6, 3, 3, 3)).astype(F)
    m, feeds = (make_model([helper.make_node("Conv", ["a", "w"], ["y"], pads=[1, 1, 1, 1])],
                           [("a", F, (1, 3, 8, 8))], [("y", F, None)], inits={"w": w}, opset=17),
                {"a": R.standard_normal((1, 3, 8, 8)).astype(F)})
    src, dst = Path(tmp_path) / "f.onnx", Path(tmp_path) / "q.onnx"
    onnx.save(m, src)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([feeds])

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QInt8)
    mq = onnx.load(dst)
    cfg = lossless()
    got, res, _ = compile_and_run(mq, feeds, cfg, tmp_path)
    assert res.storage_map["layers"][0]["precision"]["weight_bits"] == 8
    assert not [w for w in res.report["warnings"] if "DequantizeLinear" in w]
    # the activations' QDQ pairs are computed as onnx defines them; the weight is exact
    assert rel_err(got, ort_run(mq, feeds)) <= 1e-5
