"""Reading and validating an ONNX file: parsing, external data (:mod:`.external_data`), the
opset (:mod:`.opsets`), domain checks, cycles, ``onnx.checker`` and ONNX shape inference (with
data propagation).

Every defect a user can cause becomes one :class:`OnnxImportError` (or
:class:`UnsupportedOpError`) line naming the file, the tensor, node or input concerned, and what
to do. Nothing in a model is executed: parsing is protobuf only, external data is read as raw
bytes from files inside the model's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from imcc.frontend.bind_constants import NeedsConstants
from imcc.frontend.contrib import CONTRIB, RULES, expand_contrib
from imcc.frontend.control_flow import control_inputs, inline_static_control_flow
from imcc.frontend.dims import dim_symbols, dims_text
from imcc.frontend.embedded import read_embedded
from imcc.frontend.external_data import (
    SMALL_TENSOR,
    ExternalData,
    load_external_data,
    materialize,
)
from imcc.frontend.opsets import (
    MIN_OPSET,
    STD_DOMAINS,
    declared_opset,
    first_line,
    read_opset,
)
from imcc.frontend.repairs import list_ir3_initializers, skeleton
from isa import hostlimits
from isa.diagnostics import OnnxImportError, UnsupportedOpError


@dataclass(frozen=True)
class CheckedModel:
    """A parsed, validated model: ``proto`` (external data loaded, nodes topologically sorted),
    its default-domain ``opset`` and the ONNX-inferred type of each tensor (``types``: name ->
    TypeProto; dims may still be symbolic where inference could not tell). The initializers
    named in ``external`` are still external in ``proto``: their data is read on import;
    ``written_ops`` are the op types of nodes the opset converter replaced."""

    proto: onnx.ModelProto
    opset: int
    types: Mapping[str, onnx.TypeProto]
    where: str
    external: Mapping[str, ExternalData] = field(default_factory=dict)
    #: For a model the opset converter rewrote: first output -> the op type the model wrote
    #: (``Upsample`` for the ``Resize`` that replaced it), for diagnostics.
    written_ops: Mapping[str, str] = field(default_factory=dict)


def _list(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def read_model_file(path: str | os.PathLike, *, external_data: bool = True) -> onnx.ModelProto:
    """Parse the ONNX file at ``path`` and (unless ``external_data`` is False) load its
    external data from the model's folder."""
    path = Path(path)
    try:  # large weights inside the file stay there, read later like external data
        blob = read_embedded(path, f"{path}: the model")
        if blob is None:
            blob = hostlimits.read_bytes(path, f"{path}: the model")
    except OSError as e:
        raise OnnxImportError(f"{path}: cannot read model: {e.strerror}") from None
    model = parse_model_bytes(blob, str(path))
    del blob  # the parsed model holds its own copy
    if external_data:
        load_external_data(model, path.parent, str(path))
    return model


