"""Analog layers carry the ONNX node names torch's exporters give their modules, which is how
precision files reach them: the names from the module tree and from a traced forward pass are
those the TorchScript exporter writes, a dynamo export is renamed to the same, and a precision
file gives each layer the settings the compiler gives its node (the storage map's)."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import imcc  # noqa: E402
import imcc.torch as it  # noqa: E402
from imcc.torch.names import static_names, traced_names  # noqa: E402
from tests.torch.helpers import PACK_TIME, export, small_net  # noqa: E402

IMC = ("Conv", "Gemm", "MatMul")


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8, bias=False)
        self.layers = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.named = nn.ModuleDict({"proj": nn.Linear(8, 8)})

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.named["proj"](self.lin(x))


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(2, 8, 3), nn.ReLU())
        self.inner = Inner()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 8))])

    def forward(self, x):
        x = self.stem(x).mean((2, 3))
        return self.blocks[0](self.inner(x))


def _exported(model, x, dynamo=False):
    proto = it.export_onnx(model, x, dynamo=dynamo) if dynamo else export(model, x)
    return sorted(n.name for n in proto.graph.node if n.op_type in IMC)


@pytest.mark.parametrize("model, shape, tree", [
    (Outer(), (2, 2, 5, 5), True), (nn.Linear(3, 4), (2, 3), True),
    (small_net(), (2, 3, 8, 8), False)])  # a Linear on 3-D inputs: only a trace tells
def test_names_are_the_exporters(model, shape, tree):
    x = torch.randn(*shape)
    targets = [q for q, m in model.named_modules() if type(m) in (nn.Conv2d, nn.Conv1d,
                                                                     nn.Linear)]
    want = _exported(model.eval(), x)
    assert sorted(traced_names(model, (x,), targets).values()) == want
    if tree:
        assert sorted(static_names(model, targets).values()) == want
    m = it.convert(model, "ideal", example_inputs=x)
    assert sorted(layer.onnx_name for layer in it.analog_layers(m).values()) == want


def test_dynamo_export_is_renamed_to_the_same_names():
    model, x = small_net(), torch.randn(2, 3, 8, 8)
    assert _exported(model, x, dynamo=True) == _exported(model, x)


def test_precision_files_reach_the_layers_the_compiler_gives_them_to():
    net = small_net()
    x = torch.randn(4, 3, 8, 8)
    prec = {"default": {"adc_bits": 7},
            "layer": [{"match": "/fc/*", "adc_bits": 5, "weight_bits": 6},
                      {"match": "/head/*", "signed": "offset"},
                      {"match": "*Conv", "input_bits": 7}]}
    m = it.convert(net, "rram", precision=prec)
    it.calibrate(m, x)  # takes the exported names (the 3-D Linear is a MatMul)
    prog = imcc.compile(export(net, x), "rram", precision=prec, calib=x.numpy(),
                        priority="resource", time_limit=PACK_TIME)
    compiled = {layer["name"]: layer["precision"] for layer in prog.storage_map["layers"]}
    ours = {layer.onnx_name: layer.precision for layer in it.analog_layers(m).values()}
    assert compiled.keys() == ours.keys()
    for name, p in compiled.items():
        assert {k: getattr(ours[name], k) for k in p} == p, name
    assert ours["/fc/MatMul"].adc_bits == 5 and ours["/conv1/Conv"].input_bits == 7
