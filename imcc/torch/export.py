"""From torch to the compiler: export a module to ONNX, calibrate analog layers with the
compiler's own calibration, and compile a module into an :class:`imcc.Program`.

Both :func:`calibrate` and :func:`compile` export the float model (:func:`to_float` of a
converted one: its trained weights, ordinary Conv/Gemm/MatMul nodes) with torch's TorchScript
exporter by default, whose node names carry the module path (:mod:`imcc.torch.names`);
``dynamo=True`` uses the dynamo exporter and renames its crossbar nodes the same way.
"""

from __future__ import annotations

import inspect
import io
import warnings

import numpy as np
import onnx
import torch
from torch import nn

from imcc.torch.layers import _args, analog_layers, to_float
from imcc.torch.names import rename_dynamo, traced_names
from isa.diagnostics import ConfigError, InputError

__all__ = ["calibrate", "compile", "export_onnx"]


def _input_names(module: nn.Module, n: int) -> list[str]:
    """The names of the exported inputs: the forward's positional parameter names."""
    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    if len(names) < n or len(set(names)) < n:
        return [f"input{i}" for i in range(n)] if n > 1 else ["input"]
    return names


def _as_tensors(inputs, what: str) -> tuple[torch.Tensor, ...]:
    out = []
    for x in _args(inputs):
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{what}: expected tensors or numpy arrays, got "
                             f"{type(x).__name__}")
        out.append(x)
    if not out:
        raise InputError(f"{what}: no inputs given")
    return tuple(out)


def export_onnx(module: nn.Module, example_inputs, *, dynamo: bool = False,
                opset: int | None = None) -> onnx.ModelProto:
    """The ONNX model of ``module`` (the float model of a converted one) traced on
    ``example_inputs`` (a tensor or a tuple; their first dimension is the batch the compiled
    program takes). Inputs are named after the forward's parameters, outputs ``output`` (or
    ``output0``, ``output1``, ...)."""
    float_model = to_float(module).eval()
    args = tuple(x.detach().cpu() for x in _as_tensors(example_inputs, "example_inputs"))
    with torch.no_grad():
        out = float_model(*args)
    n_out = len(out) if isinstance(out, tuple | list) else 1
    inames = _input_names(float_model, len(args))
    onames = ["output"] if n_out == 1 else [f"output{i}" for i in range(n_out)]
    kw = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            prog = torch.onnx.export(float_model, args, dynamo=True, input_names=inames,
                                     output_names=onames, verbose=False, **kw)
            model = prog.model_proto
            rename_dynamo(model)
            return model
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            kw["dynamo"] = False  # the default from torch 2.9 on
        f = io.BytesIO()
        torch.onnx.export(float_model, args, f, input_names=inames, output_names=onames, **kw)
    return onnx.load_from_string(f.getvalue())


def _imc_graph(proto: onnx.ModelProto):
    """The canonical graph of an exported model and its crossbar nodes by name (the
    compiler's own loading, canonicalization and partition)."""
    from imcc.frontend import load_model_proto
    from imcc.partition import OpClass, partition
    from imcc.passes import canonicalize

    graph = canonicalize(load_model_proto(proto, where="exported model"))
    part = partition(graph)
    imc = {n.name: n for n in graph.nodes if part.classes[n.name] == OpClass.IMC}
    return graph, imc