def parse_model_bytes(blob: bytes, where: str) -> onnx.ModelProto:
    """Parse serialized ONNX bytes; a truncated or foreign file gives one clear error."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(blob)
    except (DecodeError, RuntimeError, ValueError):
        raise OnnxImportError(
            f"{where}: not a readable ONNX model (the protobuf does not parse; "
            "the file is truncated, corrupt or not ONNX)") from None
    if not model.HasField("graph") or model.ir_version <= 0 or not model.opset_import:
        raise OnnxImportError(
            f"{where}: not an ONNX model (no graph, IR version or opset import); "
            "export the model to .onnx first")
    return model


def _node_label(i: int, n: onnx.NodeProto) -> str:
    op = f"{n.domain + '.' if n.domain else ''}{n.op_type}"
    if n.name:
        return f"'{n.name}' ({op})"
    out = next((o for o in n.output if o), "")
    return f"the {op} node writing '{out}'" if out else f"the {op} node #{i}"


#: An Einsum equation as the ONNX specification writes it: terms of letters with at most one
#: ellipsis each, separated by commas, and an optional ``->`` output term.
_TERM = r"\s*[A-Za-z]*(?:\.\.\.)?[A-Za-z]*\s*"
_EINSUM = re.compile(rf"{_TERM}(?:,{_TERM})*(?:->{_TERM})?")


def check_attributes(model: onnx.ModelProto, where: str) -> None:
    """Refuse attribute values that onnx's own checker and shape inference do not survive,
    before they see the model: an Einsum equation with two ellipses in one term (``......``)
    makes shape inference loop forever."""
    for i, n in enumerate(model.graph.node):
        if n.op_type != "Einsum" or n.domain not in STD_DOMAINS:
            continue
        for a in n.attribute:
            if a.name == "equation" and a.type == onnx.AttributeProto.STRING:
                eq = a.s.decode("utf-8", "replace")
                if len(eq) > 1000 or not _EINSUM.fullmatch(eq):
                    raise OnnxImportError(
                        f"{where}: {_node_label(i, n)}: Einsum equation {eq[:100]!r} is not "
                        "terms of letters with at most one '...' each, separated by ',' with an "
                        "optional '->' result; fix the model's equation")


def check_domains(model: onnx.ModelProto, where: str) -> None:
    """Reject nodes of non-standard domains and control flow with subgraphs, all in one error."""
    foreign = [_node_label(i, n) for i, n in enumerate(model.graph.node)
               if n.domain not in STD_DOMAINS]
    if foreign:
        contrib = any(n.domain == CONTRIB for n in model.graph.node)
        raise OnnxImportError(
            f"{where}: {len(foreign)} node(s) use an unknown operator domain: {_list(foreign)}; "
            "imcc supports only the standard ONNX domain (export without custom or "
            "contrib operators" + (f"; of {CONTRIB} it reads {', '.join(sorted(RULES))}"
                                   if contrib else "") + ")")
    nodes = [(i, n) for i, n in enumerate(model.graph.node)
             if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                    for a in n.attribute)]
    if nodes:
        text = (f"{where}: control flow with subgraphs is not supported: "
                f"{_list([_node_label(i, n) for i, n in nodes])}; export the model with static "
                "control flow")
        names = control_inputs(model, [n for _, n in nodes])
        raise NeedsConstants(text, names) if names else UnsupportedOpError(text)


def sort_nodes(model: onnx.ModelProto, where: str) -> None:
    """Put the nodes in topological order; report cycles, undefined and duplicate tensors."""
    g = model.graph
    defined = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    producer: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for o in n.output:
            if not o:
                continue
            if o in producer or o in defined:
                raise OnnxImportError(
                    f"{where}: tensor {o!r} is defined more than once (by node "
                    f"{_node_label(i, n)}); every tensor must have a single producer")
            producer[o] = i
    if not g.output:
        raise OnnxImportError(f"{where}: the graph has no outputs; export the model with the "
                              "tensors it should return as graph outputs")
    for o in g.output:
        if o.name not in producer and o.name not in defined:
            raise OnnxImportError(f"{where}: graph output {o.name!r} is not defined by any "
                                  "input, initializer or node")
    deps: list[set[int]] = []
    for i, n in enumerate(g.node):
        d = set()
        for t in n.input:
            if t in defined:
                continue
            if t not in producer:
                raise OnnxImportError(f"{where}: node {_node_label(i, n)} reads tensor {t!r}, "
                                      "which no input, initializer or node defines")
            d.add(producer[t])
        deps.append(d)
    order: list[int] = []
    state = [0] * len(g.node)  # 0 new, 1 on stack, 2 done
    for root in range(len(g.node)):
        if state[root]:
            continue
        stack = [(root, iter(sorted(deps[root])))]
        state[root] = 1
        while stack:
            i, it = stack[-1]
            j = next(it, None)
            if j is None:
                stack.pop()
                state[i] = 2
                order.append(i)
            elif state[j] == 1:
                cyc = [k for k, _ in stack][[k for k, _ in stack].index(j):]
                names = " -> ".join(_node_label(k, g.node[k]) for k in cyc + [j])
                raise OnnxImportError(f"{where}: the graph has a cycle: {names}; an ONNX graph "
                                      "must be acyclic")
            elif state[j] == 0:
                state[j] = 1
                stack.append((j, iter(sorted(deps[j]))))
    if order != list(range(len(g.node))):
        nodes = [g.node[i] for i in order]
        copies = [onnx.NodeProto() for _ in nodes]
        for c, n in zip(copies, nodes):
            c.CopyFrom(n)
        del g.node[:]
        g.node.extend(copies)


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def apply_input_shapes(model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]],
                       where: str) -> None:
    """Set the dims of graph inputs named in ``shapes`` (the ``--input-shape`` overrides)."""
    inputs = {i.name: i for i in _graph_inputs(model)}
    for name, dims in shapes.items():
        vi = inputs.get(name)
        if vi is None:
            raise OnnxImportError(
                f"{where}: --input-shape names {name!r}, which is not an input of the model "
                f"(inputs: {_list(list(inputs)) or 'none'})")
        tt = vi.type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) != len(dims):
            raise OnnxImportError(
                f"{where}: --input-shape {name}={'x'.join(map(str, dims))} has rank {len(dims)} "
                f"but input {name!r} has rank {len(tt.shape.dim)}")
        for k, (old, d) in enumerate(zip(tt.shape.dim, dims)):
            if not 0 < d < 2**62:
                raise OnnxImportError(f"{where}: --input-shape {name}: dimension {k} is {d}; "
                                      "give sizes from 1 to below 2**62")
            if old.HasField("dim_value") and old.dim_value != d:
                raise OnnxImportError(
                    f"{where}: --input-shape {name}: dimension {k} is fixed to {old.dim_value} "
                    f"in the model, not {d}")
        tt.ClearField("shape")
        for d in dims:
            tt.shape.dim.add().dim_value = int(d)


def _fill_output_shapes(skel: onnx.ModelProto) -> list[str]:
    """Graph outputs declared without a shape (the checker requires one; onnxruntime and many
    exporters do not) get the shape ONNX's inference finds. Return the ones still without."""
    def missing(g):
        return [o for o in g.output
                if o.type.HasField("tensor_type") and not o.type.tensor_type.HasField("shape")]

    if not missing(skel.graph):
        return []
    try:
        inferred = onnx.shape_inference.infer_shapes(skel)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError,
            UnicodeError):
        inferred = skel
    found = {o.name: o.type for o in inferred.graph.output
             if o.type.HasField("tensor_type") and o.type.tensor_type.HasField("shape")}
    for o in missing(skel.graph):
        if o.name in found:
            o.type.CopyFrom(found[o.name])
    return [o.name for o in missing(skel.graph)]


