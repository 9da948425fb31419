"""The compiler's graph IR: a typed, static-shape dataflow graph of ONNX operators.

A :class:`Graph` is an immutable value. Every tensor has a static :class:`TensorType`; a tensor is
either a graph input, a constant (``constants``, read-only numpy arrays) or the output of exactly
one :class:`Node`. Nodes are kept in topological order and carry standard ONNX operators (domain
``""``) at the graph's ``opset``. Passes build new graphs; nothing is mutated in place.

>>> g = Graph(
...     name="g",
...     nodes=(Node("r", "Relu", ("x",), ("y",)),),
...     inputs=("x",), outputs=("y",),
...     types={"x": TensorType((2, 3), "float32"), "y": TensorType((2, 3), "float32")},
...     constants={}, opset=21)
>>> g.producer("y").name, [n.name for n in g.consumers("x")], g.is_const("x")
('r', ['r'], False)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: ONNX IR version written by :func:`to_onnx` (IR 10 covers opsets up to 21).
IR_VERSION = 10


def _freeze_value(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return readonly(v)
    if isinstance(v, (list, tuple)):
        return tuple(_freeze_value(x) for x in v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    return v


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the caller's array keeps its own flags)."""
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


def storage_order(v: np.ndarray) -> tuple[int, ...] | None:
    """The axes order in which ``v``'s bytes are a C-contiguous array (the identity for one
    that is; a transposed weight's swap), or None where they are not one block (a broadcast
    stand-in, a strided slice)."""
    if v.flags.c_contiguous:
        return tuple(range(v.ndim))
    perm = tuple(int(i) for i in np.argsort([-s for s in v.strides], kind="stable"))
    return perm if v.transpose(perm).flags.c_contiguous else None


class AttrMap(Mapping[str, Any]):
    """An immutable, hashable mapping of ONNX attribute name -> value.

    Values are ``int``, ``float``, ``str``, tuples of those, or read-only numpy arrays (tensor
    attributes). Lists are stored as tuples.
    """

    __slots__ = ("_d",)

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()):
        d = dict(items)
        self._d = {k: _freeze_value(d[k]) for k in sorted(d)}

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        def key(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return (v.shape, v.dtype.str, v.tobytes())
            return v

        return hash(tuple((k, key(v)) for k, v in self._d.items()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping) or set(self) != set(other):
            return False
        for k, v in self._d.items():
            w = other[k]
            if isinstance(v, np.ndarray) or isinstance(w, np.ndarray):
                if not (isinstance(v, np.ndarray) and isinstance(w, np.ndarray)
                        and v.shape == w.shape and v.dtype == w.dtype and np.array_equal(v, w)):
                    return False
            elif v != w:
                return False
        return True

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k}={_short(v)}" for k, v in self._d.items()) + "}"

    def replace(self, **changes: Any) -> AttrMap:
        """A copy with some attributes set (a value of ``None`` removes the attribute)."""
        d = dict(self._d)
        for k, v in changes.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return AttrMap(d)


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"tensor<{'x'.join(map(str, v.shape)) or 'scalar'} {v.dtype}>"
    return repr(v)


@dataclass(frozen=True)
class TensorType:
    """A static tensor type: ``shape`` (all dims known, batch included) and a numpy dtype name
    (``"float32"``, ``"int64"``, ``"bool"``...)."""

    shape: tuple[int, ...]
    dtype: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __str__(self) -> str:
        return f"{self.dtype}[{'x'.join(map(str, self.shape))}]"


