"""The ONNX node names torch's exporter gives a module's Conv, Gemm and MatMul, which precision
files match (``match = "/conv1/*"``) and which tie an analog layer to its node in the compiled
graph.

torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``, the one
:func:`imcc.torch.compile` uses) names a node ``/<scope>/<scope>/.../<OpType>``: one scope per
module whose ``forward`` is running, outermost first, the model itself left out. A module's scope
is its qualified name from the model (``features.0``) cut to its last atom that is not a number,
with the numbers after it (``features.0`` -> ``features.0``, ``encoder.layers.0`` ->
``layers.0``, ``encoder.fc`` -> ``fc``). Containers that are not called (``ModuleList``,
``ModuleDict``) are no scope. So a model with ``self.conv1`` and ``self.fc`` gets
``/conv1/Conv`` and ``/fc/Gemm``; ``nn.Sequential(nn.Conv2d(...))`` as ``self.block`` gets
``/block/block.0/Conv``; a model that is itself one ``nn.Linear`` gets ``/Gemm``. A Linear is a
``Gemm`` on a 2-D input with a bias, else a ``MatMul`` (its bias a separate ``Add``). A module
called twice gets a second node (``/fc_1/Gemm``); its analog layer keeps the first name.

The dynamo exporter (``dynamo=True``) names nodes ``node_conv2d`` and so on, but records the
module scopes in each node's metadata (``pkg.torch.onnx.name_scopes``): :func:`rename_dynamo`
gives its IMC nodes the names above (a Linear without bias, which it exports as a ``Gemm``
without ``C``, named as a ``MatMul``), so one precision file serves both exporters.
"""

from __future__ import annotations

import ast

import onnx
import torch
from torch import nn

IMC_OPS = ("Conv", "Gemm", "MatMul")
_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.ParameterList, nn.ParameterDict)


def scope(qualified: str) -> str:
    """A module's scope name: its qualified name from its last atom that is not a number on
    (as torch's exporter cuts it)."""
    atoms = qualified.split(".")
    for i in range(len(atoms) - 1, -1, -1):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return qualified


def op_type(module: nn.Module, ndim: int = 2) -> str:
    """The ONNX op a Conv1d/Conv2d/Linear exports as, for an input of ``ndim`` dims."""
    if isinstance(module, nn.Linear):
        return "Gemm" if ndim == 2 and module.bias is not None else "MatMul"
    return "Conv"


def node_name(scopes: list[str], op: str) -> str:
    return "/" + "/".join([*scopes, op])


def static_names(model: nn.Module, targets: list[str]) -> dict[str, str]:
    """The names of the modules ``targets`` (qualified names) assuming every module on the
    way down is called by its parent, containers excepted, and Linear inputs are 2-D."""
    modules = dict(model.named_modules())
    out = {}
    for q in targets:
        atoms = q.split(".") if q else []
        scopes = []
        for i in range(1, len(atoms) + 1):
            prefix = ".".join(atoms[:i])
            if not isinstance(modules[prefix], _CONTAINERS):
                scopes.append(scope(prefix))
        out[q] = node_name(scopes, op_type(modules[q]))
    return out


def traced_names(model: nn.Module, args: tuple, targets: list[str]) -> dict[str, str]:
    """The names of the modules ``targets`` from the modules that actually run, as a forward
    pass of ``model`` on ``args`` calls them (hooks record the call stack; the first call of
    a module names it). Modules that do not run are left out."""
    qual = {m: q for q, m in model.named_modules()}
    wanted = set(targets)
    stack: list[nn.Module] = []
    out: dict[str, str] = {}

    def pre(mod, inputs):
        stack.append(mod)
        q = qual.get(mod)
        if q in wanted and q not in out:
            x = inputs[0] if inputs else None
            ndim = x.dim() if isinstance(x, torch.Tensor) else 2
            scopes = [scope(qual[m]) for m in stack[1:] if qual.get(m, "") != ""]
            out[q] = node_name(scopes, op_type(mod, ndim))

    def post(mod, inputs, output):
        stack.pop()

    handles = []
    try:
        for m in qual:
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post, always_call=True))
        with torch.no_grad():
            model(*args)
    finally:
        for h in handles:
            h.remove()
    return out


def _scopes(node: onnx.NodeProto) -> list[str] | None:
    for p in node.metadata_props:
        if p.key == "pkg.torch.onnx.name_scopes":
            try:
                v = ast.literal_eval(p.value)
            except (ValueError, SyntaxError):
                return None
            return [str(s) for s in v] if isinstance(v, list) else None
    return None


def rename_dynamo(model: onnx.ModelProto) -> None:
    """Give the Conv, Gemm and MatMul nodes of a dynamo export the TorchScript exporter's
    names (in place), from their module scopes; a repeated name gets ``_1``, ``_2`` ... on its
    innermost scope, as a module called again does there."""
    taken = {n.name for n in model.graph.node if n.op_type not in IMC_OPS}
    for n in model.graph.node:
        if n.op_type not in IMC_OPS:
            continue
        s = _scopes(n)
        if s is None:
            continue
        mods = [scope(x) for x in s[1:-1] if x]  # first: the model; last: the op itself
        # a Linear without bias is a Gemm without C here, a MatMul in TorchScript's export
        op = "MatMul" if n.op_type == "Gemm" and (len(n.input) < 3 or not n.input[2]) \
            else n.op_type
        name, k = node_name(mods, op), 0
        while name in taken:
            k += 1
            name = node_name(mods[:-1] + [f"{mods[-1]}_{k}"] if mods else [f"_{k}"], op)
        taken.add(name)
        n.name = name
