"""Specialization: graph inputs bound to constant values before compiling.

The machine runs static-shape programs, so a graph whose shapes depend on the value of a runtime
tensor (a Pad's pads, a Slice's starts, a Resize's scales, a Reduce's axes...) cannot be compiled
without that value. ``imcc.compile(..., constants={name: array})`` (``imcc compile --const
NAME=FILE.npy``) makes such graph inputs initializers holding the given values: the program is
right for those values, and its inputs no longer include them.

The compiler's refusals that binding would lift are :class:`NeedsConstants` errors, which name the
graph inputs to bind (:attr:`NeedsConstants.names`); :mod:`imcc.backend` binds exactly those,
from the values of each run.

>>> import numpy as np, onnx
>>> from onnx import helper, TensorProto
>>> g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["y"])], "g",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
...      helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
>>> m = bind_constants(helper.make_model(g), {"b": [1, 2]})
>>> [i.name for i in m.graph.input], [t.name for t in m.graph.initializer]
(['x'], ['b'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from isa.diagnostics import ConfigError, UnsupportedOpError

__all__ = ["NeedsConstants", "bind_constants", "const_hint", "graph_inputs_behind",
           "inputs_behind"]

#: Operators whose output depends on the shape of their input, not on its values.
SHAPE_ONLY = frozenset({"Shape", "Size"})


def const_hint(names: Iterable[str]) -> str:
    """The hint of a refusal that binding the graph inputs ``names`` would lift."""
    names = tuple(names)
    cli = " ".join(f"--const {n}=FILE.npy" for n in names)
    api = ", ".join(f"{n!r}: array" for n in names)
    return (f"compile for given values: imcc compile {cli} (Python: imcc.compile(..., "
            f"constants={{{api}}})); imcc.backend does this for each run's values")


class NeedsConstants(UnsupportedOpError):
    """A refusal that binding the graph inputs :attr:`names` as constants would lift (their
    values set a shape, or a parameter imcc fixes at compile time)."""

    def __init__(self, message: str, names: Iterable[str]):
        self.names = tuple(dict.fromkeys(names))
        super().__init__(message, hint=const_hint(self.names))


def inputs_behind(tensors: Iterable[str], producer: Callable[[str], tuple[str, str] | None],
                  node_inputs: Callable[[str], Iterable[str]],
                  graph_inputs: Iterable[str]) -> tuple[str, ...]:
    """The graph inputs whose values ``tensors`` depend on, in the graph's input order.

    ``producer(t)`` is ``(op_type, node key)`` of the node writing ``t`` (None for a graph input,
    a constant or an unknown tensor); ``node_inputs(key)`` that node's input tensors. The walk
    does not go through :data:`SHAPE_ONLY` nodes (their values follow from static shapes)."""
    order = list(graph_inputs)
    wanted = set(order)
    found: set[str] = set()
    seen: set[str] = set()
    todo = [t for t in tensors if t]
    while todo:
        t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in wanted:
            found.add(t)
            continue
        p = producer(t)
        if p is not None and p[0] not in SHAPE_ONLY:
            todo.extend(i for i in node_inputs(p[1]) if i)
    return tuple(n for n in order if n in found)


def graph_inputs_behind(graph, tensors: Iterable[str]) -> tuple[str, ...]:
    """:func:`inputs_behind` in an IR :class:`~imcc.ir.Graph`."""
    return inputs_behind(
        tensors, lambda t: (p.op_type, p.name) if (p := graph.producer(t)) else None,
        lambda n: graph.node(n).inputs, graph.inputs)


def _value(name: str, value: Any, vi: onnx.ValueInfoProto, where: str) -> np.ndarray:
    """``value`` as an array of ``vi``'s element type and a shape its declared dims allow."""
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or tt.elem_type == onnx.TensorProto.STRING:
        raise ConfigError(f"{where}: constants: input {name!r} is not a numeric tensor")
    try:
        given = np.asarray(value)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)
        arr = np.asarray(given.astype(dtype))
        exact = given.dtype == arr.dtype or given.dtype.kind in "biuf" and np.array_equal(
            arr.astype(given.dtype), given, equal_nan=given.dtype.kind == "f")
    except (TypeError, ValueError, KeyError):
        exact = False
    if not exact:
        raise ConfigError(f"{where}: constants: the value of input {name!r} is not a numeric "
                          f"array that {onnx.TensorProto.DataType.Name(tt.elem_type).lower()} "
                          "(the input's type) holds exactly; give an array of that type")
    if tt.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(dims) != arr.ndim or any(d is not None and d != s for d, s in
                                        zip(dims, arr.shape, strict=True)):
            want = "x".join("?" if d is None else str(d) for d in dims) or "a scalar"
            raise ConfigError(f"{where}: constants: the value of input {name!r} has shape "
                              f"{list(arr.shape)}; the model declares {want}")
    return arr


def bind_constants(model: onnx.ModelProto, constants: Mapping[str, Any],
                   where: str = "model.onnx") -> onnx.ModelProto:
    """A copy of ``model`` whose graph inputs named in ``constants`` are initializers holding
    the given values (converted to the input's declared type, which must hold them exactly, and
    of a shape its declared dims allow). A name that is not a graph input is an error."""
    if not isinstance(constants, Mapping):
        raise ConfigError(f"constants: expected a dict input name -> array, got "
                          f"{type(constants).__name__}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inputs = {vi.name: vi for vi in g.input}
    inits = {t.name: k for k, t in enumerate(g.initializer)}
    free = [n for n in inputs if n not in inits]
    for name, value in constants.items():
        if not isinstance(name, str) or name not in inputs:
            raise ConfigError(f"{where}: constants: {name!r} is not an input of the model "
                              f"(its inputs: {', '.join(free) or 'none'})")
        arr = _value(name, value, inputs[name], where)
        tensor = numpy_helper.from_array(arr, name)
        if name in inits:  # an input with a default (IR < 4): the default is replaced
            g.initializer[inits[name]].CopyFrom(tensor)
        else:
            g.initializer.append(tensor)
        if out.ir_version >= 4:
            g.input.remove(next(vi for vi in g.input if vi.name == name))
        else:  # IR < 4 lists every initializer among the inputs
            vi = next(vi for vi in g.input if vi.name == name)
            vi.CopyFrom(onnx.helper.make_tensor_value_info(
                name, vi.type.tensor_type.elem_type, list(arr.shape)))
    return out
