"""imcc.torch: a chip's numerics inside PyTorch (docs/torch.md).

:func:`convert` turns a model's ``nn.Conv2d``, ``nn.Conv1d`` and ``nn.Linear`` into analog
layers that simulate the chip in ``eval()`` and inject its noise, with straight-through
gradients, in ``train()`` (hardware-aware training); :func:`calibrate` sets their input scales
as the compiler does; :func:`compile` exports a model to ONNX and compiles it with
:func:`imcc.compile`. :func:`set_seed` and :func:`set_time` choose the simulated chip and its
read time. Only this package imports torch: ``import imcc`` never does.
"""

from isa.diagnostics import ToolchainError


class MissingDependencyError(ToolchainError, ImportError):
    """An optional dependency of imcc is not installed."""


try:
    import torch as _torch  # noqa: F401
except ImportError:  # pragma: no cover - exercised by a subprocess test without torch
    raise MissingDependencyError(
        "imcc.torch needs PyTorch, which is not installed",
        hint="pip install 'imcc[torch]' (torch and the ONNX exporter's onnxscript)") from None

from imcc.torch.export import calibrate, compile, export_onnx  # noqa: E402
from imcc.torch.layers import (  # noqa: E402
    AnalogConv1d,
    AnalogConv2d,
    AnalogLinear,
    analog_layers,
    convert,
    set_seed,
    set_time,
    set_train_noise,
    to_float,
)

__all__ = ["AnalogConv1d", "AnalogConv2d", "AnalogLinear", "MissingDependencyError",
           "analog_layers", "calibrate", "compile", "convert", "export_onnx", "set_seed",
           "set_time", "set_train_noise", "to_float"]
