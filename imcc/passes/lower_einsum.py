"""``Einsum`` with one or two operands rewritten as ReduceSum / Transpose / Reshape / MatMul.

For ``A, B -> out``: letters only in one operand and not in the output are summed out first;
then ``A`` is laid out as [batch, M, K] and ``B`` as [batch, K, N] (batch letters in both operands
and the output, K letters contracted, M and N the rest), multiplied with ``MatMul``, reshaped to
the output's letters and transposed to their order. Without batch letters the product is 2-D,
so a constant ``B`` makes an IMC matrix product. Constant operands are rearranged with numpy.

An ellipsis stands for letters of its own, one per axis it covers, aligned at the right across
operands (the output's ``...``, or the implicit output's first axes, take them all); a letter
repeated within one operand takes that operand's diagonal first (the two axes moved last,
merged, and their diagonal read by a ``Gather`` of constant positions). Equations that broadcast
(a letter of size 1 in one operand and more in another) or repeat a letter in the output stay
``Einsum`` and are reported as unsupported.
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
        """The axes in the order of the letters ``order`` (each letter once)."""
        if order != self.letters:
            self.transpose_axes([self.letters.index(c) for c in order])

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


    def diagonal(self) -> None:
        """Each letter repeated in this operand's axes replaced by one axis, its diagonal."""
        for c in [c for c in dict.fromkeys(self.letters) if self.letters.count(c) > 1]:
            while self.letters.count(c) > 1:
                first = self.letters.index(c)
                second = self.letters.index(c, first + 1)
                rest = [i for i in range(len(self.letters)) if i not in (first, second)]
                self.transpose_axes(rest + [first, second])
                shape = self.rw.type(self.name).shape
                n = shape[-1]
                self.reshape(tuple(shape[:-2]) + (n * n,))
                at = np.arange(n, dtype=np.int64) * (n + 1)
                v = self.rw.value(self.name)
                if v is not None:
                    self._const(np.take(v, at, axis=-1))
                else:
                    index = self.rw.const(f"{self.hint}_diagonal", at)
                    self.name = self.rw.add("Gather", (self.name, index), TensorType(
                        tuple(shape[:-2]) + (n,), self.dtype), f"{self.hint}_diag",
                        axis=len(shape) - 2)
                self.letters = self.letters[:-2] + c

    def transpose_axes(self, perm: list[int]) -> None:
        """The axes in the order ``perm`` (letters may repeat)."""
        if perm == sorted(perm):
            return
        v = self.rw.value(self.name)
        if v is not None:
            self._const(np.transpose(v, perm))
        else:
            shape = tuple(self.rw.type(self.name).shape[p] for p in perm)
            self.name = self.rw.add("Transpose", (self.name,), TensorType(shape, self.dtype),
                                    f"{self.hint}_t", perm=tuple(perm))
        self.letters = "".join(self.letters[p] for p in perm)


def _parse(equation: str, ranks: list[int]) -> tuple[list[str], str] | None:
    """The operands' letters and the output's, each ``...`` spelled out in letters of its own
    (module doc); None where the equation is not one this pass lowers."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks) or len(ranks) not in (1, 2):
        return None
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    covered = [r - len(t.replace("...", "")) if "..." in t else 0 for t, r in zip(terms, ranks)]
    widest = max(covered)
    if min(covered) < 0 or widest > len(spare):
        return None
    ell = "".join(spare[:widest])
    terms = [t.replace("...", ell[widest - k:] if k else "") for t, k in zip(terms, covered)]
    if not arrow:
        rest = sorted(c for c in set("".join(terms)) - set(ell) if lhs.count(c) == 1)
        rhs = ell + "".join(rest)
    rhs = rhs.replace("...", ell)
    if any(not c.isalpha() for c in "".join(terms) + rhs) or len(set(rhs)) != len(rhs) \
            or not set(rhs) <= set("".join(terms)) \
            or any(len(t) != r for t, r in zip(terms, ranks)):
        return None
    return terms, rhs


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _sizes(rw: Rewriter, n: Node, terms: list[str]) -> dict[str, int] | None:
    """Each letter's size; None where a letter has two sizes (broadcasting, not lowered)."""
    size: dict[str, int] = {}
    for t, i in zip(terms, n.inputs):
        for c, d in zip(t, rw.type(i).shape):
            if size.setdefault(c, d) != d:
                return None
    return size


def _lower(rw: Rewriter, n: Node, terms: list[str], out: str, y: TensorType) -> None:
    size = _sizes(rw, n, terms)
    ops = [_Operand(rw, i, t, f"{n.name}_{k}") for k, (t, i) in enumerate(zip(terms, n.inputs))]
    for op in ops:
        op.diagonal()
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
        parsed = _parse(n.attrs.get("equation", ""), [rw.type(i).rank for i in n.inputs]) \
            if n.op_type == "Einsum" else None
        if parsed is None or _sizes(rw, n, parsed[0]) is None:
            rw.emit(n)
            continue
        _lower(rw, n, parsed[0], parsed[1], graph.types[n.outputs[0]])
    return rw.finish()
