"""Symbolic dimensions by name: the names a dimension is made of, and its size from named sizes
(``--input-shape sequence_length=128``). Hugging Face's exporter writes some dimensions as
expressions of others (a decoder's attention mask: ``past_sequence_length + sequence_length``);
they are parsed as arithmetic of names and integers and evaluated here, never run."""

from __future__ import annotations

import ast
import operator
import warnings
from collections.abc import Mapping

import onnx


def dim_symbols(param: str) -> tuple[str, ...]:
    """The names a symbolic dimension ``param`` is made of: itself, or the names of an
    arithmetic expression (``past_sequence_length + sequence_length``, as Hugging Face's
    exporter writes)."""
    tree = _dim_expression(param)
    if tree is None:
        return (param,) if param else ()
    return tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))


def dim_size(param: str, sizes: Mapping[str, int]) -> int | None:
    """The size of symbolic dimension ``param`` given the named ``sizes``: ``sizes[param]``, or
    its expression of sums, differences, products and floor quotients of names and integers
    evaluated (parsed, never executed); None where a name has no size."""
    if param in sizes:
        return int(sizes[param])
    tree = _dim_expression(param)
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.FloorDiv: operator.floordiv}

    def value(n) -> int | None:
        if isinstance(n, ast.Name):
            return sizes.get(n.id)
        if isinstance(n, ast.Constant):
            return n.value
        a, b = value(n.left), value(n.right)
        return None if a is None or b is None or (b == 0 and isinstance(n.op, ast.FloorDiv)) \
            else ops[type(n.op)](a, b)

    return None if tree is None else value(tree.body)


def _dim_expression(param: str) -> ast.Expression | None:
    """``param`` parsed as an expression of names, non-negative integers and ``+ - * //``, or
    None where it is not one (or is a bare name)."""
    if not param or len(param) > 200 or param.isidentifier():
        return None
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: not ours
            warnings.simplefilter("ignore")
            tree = ast.parse(param, mode="eval")
    except (SyntaxError, ValueError):
        return None
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and type(n.op) in (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv):
            continue
        if isinstance(n, (ast.Expression, ast.Name, ast.Load, ast.operator)) or (
                isinstance(n, ast.Constant) and type(n.value) is int and n.value >= 0):
            continue
        return None
    return tree


def dims_text(tt: onnx.TypeProto.Tensor) -> str:
    """A tensor type's dims as text: ``[batch_size, 3, 224, 224]``, ``?`` for an unnamed unknown
    one."""
    if not tt.HasField("shape"):
        return "unknown rank"
    return "[" + ", ".join(d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?")
                           for d in tt.shape.dim) + "]"
