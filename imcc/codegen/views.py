"""Strided views of tensors in machine memory, and their mapping onto the vector unit's 6-D
address generator (AGU).

A :class:`View` is a buffer symbol, an element offset, a shape and element strides: numpy's
model of an array. Broadcasting (stride 0), transposes, slices, reversed slices and convolution
windows are all views, so one vector instruction covers them. :func:`emit` coalesces dimensions
that are contiguous for every operand, right-aligns them into the AGU's six dimensions, and emits
a short loop of instructions only when more than six dimensions remain.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from imcc.codegen.asm import AsmWriter
from isa.spec import AGU_RANK

BASE_REGS = {"d": "x5", "a": "x6", "b": "x7", "c": "x8"}


@dataclass(frozen=True)
class View:
    """Elements ``base + 4 * (offset + sum_k i_k * strides[k])`` (byte address), ``i_k < shape[k]``."""

    base: str
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    @classmethod
    def of(cls, base: str, shape: tuple[int, ...], offset: int = 0) -> "View":
        strides, acc = [], 1
        for d in reversed(shape):
            strides.append(acc)
            acc *= d
        return cls(base, offset, tuple(shape), tuple(reversed(strides)))

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def rank(self) -> int:
        return len(self.shape)

    def addr(self, extra: int = 0) -> str:
        off = 4 * (self.offset + extra)
        return self.base if off == 0 else f"{self.base} + {off}" if off > 0 else f"{self.base} - {-off}"

    def broadcast_to(self, shape: tuple[int, ...]) -> "View":
        """numpy broadcasting: new leading dims and size-1 dims get stride 0."""
        shape = tuple(shape)
        if len(shape) < self.rank:
            raise ValueError(f"cannot broadcast {self.shape} to {shape}")
        pad = len(shape) - self.rank
        src_shape = (1,) * pad + self.shape
        src_str = (0,) * pad + self.strides
        out = []
        for s, d, st in zip(shape, src_shape, src_str):
            if d == s:
                out.append(st if s != 1 else 0)
            elif d == 1:
                out.append(0)
            else:
                raise ValueError(f"cannot broadcast {self.shape} to {shape}")
        return View(self.base, self.offset, shape, tuple(out))

    def permute(self, perm: tuple[int, ...]) -> "View":
        return View(self.base, self.offset, tuple(self.shape[p] for p in perm),
                    tuple(self.strides[p] for p in perm))

    def slice(self, axis: int, start: int, stop: int, step: int = 1) -> "View":
        """Elements ``start, start+step, ...`` before ``stop`` along ``axis`` (step may be < 0;
        indices already clamped like Python's ``range``)."""
        n = len(range(start, stop, step))
        shape = list(self.shape)
        strides = list(self.strides)
        off = self.offset + (start * strides[axis] if n else 0)
        shape[axis] = n
        strides[axis] *= step
        return View(self.base, off, tuple(shape), tuple(strides))

    def index(self, axis: int, i: int) -> "View":
        """Drop ``axis`` by taking its element ``i``."""
        off = self.offset + i * self.strides[axis]
        return View(self.base, off, self.shape[:axis] + self.shape[axis + 1 :],
                    self.strides[:axis] + self.strides[axis + 1 :])

    def split_axis(self, axis: int, sizes: tuple[int, ...]) -> "View":
        """Replace ``axis`` by several dims of ``sizes`` (row-major), e.g. for reshapes."""
        assert math.prod(sizes) == self.shape[axis]
        st = self.strides[axis]
        new = []
        for s in reversed(sizes):
            new.append(st)
            st *= s
        return View(self.base, self.offset, self.shape[:axis] + tuple(sizes) + self.shape[axis + 1 :],
                    self.strides[:axis] + tuple(reversed(new)) + self.strides[axis + 1 :])

    def is_contiguous(self) -> bool:
        """Row-major without gaps (the strides of size-1 dims do not matter)."""
        row = View.of(self.base, self.shape).strides
        return self.size <= 1 or all(s == r for d, s, r in zip(self.shape, self.strides, row)
                                     if d != 1)

    def reshape(self, shape: tuple[int, ...]) -> "View":
        """The same elements in row-major order as ``shape``, without a copy: any view when
        contiguous, else when every run of dims that is merged or split is contiguous in
        itself (numpy's rule); ValueError otherwise."""
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) != self.size:
            raise ValueError(f"cannot reshape {self.shape} to {shape}")
        if self.is_contiguous():
            return View.of(self.base, shape, self.offset)
        strides = _nocopy_strides(self.shape, self.strides, shape)
        if strides is None:
            raise ValueError(f"reshape of a non-contiguous view {self.shape} to {shape}")
        return View(self.base, self.offset, shape, strides)


