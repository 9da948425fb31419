"""Activations between convolutions stored channels-last (imcc/codegen/memory.py,
``channels_last_tensors``): the layout decisions, and outputs equal to onnx's reference through
every op that reads or writes such a tensor (padded and in-place convs, grouped convs, pools,
residual adds, clips, global pooling)."""

import numpy as np
import pytest

from imcc.codegen.memory import channels_last_tensors, plan_buffers
from imcc.frontend import load_model
from imcc.passes import canonicalize
from tests.compiler.helpers import check, helper, make_model

F = np.float32
R = np.random.default_rng(7)


def w(*shape):
    return (R.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(F)


def net(batch=2, head="gap"):
    """conv3x3(pad) -> relu -> maxpool(pad) -> conv1x1 -> add(residual) -> depthwise(pad) ->
    clip -> avgpool -> conv1x1 -> head."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"]),
        helper.make_node("Add", ["c2", "p1"], ["a2"]),
        helper.make_node("Conv", ["a2", "w3"], ["c3"], pads=[1, 1, 1, 1], group=8),
        helper.make_node("Clip", ["c3", "lo", "hi"], ["k3"]),
        helper.make_node("AveragePool", ["k3"], ["q3"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["q3", "w4"], ["c4"]),
    ]
    inits = {"w1": w(8, 3, 3, 3), "b1": w(8), "w2": w(8, 8, 1, 1), "b2": w(8),
             "w3": w(8, 1, 3, 3), "lo": np.array(0, F), "hi": np.array(0.5, F),
             "w4": w(6, 8, 1, 1)}
    if head == "gap":
        nodes += [helper.make_node("GlobalAveragePool", ["c4"], ["g"]),
                  helper.make_node("Flatten", ["g"], ["y"])]
    else:  # the last conv's output is reshaped: it must stay NCHW
        nodes += [helper.make_node("Flatten", ["c4"], ["y"])]
    return make_model(nodes, [("x", F, [batch, 3, 12, 10])], [("y", F, None)], inits)


def _layouts(model, tmp_path):
    import onnx

    onnx.save(model, tmp_path / "m.onnx")
    g = canonicalize(load_model(tmp_path / "m.onnx"))
    buffers, _ = plan_buffers(g, 0)
    return g, {t for t, b in buffers.items() if b.channels_last}


def test_layout_decisions(tmp_path):
    g, nhwc = _layouts(net(head="gap"), tmp_path)
    assert nhwc == {"c1", "r1", "p1", "c2", "a2", "c3", "k3", "q3", "c4"}
    assert channels_last_tensors(g, {"c2"}) == {"c1", "r1", "c3", "k3", "q3", "c4"}, \
        "a tensor kept NCHW keeps its whole group (p1, c2, a2: the residual add) NCHW"
    _, nhwc = _layouts(net(head="flatten"), tmp_path)
    assert "c4" not in nhwc and "x" not in nhwc and "y" not in nhwc
    assert {"c1", "a2", "q3"} <= nhwc


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("priority", ["resource", "efficiency"])
def test_channels_last_network_matches_reference(head, priority, tmp_path):
    check(net(head=head), {"x": R.standard_normal((2, 3, 12, 10)).astype(F)}, tmp_path,
          tol=1e-5, priority=priority)


def test_channels_last_in_tile_buffers(tmp_path):
    """Tiny arrays on many tiles: outputs kept in tile buffers, inputs sent between tiles."""
    from runtime.config import config_from_dict

    chip = config_from_dict(dict(name="tiny", tiles=16, arrays_per_tile=2, rows=16, cols=16,
                                 global_mib=16, buffer_kib=64, cell_bits=8, weight_bits=0,
                                 input_bits=0, dac_bits=1, adc_bits=0), "test")
    check(net(batch=1), {"x": R.standard_normal((1, 3, 12, 10)).astype(F)}, tmp_path,
          tol=1e-5, chip=chip)
