"""Turning a checked ONNX model into an IR :class:`~imcc.ir.Graph` with static types everywhere.

ONNX shape inference (run by the loader) types most tensors. Where it cannot, typically after
PyTorch's ``Shape -> Gather -> Concat -> Reshape`` chains or ``Range`` position ids, the importer
propagates values itself: ``Shape``/``Size`` of a statically typed tensor are known, nodes whose
inputs are all known small constants are evaluated, and ONNX's per-node inference then runs with
those values. Nothing is folded here; the nodes stay for the canonicalization passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.shape_inference import InferenceError, infer_node_outputs

from imcc.frontend.attributes import complete_attrs
from imcc.frontend.bind_constants import NeedsConstants, inputs_behind
from imcc.frontend.evaluate import NONDETERMINISTIC, evaluate
from imcc.frontend.external_data import SMALL_TENSOR, read_external
from imcc.frontend.loader import CheckedModel
from imcc.ir import Graph, Node, Origin, TensorType, node_to_proto, onnx_elem_type
from isa import hostlimits
from isa.diagnostics import OnnxImportError, UnsupportedOpError


def tensor_type(tp: onnx.TypeProto | None) -> TensorType | None:
    """The static TensorType of an ONNX type, or None when any dim is unknown."""
    if tp is None or not tp.HasField("tensor_type"):
        return None
    tt = tp.tensor_type
    if not tt.elem_type or not tt.HasField("shape"):
        return None
    if any(not d.HasField("dim_value") for d in tt.shape.dim):
        return None
    if tt.elem_type == onnx.TensorProto.STRING:
        return None
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
    return TensorType(tuple(d.dim_value for d in tt.shape.dim), dtype)


def _type_proto(t: TensorType) -> onnx.TypeProto:
    return onnx.helper.make_tensor_type_proto(onnx_elem_type(t.dtype), list(t.shape))


def _unique_names(nodes) -> list[str]:
    seen: set[str] = set()
    out = []
    for i, n in enumerate(nodes):
        base = n.name or f"{n.op_type}_{i}"
        name, k = base, 1
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        out.append(name)
    return out


def _check_size(t: TensorType, name: str, where: str) -> None:
    hostlimits.check_elements(t.numel, f"{where}: its output {name!r} (shape {list(t.shape)})")


def _initializer(t: onnx.TensorProto, where: str) -> np.ndarray:
    if t.data_type == onnx.TensorProto.STRING:
        raise UnsupportedOpError(f"{where}: initializer {t.name!r} holds strings; imcc compiles "
                                 "numeric tensors only")
    try:
        return numpy_helper.to_array(t)
    except (ValueError, TypeError) as e:
        raise OnnxImportError(f"{where}: initializer {t.name!r}: its data does not match its "
                              f"shape {list(t.dims)} ({e})") from None


class _Importer:
    """Walks the nodes once, in order, typing every output (local state of one import)."""

    def __init__(self, checked: CheckedModel):
        self.c = checked
        self.where = checked.where
        g = checked.proto.graph
        self.constants = {}
        for t in g.initializer:
            ref = checked.external.get(t.name)
            self.constants[t.name] = (_initializer(t, self.where) if ref is None
                                      else read_external(t, ref, self.where))
            # The array now owns the data: drop the protobuf's copy, so a large model is not
            # held twice while it is imported.
            t.ClearField("raw_data")
            for f in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                t.ClearField(f)
        self.types: dict[str, TensorType] = {
            k: TensorType(v.shape, v.dtype.name) for k, v in self.constants.items()}
        self.values: dict[str, np.ndarray] = dict(self.constants)
        inits = set(self.constants)
        self.inputs = [i.name for i in g.input if i.name not in inits]
        for name in self.inputs:
            t = tensor_type(checked.types.get(name))
            if t is None:  # the loader checked inputs; this is a non-tensor or string input
                raise UnsupportedOpError(f"{self.where}: input {name!r} is not a numeric tensor")
            hostlimits.check_elements(t.numel, f"{self.where}: input {name!r} (shape "
                                      f"{list(t.shape)})")
            self.types[name] = t

    def node_types(self, node: onnx.NodeProto, name: str, attrs: dict[str, Any],
                   in_types: list[TensorType | None], text: str) -> dict[str, TensorType]:
        where = f"{self.where}: {text}"
        out: dict[str, TensorType] = {}
        for o in node.output:
            t = tensor_type(self.c.types.get(o)) if o else None
            if t is not None:
                _check_size(t, o, where)
                out[o] = t
        ir_node = Node(name, node.op_type, tuple(node.input), tuple(node.output), attrs)
        known = [i for i in node.input if i]
        if node.op_type in ("Shape", "Size") and in_types[0] is not None:
            self.values.update(self._shape_value(ir_node, in_types[0]))
        elif (all(i in self.values for i in known) and node.op_type not in NONDETERMINISTIC
              and (len(out) < len([o for o in node.output if o])
                   or all(t.numel <= SMALL_TENSOR for t in out.values()))):
            # Outputs ONNX could not type: ask its per-node inference (with the input types and
            # values known now) before the evaluator allocates them, so --max-elements is
            # checked first.
            if len(out) < len([o for o in node.output if o]):
                for o, t in self._infer(node, ir_node, out).items():
                    _check_size(t, o, where)
            feeds = {i: self.values[i] for i in known}
            outs = [o for o in node.output if o]
            vals = evaluate([ir_node], feeds, outs, self.c.opset, f"{self.where}: ",
                            label=lambda _: text)
            for o, v in vals.items():
                self.values[o] = v
                out.setdefault(o, TensorType(v.shape, v.dtype.name))
        for o in node.output:
            if o and o in self.values and o not in out:
                v = self.values[o]
                out[o] = TensorType(v.shape, v.dtype.name)
        if len(out) < len([o for o in node.output if o]):
            out.update(self._infer(node, ir_node, out))
        return out

    def _shape_value(self, node: Node, t: TensorType) -> dict[str, np.ndarray]:
        if node.op_type == "Size":
            return {node.outputs[0]: np.array(t.numel, np.int64)}
        start = int(node.attrs.get("start", 0))
        end = node.attrs.get("end")
        dims = t.shape[start:] if end is None else t.shape[start:int(end)]
        return {node.outputs[0]: np.array(dims, np.int64)}

    def _infer(self, node: onnx.NodeProto, ir_node: Node, have: dict[str, TensorType],
               values: dict[str, np.ndarray] | None = None):
        """The static types ONNX's per-node inference gives the outputs not in ``have``, with
        the input values known (``values``, default those known now)."""
        values = self.values if values is None else values
        try:
            schema = onnx.defs.get_schema(node.op_type, self.c.opset, "")
        except onnx.defs.SchemaError:
            raise UnsupportedOpError(f"{self.where}: {node.op_type} is not an ONNX operator at "
                                     f"opset {self.c.opset}") from None
        in_tp = {i: _type_proto(self.types[i]) for i in node.input if i and i in self.types}
        data = {i: numpy_helper.from_array(np.array(values[i], order="C"), i)
                for i in node.input if i in values and values[i].size <= SMALL_TENSOR}
        try:
            inferred = infer_node_outputs(
                schema, node_to_proto(ir_node, self.c.opset), in_tp, input_data=data,
                opset_imports=[onnx.helper.make_opsetid("", self.c.opset)])
        except (InferenceError, RuntimeError, UnicodeError):
            inferred = {}
        out = {}
        for o in node.output:
            if o and o not in have:
                t = tensor_type(inferred.get(o))
                if t is not None:
                    out[o] = t
        if node.op_type == "Compress" and node.output[0] not in out | have:
            t = _compress_type(ir_node, in_tp, values)
            if t is not None:
                out[node.output[0]] = t
        return out

    def _dynamic_shape(self, node: onnx.NodeProto, ir_node: Node, o: str,
                       where: str) -> OnnxImportError | UnsupportedOpError:
        """The refusal of an output ``o`` without a static shape: a :class:`NeedsConstants`
        naming the graph inputs whose values would fix it, where there are such."""
        text = (f"{where}: the shape of its output {o!r} cannot be determined statically (it "
                "depends on input data); imcc compiles static-shape models only")
        # the operands whose values fix the shape: those ONNX's inference needs (tried with
        # ones, then 1, 2, 3... in their place), and whose values come from graph inputs
        unknown = [i for i in node.input if i and i not in self.values and i in self.types
                   and self.types[i].numel <= SMALL_TENSOR]

        def typed(given: list[str]) -> bool:
            for fill in (np.ones, lambda s, d: np.arange(1, np.prod(s) + 1).reshape(s)):
                trial = {i: fill(self.types[i].shape, self.types[i].dtype).astype(
                    self.types[i].dtype) for i in given}
                if o in self._infer(node, ir_node, {}, {**self.values, **trial}):
                    return True
            return False

        if not unknown or not typed(unknown):
            return OnnxImportError(text)
        need = list(unknown)
        for i in unknown:
            if typed([j for j in need if j != i]):
                need.remove(i)
        writers = {t: n for n in self.c.proto.graph.node for t in n.output if t}
        names = inputs_behind(
            need,
            lambda t: None if t in self.values or t not in writers else
            (writers[t].op_type, t), lambda t: writers[t].input, self.inputs)
        return NeedsConstants(text, names) if names else OnnxImportError(text)

    def run(self) -> Graph:
        g = self.c.proto.graph
        names = _unique_names(g.node)
        origins = {}
        for node, name in zip(g.node, names):
            out = next((o for o in node.output if o), "")
            origins[name] = Origin(node.name, self.c.written_ops.get(out, node.op_type), out)
        consumed = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        nodes = []
        for node, name in zip(g.node, names):
            text = origins[name].text()
            where = f"{self.where}: {text}"
            in_types = [self.types.get(i) if i else None for i in node.input]
            attrs = complete_attrs(node, self.c.opset, in_types, where)
            out = self.node_types(node, name, attrs, in_types, text)
            outputs = []
            for o in node.output:
                if o and o not in out:
                    if o in consumed:
                        raise self._dynamic_shape(
                            node, Node(name, node.op_type, tuple(node.input),
                                       tuple(node.output), attrs), o, where)
                    o = ""  # an unused optional output ONNX cannot type: drop it
                if o:
                    _check_size(out[o], o, where)
                    if any(d < 0 for d in out[o].shape):
                        raise OnnxImportError(
                            f"{where}: its output {o!r} would have shape {list(out[o].shape)}; "
                            "a window larger than its (padded) input? fix the model's "
                            "attributes")
                    self.types[o] = out[o]
                outputs.append(o)
            while outputs and not outputs[-1]:
                outputs.pop()
            nodes.append(Node(name, node.op_type, tuple(node.input), tuple(outputs), attrs))
        outputs = [o.name for o in g.output]
        return Graph(name=g.name or "model", nodes=tuple(nodes), inputs=tuple(self.inputs),
                     outputs=tuple(outputs), types=self.types, constants=self.constants,
                     opset=self.c.opset, origins=origins)


def import_model(checked: CheckedModel) -> Graph:
    """The IR of a checked model (see the module doc)."""
    return _Importer(checked).run()


def _compress_type(node: Node, in_tp: dict, values: dict) -> TensorType | None:
    """``Compress``'s output type for a known condition (ONNX's inference does not read it):
    the input's, its axis (or the flattened input) as long as the condition's nonzero entries
    within it."""
    x, cond = node.inputs[0], node.inputs[1]
    t = tensor_type(in_tp.get(x))
    if t is None or cond not in values:
        return None
    axis = node.attrs.get("axis")
    c = np.asarray(values[cond]).reshape(-1).astype(bool)
    if axis is None:
        return TensorType((int(c[:t.numel].sum()),), t.dtype)
    axis = int(axis) % t.rank
    shape = list(t.shape)
    shape[axis] = int(c[:shape[axis]].sum())
    return TensorType(tuple(shape), t.dtype)