@dataclass(frozen=True)
class Node:
    """One ONNX operator application. ``inputs`` may contain ``""`` for an absent optional input;
    ``attrs`` holds every attribute (importers and passes fill spec defaults explicitly)."""

    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Mapping[str, Any] = field(default_factory=AttrMap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if not isinstance(self.attrs, AttrMap):
            object.__setattr__(self, "attrs", AttrMap(self.attrs))

    def replace(self, **changes: Any) -> Node:
        """A copy with some fields changed (``attrs`` given as a mapping replaces all)."""
        d = {"name": self.name, "op_type": self.op_type, "inputs": self.inputs,
             "outputs": self.outputs, "attrs": self.attrs}
        d.update(changes)
        return Node(**d)

    def __str__(self) -> str:
        ins = ", ".join(i or "<none>" for i in self.inputs)
        attrs = f" {self.attrs!r}" if len(self.attrs) else ""
        return f"{', '.join(self.outputs)} = {self.op_type}({ins}){attrs}  # {self.name}"


@dataclass(frozen=True)
class Origin:
    """The node of the model an IR node comes from, as diagnostics name it: its ``name`` in the
    model (``""`` when the model leaves it unnamed), ``op_type`` and first ``output``."""

    name: str
    op_type: str
    output: str

    def text(self, op_type: str | None = None, why: str | None = None, *,
             noun: bool = True) -> str:
        """``node 'conv1' (Conv)``, or ``the Conv node writing 'y'`` for an unnamed node;
        ``op_type`` (when it differs) is that of a node made from this one
        (``node 'e1' (Einsum, as MatMul)``) and ``why`` follows the op types
        (``node 'c' (Conv: the weight is not a constant)``). ``noun=False`` leaves out the
        leading ``node`` (for lists that say it once).

        >>> Origin("", "Relu", "y").text(why="a reason")
        "the Relu node writing 'y' (a reason)"
        >>> Origin("e1", "Einsum", "z").text("MatMul", "float64", noun=False)
        "'e1' (Einsum, as MatMul: float64)"
        """
        detail = f"as {op_type}" if op_type and op_type != self.op_type else ""
        if self.name:
            return (f"{'node ' if noun else ''}'{self.name}' ({self.op_type}"
                    + (f", {detail}" if detail else "") + (f": {why}" if why else "") + ")")
        inner = detail + (": " if detail and why else "") + (why or "")
        text = f"the {self.op_type} node writing '{self.output}'"
        return f"{text} ({inner})" if inner else text


def describe(graph: Graph, node: Node, why: str | None = None, *, noun: bool = True) -> str:
    """How a diagnostic names ``node``: by the model's node it comes from
    (``graph.origins``, see :meth:`Origin.text`), never by a name imcc made up; a node without
    an origin by its own name."""
    o = graph.origins.get(node.name) or Origin(node.name, node.op_type,
                                                 node.outputs[0] if node.outputs else "")
    return o.text(node.op_type, why, noun=noun)


@dataclass(frozen=True, eq=False)
class Graph:
    """A whole model. Equality is identity (graphs hold arrays); compare with care.

    ``types`` covers every tensor (inputs, constants, node outputs). ``constants`` are read-only
    arrays. ``opset`` is the version of the default ONNX domain that the nodes follow.
    ``origins`` maps node names to the :class:`Origin` diagnostics name them by (see
    :func:`describe`); a node without an entry is named as it is.
    """

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    types: Mapping[str, TensorType]
    constants: Mapping[str, np.ndarray]
    opset: int
    origins: Mapping[str, Origin] = field(default_factory=dict)
    _producers: Mapping[str, Node] = field(init=False, repr=False)
    _consumers: Mapping[str, tuple[Node, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "nodes", tuple(self.nodes))
        set_(self, "inputs", tuple(self.inputs))
        set_(self, "outputs", tuple(self.outputs))
        set_(self, "types", MappingProxyType(dict(self.types)))
        set_(self, "constants",
             MappingProxyType({k: readonly(v) for k, v in self.constants.items()}))
        set_(self, "origins", MappingProxyType(dict(self.origins)))
        producers: dict[str, Node] = {}
        consumers: dict[str, list[Node]] = {}
        for n in self.nodes:
            for o in n.outputs:
                if o:
                    producers.setdefault(o, n)
            for i in dict.fromkeys(n.inputs):
                if i:
                    consumers.setdefault(i, []).append(n)
        set_(self, "_producers", MappingProxyType(producers))
        set_(self, "_consumers",
             MappingProxyType({k: tuple(v) for k, v in consumers.items()}))

    def producer(self, tensor: str) -> Node | None:
        """The node that outputs ``tensor``, or None for inputs and constants."""
        return self._producers.get(tensor)

    def consumers(self, tensor: str) -> tuple[Node, ...]:
        """The nodes that read ``tensor`` (each once, in graph order)."""
        return self._consumers.get(tensor, ())

    def is_const(self, tensor: str) -> bool:
        return tensor in self.constants

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def replace(self, **changes: Any) -> Graph:
        """A copy with some fields changed."""
        d = {"name": self.name, "nodes": self.nodes, "inputs": self.inputs,
             "outputs": self.outputs, "types": self.types, "constants": self.constants,
             "opset": self.opset, "origins": self.origins}
        d.update(changes)
        return Graph(**d)

    def __str__(self) -> str:
        return format_graph(self)


def format_graph(graph: Graph, mark: str | None = None, context: int | None = None) -> str:
    """Print ``graph`` one node per line with tensor types. With ``mark`` (a node name) that line
    is flagged with ``>>``; with ``context`` only that many nodes either side of it are shown."""
    def ty(t: str) -> str:
        return str(graph.types[t]) if t in graph.types else "?"

    lines = [f"graph {graph.name} (opset {graph.opset})"]
    lines += [f"  input  {i}: {ty(i)}" for i in graph.inputs]
    lines.append(f"  {len(graph.constants)} constants")
    idx = [i for i, n in enumerate(graph.nodes) if n.name == mark]
    lo, hi = 0, len(graph.nodes)
    if idx and context is not None:
        lo, hi = max(0, idx[0] - context), min(len(graph.nodes), idx[0] + context + 1)
    if lo > 0:
        lines.append(f"     ... {lo} nodes")
    for n in graph.nodes[lo:hi]:
        flag = ">>" if n.name == mark else "  "
        outs = ", ".join(f"{o}: {ty(o)}" for o in n.outputs)
        ins = ", ".join(i or "<none>" for i in n.inputs)
        attrs = f" {n.attrs!r}" if len(n.attrs) else ""
        lines.append(f"{flag}   {outs} = {n.op_type}({ins}){attrs}  # {n.name}")
    if hi < len(graph.nodes):
        lines.append(f"     ... {len(graph.nodes) - hi} nodes")
    lines += [f"  output {o}: {ty(o)}" for o in graph.outputs]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Export to ONNX


def onnx_elem_type(dtype: str) -> int:
    """The ONNX TensorProto element type of a numpy dtype name."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_elem_type(t.dtype), list(t.shape))


def node_to_proto(node: Node, opset: int) -> onnx.NodeProto:
    """The ONNX NodeProto of ``node``; attribute types come from the operator schema, so empty
    lists and whole-number floats keep their declared types."""
    try:
        schema_attrs = onnx.defs.get_schema(node.op_type, opset, "").attributes
        known = True
    except onnx.defs.SchemaError:
        schema_attrs, known = {}, False
    attrs = []
    for k, v in node.attrs.items():
        decl = schema_attrs.get(k)
        if known and decl is None and _later_default(node.op_type, k, v):
            continue  # an attribute a later opset added, at the value that keeps the old meaning
        atype = decl.type if decl is not None else None
        if isinstance(v, np.ndarray):
            attrs.append(helper.make_attribute(k, numpy_helper.from_array(np.array(v))))
            continue
        if atype == onnx.AttributeProto.FLOAT:
            v = float(v)
        elif atype == onnx.AttributeProto.FLOATS:
            v = [float(x) for x in v]
        if isinstance(v, tuple) and not v:
            if atype is None:
                continue
            attrs.append(helper.make_attribute(k, [], attr_type=atype))
            continue
        attrs.append(helper.make_attribute(k, list(v) if isinstance(v, tuple) else v))
    proto = helper.make_node(node.op_type, list(node.inputs), list(node.outputs), name=node.name)
    proto.attribute.extend(attrs)
    return proto


def _later_default(op_type: str, name: str, value) -> bool:
    """Whether ``value`` is the default of attribute ``name``, which the newest schema of
    ``op_type`` declares (a pass writes ``Cast(saturate=1)`` whatever the model's opset; before
    opset 19 a Cast has no such attribute and behaves as its default)."""
    default = _newest_default(op_type, name)
    return default is not None and isinstance(value, int | float | str) and default == value


@functools.cache
def _newest_default(op_type: str, name: str):
    """The default of ``op_type``'s attribute ``name`` in its newest schema (None: none)."""
    decl = onnx.defs.get_schema(op_type, onnx.defs.onnx_opset_version(), "").attributes.get(name)
    if decl is None or not decl.default_value.name:
        return None
    return helper.get_attribute_value(decl.default_value)


def node_schema(op_type: str, opset: int):
    """The ONNX schema of ``op_type`` at ``opset``; for an operator the passes write from a
    later opset than the graph's (``RMSNormalization``, opset 23, in an opset-21 graph), its
    schema at the newest opset onnx knows."""
    try:
        return onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return onnx.defs.get_schema(op_type, onnx.defs.onnx_opset_version(), "")


def export_opset(graph: Graph) -> int:
    """The opset that defines every operator of ``graph``: its own, or the version of the
    newest schema of an operator the passes wrote from a later one (the operators imcc supports
    read the same at both: newer opsets added types)."""
    return max([graph.opset] + [node_schema(t, graph.opset).since_version
                                for t in {n.op_type for n in graph.nodes}
                                if not onnx.defs.has(t, graph.opset, "")])


def to_onnx(graph: Graph, *, value_infos: bool = True) -> onnx.ModelProto:
    """An ONNX model equal in meaning to ``graph``: constants become initializers, every tensor
    keeps its static type. Run it with ``onnx.reference.ReferenceEvaluator`` to check a pass."""
    inits = [numpy_helper.from_array(np.array(v, order="C"), k)
             for k, v in graph.constants.items()]
    produced = {o for n in graph.nodes for o in n.outputs}
    vis = []
    if value_infos:
        vis = [value_info(t, graph.types[t]) for t in graph.types
               if t in produced and t not in graph.outputs]
    opset = export_opset(graph)
    g = helper.make_graph(
        [node_to_proto(n, opset) for n in graph.nodes],
        graph.name,
        [value_info(i, graph.types[i]) for i in graph.inputs],
        [value_info(o, graph.types[o]) for o in graph.outputs],
        initializer=inits,
        value_info=vis,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="imcc")
    model.ir_version = IR_VERSION
    return model
