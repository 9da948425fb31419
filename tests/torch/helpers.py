"""Models and the interpreter oracle shared by imcc.torch's tests."""

from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
import onnx
import torch
from torch import nn

import imcc
from runtime.config import NonIdeal, preset


PACK_TIME = 0.2  # seconds of packing per compile


def noise_free(name: str, **fields):
    """A preset with every device nonideality off (and ``fields`` changed)."""
    return dataclasses.replace(preset(name), nonideal=NonIdeal(), **fields)


class SmallNet(nn.Module):
    """Every kind of crossbar layer: plain, depthwise and grouped convs (reflect padding,
    no bias, stride 2), a Conv1d, a Linear on 3-D inputs (MatMul) and one without bias in a
    Sequential."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 3, padding=1)
        self.dw = nn.Conv2d(24, 24, 3, groups=24, padding=1, bias=False)
        self.g2 = nn.Conv2d(24, 24, 3, groups=4, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(24, 20, 3, stride=2)
        self.c1 = nn.Conv1d(20, 12, 2)
        self.fc = nn.Linear(12, 30)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(30, 10, bias=False))

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self.dw(x)
        x = torch.relu(self.g2(x))
        x = torch.relu(self.conv2(x))
        x = self.c1(x.flatten(2))
        x = self.fc(x.transpose(1, 2))
        return self.head(x.mean(1))


def small_net(seed: int = 0) -> SmallNet:
    torch.manual_seed(seed)
    return SmallNet().eval()


def export(model: nn.Module, example: torch.Tensor) -> onnx.ModelProto:
    """The model as torch's TorchScript exporter writes it (the oracle's own export)."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its deprecation, its constant-folding notes
        torch.onnx.export(model, (example,), f, dynamo=False, input_names=["x"],
                          output_names=["y"])
    return onnx.load_from_string(f.getvalue())


def interpreter(model: nn.Module, example: torch.Tensor, chip, calib: torch.Tensor,
                inputs: torch.Tensor, *, precision=None, seeds=(0,),
                time: float = 0.0) -> list[np.ndarray]:
    """The reference machine's outputs for ``inputs``, one per run seed: the float model
    exported, compiled by imcc.compile with ``calib``, run by the interpreter. (The packer's
    time limit is short: where tiles sit changes no value.)"""
    prog = imcc.compile(export(model, example), chip, precision=precision,
                        calib=calib.numpy(), priority="resource", time_limit=PACK_TIME)
    return [prog.run(inputs.numpy(), seed=s, time=time)["y"] for s in seeds]