def _static_numel(tp: onnx.TypeProto) -> int | None:
    """The element count of a tensor type of known element type and static shape, or None."""
    tt = tp.tensor_type
    if not tp.HasField("tensor_type") or not tt.elem_type or not tt.HasField("shape"):
        return None
    n = 1
    for d in tt.shape.dim:
        if not d.HasField("dim_value"):
            return None
        n *= max(0, d.dim_value)
    return n


def _without_large_values(skel: onnx.ModelProto, typed: onnx.ModelProto) -> onnx.ModelProto:
    """``skel`` where every node whose outputs all have more than ``SMALL_TENSOR`` elements
    (by the types of ``typed``, inferred without data propagation) is replaced by graph inputs
    of those types. onnx's data propagation materializes the values it propagates (each element
    a protobuf message): a ConstantOfShape of 2**26 elements and a few Adds of it took
    gigabytes. Shape operands are small; nothing they need is cut."""
    types = {vi.name: vi.type for g in (typed.graph,)
             for vi in list(g.input) + list(g.value_info) + list(g.output)}
    cut = []
    for n in skel.graph.node:
        outs = [o for o in n.output if o]
        sizes = [_static_numel(types[o]) if o in types else None for o in outs]
        if outs and all(k is not None and k > SMALL_TENSOR for k in sizes):
            cut.append(n)
    if not cut:
        return skel
    out = onnx.ModelProto()
    out.CopyFrom(skel)
    drop = {id(n) for n in cut}
    kept = [n for n in skel.graph.node if id(n) not in drop]
    del out.graph.node[:]
    out.graph.node.extend(kept)
    listed = {i.name for i in out.graph.input}
    for n in cut:
        for o in n.output:
            if o and o not in listed:
                vi = out.graph.input.add()
                vi.name = o
                vi.type.CopyFrom(types[o])
    return out


