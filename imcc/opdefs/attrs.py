"""Attribute rules: each completes one operator's attributes at import, after the schema's
defaults (:func:`imcc.frontend.attributes.complete_attrs`), so that no later stage depends on a
default: shape-dependent defaults (``kernel_shape``, ``strides``, ``dilations``, ``pads``),
``auto_pad`` resolved into explicit ``pads`` (and ``auto_pad="NOTSET"``), negative axes made
non-negative, ``Transpose.perm`` spelled out. The operator records (:mod:`imcc.opdefs.table`)
name the rule each operator takes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imcc.ir import TensorType
from isa.diagnostics import OnnxImportError


def _axis(axis: int, rank: int, where: str, extra: int = 0) -> int:
    a = axis + rank + extra if axis < 0 else axis
    if not 0 <= a < rank + extra:
        raise OnnxImportError(f"{where}: axis {axis} is out of range for rank {rank}")
    return a


def same_pads(in_dims: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int],
              mode: str) -> tuple[int, ...]:
    """Explicit ``pads`` (begins then ends) for ``auto_pad`` SAME_UPPER / SAME_LOWER / VALID."""
    n = len(in_dims)
    if mode == "VALID":
        return (0,) * (2 * n)
    begins, ends = [], []
    for i in range(n):
        out = -(-in_dims[i] // s[i])
        total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_dims[i])
        small, large = total // 2, total - total // 2
        begins.append(small if mode == "SAME_UPPER" else large)
        ends.append(large if mode == "SAME_UPPER" else small)
    return tuple(begins + ends)


def _spatial(attrs: dict[str, Any], x: TensorType | None, kernel: Sequence[int] | None,
             where: str) -> dict[str, Any]:
    if x is None:
        raise OnnxImportError(f"{where}: the input's shape is unknown")
    n = x.rank - 2
    k = tuple(attrs.get("kernel_shape") or kernel or ())
    if len(k) != n:
        raise OnnxImportError(f"{where}: kernel_shape {list(k)} does not match a rank-{x.rank} "
                              "input")
    attrs["kernel_shape"] = k
    attrs["strides"] = tuple(attrs.get("strides") or (1,) * n)
    attrs["dilations"] = tuple(attrs.get("dilations") or (1,) * n)
    mode = attrs.get("auto_pad", "NOTSET")
    if mode in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        attrs["pads"] = same_pads(x.shape[2:], k, attrs["strides"], attrs["dilations"], mode)
    else:
        attrs["pads"] = tuple(attrs.get("pads") or (0,) * (2 * n))
    attrs["auto_pad"] = "NOTSET"
    return attrs


def _check_channels(attrs, in_types, where: str, transpose: bool) -> None:
    """What ONNX's shape inference leaves unchecked: the weight's rank and channels against
    the input's and ``group``, and the bias length."""
    x = in_types[0]
    w = in_types[1] if len(in_types) > 1 else None
    b = in_types[2] if len(in_types) > 2 else None
    if x is None or w is None:
        return
    g = int(attrs.get("group", 1))
    if w.rank != x.rank:
        raise OnnxImportError(f"{where}: weight of shape {list(w.shape)} does not match an "
                              f"input of rank {x.rank}")
    cin = x.shape[1]
    if g < 1 or cin % g:
        raise OnnxImportError(f"{where}: group={g} does not divide the input's {cin} channels")
    want = w.shape[0] if transpose else w.shape[1] * g
    if cin != want:
        spec = "weight.shape[0]" if transpose else f"weight.shape[1] x group = {w.shape[1]} x {g}"
        raise OnnxImportError(f"{where}: the input has {cin} channels but the weight "
                              f"{list(w.shape)} expects {want} ({spec})")
    cout = w.shape[1] * g if transpose else w.shape[0]
    if not transpose and cout % g:
        raise OnnxImportError(f"{where}: group={g} does not divide the weight's {cout} output "
                              "channels")
    if b is not None and b.shape != (cout,):
        raise OnnxImportError(f"{where}: bias of shape {list(b.shape)} for {cout} output "
                              f"channels (expected [{cout}])")


def conv(attrs, in_types, where):
    _check_channels(attrs, in_types, where, transpose=False)
    w = in_types[1] if len(in_types) > 1 else None
    return _spatial(attrs, in_types[0], w.shape[2:] if w else None, where)


def pool(attrs, in_types, where):
    return _spatial(attrs, in_types[0], None, where)


def conv_transpose(attrs, in_types, where):
    _check_channels(attrs, in_types, where, transpose=True)
    x, w = in_types[0], in_types[1] if len(in_types) > 1 else None
    mode = attrs.get("auto_pad", "NOTSET")
    out_shape = attrs.pop("output_shape", None)
    attrs["auto_pad"] = "NOTSET"  # so _spatial keeps explicit pads; resolved below
    attrs = _spatial(attrs, x, w.shape[2:] if w else None, where)
    n = x.rank - 2
    k, s, d = attrs["kernel_shape"], attrs["strides"], attrs["dilations"]
    op = list(attrs.get("output_padding") or (0,) * n)
    if out_shape or mode in ("SAME_UPPER", "SAME_LOWER"):
        target = list(out_shape)[-n:] if out_shape else [x.shape[2 + i] * s[i] for i in range(n)]
        begins, ends = [], []
        for i in range(n):
            total = s[i] * (x.shape[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - target[i]
            if mode == "SAME_UPPER":
                b, e = total // 2, total - total // 2
            else:
                b, e = total - total // 2, total // 2
            if e < 0:  # a larger requested output is extra padding at the end
                op[i] -= e
                e = 0
            begins.append(b)
            ends.append(e)
        attrs["pads"] = tuple(begins + ends)
    elif mode == "VALID":
        attrs["pads"] = (0,) * (2 * n)
    attrs["output_padding"] = tuple(op)
    return attrs


def axis(attrs, in_types, where):
    x = in_types[0]
    if x is not None and "axis" in attrs:
        attrs["axis"] = _axis(int(attrs["axis"]), x.rank, where)
    return attrs


def flatten(attrs, in_types, where):
    x = in_types[0]
    if x is not None:
        attrs["axis"] = _axis(int(attrs.get("axis", 1)), x.rank, where, extra=1)
    return attrs


def reduce_axes(attrs, in_types, where):
    x = in_types[0]
    if x is not None and "axes" in attrs:
        attrs["axes"] = tuple(sorted(_axis(int(a), x.rank, where) for a in attrs["axes"]))
    return attrs


def transpose(attrs, in_types, where):
    x = in_types[0]
    if x is not None and not attrs.get("perm"):
        attrs["perm"] = tuple(range(x.rank - 1, -1, -1))
    elif x is not None:
        attrs["perm"] = tuple(_axis(int(p), x.rank, where) for p in attrs["perm"])
    return attrs
