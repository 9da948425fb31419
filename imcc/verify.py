"""The IR verifier: the invariants every :class:`~imcc.ir.Graph` keeps between passes.

``verify(graph)`` checks that node names are unique, every tensor is defined once and before use,
every tensor has a static type, constants match their types, graph outputs are defined, every
operator exists in the default ONNX domain at the graph's opset, and, node by node, that the
recorded output types agree with ONNX's own shape inference for that operator (given the input
types and the values of small constant inputs). It raises :class:`VerifyError` whose message
carries the printed IR around the offending node, marked ``>>``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.shape_inference import InferenceError, infer_node_outputs

from imcc.ir import (Graph, Node, TensorType, format_graph, node_schema, node_to_proto,
                     onnx_elem_type)
from imcc.opdefs import OPS
from isa.diagnostics import VerifyError

#: Constant inputs up to this many elements are given to ONNX shape inference as values (shape
#: operands of Reshape, Expand, Slice...).
_DATA_LIMIT = 4096


def _fail(graph: Graph, msg: str, node: Node | None = None) -> VerifyError:
    listing = format_graph(graph, mark=node.name if node else None, context=5)
    err = VerifyError(f"IR verification failed: {msg}\n{listing}")
    err.ir_text = listing
    return err


def _type_proto(t: TensorType) -> onnx.TypeProto:
    return onnx.helper.make_tensor_type_proto(onnx_elem_type(t.dtype), list(t.shape))


def _check_structure(graph: Graph) -> None:
    names: set[str] = set()
    defined: set[str] = set(graph.inputs)
    for c in graph.constants:
        if c in defined:
            raise _fail(graph, f"tensor {c!r} is both a graph input and a constant")
        defined.add(c)
    for t in defined:
        if t not in graph.types:
            raise _fail(graph, f"tensor {t!r} has no type")
    for name, arr in graph.constants.items():
        t = graph.types[name]
        if tuple(arr.shape) != t.shape or arr.dtype.name != t.dtype:
            raise _fail(graph, f"constant {name!r} is {arr.dtype.name}{list(arr.shape)} "
                               f"but its type says {t}")
    for n in graph.nodes:
        if not n.name or n.name in names:
            raise _fail(graph, f"node name {n.name!r} is empty or used twice", n)
        names.add(n.name)
        for i in n.inputs:
            if i and i not in defined:
                raise _fail(graph, f"node {n.name!r} reads {i!r} before it is defined", n)
        for o in n.outputs:
            if not o:
                continue
            if o in defined:
                raise _fail(graph, f"tensor {o!r} is defined more than once", n)
            if o not in graph.types:
                raise _fail(graph, f"output {o!r} of node {n.name!r} has no type", n)
            defined.add(o)
    for o in graph.outputs:
        if o not in defined:
            raise _fail(graph, f"graph output {o!r} is never defined")
    for i in graph.inputs:
        if graph.producer(i) is not None:
            raise _fail(graph, f"graph input {i!r} is also produced by a node")


def _check_node_types(graph: Graph, n: Node, tps: dict[str, onnx.TypeProto]) -> None:
    try:
        schema = node_schema(n.op_type, graph.opset)
    except onnx.defs.SchemaError:
        raise _fail(graph, f"node {n.name!r}: {n.op_type} is not an ONNX operator at opset "
                           f"{graph.opset}", n) from None
    if schema.since_version > graph.opset and n.op_type not in OPS:
        raise _fail(graph, f"node {n.name!r}: {n.op_type} is not an ONNX operator at opset "
                           f"{graph.opset}", n)
    opset = max(graph.opset, schema.since_version)
    data = {}
    for i in n.inputs:
        if i and i not in tps:
            tps[i] = _type_proto(graph.types[i])
        arr = graph.constants.get(i) if i else None
        if arr is not None and arr.size <= _DATA_LIMIT:
            data[i] = numpy_helper.from_array(np.array(arr), i)
    try:
        inferred = infer_node_outputs(
            schema, node_to_proto(n, opset), {i: tps[i] for i in n.inputs if i},
            input_data=data, opset_imports=[onnx.helper.make_opsetid("", opset)])
    except (InferenceError, RuntimeError, UnicodeError) as e:
        raise _fail(graph, f"node {n.name!r} ({n.op_type}): ONNX shape inference rejects it: "
                           f"{str(e).strip().splitlines()[-1]}", n) from None
    for o in n.outputs:
        if not o or o not in inferred:
            continue
        tt = inferred[o].tensor_type
        want = graph.types[o]
        if tt.elem_type and tt.elem_type != onnx_elem_type(want.dtype):
            raise _fail(graph, f"node {n.name!r} ({n.op_type}): output {o!r} is recorded as "
                               f"{want.dtype} but the operator gives "
                               f"{onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type)}", n)
        if tt.HasField("shape"):
            dims = tt.shape.dim
            if len(dims) != want.rank:
                raise _fail(graph, f"node {n.name!r} ({n.op_type}): output {o!r} has rank "
                                   f"{want.rank} but the operator gives rank {len(dims)}", n)
            for k, d in enumerate(dims):
                if d.HasField("dim_value") and d.dim_value != want.shape[k]:
                    got = [x.dim_value if x.HasField("dim_value") else "?" for x in dims]
                    raise _fail(graph, f"node {n.name!r} ({n.op_type}): output {o!r} is "
                                       f"recorded as {list(want.shape)} but the operator gives "
                                       f"{got}", n)


def verify(graph: Graph) -> None:
    """Raise :class:`VerifyError` unless ``graph`` keeps every IR invariant (see module doc)."""
    _check_structure(graph)
    tps: dict[str, onnx.TypeProto] = {}
    for n in graph.nodes:
        _check_node_types(graph, n, tps)