def _strict_inference(skel: onnx.ModelProto, where: str) -> onnx.ModelProto:
    try:
        typed = onnx.shape_inference.infer_shapes(skel, check_type=True, strict_mode=True)
        return onnx.shape_inference.infer_shapes(
            _without_large_values(skel, typed), check_type=True, strict_mode=True,
            data_prop=True)
    except UnicodeError:
        raise OnnxImportError(f"{where}: ONNX shape inference fails on a name that is not valid "
                              "UTF-8; the file is corrupt") from None
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError,
            RuntimeError, ValueError) as e:
        raise OnnxImportError(f"{where}: ONNX shape inference fails: {first_line(e)}; the "
                              "model is inconsistent") from None


def check_and_infer(model: onnx.ModelProto, where: str) -> dict[str, onnx.TypeProto]:
    """Run ``onnx.checker`` and strict shape inference with data propagation; return the
    inferred type of every tensor ONNX could type."""
    skel = skeleton(model)
    shapeless = _fill_output_shapes(skel)
    try:
        onnx.checker.check_model(skel)
    except UnicodeError:
        raise OnnxImportError(f"{where}: invalid ONNX model: a name or string in it is not "
                              "valid UTF-8; the file is corrupt") from None
    except onnx.checker.ValidationError as e:
        if shapeless:
            _strict_inference(skel, where)  # a model it rejects: its reason is the better one
            raise OnnxImportError(
                f"{where}: graph output {shapeless[0]!r} has no shape and ONNX shape inference "
                f"finds none ({first_line(e)}); give the output a shape (symbolic dims are "
                "fine) when exporting") from None
        raise OnnxImportError(f"{where}: invalid ONNX model: {first_line(e)}") from None
    inferred = _strict_inference(skel, where)
    types: dict[str, onnx.TypeProto] = {}
    ig = inferred.graph
    for vi in list(ig.input) + list(ig.value_info) + list(ig.output):
        types.setdefault(vi.name, vi.type)
    for t in model.graph.initializer:
        types[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
    return types


def empty_inputs_to_constants(model: onnx.ModelProto, where: str) -> None:
    """A graph input whose shape the model fixes with a dimension of size 0 is empty: it holds
    no value, so it is the constant of that shape (an initializer, modified in place), and the
    program does not read it. One with a symbolic dimension too has no shape to give the
    constant: refused (that is the model's shape, so no ``--input-shape`` can help)."""
    for vi in _graph_inputs(model):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not any(
                d.HasField("dim_value") and d.dim_value <= 0 for d in tt.shape.dim):
            continue
        if not all(d.HasField("dim_value") for d in tt.shape.dim) or \
                tt.elem_type == onnx.TensorProto.STRING:
            raise UnsupportedOpError(
                f"{where}: input {vi.name!r} has shape {dims_text(tt)}, a dimension of size 0: "
                "imcc compiles an empty input as the constant of its shape and element type, "
                "and this one has " + ("strings" if tt.elem_type == onnx.TensorProto.STRING
                                       else "a symbolic dimension too; give every one a size"))
        model.graph.initializer.append(helper.make_tensor(
            vi.name, tt.elem_type, [max(d.dim_value, 0) for d in tt.shape.dim], []))


def check_static_inputs(model: onnx.ModelProto, where: str) -> None:
    """Every graph input must have a static shape once overrides are applied: one error names
    every input that lacks one, with the overrides that would give it."""
    unknown = []
    for vi in _graph_inputs(model):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise OnnxImportError(f"{where}: input {vi.name!r} is not a tensor; imcc compiles "
                                  "models whose inputs are tensors")
        if not (tt.HasField("shape") and all(d.HasField("dim_value") and d.dim_value > 0
                                             for d in tt.shape.dim)):
            unknown.append(vi)
    if not unknown:
        return
    named = list(dict.fromkeys(name for vi in unknown
                               for k, d in enumerate(vi.type.tensor_type.shape.dim)
                               if k and not d.HasField("dim_value")
                               for name in dim_symbols(d.dim_param)))
    vi, tt = unknown[0], unknown[0].type.tensor_type
    example = "x".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0
                       else "1" for d in tt.shape.dim) if tt.HasField("shape") else "1x..."
    listed = _list([f"{u.name!r} {dims_text(u.type.tensor_type)}" for u in unknown])
    whole = f"--input-shape {vi.name}={example}"
    raise OnnxImportError(
        f"{where}: input(s) with unknown dimensions: {listed}; " + (
            f"give each symbolic dimension a size, --input-shape NAME=SIZE for "
            f"{_list(named)} (it sets the dimension in every input), or an input its whole "
            f"shape, {whole}" if named else f"give each its static shape, {whole}"))


