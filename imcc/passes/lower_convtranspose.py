"""``ConvTranspose`` rewritten as zero insertion + ``Conv``, so the code generator needs only Conv.

For stride ``s``, dilation ``d``, kernel ``k`` and pads ``p0, p1`` per spatial axis (explicit:
the frontend resolves ``output_shape`` and ``auto_pad`` into ``pads`` and ``output_padding``
``op``), the transposed convolution equals a stride-1 ``Conv`` with the same dilation over the
input with ``s - 1`` zeros inserted between neighbours, padded by ``d*(k-1) - p0`` before and
``d*(k-1) - p1 + op`` after, with weights ``W'[g*Cog + o, i] = W[g*Cig + i, o]`` flipped in
every spatial axis. Zero insertion is ``Reshape`` to [N, C, H, 1, W, 1], ``Pad`` of ``s - 1``
after each inserted axis, ``Reshape`` to [N, C, H*s, W*s]; negative pads become a ``Slice``.

A runtime weight (within the taps :func:`~imcc.passes.composite_runtime.conv_runtime_weight`
takes) is regrouped, swapped and flipped by ``Reshape``, ``Transpose`` and a ``Slice`` with
steps -1, and the ``Conv`` by it is expanded as that function expands one (products of two
activations, on the dynamic unit). Other runtime weights stay, refused.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.composite_registry import FLOATS, Ops
from imcc.passes.composite_runtime import conv_runtime_weight, runtime_weight_fits
from imcc.passes.rewrite import Rewriter


def _flip_weight(w: np.ndarray, group: int) -> np.ndarray:
    cin, cog = w.shape[:2]
    k = w.shape[2:]
    wg = w.reshape((group, cin // group, cog) + k)
    wg = np.swapaxes(wg, 1, 2)
    wg = wg[(Ellipsis,) + (slice(None, None, -1),) * len(k)]
    return np.ascontiguousarray(wg.reshape((group * cog, cin // group) + k))


def _flip_runtime_weight(rw: Rewriter, w: str, group: int, hint: str) -> str:
    """:func:`_flip_weight` of the runtime tensor ``w``, by nodes."""
    t = rw.type(w)
    cin, cog, k = t.shape[0], t.shape[1], t.shape[2:]
    n_sp = len(k)

    def add(op: str, inputs, shape, name: str, **attrs) -> str:
        return rw.add(op, inputs, TensorType(tuple(shape), t.dtype), f"{hint}_{name}", **attrs)

    grouped = (group, cin // group, cog) + k
    r = add("Reshape", (w, rw.shape_const(f"{hint}_wshape", grouped)), grouped, "wgroups",
            allowzero=0)
    swapped = (group, cog, cin // group) + k
    r = add("Transpose", (r,), swapped, "wswap", perm=(0, 2, 1) + tuple(range(3, 3 + n_sp)))
    r = add("Slice", (r, rw.shape_const(f"{hint}_starts", [-1] * n_sp),
                      rw.shape_const(f"{hint}_ends", [-(v + 1) for v in k]),
                      rw.shape_const(f"{hint}_axes", list(range(3, 3 + n_sp))),
                      rw.shape_const(f"{hint}_steps", [-1] * n_sp)), swapped, "wflip")
    out = (group * cog, cin // group) + k
    return add("Reshape", (r, rw.shape_const(f"{hint}_wshape", out)), out, "wflipped",
               allowzero=0)


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


def _lower(rw: Rewriter, graph: Graph, n: Node) -> None:
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
    wf = rw.const(f"{n.name}_W", _flip_weight(w, group)) if w is not None else \
        _flip_runtime_weight(rw, n.inputs[1], group, n.name)
    attrs = {"auto_pad": "NOTSET", "dilations": d, "group": group, "kernel_shape": k,
             "pads": tuple(begins + ends), "strides": (1,) * n_sp}
    conv = Node(n.name, "Conv", (x, wf) + tuple(n.inputs[2:3]), n.outputs, attrs)
    if w is not None:
        rw.emit(conv)
    elif not conv_runtime_weight(Ops(rw, graph, conv)):
        raise AssertionError(f"{n.name}: a runtime weight runtime_weight_fits accepts")


def _runtime_fits(rw: Rewriter, n: Node) -> bool:
    """Whether the runtime weight of ConvTranspose ``n`` is lowered (module doc)."""
    t = rw.type(n.inputs[1])
    group = int(n.attrs["group"])
    flipped = (t.shape[1] * group, t.shape[0] // group) + t.shape[2:]
    return t.dtype in FLOATS and runtime_weight_fits(rw.type(n.inputs[0]).rank, flipped)


def lower_convtranspose(graph: Graph) -> Graph:
    """Replace every ConvTranspose with a constant weight (or a runtime one that fits) by zero
    insertion + Conv (module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type == "ConvTranspose" and (rw.is_const(n.inputs[1]) or _runtime_fits(rw, n)):
            _lower(rw, graph, n)
        else:
            rw.emit(n)
    return rw.finish()
