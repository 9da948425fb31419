"""``ConvTranspose`` rewritten as zero insertion + ``Conv``, so the code generator needs only Conv.

For stride ``s``, dilation ``d``, kernel ``k`` and pads ``p0, p1`` per spatial axis (explicit:
the frontend resolves ``output_shape`` and ``auto_pad`` into ``pads`` and ``output_padding``
``op``), the transposed convolution equals a stride-1 ``Conv`` with the same dilation over the
input with ``s - 1`` zeros inserted between neighbours, padded by ``d*(k-1) - p0`` before and
``d*(k-1) - p1 + op`` after, with weights ``W'[g*Cog + o, i] = W[g*Cig + i, o]`` flipped in
every spatial axis. Zero insertion is ``Reshape`` to [N, C, H, 1, W, 1], ``Pad`` of ``s - 1``
after each inserted axis, ``Reshape`` to [N, C, H*s, W*s]; negative pads become a ``Slice``.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter


def _flip_weight(w: np.ndarray, group: int) -> np.ndarray:
    cin, cog = w.shape[:2]
    k = w.shape[2:]
    wg = w.reshape((group, cin // group, cog) + k)
    wg = np.swapaxes(wg, 1, 2)
    wg = wg[(Ellipsis,) + (slice(None, None, -1),) * len(k)]
    return np.ascontiguousarray(wg.reshape((group * cog, cin // group) + k))


def _zero_insert(rw: Rewriter, x: str, strides: tuple[int, ...], hint: str) -> str:
    t = rw.type(x)
    n_sp = len(strides)
    spatial = t.shape[2:]
    inter = t.shape[:2] + tuple(v for d in spatial for v in (d, 1))
    r = rw.add("Reshape", (x, rw.shape_const(f"{hint}_ishape", inter)),
               TensorType(inter, t.dtype), f"{hint}_interleave", allowzero=0)
    pads_end = [0, 0] + [v for s in strides for v in (0, s - 1)]
    pads = rw.shape_const(f"{hint}_pads", [0] * (2 + 2 * n_sp) + pads_end)
    padded = t.shape[:2] + tuple(v for d, s in zip(spatial, strides) for v in (d, s))
    p = rw.add("Pad", (r, pads), TensorType(padded, t.dtype), f"{hint}_zeros", mode="constant")
    merged = t.shape[:2] + tuple(d * s for d, s in zip(spatial, strides))
    return rw.add("Reshape", (p, rw.shape_const(f"{hint}_mshape", merged)),
                  TensorType(merged, t.dtype), f"{hint}_dilated", allowzero=0)


def _crop(rw: Rewriter, x: str, begins: list[int], ends: list[int], hint: str) -> str:
    t = rw.type(x)
    n_sp = len(begins)
    axes = list(range(2, 2 + n_sp))
    stop = [t.shape[a] - e for a, e in zip(axes, ends)]
    out = t.shape[:2] + tuple(s - b for s, b in zip(stop, begins))
    return rw.add("Slice", (x, rw.shape_const(f"{hint}_starts", begins),
                            rw.shape_const(f"{hint}_ends", stop),
                            rw.shape_const(f"{hint}_axes", axes),
                            rw.shape_const(f"{hint}_steps", [1] * n_sp)),
                  TensorType(out, t.dtype), f"{hint}_crop")


def _lower(rw: Rewriter, n: Node, y: TensorType) -> None:
    w = rw.value(n.inputs[1])
    a = n.attrs
    s, d, k = tuple(a["strides"]), tuple(a["dilations"]), tuple(a["kernel_shape"])
    n_sp = len(k)
    pads, op = tuple(a["pads"]), tuple(a["output_padding"])
    x = n.inputs[0]
    if any(v > 1 for v in s):
        x = _zero_insert(rw, x, s, n.name)
    # the zero-inserted input is s-1 elements longer than the dilated input: count it as padding
    begins = [d[i] * (k[i] - 1) - pads[i] for i in range(n_sp)]
    ends = [d[i] * (k[i] - 1) - pads[n_sp + i] + op[i] - (s[i] - 1) for i in range(n_sp)]
    if any(v < 0 for v in begins + ends):
        x = _crop(rw, x, [max(0, -v) for v in begins], [max(0, -v) for v in ends], n.name)
        begins = [max(0, v) for v in begins]
        ends = [max(0, v) for v in ends]
    group = int(a["group"])
    inputs = (x, rw.const(f"{n.name}_W", _flip_weight(w, group))) + tuple(n.inputs[2:3])
    attrs = {"auto_pad": "NOTSET", "dilations": d, "group": group, "kernel_shape": k,
             "pads": tuple(begins + ends), "strides": (1,) * n_sp}
    rw.emit(Node(n.name, "Conv", inputs, n.outputs, attrs))


def lower_convtranspose(graph: Graph) -> Graph:
    """Replace every constant-weight ConvTranspose by zero insertion + Conv (module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type == "ConvTranspose" and rw.is_const(n.inputs[1]):
            _lower(rw, n, graph.types[n.outputs[0]])
        else:
            rw.emit(n)
    return rw.finish()
