"""``Einsum`` with one or two operands rewritten as ReduceSum / Transpose / Reshape / MatMul.

For ``A, B -> out``: letters only in one operand and not in the output are summed out first;
then ``A`` is laid out as [batch, M, K] and ``B`` as [batch, K, N] (batch letters in both operands
and the output, K letters contracted, M and N the rest), multiplied with ``MatMul``, reshaped to
the output's letters and transposed to their order. Without batch letters the product is 2-D,
so a constant ``B`` makes an IMC matrix product. Constant operands are rearranged with numpy.
Equations with ``...`` or a letter repeated within one operand (diagonals) stay ``Einsum`` and
are reported as unsupported.
"""

from __future__ import annotations

import numpy as np

from imcc.ir import Graph, Node, TensorType
from imcc.passes.rewrite import Rewriter


class _Operand:
    """A tensor (or constant) with one letter per axis, being rearranged."""

    def __init__(self, rw: Rewriter, name: str, letters: str, hint: str):
        self.rw, self.name, self.letters, self.hint = rw, name, letters, hint

    @property
    def dtype(self) -> str:
        return self.rw.type(self.name).dtype

    def _const(self, value: np.ndarray) -> None:
        self.name = self.rw.const(f"{self.hint}_c", np.ascontiguousarray(value))

    def sum_out(self, keep: set[str]) -> None:
        axes = [i for i, c in enumerate(self.letters) if c not in keep]
        if not axes:
            return
        letters = "".join(c for c in self.letters if c in keep)
        shape = tuple(d for i, d in enumerate(self.rw.type(self.name).shape) if i not in axes)
        v = self.rw.value(self.name)
        if v is not None:
            self._const(v.sum(axis=tuple(axes)).astype(v.dtype))
        else:
            self.name = self.rw.add("ReduceSum", (self.name, self.rw.shape_const(
                f"{self.hint}_axes", axes)), TensorType(shape, self.dtype), f"{self.hint}_sum",
                keepdims=0, noop_with_empty_axes=0)
        self.letters = letters

    def transpose(self, order: str) -> None:
        if order == self.letters:
            return
        perm = [self.letters.index(c) for c in order]
        v = self.rw.value(self.name)
        if v is not None:
            self._const(np.transpose(v, perm))
        else:
            shape = tuple(self.rw.type(self.name).shape[p] for p in perm)
            self.name = self.rw.add("Transpose", (self.name,), TensorType(shape, self.dtype),
                                    f"{self.hint}_t", perm=tuple(perm))
        self.letters = order

    def reshape(self, shape: tuple[int, ...]) -> None:
        if shape == self.rw.type(self.name).shape:
            return
        v = self.rw.value(self.name)
        if v is not None:
            self._const(v.reshape(shape))
        else:
            self.name = self.rw.add("Reshape", (self.name, self.rw.shape_const(
                f"{self.hint}_shape", shape)), TensorType(shape, self.dtype),
                f"{self.hint}_r", allowzero=0)


def _parse(equation: str, n_inputs: int) -> tuple[list[str], str] | None:
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "." in eq or len(terms) != n_inputs or n_inputs not in (1, 2):
        return None
    if any(len(set(t)) != len(t) for t in terms + [rhs]):
        return None
    if not arrow:
        rhs = "".join(sorted(c for c in set(lhs) - {","} if lhs.count(c) == 1))
    return terms, rhs


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _lower(rw: Rewriter, n: Node, terms: list[str], out: str, y: TensorType) -> None:
    size = {}
    for t, i in zip(terms, n.inputs):
        size.update(zip(t, rw.type(i).shape))
    ops = [_Operand(rw, i, t, f"{n.name}_{k}") for k, (t, i) in enumerate(zip(terms, n.inputs))]
    if len(ops) == 1:
        a = ops[0]
        a.sum_out(set(out))
        a.transpose(out)
        rw.alias(n.outputs[0], a.name)
        return
    a, b = ops
    a.sum_out(set(out) | set(b.letters))
    b.sum_out(set(out) | set(a.letters))
    batch = "".join(c for c in out if c in a.letters and c in b.letters)
    m = "".join(c for c in a.letters if c not in b.letters)
    nn = "".join(c for c in b.letters if c not in a.letters)
    k = "".join(c for c in a.letters if c in b.letters and c not in out)
    a.transpose(batch + m + k)
    b.transpose(batch + k + nn)
    dims = lambda s: [size[c] for c in s]  # noqa: E731
    lead = (_prod(dims(batch)),) if batch else ()
    a.reshape(lead + (_prod(dims(m)), _prod(dims(k))))
    b.reshape(lead + (_prod(dims(k)), _prod(dims(nn))))
    mm_shape = lead + (_prod(dims(m)), _prod(dims(nn)))
    prod = _Operand(rw, rw.add("MatMul", (a.name, b.name), TensorType(mm_shape, y.dtype),
                               f"{n.name}_mm"), "", f"{n.name}_out")
    prod.reshape(tuple(dims(batch + m + nn)))
    prod.letters = batch + m + nn  # the product's axes, once split back into letters
    prod.transpose(out)
    rw.alias(n.outputs[0], prod.name)


def lower_einsum(graph: Graph) -> Graph:
    """Rewrite one- and two-operand Einsum into standard operators (see the module doc)."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        parsed = _parse(n.attrs.get("equation", ""), len(n.inputs)) \
            if n.op_type == "Einsum" else None
        if parsed is None:
            rw.emit(n)
            continue
        _lower(rw, n, parsed[0], parsed[1], graph.types[n.outputs[0]])
    return rw.finish()
