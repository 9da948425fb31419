"""``Conv`` normal form: 2-D (N, C, H, W), or 3-D and higher, with explicit attributes and
constant weights.

Attributes are already explicit (the frontend resolves ``auto_pad`` and fills ``strides``,
``dilations``, ``pads`` and ``kernel_shape``). A 1-D convolution becomes a 2-D one between two
``Reshape`` nodes (height 1); a non-constant bias becomes a following ``Add``. ``MaxPool`` and
``AveragePool`` over 1-D inputs get the same treatment, so every convolution and pooling window
the code generator sees is 2-D or higher (3-D ones stay as they are).
"""

from __future__ import annotations

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter

_WINDOWED = frozenset({"Conv", "MaxPool", "AveragePool"})


def _as_2d(attrs) -> dict:
    a = dict(attrs)
    a["kernel_shape"] = (1,) + tuple(a["kernel_shape"])
    a["strides"] = (1,) + tuple(a["strides"])
    if "dilations" in a:
        a["dilations"] = (1,) + tuple(a["dilations"])
    p = tuple(a["pads"])
    a["pads"] = (0, p[0], 0, p[1])
    return a


def _reshape(rw: Rewriter, x: str, shape: tuple[int, ...], hint: str) -> str:
    t = rw.type(x)
    return rw.add("Reshape", (x, rw.shape_const(f"{hint}_shape", shape)),
                  TensorType(shape, t.dtype), hint, allowzero=0)


def _conv_1d(rw: Rewriter, n: Node, y: TensorType) -> None:
    x = rw.type(n.inputs[0])
    x4 = _reshape(rw, n.inputs[0], (x.shape[0], x.shape[1], 1, x.shape[2]), f"{n.name}_in4d")
    inputs = [x4] + list(n.inputs[1:])
    if n.op_type == "Conv":
        w = rw.value(n.inputs[1])
        if w is None:
            rw.emit(n)  # a dynamic 1-D weight: left for the partitioner to reject
            return
        inputs[1] = rw.const(f"{n.name}_W", w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]))
    mid = rw.tensor(f"{n.name}_out4d", TensorType((y.shape[0], y.shape[1], 1, y.shape[2]),
                                                  y.dtype))
    rw.emit(n.replace(inputs=tuple(inputs), outputs=(mid,) + n.outputs[1:],
                      attrs=_as_2d(n.attrs)))
    rw.emit(Node(rw.fresh(f"{n.name}_out3d"), "Reshape",
                 (mid, rw.shape_const(f"{n.name}_out_shape", y.shape)), (n.outputs[0],),
                 {"allowzero": 0}))


def normalize_conv(graph: Graph) -> Graph:
    """2-D, explicit, constant-weight Conv (and 2-D pooling) (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type not in _WINDOWED:
            rw.emit(n)
            continue
        y = graph.types[n.outputs[0]]
        bias = n.inputs[2] if n.op_type == "Conv" and len(n.inputs) > 2 else ""
        if bias and not rw.is_const(bias):  # the Conv without it (made 2-D if 1-D), then Add
            mid = rw.tensor(f"{n.name}_nobias", y)
            _emit(rw, n.replace(inputs=n.inputs[:2], outputs=(mid,)), y)
            shape = (1, y.shape[1]) + (1,) * (y.rank - 2)
            b = _reshape(rw, bias, shape, f"{n.name}_bias")
            rw.emit(Node(rw.fresh(f"{n.name}_add_bias"), "Add", (mid, b), n.outputs))
            continue
        _emit(rw, n, y)
    return rw.finish()


def _emit(rw: Rewriter, n: Node, y: TensorType) -> None:
    if y.rank == 3 and (n.op_type == "Conv" or len(n.outputs) == 1):
        _conv_1d(rw, n, y)
    else:
        rw.emit(n)

