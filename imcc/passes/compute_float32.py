"""float16, bfloat16 and float64 tensors are computed in float32, the machine's one float type.

The model's inputs and outputs keep their declared element types: the host converts them at the
machine's edge (an input when the machine reads it, an output when it is handed back; the
``.input``/``.output`` element types of docs/assembly.md). Inside, every such tensor is float32:

* a graph input ``x`` of such a type is read through ``Cast(x, to=FLOAT)`` (a copy: its words
  are already the float32 values), and a graph output ``y`` is written by ``Cast(y', to=y's
  type)``, which rounds the float32 result ``y'`` to ``y``'s precision on the machine (a
  ``Cast`` that already writes ``y`` is left as it is, and what reads ``y`` inside reads it
  through ``Cast(y, to=FLOAT)``);
* every other tensor of such a type becomes float32, and so do constants of those types
  (float64 constants are rounded to float32, and one beyond float32's range is refused; one
  that is a graph output keeps its type, and
  what reads it inside reads a float32 copy);
* ``Cast`` keeps its ``to``: one to float16 or bfloat16 still rounds to that precision (the
  code generator reads ``to``), one to float64 is a copy; ``CastLike`` to such a type becomes
  that ``Cast``.

So float16 and bfloat16 models compute in more precision than they declare (each operation
rounds to float32, not to float16), and float64 models in less (about 7 significant digits
instead of 16).
"""

from __future__ import annotations

import numpy as np
import onnx

from imcc.ir import Graph, Node, TensorType, onnx_elem_type
from isa.diagnostics import UnsupportedOpError

#: The float types the machine computes as float32.
WIDENED = frozenset({"float16", "bfloat16", "float64"})


def _cast_likes(graph: Graph) -> list[Node]:
    """``CastLike(x, like)`` with ``like`` of a widened type as ``Cast(x, to=like's type)``."""
    nodes = []
    for n in graph.nodes:
        if n.op_type == "CastLike" and graph.types[n.inputs[1]].dtype in WIDENED:
            to = onnx_elem_type(graph.types[n.inputs[1]].dtype)
            n = Node(n.name, "Cast", n.inputs[:1], n.outputs,
                     {"to": int(to), "saturate": int(n.attrs.get("saturate", 1))})
        nodes.append(n)
    return nodes


def _check_range(graph: Graph) -> None:
    """A float64 constant float32 cannot hold would become an infinity: refused."""
    top = float(np.finfo(np.float32).max)
    for k, v in graph.constants.items():
        if v.dtype == np.float64 and v.size:
            with np.errstate(invalid="ignore"):
                big = np.isfinite(v) & (np.abs(v) > top)
            if big.any():
                raise UnsupportedOpError(
                    f"{graph.name}: constant {k!r} (float64) holds {v[big].flat[0]:g}, beyond "
                    "float32's range (3.4e38): the machine computes float32")


def _fresh(used: set[str], hint: str) -> str:
    name, k = hint, 0
    while name in used:
        k += 1
        name = f"{hint}_{k}"
    used.add(name)
    return name


def compute_float32(graph: Graph) -> Graph:
    """float16, bfloat16 and float64 tensors as float32 inside, converted at the edges (see
    the module doc)."""
    if not any(t.dtype in WIDENED for t in graph.types.values()):
        return graph
    _check_range(graph)
    nodes = _cast_likes(graph)
    types = dict(graph.types)
    used = set(types) | {n.name for n in nodes}
    edge_in = [x for x in graph.inputs if x not in graph.constants and types[x].dtype in WIDENED]
    produced = {o: n for n in nodes for o in n.outputs if o}
    outs = [y for y in dict.fromkeys(graph.outputs) if y in produced
            and types[y].dtype in WIDENED and y not in graph.inputs]
    cast_out = [y for y in outs if produced[y].op_type == "Cast" and len(produced[y].outputs) == 1]
    edge_out = [y for y in outs if y not in cast_out]
    keep = set(graph.inputs) | set(graph.outputs)
    rename = {}
    for t in edge_in + edge_out + cast_out:
        rename[t] = _fresh(used, f"{t}_float32")
        types[rename[t]] = TensorType(types[t].shape, "float32")
    out_rename = {y: rename[y] for y in edge_out}
    constants = {k: (v.astype(np.float32) if v.dtype.name in WIDENED and k not in keep else v)
                 for k, v in graph.constants.items()}
    for c in graph.outputs:  # a constant output read inside too: the readers read a float32 copy
        if c in graph.constants and types[c].dtype in WIDENED and c not in rename:
            rename[c] = _fresh(used, f"{c}_float32")
            types[rename[c]] = TensorType(types[c].shape, "float32")
            constants[rename[c]] = np.asarray(graph.constants[c], np.float32)
    head = [Node(_fresh(used, f"{x}_to_float32"), "Cast", (x,), (rename[x],),
                 {"to": int(onnx.TensorProto.FLOAT)}) for x in edge_in]
    tail = [Node(_fresh(used, f"{y}_to_{types[y].dtype}"), "Cast", (rename[y],), (y,),
                 {"to": int(onnx_elem_type(types[y].dtype))}) for y in edge_out]
    body = []
    for n in nodes:
        body.append(n.replace(inputs=tuple(rename.get(i, i) for i in n.inputs),
                              outputs=tuple(out_rename.get(o, o) for o in n.outputs)))
        # a Cast writing an output that is read inside too: the readers read it as float32
        body += [Node(_fresh(used, f"{y}_to_float32"), "Cast", (y,), (rename[y],),
                      {"to": int(onnx.TensorProto.FLOAT)}) for y in n.outputs if y in cast_out]
    for name, t in list(types.items()):
        if t.dtype in WIDENED and name not in keep:
            types[name] = TensorType(t.shape, "float32")
    return graph.replace(nodes=tuple(head + body + tail), types=types, constants=constants)
