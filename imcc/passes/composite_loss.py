"""Expansions of ``expand-composites`` for the loss operators (each registered with
:func:`~imcc.passes.composite_registry.composite`): ``NegativeLogLikelihoodLoss`` and
``SoftmaxCrossEntropyLoss``, by their ONNX function bodies.

The class each target names is read with ``GatherElements`` along the class axis; a target equal
to ``ignore_index`` reads class 0 instead (any class: its loss and its weight are then set to 0
by a ``Where``), so no index is ever out of range.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Node
from imcc.passes.composite_registry import FLOATS, Ops, composite

_REDUCTIONS = ("none", "sum", "mean")


def _nll(o: Ops, x: str, target: str, weight: str | None) -> bool:
    """Emit ``NegativeLogLikelihoodLoss(x, target, weight)`` with the node's attributes, the last
    node through ``o.final``; False (nothing emitted) for a form it does not take."""
    a = o.n.attrs
    reduction = _reduction(o)
    xt, tt = o.rw.type(x), o.rw.type(target)
    if not _takes(o, xt, tt):
        return False
    tshape = tuple(tt.shape)
    ignore = a.get("ignore_index")
    skipped = None
    if ignore is not None:  # the targets to skip, and a class that every index can read
        skipped = o.op("Equal", target, o.rw.const(f"{o.n.name}_ignore", _scalar(ignore, tt)),
                       shape=tshape, dtype="bool")
        target = o.op("Where", skipped, o.rw.const(f"{o.n.name}_zero", _scalar(0, tt)), target,
                      shape=tshape, dtype=tt.dtype)
    index = o.op("Reshape", target, o.rw.shape_const(f"{o.n.name}_idx_shape",
                                                     (tshape[0], 1, *tshape[1:])),
                 shape=(tshape[0], 1, *tshape[1:]), dtype=tt.dtype)
    picked = o.op("GatherElements", x, index, axis=1, shape=(tshape[0], 1, *tshape[1:]))
    steps = [("Neg", (o.op("Reshape", picked, o.rw.shape_const(f"{o.n.name}_shape", tshape),
                           shape=tshape),))]
    w = None
    if weight is not None:
        w = o.op("Gather", weight, target, axis=0, shape=tshape)
        steps.append(("Mul", (None, w)))
    if skipped is not None:
        zero = o.const(0.0)
        steps.append(("Where", (skipped, zero, None)))
        w = o.op("Where", skipped, zero, w if w is not None else o.const(1.0), shape=tshape)
    loss = None
    for k, (op, ins) in enumerate(steps):
        ins = tuple(loss if i is None else i for i in ins)
        if reduction == "none" and k == len(steps) - 1:
            o.final(op, *ins)
        else:
            loss = o.op(op, *ins, shape=tshape)
    axes = list(range(len(tshape)))
    if reduction == "sum":
        o.on(loss).final_reduce("ReduceSum", loss, axes, 0)
    elif reduction == "mean" and w is None:
        o.on(loss).final_reduce("ReduceMean", loss, axes, 0)
    elif reduction == "mean":
        total = o.on(loss).reduce("ReduceSum", loss, axes, 0)
        o.final("Div", total, o.on(w).reduce("ReduceSum", w, axes, 0))
    return True


def _reduction(o: Ops) -> str:
    r = o.n.attrs.get("reduction", "mean")
    return r.decode() if isinstance(r, bytes) else r


def _takes(o: Ops, xt, tt) -> bool:
    """Whether the expansion takes this node: a known reduction, scores of rank 2 or more with
    static dims, targets of one rank less."""
    return (_reduction(o) in _REDUCTIONS and xt.rank >= 2 and tt.rank == xt.rank - 1
            and all(isinstance(d, int) for d in xt.shape))


def _scalar(v, t) -> np.ndarray:
    return np.asarray(v, dtype=t.dtype)


@composite("NegativeLogLikelihoodLoss", dtypes=FLOATS)
def _negative_log_likelihood_loss(o: Ops) -> bool:
    """``loss[n, d...] = -x[n, target[n, d...], d...] * weight[target[n, d...]]`` (0 where the
    target is ``ignore_index``); ``reduction``: ``none`` that tensor, ``sum`` its sum, ``mean``
    its sum over the sum of the weights it used (without weights or ignored targets, its
    mean)."""
    ins = list(o.n.inputs) + [""] * 3
    return _nll(o, ins[0], ins[1], ins[2] or None)


@composite("SoftmaxCrossEntropyLoss", dtypes=FLOATS)
def _softmax_cross_entropy_loss(o: Ops) -> bool:
    """``NegativeLogLikelihoodLoss(LogSoftmax(scores, axis = 1), labels, weights)`` with the
    node's ``reduction`` and ``ignore_index``; the optional second output is the
    ``LogSoftmax``."""
    ins = list(o.n.inputs) + [""] * 3
    xt = o.xt
    if not _takes(o, xt, o.rw.type(ins[1])):  # checked before anything is emitted
        return False
    outs = list(o.n.outputs) + [""]
    named = {"name": f"{o.n.name}_log_prob", "out": outs[1]} if outs[1] else None
    if xt.rank > 2 and o.graph.opset < 13:  # LogSoftmax flattened from its axis before 13
        perm = (0, *range(2, xt.rank), 1)
        shape = tuple(xt.shape[p] for p in perm)
        last = o.op("LogSoftmax", o.op("Transpose", o.x, perm=perm, shape=shape),
                    axis=xt.rank - 1, shape=shape)
        op, srcs, attrs = "Transpose", (last,), {"perm": tuple(perm.index(i) for i in range(
            xt.rank))}
    else:
        op, srcs, attrs = "LogSoftmax", (o.x,), {"axis": 1}
    if named:  # the optional output is the LogSoftmax itself
        o.rw.emit(Node(named["name"], op, srcs, (named["out"],), attrs))
        log_prob = named["out"]
    else:
        log_prob = o.op(op, *srcs, **attrs)
    return _nll(o, log_prob, ins[1], ins[2] or None)
