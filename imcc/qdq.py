"""QDQ weights: a ``DequantizeLinear`` of a constant integer weight sets its IMC layer's weight
precision and per-output-channel scales, so the model's integer codes are programmed onto the
arrays as they are instead of being requantized (docs/precision.md, "QDQ weights").

Before canonicalization, :func:`qdq_weights` finds every ``DequantizeLinear(q, s, zp)`` whose
inputs are constants, ``q`` an integer type, feeding the weight of a ``Conv``,
``ConvTranspose``, ``Gemm`` or ``MatMul`` (directly, or a 2-D one through a ``Transpose``): one
scale per output channel of that layer where ``s`` is per tensor or per slice along the output
channels' axis. After canonicalization (``fold-constants`` has made the weight the float32
``(q - zp) * s``), :func:`apply_qdq` checks, layer by layer, that the weight the arrays get is
still exactly ``v * s`` per output column with integers ``v`` (``rint(w / s)``; equal in
float32, bit for bit): then the layer's codes are ``v = q - zp`` (the zero point folded into
signed codes), its weight scale is ``s`` and its ``weight_bits`` the bits ``v`` needs (at least
the type's: 8 for int8, 4 for int4; one more where ``v`` reaches ``-2**(bits-1)``, as the
symmetric codes need). On a lossless chip the layer then computes what the float
``DequantizeLinear -> Conv`` computes. A layer whose precision is float (an ideal chip) keeps
the float weight, which is already exact. Where the codes cannot be kept (the layer stores
fewer bits, the scale runs in blocks or along the inputs, or canonicalization changed the
weight, e.g. a BatchNormalization folded into it), the compile says so in one warning naming
the layer and quantizes the weight as any other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from imcc.ir import Graph, Node, describe
from imcc.opdefs.forms import INT_RANGES
from imcc.precision import LayerPrecision


@dataclass(frozen=True)
class QdqWeight:
    """A layer's weight as a ``DequantizeLinear`` gave it."""

    source: str  # the DequantizeLinear, as diagnostics name it
    dtype: str  # the codes' integer type
    scale: np.ndarray | None  # float32: one per output channel, or one (per tensor); None:
    # in blocks or along another axis


def _type_bits(dtype: str) -> int:
    lo, hi = INT_RANGES[dtype]
    return int(hi - lo).bit_length()


def _out_axis(consumer: Node, rank: int, transposed: bool) -> int | None:
    """The output-channel axis of the consumer's weight (in the DequantizeLinear's layout)."""
    op = consumer.op_type
    if op == "Conv":
        return 0
    if op == "ConvTranspose":
        return 1
    if rank != 2:
        return None
    axis = 0 if op == "Gemm" and int(consumer.attrs.get("transB", 0)) else 1
    return 1 - axis if transposed else axis


def _channel_scales(graph: Graph, dq: Node, consumer: Node, transposed: bool) -> np.ndarray | None:
    """The scale of each output channel of ``consumer`` (a 0-d array: one for all), or None
    (scaled along another axis)."""
    q = graph.types[dq.inputs[0]]
    s = np.asarray(graph.constants[dq.inputs[1]], dtype=np.float32).reshape(-1)
    if s.size == 1:
        return s.reshape(())
    axis = _out_axis(consumer, q.rank, transposed)
    if axis is None:
        return None
    a = int(dq.attrs.get("axis", 1))
    if (a + q.rank if a < 0 else a) != axis or s.size != q.shape[axis]:
        return None
    if consumer.op_type == "ConvTranspose":  # W [Cin, Cout/g, ...]: channel g*Cog + o is o
        return np.tile(s, int(consumer.attrs.get("group", 1)))
    return s


