"""Model builders: structurally real networks written with ``onnx.helper``, seeded weights.

``build(name, **kw)`` returns an ``onnx.ModelProto``. Every builder has size knobs, so tests
use small versions and statistics or benchmarks the full ones; ``weights="shape"`` gives a
model of the same structure with ``ConstantOfShape`` weights (no weight data).

>>> from imcc.models import build
>>> build("mlp", features=8, hidden=(4,), classes=2).graph.output[0].name
'logits'
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType

import onnx

from imcc.models import (alexnet, densenet, lenet, llama, mlp, mobilenet, resnet, transformer,
                         vgg)

_FAMILIES = (mlp, lenet, alexnet, vgg, resnet, mobilenet, densenet, transformer, llama)

#: Model name -> the family ``build`` function that makes it.
MODELS: MappingProxyType[str, Callable[..., onnx.ModelProto]] = MappingProxyType(
    {name: fam.build for fam in _FAMILIES for name in fam.NAMES})


def build(name: str, **kw) -> onnx.ModelProto:
    """Build model ``name`` (one of :data:`MODELS`) with the family's keyword knobs."""
    try:
        fn = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None
    return fn(name, **kw)