def node_view(graph, node, x: View) -> View | None:
    """The output of a ``Transpose``, ``Slice`` or ``Expand`` node as a view of its input ``x``
    (what its lowering copies; the code generator may read it in place instead:
    :func:`~imcc.codegen.memory.plan_views`). None for another op, a Slice with operands that
    are not constant, or an empty output."""
    if node.op_type == "Transpose":
        perm = node.attrs.get("perm") or list(range(x.rank))[::-1]
        return x.permute(tuple(int(p) for p in perm))
    if node.op_type == "Expand":
        return x.broadcast_to(tuple(graph.types[node.outputs[0]].shape))
    if node.op_type != "Slice":
        return None
    operands = []
    for i in (1, 2, 3, 4):
        t = node.inputs[i] if len(node.inputs) > i else ""
        if t and not graph.is_const(t):
            return None
        operands.append([int(v) for v in graph.constants[t].ravel()] if t else None)
    starts, ends, axes, steps = operands
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    v = x
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = a + x.rank if a < 0 else a
        idx = range(x.shape[a])[slice(s, e, st)]
        if not len(idx):
            return None
        v = v.slice(a, idx.start, idx.stop, idx.step)
    return v


def _nocopy_strides(old_shape, old_strides, new_shape) -> tuple[int, ...] | None:
    """Strides of ``new_shape`` over the elements of a (non-empty) strided view, or None when
    a run of old dims that must merge is not contiguous."""
    old = [(d, s) for d, s in zip(old_shape, old_strides) if d != 1]
    new_strides = [1] * len(new_shape)
    oi = ni = 0
    while oi < len(old):
        while new_shape[ni] == 1:  # size-1 dims take any stride
            ni += 1
        oj, nj = oi + 1, ni + 1
        op, np_ = old[oi][0], new_shape[ni]
        while op != np_:  # the smallest groups of old and new dims with equal sizes
            if op < np_:
                op *= old[oj][0]
                oj += 1
            else:
                np_ *= new_shape[nj]
                nj += 1
        if any(old[k][1] != old[k + 1][0] * old[k + 1][1] for k in range(oi, oj - 1)):
            return None
        st = old[oj - 1][1]
        for k in range(nj - 1, ni - 1, -1):
            new_strides[k] = st
            st *= new_shape[k]
        oi, ni = oj, nj
    return tuple(new_strides)


def _coalesce(shape, strides_by_op, lo, hi):
    """Merge dims [lo, hi) that are contiguous for every operand; drop size-1 dims."""
    dims = [i for i in range(lo, hi) if shape[i] != 1]
    out_shape: list[int] = []
    out_str: dict[str, list[int]] = {k: [] for k in strides_by_op}
    for i in dims:
        if out_shape and all(out_str[k][-1] == strides_by_op[k][i] * shape[i]
                             for k in strides_by_op):
            out_shape[-1] *= shape[i]
            for k in strides_by_op:
                out_str[k][-1] = strides_by_op[k][i]
        else:
            out_shape.append(shape[i])
            for k in strides_by_op:
                out_str[k].append(strides_by_op[k][i])
    return out_shape, out_str