def qdq_weights(graph: Graph) -> dict[str, QdqWeight]:
    """Layer (node) name -> its QDQ weight, for the graph as loaded (module doc)."""
    out: dict[str, QdqWeight] = {}
    for dq in graph.nodes:
        if dq.op_type != "DequantizeLinear":
            continue
        blocked = bool(int(dq.attrs.get("block_size", 0) or 0))
        ins = [t for t in dq.inputs if t]
        if not all(graph.is_const(t) for t in ins) or \
                graph.types[dq.inputs[0]].dtype not in INT_RANGES:
            continue
        zp = dq.inputs[2] if len(dq.inputs) > 2 else ""
        if zp and np.asarray(graph.constants[zp]).size not in \
                (1, np.asarray(graph.constants[dq.inputs[1]]).size):
            continue
        for c in graph.consumers(dq.outputs[0]):
            transposed = False
            if c.op_type == "Transpose" and graph.types[dq.outputs[0]].rank == 2 and \
                    tuple(c.attrs.get("perm") or (1, 0)) == (1, 0):
                nxt = graph.consumers(c.outputs[0])
                if len(nxt) != 1:
                    continue
                t, c, transposed = c.outputs[0], nxt[0], True
            else:
                t = dq.outputs[0]
            if len(c.inputs) < 2 or c.inputs[1] != t or c.inputs[0] == t:
                continue
            if c.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
                continue
            out[c.name] = QdqWeight(describe(graph, dq, noun=True),
                                    graph.types[dq.inputs[0]].dtype,
                                    None if blocked else _channel_scales(graph, dq, c, transposed))
    return out


def _column_scales(w: np.ndarray, op: str, scale: np.ndarray) -> np.ndarray | None:
    """The scale of each output column of the canonical weight ``w`` (Conv [Cout, ...], else
    [K, N]), or None where ``scale`` does not have one per column."""
    n = w.shape[0] if op == "Conv" else w.shape[-1]
    if scale.ndim == 0:
        return np.full(n, scale, dtype=np.float32)
    return scale if scale.shape == (n,) else None


def _codes(w: np.ndarray, op: str, scale: np.ndarray) -> np.ndarray | None:
    """``rint(w / s)`` per output channel when ``w`` is exactly those integers times ``s``."""
    shaped = scale.reshape((-1,) + (1,) * (w.ndim - 1)) if op == "Conv" else scale.reshape(1, -1)
    if not np.all(scale > 0):
        return None
    v = np.rint(np.divide(w, shaped, dtype=np.float32))
    return v if np.array_equal(np.multiply(v, shaped, dtype=np.float32), w) else None


def apply_qdq(graph: Graph, imc_nodes, precs: dict[str, LayerPrecision],
              qdq: dict[str, QdqWeight]) -> tuple[dict[str, LayerPrecision], list[str]]:
    """Each QDQ layer's precision set by its ``DequantizeLinear`` (module doc), and a warning
    for each layer whose codes cannot be kept."""
    out = dict(precs)
    warnings = []
    for n in imc_nodes:
        info = qdq.get(n.name)
        p = precs.get(n.name)
        if info is None or p is None or p.is_float:
            continue
        where = f"layer {describe(graph, n, noun=False)}"
        fallback = f"its weight is quantized to {p.weight_bits} bits like any other"
        if info.scale is None:
            warnings.append(f"{where}: {info.source} scales its {info.dtype} weight in "
                            f"blocks or along another axis than the output channels; {fallback}")
            continue
        w = np.asarray(graph.constants[n.inputs[1]])
        scale = _column_scales(w, n.op_type, info.scale)
        v = None if scale is None else _codes(w, n.op_type, scale)
        if v is None:
            warnings.append(f"{where}: its weight is no longer {info.source}'s codes times "
                            f"its scale (a BatchNormalization or Gemm's alpha folded into it); "
                            f"{fallback}")
            continue
        bits = max(_type_bits(info.dtype), int(np.abs(v).max(initial=0)).bit_length() + 1)
        if bits > p.weight_bits:
            warnings.append(f"{where}: {info.source} gives {bits}-bit codes ({info.dtype}) but "
                            f"the layer stores {p.weight_bits}-bit weights; {fallback} (set "
                            f"weight_bits = {bits} for it in a precision file to keep the codes)")
            continue
        out[n.name] = replace(p, weight_bits=bits, weight_scale="qdq",
                              weight_scales=tuple(float(x) for x in scale))
    return out, warnings
