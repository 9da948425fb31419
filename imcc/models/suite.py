"""The seed paper's Table I models and MobileNetV2 at full size, and small models of the same
seven families.

One table serves the full-size tests (``pytest -m slow``), the CI-size tests and
``benchmarks/bench_models.py``, so they build the same graphs. ``arrays`` is what each full-size
model needs on a chip of 256x256 arrays with two physical columns per weight column (the float
path's differential pair, or 8-bit weights on 8-bit cells), under the resource priority: the
compiler's packing result, which equals its area lower bound for these models. Chips for the
models are sized from it (:func:`chip_overrides`), with some headroom for the efficiency
priority's replicas.

>>> [m.name for m in TABLE_I]
['alexnet', 'vgg16', 'resnet50', 'mobilenet_v2', 'densenet121', 'bert-base', 'gpt2-medium']
>>> chip_overrides(TABLE_I[2], headroom=1.0)["arrays_per_tile"]
7
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import onnx
from onnx import numpy_helper

from imcc.models import build

MAX_TILES = 128  # tiles of a chip (the ISA's memory map has room for 128 tile buffers)


def _frozen(**kw) -> MappingProxyType:
    return MappingProxyType(kw)


@dataclass(frozen=True)
class SuiteModel:
    """A Table I model: builder ``name``, the knobs of its full-size and of its small version,
    the arrays the full-size model needs, and whether it is a CNN or a transformer."""

    name: str
    kind: str  # "cnn" or "transformer"
    arrays: int
    full: MappingProxyType = field(default_factory=_frozen)
    small: MappingProxyType = field(default_factory=_frozen)

    def model(self, size: str = "full", *, batch: int | str = "batch", seed: int = 0,
              weights: str = "random") -> onnx.ModelProto:
        """The model at ``size`` (``full`` or ``small``) with a symbolic (``"batch"``) or fixed
        leading dimension."""
        knobs = dict(self.full if size == "full" else self.small)
        return build(self.name, batch=batch, seed=seed, weights=weights, **knobs)


_TRANSFORMER_SMALL = _frozen(seq=8, layers=2, hidden=32, heads=4, ffn=64, vocab=50, max_pos=16)

#: Table I of the seed paper (Zhou et al. 2023), whose GPT-2 is the 354.8 M-parameter gpt2-medium,
#: and MobileNetV2 (not in Table I), for its depthwise convolutions.
TABLE_I: tuple[SuiteModel, ...] = (
    SuiteModel("alexnet", "cnn", 1868,
               small=_frozen(image=64, width=0.125, hidden=32, classes=10)),
    SuiteModel("vgg16", "cnn", 4225,
               small=_frozen(image=32, width=0.0625, hidden=32, classes=10)),
    SuiteModel("resnet50", "cnn", 780,
               small=_frozen(image=32, width=8, classes=10, depths=(1, 2, 1, 1))),
    SuiteModel("mobilenet_v2", "cnn", 168,
               small=_frozen(image=32, width=0.25, classes=10)),
    SuiteModel("densenet121", "cnn", 243,
               small=_frozen(image=32, growth=4, blocks=(2, 3, 2, 2), init_features=8,
                             classes=10)),
    SuiteModel("bert-base", "transformer", 2610, full=_frozen(seq=128),
               small=_TRANSFORMER_SMALL),
    SuiteModel("gpt2-medium", "transformer", 10788, full=_frozen(seq=128),
               small=_TRANSFORMER_SMALL),
)

#: GPT-2 small, for machines where gpt2-medium does not fit.
GPT2_SMALL = SuiteModel("gpt2", "transformer", 3771, full=_frozen(seq=128),
                        small=_TRANSFORMER_SMALL)

BY_NAME = MappingProxyType({m.name: m for m in (*TABLE_I, GPT2_SMALL)})


def chip_overrides(m: SuiteModel, *, headroom: float = 1.25, size: str = "full") -> dict:
    """Chip-file fields that give ``m`` its arrays (times ``headroom``) in at most 128 tiles, and
    the largest global memory (activations of a batch of full-size transformers are large)."""
    arrays = m.arrays if size == "full" else 64
    per_tile = max(1, math.ceil(arrays * headroom / MAX_TILES))
    return {"tiles": MAX_TILES, "arrays_per_tile": per_tile, "global_mib": 2048}


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the model's initializers (its weights, as stored)."""
    total = 0
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            total += int(info["length"])
        else:
            total += numpy_helper.to_array(t).nbytes
    return total


def save(model: onnx.ModelProto, folder: str | Path, *, external: bool = True) -> Path:
    """Write ``model`` as ``folder/model.onnx``; with ``external``, every initializer of 1 KiB
    or more goes to ``folder/model.data`` (the layout of large PyTorch exports), and, as
    ``onnx.save`` does, ``model`` itself then refers to that file instead of holding the data."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    if external:
        onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location="model.data", size_threshold=1024)
    else:
        onnx.save(model, path)
    return path


def sample_inputs(model: onnx.ModelProto, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded inputs for ``model`` with leading dimension ``batch``: standard normal floats,
    token ids below 50 (every vocabulary here has at least 50 entries), and attention masks
    whose last quarter of positions is padding."""
    inits = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(seed)
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = [d.dim_value if d.dim_value > 0 else batch for d in vi.type.tensor_type.shape.dim]
        dims[0] = batch
        if vi.type.tensor_type.elem_type == onnx.TensorProto.INT64:
            if "mask" in vi.name:
                a = np.ones(dims, np.int64)
                a[..., dims[-1] - dims[-1] // 4:] = 0
            else:
                a = rng.integers(0, 50, dims).astype(np.int64)
        else:
            a = rng.standard_normal(dims).astype(np.float32)
        out[vi.name] = a
    return out