def calibrate(model: nn.Module, inputs, *, calibration: str = "minmax",
              percentile: float = 99.99, batch: int | None = None,
              dynamo: bool = False) -> dict[str, tuple[float, bool]]:
    """Set every analog layer's input range and sign from calibration samples ``inputs`` (a
    tensor or a tuple of them, samples along the first dimension), as the compiler sets its
    input scales for the same samples: the model is exported to ONNX and the compiler's own
    :func:`imcc.calibrate.activation_ranges` (``calibration`` ``minmax`` or ``percentile``)
    and :func:`imcc.calibrate.nonnegative` decide. ``batch`` is the exported graph's batch,
    in chunks of which the samples run (default: all of them, at most 64; percentile
    calibration subsamples per chunk where a tensor holds over 2**20 values, so give
    compile's batch for exact agreement there). The layers also take the node names the
    export gives them (and the precision those match). Returns layer name -> (input range,
    signed) as set."""
    from imcc.calibrate import activation_ranges, nonnegative

    layers = analog_layers(model)
    if not layers:
        raise ConfigError("calibrate: the model has no analog layers",
                          hint="convert it first: imcc.torch.convert(model, chip)")
    if calibration not in ("minmax", "percentile"):
        raise ConfigError(f"calibration = {calibration!r}: must be one of minmax, percentile")
    samples = _as_tensors(inputs, "calibrate")
    n = min(len(s) for s in samples)
    if n < 1:
        raise InputError("calibrate: no calibration samples (the first dimension is 0)")
    b = min(n, 64) if batch is None else int(batch)
    if b < 1:
        raise ConfigError(f"batch = {batch!r}: must be an integer >= 1")
    example = tuple(s[:b].detach().cpu() for s in samples)
    float_model = to_float(model).eval()
    names = traced_names(float_model, example, list(layers))
    for q, layer in layers.items():
        if q in names:
            layer.rename(names[q])
    proto = export_onnx(float_model, example, dynamo=dynamo)
    feeds = {i.name: s.detach().cpu().numpy()
             for i, s in zip(_graph_inputs(proto), samples)}
    graph, imc = _imc_graph(proto)
    memo: dict = {}
    nodes = {}
    for q, layer in layers.items():
        node = imc.get(layer.onnx_name)
        if node is None:
            warnings.warn(f"calibrate: layer {q!r} ({layer.onnx_name}) is not a crossbar node "
                          "of the exported model (it did not run); its input range is left "
                          "as it was", stacklevel=2)
            continue
        w = np.asarray(graph.constants.get(node.inputs[1], np.empty(0)))
        if w.shape == layer._weight_shape()[0] and not np.array_equal(w, layer._weight_matrix()):
            warnings.warn(f"calibrate: layer {q!r}: the weights of its exported node "
                          f"{layer.onnx_name} differ from its own (a BatchNorm the exporter "
                          "folded into them?): the compiled program quantizes other weights than "
                          "the layer simulates; fold the BatchNorm into the conv before "
                          "converting (torch.nn.utils.fusion.fuse_conv_bn_eval)", stacklevel=2)
        nodes[q] = node
    covered = {layers[q].onnx_name for q in nodes}
    float_only = [name for name in imc if name not in covered]
    if float_only:
        warnings.warn(f"calibrate: {len(float_only)} crossbar node(s) of the exported model "
                      f"have no analog layer and stay float in torch ({', '.join(float_only[:3])}"
                      f"{', ...' if len(float_only) > 3 else ''}): products computed outside an "
                      "nn.Conv1d/Conv2d/Linear's own forward", stacklevel=2)
    quantized = [nodes[q].inputs[0] for q in nodes if layers[q].precision.input_bits > 0]
    ranges = activation_ranges(graph, quantized, feeds, method=calibration,
                               percentile=percentile) if quantized else {}
    out = {}
    for q, node in nodes.items():
        layer = layers[q]
        signed = not nonnegative(graph, node.inputs[0], memo)
        amax = ranges.get(node.inputs[0], 0.0)
        layer.set_input_range(amax, signed)
        out[layer.onnx_name] = (amax, signed)
    return out


def _graph_inputs(proto: onnx.ModelProto) -> list:
    inits = {t.name for t in proto.graph.initializer}
    return [i for i in proto.graph.input if i.name not in inits]


def compile(module: nn.Module, example_inputs, chip=None, *, precision=None, calib=None,
            dynamo: bool = False, **compile_options):
    """Export ``module`` (a plain model, or a converted one: its trained float weights) to
    ONNX traced on ``example_inputs`` and compile it with :func:`imcc.compile`.

    ``chip`` and ``precision`` default to a converted model's own (else ``"ideal"`` and
    none). ``calib``: calibration samples (a tensor, an array, or a tuple of them for a model
    of several inputs), the same as given to :func:`calibrate` for the two to agree. The
    program's batch is the first dimension of ``example_inputs``; its inputs are named after
    the forward's parameters, its outputs ``output`` (``output0``, ... for several). The other
    keyword arguments are :func:`imcc.compile`'s (``priority``, ``calibration``, ...)."""
    import imcc

    layers = analog_layers(module)
    first = next(iter(layers.values()), None)
    if chip is None:
        chip = first.chip if first is not None else "ideal"
    if precision is None and first is not None:
        precision = first.precision_config
    proto = export_onnx(module, example_inputs, dynamo=dynamo)
    if calib is not None:
        names = [i.name for i in _graph_inputs(proto)]
        arrays = [s.detach().cpu().numpy() for s in _as_tensors(calib, "calib")]
        if len(arrays) != len(names):
            raise InputError(f"calib: {len(arrays)} array(s) for a model of {len(names)} "
                             "input(s)")
        calib = dict(zip(names, arrays))
    return imcc.compile(proto, chip, precision=precision, calib=calib, **compile_options)
