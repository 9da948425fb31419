"""Conv and ConvTranspose of any spatial rank (1-D, 3-D, 4-D) with constant weights on the
crossbar arrays: the weight matrix is [Cin/g * prod(kernel), Cout] and the input an im2col
patch of an N-D window.

Float path (a chip of 16x16 arrays, so that layers are cut in K and N): compared with onnx's
reference evaluator. Lossless 8-bit chip: compared with the integer oracle of test_imc (weights
quantized per output channel, the input per layer), written from docs/machine.md. A noisy chip
(rram) must run, its result correlated with the float one."""

import numpy as np
import pytest

from runtime.config import preset
from tests.compiler.helpers import check, helper, make_model, reference, rel_err, run_compiled
from tests.compiler.test_imc import _conv_oracle, chip

F = np.float32
R = np.random.default_rng(22)


def conv_nd(cin=3, cout=4, k=(2, 3, 3), groups=1, bias=True, image=(2, 5, 6, 7), op="Conv",
            **attrs):
    """One ``op`` node over an input [image[0], cin, *image[1:]] with constant weights."""
    wshape = (cout, cin // groups) + k if op == "Conv" else (cin, cout // groups) + k
    inits = {"w": R.standard_normal(wshape).astype(F)}
    ins = ["a", "w"]
    if bias:
        inits["b"] = R.standard_normal(cout).astype(F)
        ins.append("b")
    xshape = (image[0], cin) + tuple(image[1:])
    m = make_model([helper.make_node(op, ins, ["y"], group=groups, **attrs)],
                   [("a", F, xshape)], [("y", F, None)], inits=inits)
    return m, {"a": R.standard_normal(xshape).astype(F)}


CONVS_3D = [
    dict(),
    dict(pads=[1, 0, 1, 0, 1, 2]),
    dict(strides=[2, 1, 2], dilations=[1, 2, 1], pads=[1, 1, 0, 0, 1, 1]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2, 1]),
    dict(auto_pad="SAME_LOWER", k=(2, 2, 2)),
    dict(cin=4, cout=6, groups=2, pads=[1, 1, 1, 1, 1, 1]),
    dict(cin=8, cout=8, groups=8, k=(3, 3, 3), pads=[1, 1, 1, 1, 1, 1]),  # depthwise
    dict(cin=20, cout=24, k=(1, 1, 1), bias=False),  # K and N both cut on 16x16 arrays
]