def emit(
    w: AsmWriter,
    mnemonic: str,
    shape: tuple[int, ...],
    operands: dict[str, View],
    *,
    nred: int = 0,
    row: bool = False,
    note: str | None = None,
    extra_regs: tuple[str, ...] = (),
) -> None:
    """Emit ``mnemonic`` over the iteration space ``shape``.

    ``operands`` maps ``d``/``a``/``b``/``c`` to views whose shape is ``shape`` (sources may be
    broadcast views); for a reduction over the innermost ``nred`` dims, ``d`` has the outer
    shape only, unless ``row`` (softmax, norm, cumsum: the destination has the full shape).
    ``extra_regs`` are appended to the operand registers (e.g. ``vfill``'s value).
    """
    shape = tuple(int(s) for s in shape)
    r = len(shape)
    if any(s == 0 for s in shape):
        return
    strides = {}
    for k, v in operands.items():
        if k == "d" and nred and not row:
            if v.shape != shape[: r - nred]:
                raise ValueError(f"{mnemonic}: destination {v.shape} vs outer {shape[: r - nred]}")
            strides[k] = v.strides + (0,) * nred
        else:
            if v.shape != shape:
                raise ValueError(f"{mnemonic}: operand {k} shape {v.shape} != {shape}")
            strides[k] = v.strides
    outer_shape, outer_str = _coalesce(shape, strides, 0, r - nred)
    inner_shape, inner_str = ([], {k: [] for k in strides})
    if nred:
        inner_shape, inner_str = _coalesce(shape, strides, r - nred, r)
        if not inner_shape:  # reducing only size-1 dims: keep one so nred >= 1
            inner_shape = [1]
            inner_str = {k: [0] for k in strides}
    loops = max(0, len(outer_shape) + len(inner_shape) - AGU_RANK)
    loop_shape, agu_outer = outer_shape[:loops], outer_shape[loops:]
    for idx in itertools.product(*(range(s) for s in loop_shape)):
        extra = {k: sum(i * s for i, s in zip(idx, outer_str[k][:loops])) for k in strides}
        n = agu_outer + inner_shape
        pad = AGU_RANK - len(n)
        n_full = [1] * pad + n
        for i, size in enumerate(n_full):
            w.csr(f"n{i}", size)
        for k in operands:
            st = [0] * pad + outer_str[k][loops:] + inner_str[k]
            for i, s in enumerate(st):
                reduced = k == "d" and nred and not row and i >= AGU_RANK - len(inner_shape)
                if n_full[i] != 1 and not reduced:  # other strides are never read
                    w.csr(f"s{k}{i}", s)
        if nred:
            w.csr("nred", len(inner_shape))
        for k, v in operands.items():
            w.li(BASE_REGS[k], v.addr(extra[k]))
        regs = [BASE_REGS[k] for k in ("d", "a", "b", "c") if k in operands]
        w.op(mnemonic, *regs, *extra_regs, note=note)


def emit_raw(
    w: AsmWriter,
    mnemonic: str,
    n: tuple[int, ...],
    strides: dict[str, tuple[int, ...]],
    bases: dict[str, str],
    *,
    note: str | None = None,
) -> None:
    """Emit with explicit AGU sizes and strides (6 each), for instructions whose dimensions have
    fixed roles (``vmm``/``smm``: batch, batch, batch, m, n, k; ``vsadd``: reduce over dim 5)."""
    assert len(n) == AGU_RANK
    if any(s == 0 for s in n):
        return
    for i, size in enumerate(n):
        w.csr(f"n{i}", size)
    for k, st in strides.items():
        for i, s in enumerate(st):
            if n[i] != 1 and s is not None:
                w.csr(f"s{k}{i}", s)
    for k, b in bases.items():
        w.li(BASE_REGS[k], b)
    w.op(mnemonic, *(BASE_REGS[k] for k in ("d", "a", "b", "c") if k in bases), note=note)