def check_text(model: onnx.ModelProto, where: str) -> None:
    """Every name is text: protobuf hands a string field that is not valid UTF-8 back as bytes,
    which nothing downstream expects."""
    g = model.graph

    def bad(what: str, v) -> OnnxImportError:
        return OnnxImportError(f"{where}: {what} {v!r} is not valid UTF-8; the file is corrupt "
                               "or was not written by an ONNX exporter")

    for kind, items in (("input", g.input), ("output", g.output), ("value_info", g.value_info),
                        ("initializer", g.initializer)):
        for v in items:
            if not isinstance(v.name, str):
                raise bad(f"the name of a graph {kind}", v.name)
    for i, n in enumerate(g.node):
        for name in (n.name, n.op_type, n.domain, *n.input, *n.output,
                     *(a.name for a in n.attribute)):
            if not isinstance(name, str):
                raise bad(f"a name in node #{i}", name)


def check_model(model: onnx.ModelProto, where: str,
                input_shapes: Mapping[str, tuple[int, ...]] | None = None, *,
                external: Mapping[str, ExternalData] | None = None) -> CheckedModel:
    """Validate ``model`` (modified in place: overrides applied, nodes sorted). ``external``:
    its deferred initializers (:func:`load_external_data`)."""
    check_text(model, where)
    hostlimits.check_nodes(len(model.graph.node), f"{where}: the model's graph")
    check_attributes(model, where)
    list_ir3_initializers(model)
    external = dict(external or {})
    expand_contrib(model, where, _node_label, external)  # onnxruntime's own operators
    if external and declared_opset(model, where) < MIN_OPSET:
        # onnx's version converter rebuilds the graph: give it the data, not references.
        materialize(model, external, where)
        external = {}
    inline_static_control_flow(model)  # If, Loop, Scan known at compile time (its opset)
    written = {next((o for o in n.output if o), ""): n.op_type for n in model.graph.node}
    opset = read_opset(model, where, _node_label)
    list_ir3_initializers(model)  # onnx.version_converter adds initializers, keeps IR 3
    written_ops = {o: op for n in model.graph.node
                   for o in n.output[:1] if (op := written.get(o)) and op != n.op_type}
    check_domains(model, where)
    sort_nodes(model, where)
    empty_inputs_to_constants(model, where)  # before the overrides, which cannot change a 0
    if input_shapes:
        apply_input_shapes(model, input_shapes, where)
    check_static_inputs(model, where)
    types = check_and_infer(model, where)
    check_tensor_outputs(model, types, where)
    return CheckedModel(model, opset, types, where, external, written_ops)


def check_tensor_outputs(model: onnx.ModelProto, types: Mapping[str, onnx.TypeProto],
                         where: str) -> None:
    """Every graph output is a tensor: a sequence, map or optional output (one a constant
    sub-graph could compute) is refused, never returned as an array."""
    for o in model.graph.output:
        tp = types.get(o.name) or o.type
        kind = tp.WhichOneof("value")
        if kind not in (None, "tensor_type"):
            raise UnsupportedOpError(
                f"{where}: output {o.name!r} is a {kind.removesuffix('_type')}, not a numeric "
                "tensor (the machine holds numeric tensors); return tensors from the model")
