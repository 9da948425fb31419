"""The ONNX frontend: load a model file (or proto) into a typed, static-shape IR graph.

>>> from imcc.frontend import load_model          # doctest: +SKIP
>>> g = load_model("model.onnx", {"input": (1, 3, 224, 224)})  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import onnx

from imcc.frontend.dims import dim_size, dim_symbols
from imcc.frontend.external_data import load_external_data
from imcc.frontend.importer import import_model
from imcc.frontend.loader import _list, check_model, read_model_file
from imcc.frontend.opsets import MAX_OPSET, MIN_OPSET
from imcc.ir import Graph

__all__ = [
    "MAX_OPSET",
    "MIN_OPSET",
    "batched_input_shapes",
    "fixed_batches",
    "load_model",
    "load_model_proto",
    "parse_input_shape",
]


def load_model(path: str | os.PathLike,
               input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Graph:
    """Read, check and import the ONNX model at ``path``.

    External data is read only from files inside the model's folder. ``input_shapes`` gives
    static shapes for inputs with symbolic dims (``--input-shape``). Raises
    :class:`~isa.diagnostics.OnnxImportError` (or ``UnsupportedOpError``) on any defect.
    """
    path = Path(path)
    model = read_model_file(path, external_data=False)
    external = load_external_data(model, path.parent, str(path), defer=True)
    return import_model(check_model(model, str(path), input_shapes, external=external))


def load_model_proto(proto: onnx.ModelProto,
                     input_shapes: Mapping[str, tuple[int, ...]] | None = None, *,
                     base_dir: str | os.PathLike | None = None,
                     where: str = "<model>") -> Graph:
    """Check and import an in-memory model. ``proto`` is not modified. Tensors with external
    data are read from ``base_dir`` (and only from inside it)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    external = load_external_data(model, Path(base_dir) if base_dir is not None else None,
                                  where, defer=True)
    return import_model(check_model(model, where, input_shapes, external=external))


def batched_input_shapes(model: str | os.PathLike | onnx.ModelProto,
                         input_shapes: Mapping[str, tuple[int, ...]],
                         batch: int | None = None) -> dict[str, tuple[int, ...]]:
    """The shape of each graph input, as far as the overrides settle it: an input named in
    ``input_shapes`` (``--input-shape NAME=1x3x224x224``) takes that shape; a name there that is
    no input but a symbolic dimension of inputs (``--input-shape sequence_length=128``, a single
    size; the exporters of Hugging Face and PyTorch name them) sets that dimension in every input
    that has it, and in the sums and products of names that some exporters write
    (``past_sequence_length + sequence_length``); a symbolic leading dimension left is the batch
    (``batch``, default 1). Inputs with a symbolic dimension still unset are left out (the
    loader names them). An input whose leading dim the model fixes (``torch.onnx.export`` fixes
    it at the example's batch) keeps it, whatever ``batch`` says: the program is compiled for
    that batch and a run loops over chunks of it (:func:`fixed_batches` names such inputs).
    Reads the graph's inputs only, not its external weights."""
    from isa.diagnostics import OnnxImportError

    proto = model if isinstance(model, onnx.ModelProto) else \
        read_model_file(model, external_data=False)
    inits = {t.name for t in proto.graph.initializer}
    inputs = [vi for vi in proto.graph.input if vi.name not in inits]
    symbols = {name for vi in inputs for d in vi.type.tensor_type.shape.dim
               if not d.HasField("dim_value") for name in dim_symbols(d.dim_param)}
    names = {vi.name for vi in inputs}
    shapes = {k: tuple(v) for k, v in input_shapes.items() if k in names}
    sizes = {}
    where = "<model>" if isinstance(model, onnx.ModelProto) else str(model)
    for k, v in input_shapes.items():
        if k in names:
            continue
        if k not in symbols:
            raise OnnxImportError(
                f"{where}: --input-shape names {k!r}, which is neither an input of the model "
                f"nor a symbolic dimension of one (symbolic dimensions: "
                f"{', '.join(sorted(symbols)) or 'none'}; "
                f"inputs: {_list(sorted(names)) or 'none'})")
        if len(v) != 1:
            raise OnnxImportError(f"{where}: --input-shape {k}={'x'.join(map(str, v))}: {k!r} is "
                                  f"a symbolic dimension, give it one size ({k}=128)")
        sizes[k] = int(v[0])
    for vi in inputs:
        dims = vi.type.tensor_type.shape.dim
        if vi.name in shapes or not dims:
            continue
        shape = []
        for k, d in enumerate(dims):
            size = None if d.HasField("dim_value") else dim_size(d.dim_param, sizes)
            if d.HasField("dim_value"):
                shape.append(d.dim_value)  # a fixed 0 is no symbol: an empty input
            elif size is not None:
                if not 0 < size < 2**62:
                    raise OnnxImportError(
                        f"{where}: dimension {k} of input {vi.name!r}, {d.dim_param!r}, comes "
                        f"to {size} with the sizes given ({sizes}); give sizes that make it "
                        "positive and smaller")
                shape.append(size)
            elif k == 0:
                shape.append(batch or 1)
            else:
                break
        else:
            if shape != [d.dim_value for d in dims]:
                shapes[vi.name] = tuple(shape)
    return shapes


def fixed_batches(model: str | os.PathLike | onnx.ModelProto,
                  input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> dict[str, int]:
    """The inputs (not named in ``input_shapes``) whose leading dim the model fixes, with that
    dim: ``{"x": 1}`` for a model exported by ``torch.onnx.export`` from a batch of one."""
    proto = model if isinstance(model, onnx.ModelProto) else \
        read_model_file(model, external_data=False)
    inits = {t.name for t in proto.graph.initializer}
    out = {}
    for vi in proto.graph.input:
        if vi.name in inits or vi.name in (input_shapes or {}):
            continue
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
            out[vi.name] = int(dims[0].dim_value)
    return out


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """Parse ``NAME=1x3x224x224`` (``,`` also separates dims) into ``(name, dims)``.

    >>> parse_input_shape("input_ids=1x128")
    ('input_ids', (1, 128))
    """
    from isa.diagnostics import OnnxImportError

    name, sep, dims = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in dims.replace(",", "x").split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d <= 0 for d in shape):
        raise OnnxImportError(f"--input-shape {text!r}: expected NAME=D1xD2x... with positive "
                              "dims, e.g. input=1x3x224x224")
    return name, shape
