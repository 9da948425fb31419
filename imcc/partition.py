"""IMC / dynamic / digital partition of a canonical graph, and the operator tables it reads.

As the seed paper's heterogeneous system proposes, matrix products with a constant weight operand
(Conv, Gemm, MatMul with a constant [K, N] right operand) run on the memristive crossbars (IMC);
products of two activations (attention's Q*K^T and P*V) run on an SRAM-IMC unit or the digital
unit (DYNAMIC, selectable); everything else runs on the digital vector unit (DIGITAL).

:data:`OP_TABLE` lists every operator a canonical graph may contain (the code generator has one
lowering per entry) and :data:`FRONTEND_OPS` the operators the frontend accepts that
canonicalization always removes or rewrites; both are views of the operator records
(:data:`imcc.opdefs.OPS`), as is each entry's statistics category.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from imcc.frontend.bind_constants import NeedsConstants, const_hint, graph_inputs_behind
from imcc.ir import Graph, Node, describe
from imcc.opdefs import CATEGORIES, OPS, OpClass, OpDef
from imcc.opdefs import forms as F
from imcc.passes.compute_float32 import WIDENED
from isa.diagnostics import UnsupportedOpError

__all__ = ["CATEGORIES", "FRONTEND_OPS", "OP_TABLE", "OpClass", "OpInfo", "Partition",
           "classify", "op_info", "partition"]


@dataclass(frozen=True)
class OpInfo:
    """An operator's execution class and statistics category."""

    cls: OpClass
    category: str


#: Every operator type a canonical graph may contain. ``MatMul``/``Gemm`` are IMC with a constant
#: [K, N] right operand and DYNAMIC (category ``matmul``) otherwise; see :func:`classify`.
OP_TABLE: Mapping[str, OpInfo] = MappingProxyType(
    {op: OpInfo(d.cls, d.category) for op, d in OPS.items() if d.lowered})

#: Operators the frontend accepts that canonicalization removes (folded, renamed, rewritten).
FRONTEND_OPS: Mapping[str, OpInfo] = MappingProxyType(
    {op: OpInfo(d.cls, d.category) for op, d in OPS.items() if not d.lowered})

_MATRIX_PRODUCTS = frozenset({"Gemm", "MatMul", "Einsum"})


def op_info(op_type: str) -> OpInfo | None:
    """The table entry of ``op_type`` (canonical or frontend-only), or None if unsupported."""
    return OP_TABLE.get(op_type) or FRONTEND_OPS.get(op_type)


def classify(node: Node, is_const: Callable[[str], bool],
             shape_of: Callable[[str], tuple[int, ...]]) -> OpInfo | None:
    """The class and category of ``node``; ``is_const`` tells which tensors are constants.

    A Gemm or MatMul is IMC/``linear`` when its right operand is a constant matrix (rank 2, or
    with only leading 1 dims) and its left operand is not constant; otherwise DYNAMIC/``matmul``.
    """
    info = op_info(node.op_type)
    if node.op_type == "Einsum" and len(node.inputs) != 2:
        return OpInfo(OpClass.DIGITAL, "other")
    if node.op_type in _MATRIX_PRODUCTS:
        b = node.inputs[1]
        b_matrix = is_const(b) and all(d == 1 for d in shape_of(b)[:-2])
        if b_matrix and not is_const(node.inputs[0]):
            return OpInfo(OpClass.IMC, "linear")
        return OpInfo(OpClass.DYNAMIC, "matmul")
    return info


@dataclass(frozen=True)
class Partition:
    """Per node: execution class and statistics category. ``dynamic`` says where DYNAMIC nodes
    run: ``"sram"`` (SRAM-IMC unit) or ``"digital"``."""

    classes: Mapping[str, OpClass]
    categories: Mapping[str, str]
    dynamic: str

    def unit(self, node_name: str) -> str:
        """The unit that executes the node: ``"imc"``, ``"sram"`` or ``"digital"``."""
        c = self.classes[node_name]
        if c is OpClass.DYNAMIC:
            return self.dynamic
        return c.value

    def nodes_of(self, cls: OpClass) -> tuple[str, ...]:
        return tuple(n for n, c in self.classes.items() if c is cls)




def _problem(node: Node, graph: Graph, d: OpDef) -> str | None:
    """Why a node of a supported type is still not compilable, or None: a tensor type the
    machine does not compute, an operand that must be constant and is not, or the form its
    record's check refuses. A node of an operator canonicalization removes is always a form
    the rewrite does not take."""
    for t in node.inputs + node.outputs if node.op_type != "Cast" else ():  # Cast converts
        if t and graph.types[t].dtype in WIDENED:
            return (f"{graph.types[t].dtype} tensor {t!r} (the machine computes float32: such "
                    "a tensor is converted at the model's inputs and outputs and by Cast)")
    if not d.lowered:
        return ((d.check and d.check(node, graph)) or F.float_input(node, graph)
                or "this form is not supported")
    for k in d.const_operands:
        if k < len(node.inputs) and node.inputs[k] and not graph.is_const(node.inputs[k]):
            return F.NotConstant(f"operand {k} ({node.inputs[k]!r}) is not a constant",
                                 node.inputs[k])
    return d.check(node, graph) if d.check else None


def _refusal(graph: Graph, problems: dict[object, str],
             runtime: list[str]) -> UnsupportedOpError:
    """The error listing ``problems``; a :class:`NeedsConstants` naming the graph inputs to bind
    when every problem is an operand (in ``runtime``) that binding graph inputs makes constant."""
    text = (f"{graph.name}: {len(problems)} unsupported node(s): "
            f"{', '.join(problems.values())}; docs/frontend.md lists the supported operators")
    names = graph_inputs_behind(graph, runtime)
    if names and len(runtime) == len(problems) and all(
            graph_inputs_behind(graph, [t]) for t in runtime):
        return NeedsConstants(text, names)
    return UnsupportedOpError(text, hint=const_hint(names) if names else None)


def partition(graph: Graph, dynamic: str = "sram") -> Partition:
    """Classify every node of a canonical ``graph``.

    Raises one :class:`UnsupportedOpError` listing every node (name and op type) that the
    compiler cannot execute, with the reason where the op type itself is supported.
    """
    if dynamic not in ("sram", "digital"):
        raise ValueError(f"dynamic must be 'sram' or 'digital', not {dynamic!r}")
    classes: dict[str, OpClass] = {}
    categories: dict[str, str] = {}
    problems: dict[object, str] = {}  # one per node of the model (the first of its parts)
    runtime: list[str] = []  # the operands that must be constants, of the problems
    for n in graph.nodes:
        d = OPS.get(n.op_type)
        info = classify(n, graph.is_const, lambda t: graph.types[t].shape) \
            if d is not None and d.lowered else None
        why = _problem(n, graph, d) if d is not None else None
        if info is None or why:
            key = graph.origins.get(n.name, n.name)
            if key not in problems and isinstance(why, F.NotConstant):
                runtime.append(why.tensor)
            problems.setdefault(key, describe(graph, n, why, noun=False))
            continue
        classes[n.name] = info.cls
        categories[n.name] = info.category
    if problems:
        raise _refusal(graph, problems, runtime)
    return Partition(MappingProxyType(classes), MappingProxyType(categories), dynamic)