@pytest.mark.parametrize("cfg", CONVS_3D, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv3d_float(cfg, tmp_path):
    res = check(*conv_nd(**cfg), tmp_path, tol=1e-5, chip=chip())
    # one IMC layer whose input vector is Cin * kd * kh * kw long (Cin/g per group)
    (layer,) = res.storage_map["layers"]
    assert layer["K"] == cfg.get("cin", 3) * int(np.prod(cfg.get("k", (2, 3, 3))))


def test_conv3d_grouped_super_blocks(tmp_path):
    # arrays of 64 rows merge groups block-diagonally: 16 groups of K = 12 -> 5 + 5 + 5 + 1,
    # two runs of equal blocks, each one im2col window
    res = check(*conv_nd(cin=16, cout=16, groups=16, k=(3, 2, 2), image=(1, 4, 5, 3),
                         pads=[1, 0, 1, 0, 1, 0]), tmp_path, tol=1e-5, chip=chip(rows=64, cols=64))
    assert res.asm.count("# im2col:") == 2


def test_conv_4d_spatial(tmp_path):
    check(*conv_nd(cin=2, cout=3, k=(2, 1, 2, 2), image=(1, 3, 2, 4, 3),
                   pads=[0, 0, 1, 0, 0, 0, 0, 1]), tmp_path, tol=1e-5, chip=chip())


@pytest.mark.parametrize("image,k", [((2, 9), (3,)), ((1, 4, 5, 3), (2, 2, 2))],
                         ids=["1-D", "3-D"])
def test_conv_with_a_runtime_bias(image, k, tmp_path):
    # the bias is a graph input: an Add after the Conv (a 1-D conv's too, after its reshape)
    w = R.standard_normal((4, 3) + k).astype(F)
    xshape = (image[0], 3) + image[1:]
    m = make_model([helper.make_node("Conv", ["a", "w", "b"], ["y"], pads=[1] * 2 * len(k))],
                   [("a", F, xshape), ("b", F, (4,))], [("y", F, None)], inits={"w": w})
    feeds = {"a": R.standard_normal(xshape).astype(F), "b": R.standard_normal(4).astype(F)}
    check(m, feeds, tmp_path, tol=1e-5, chip=chip())


def test_conv3d_cut_into_bands_of_the_first_output_axis(tmp_path):
    from imcc.options import Tuning

    m, feeds = conv_nd(cin=3, cout=5, k=(3, 3, 3), image=(2, 6, 5, 5), pads=[1] * 6)
    got, res = run_compiled(m, feeds, tmp_path, chip=chip(), tuning=Tuning(patch_elements=700))
    assert res.asm.count("# im2col:") > 2  # chunks of images and output planes
    assert rel_err(got[0], reference(m, feeds)[0]) <= 1e-5


def test_conv3d_quantized_lossless(tmp_path):
    m, feeds = conv_nd(cin=3, cout=5, k=(2, 3, 3), strides=[1, 2, 1], pads=[1, 1, 1, 0, 1, 1])
    cfg = chip(weight_bits=8, cell_bits=4, input_bits=8, dac_bits=4)
    got, _ = run_compiled(m, feeds, tmp_path, chip=cfg, calib=feeds)
    want = _conv_oracle(m, feeds["a"])
    assert np.abs(got[0] - want).max() <= 1e-5 * np.abs(want).max()


def test_conv3d_on_a_noisy_chip(tmp_path):
    m, feeds = conv_nd(cin=4, cout=6, k=(3, 3, 3), pads=[1] * 6, image=(1, 4, 6, 6))
    got, _ = run_compiled(m, feeds, tmp_path, chip=preset("rram"), calib=feeds)
    want = reference(m, feeds)[0]
    assert got[0].shape == want.shape and np.isfinite(got[0]).all()
    # 2-bit cells, 8-bit ADCs, programming and read noise, stuck cells: near, not equal (a 2-D
    # conv of the same K = 108 on this chip correlates as closely)
    assert np.corrcoef(got[0].ravel(), want.ravel())[0, 1] > 0.95


TRANSPOSED = [
    dict(k=(2, 3, 3), strides=[2, 1, 2]),
    dict(k=(3, 2, 3), strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 1], output_padding=[0, 1, 1]),
    dict(k=(2, 2, 2), strides=[2, 2, 2], output_shape=[9, 11, 13], dilations=[1, 1, 2]),
    dict(cin=4, cout=6, groups=2, k=(2, 2, 3), auto_pad="SAME_UPPER", strides=[2, 1, 2]),
    dict(k=(3,), strides=[2], image=(2, 5), output_padding=[1]),  # 1-D
]


@pytest.mark.parametrize("cfg", TRANSPOSED,
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv_transpose_nd_float(cfg, tmp_path):
    cfg = dict(image=(2, 4, 5, 6)) | cfg
    m, feeds = conv_nd(op="ConvTranspose", **cfg)
    if cfg.get("groups", 1) == 1:
        check(m, feeds, tmp_path, tol=1e-5, chip=chip())
        return
    # onnx's reference ConvTranspose cannot reshape a grouped weight: onnxruntime is the oracle
    ort = pytest.importorskip("onnxruntime")
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got, _ = run_compiled(m, feeds, tmp_path, chip=chip())
    assert got[0].shape == want.shape and rel_err(got[0], want) <= 1e-5


@pytest.mark.parametrize("op,image,k", [("QLinearConv", (1, 4, 5, 3), (2, 2, 2)),
                                        ("ConvInteger", (2, 7), (3,)),
                                        ("ConvInteger", (1, 2, 3, 4, 3), (2, 1, 2, 2))])
def test_quantized_convs_of_any_rank_with_constant_weights(op, image, k, tmp_path):
    xshape = (image[0], 3) + image[1:]
    u8 = np.uint8
    x = R.integers(0, 256, xshape).astype(u8)
    w = R.integers(0, 256, (4, 3) + k).astype(u8)
    pads = [1] * 2 * len(k)
    if op == "QLinearConv":
        inits = {"xs": np.float32(0.02), "xz": u8(120), "w": w, "ws": np.float32(0.01),
                 "wz": u8(128), "ys": np.float32(0.05), "yz": u8(100)}
        node = helper.make_node(op, ["a", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                                pads=pads)
    else:
        inits = {"w": w, "xz": u8(120), "wz": u8(128)}
        node = helper.make_node(op, ["a", "w", "xz", "wz"], ["y"], pads=pads)
    m = make_model([node], [("a", u8, xshape)], [("y", u8 if op == "QLinearConv" else
                                                       np.int32, None)], inits=inits)
    want = reference(m, {"a": x})[0]
    got, _ = run_compiled(m, {"a": x}, tmp_path, chip=chip())
    assert got[0].shape == want.shape
    assert np.abs(got[0].astype(np.int64) - want.astype(np.int64)).max() <= \
        (1 if op == "QLinearConv" else 0)  # float32 rescale before the rounding (docs)
