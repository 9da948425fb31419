"""Fold inference ``BatchNormalization`` into the ``Conv`` or ``Gemm`` right before it.

With ``s = scale / sqrt(var + epsilon)``, ``BN(conv(x, W, b)) = conv(x, W * s, (b - mean) * s +
B)`` per output channel (axis 1 of the Conv output; the N columns of a Gemm output). Legal when
the BN input is produced by a normal-form ``Conv`` (constant W, constant or absent bias) or
``Gemm`` (constant B, constant or absent C), the BN is that tensor's only reader, it is not a
graph output, and the BN's four parameters are constants in inference mode. Other
``BatchNormalization`` nodes stay, to be computed digitally.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imcc.frontend.external_data import let_go
from imcc.ir import Graph, Node
from imcc.passes.rewrite import Rewriter


def _foldable(graph: Graph, bn: Node) -> Node | None:
    if bn.attrs.get("training_mode", 0) or len([o for o in bn.outputs if o]) != 1:
        return None
    if not all(graph.is_const(i) for i in bn.inputs[1:5]):
        return None
    src = graph.producer(bn.inputs[0])
    if src is None or src.op_type not in ("Conv", "Gemm") or len(src.outputs) != 1:
        return None
    if len(graph.consumers(bn.inputs[0])) != 1 or bn.inputs[0] in graph.outputs:
        return None
    if not graph.is_const(src.inputs[1]):
        return None
    if len(src.inputs) > 2 and src.inputs[2] and not graph.is_const(src.inputs[2]):
        return None
    if src.op_type == "Gemm":
        if graph.types[src.outputs[0]].rank != 2 or any(
                src.attrs[k] != v for k, v in (("transA", 0), ("transB", 0), ("alpha", 1.0),
                                               ("beta", 1.0))):
            return None
        c = src.inputs[2] if len(src.inputs) > 2 else ""
        if c and graph.types[c].shape != (graph.types[src.outputs[0]].shape[1],):
            return None
    return src


@dataclass(frozen=True)
class FoldOptions:
    """How the folding works through a weight; the folded values are the same whatever they
    are (tests shrink them to exercise the cut path)."""

    #: Elements of a weight scaled at a time (whole rows): the float64 temporaries stay small
    #: however large the weight is (the folded model's weights are held beside the original
    #: ones already).
    chunk_elements: int = 1 << 18


def _scaled(w: np.ndarray, s: np.ndarray, conv: bool,
            options: FoldOptions = FoldOptions()) -> np.ndarray:
    """``w * s`` in float64, rounded once to float32: ``s`` scales axis 0 of a Conv weight
    and the columns of a Gemm weight."""
    w = np.asarray(w)
    out = np.empty(w.shape, np.float32)
    if w.size == 0:
        return out
    rows = max(1, options.chunk_elements // max(1, w.size // w.shape[0]))
    for r in range(0, w.shape[0], rows):
        blk = w[r:r + rows].astype(np.float64)
        if conv:
            blk *= s[r:r + rows].reshape((-1,) + (1,) * (w.ndim - 1))
        else:
            blk *= s.reshape(1, -1)
        out[r:r + rows] = blk
    return out


def fold_batchnorm(graph: Graph, options: FoldOptions = FoldOptions()) -> Graph:
    """Fold every legal Conv/Gemm -> BatchNormalization pair (see the module doc)."""
    targets: dict[str, Node] = {}
    for n in graph.nodes:
        if n.op_type == "BatchNormalization":
            src = _foldable(graph, n)
            if src is not None:
                targets[src.name] = n
    if not targets:
        return graph
    folded_bns = {bn.name for bn in targets.values()}
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.name in folded_bns:
            continue
        bn = targets.get(n.name)
        if bn is None:
            rw.emit(n)
            continue
        c = graph.constants
        scale, beta, mean, var = (c[i].astype(np.float64) for i in bn.inputs[1:5])
        s = scale / np.sqrt(var + float(bn.attrs["epsilon"]))
        has_bias = len(n.inputs) > 2 and n.inputs[2]
        b = c[n.inputs[2]].astype(np.float64) if has_bias else np.zeros(s.shape)
        bias = (b - mean) * s + beta
        wname = rw.const(f"{n.name}_W_bn", _scaled(c[n.inputs[1]], s, n.op_type == "Conv",
                                                          options))
        let_go(c[n.inputs[1]])  # a weight mapped from its file leaves memory, layer by layer
        bname = rw.const(f"{n.name}_B_bn", bias.astype(np.float32))
        rw.emit(n.replace(inputs=(n.inputs[0], wname, bname), outputs=bn.outputs))
    return rw.finish()
