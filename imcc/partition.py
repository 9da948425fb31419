"""IMC / dynamic / digital partition of a canonical graph, and the table of supported operators.

As the seed paper's heterogeneous system proposes, matrix products with a constant weight operand
(Conv, Gemm, MatMul with a constant [K, N] right operand) run on the memristive crossbars (IMC);
products of two activations (attention's Q*K^T and P*V) run on an SRAM-IMC unit or the digital
unit (DYNAMIC, selectable); everything else runs on the digital vector unit (DIGITAL).

:data:`OP_TABLE` lists every operator a canonical graph may contain; the code generator has one
lowering per entry. :data:`FRONTEND_OPS` lists operators the frontend accepts that
canonicalization always removes or rewrites (they never reach the code generator). Each entry
also names the statistics category ``imcc stats`` counts the operator under.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from imcc.ir import Graph, Node, describe
from isa.diagnostics import UnsupportedOpError


class OpClass(enum.Enum):
    """Where an operator executes."""

    IMC = "imc"          # memristive crossbar: constant weights programmed once
    DYNAMIC = "dynamic"  # activation x activation product: SRAM-IMC or digital
    DIGITAL = "digital"  # digital vector unit


#: Statistics categories, in the order ``imcc stats`` prints them (the seed's Table I classes).
CATEGORIES = ("conv", "linear", "matmul", "batchnorm", "activation", "pooling",
              "normalization", "other")


@dataclass(frozen=True)
class OpInfo:
    """An operator's execution class and statistics category."""

    cls: OpClass
    category: str


def _table(cls: OpClass, category: str, *ops: str) -> dict[str, OpInfo]:
    return {op: OpInfo(cls, category) for op in ops}


_D = OpClass.DIGITAL
#: Every operator type a canonical graph may contain. ``MatMul``/``Gemm`` are IMC with a constant
#: [K, N] right operand and DYNAMIC (category ``matmul``) otherwise; see :func:`classify`.
OP_TABLE: Mapping[str, OpInfo] = MappingProxyType({
    **_table(OpClass.IMC, "conv", "Conv"),
    **_table(OpClass.IMC, "linear", "Gemm", "MatMul"),
    **_table(_D, "batchnorm", "BatchNormalization"),
    **_table(_D, "activation", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf",
             "HardSigmoid", "HardSwish", "Softplus", "Elu", "Clip", "Softmax", "LogSoftmax"),
    **_table(_D, "pooling", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"),
    **_table(_D, "normalization", "LayerNormalization"),
    **_table(_D, "other", "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Sqrt", "Reciprocal", "Exp",
             "Log", "Neg", "Abs", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Max", "Min",
             "Sum", "Mean", "Where", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual",
             "Not", "And", "Or", "Xor", "Cast", "ReduceMean", "ReduceSum", "ReduceMax",
             "ReduceMin", "CumSum", "Concat", "Split", "Slice", "Reshape", "Transpose", "Expand",
             "Gather", "GatherElements", "Pad", "Resize", "Tile", "DepthToSpace",
             "SpaceToDepth"),
})

#: Operators the frontend accepts that canonicalization removes (folded, renamed, rewritten).
FRONTEND_OPS: Mapping[str, OpInfo] = MappingProxyType({
    **_table(OpClass.IMC, "conv", "ConvTranspose"),
    **_table(OpClass.IMC, "linear", "Einsum", "RNN", "GRU", "LSTM"),
    **_table(_D, "activation", "PRelu", "Selu", "Celu", "Mish", "Softsign", "ThresholdedRelu",
             "Shrink", "Hardmax"),
    **_table(_D, "normalization", "InstanceNormalization", "GroupNormalization",
             "LpNormalization", "LRN"),
    **_table(_D, "other", "Identity", "Dropout", "Constant", "ConstantOfShape", "Shape", "Size",
             "Range", "Flatten", "Squeeze", "Unsqueeze", "IsNaN", "IsInf", "ReduceSumSquare",
             "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceLogSum", "ArgMax", "ArgMin",
             "CastLike", "Trilu", "OneHot", "Tan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
             "Atan", "Asin", "Acos", "GatherND"),
})

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


_FLOAT = ("float16", "float64", "bfloat16")
_CONST_OPERANDS = {"Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4),
                   "Pad": (1, 2, 3), "Split": (1,), "ReduceMean": (1,), "ReduceSum": (1,),
                   "ReduceMax": (1,), "ReduceMin": (1,), "CumSum": (1,), "Resize": (1, 2, 3)}


def _form_problem(node: Node, graph: Graph) -> str | None:
    """Why a node of a supported type is still not compilable, or None."""
    for t in node.inputs + node.outputs:
        if t and graph.types[t].dtype in _FLOAT:
            return f"{graph.types[t].dtype} tensor {t!r} (only float32 is supported)"
    op = node.op_type
    for k in _CONST_OPERANDS.get(op, ()):
        if k < len(node.inputs) and node.inputs[k] and not graph.is_const(node.inputs[k]):
            return f"operand {k} ({node.inputs[k]!r}) is not a constant"
    if op == "Conv":
        if graph.types[node.inputs[0]].rank != 4:
            return "only 2-D convolution is supported"
        if not graph.is_const(node.inputs[1]):
            return "the weight is not a constant"
    if op in ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"):
        if graph.types[node.inputs[0]].rank != 4:
            return "only 2-D pooling is supported"
        if len(node.outputs) > 1 and node.outputs[1] and graph.consumers(node.outputs[1]):
            return "the Indices output is not supported"
    if op == "Resize" and node.attrs.get("mode") not in ("nearest", "linear", "cubic"):
        return f"mode {node.attrs.get('mode')!r} (nearest, linear and cubic are supported)"
    if op == "BatchNormalization" and node.attrs.get("training_mode", 0):
        return "training mode"
    return None


def _not_const(node: Node, graph: Graph, k: int, what: str) -> str | None:
    t = node.inputs[k] if k < len(node.inputs) else ""
    return f"its {what} ({t!r}) is not a constant" if t and not graph.is_const(t) else None


_REDUCE_COMPOSITES = ("ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp",
                      "ReduceLogSum")


def _frontend_problem(node: Node, graph: Graph) -> str:
    """Why a node of an operator canonicalization rewrites (:data:`FRONTEND_OPS`) is still
    there: the form it has is one the rewrite does not take."""
    op, a = node.op_type, node.attrs
    x = node.inputs[0] if node.inputs else ""
    for t in node.inputs + node.outputs:
        if t and graph.types[t].dtype in _FLOAT:
            return f"{graph.types[t].dtype} tensor {t!r} (only float32 is supported)"
    if op == "ConvTranspose":
        return _not_const(node, graph, 1, "weight") or "this form is not supported"
    if op == "Dropout":
        return (_not_const(node, graph, 2, "training_mode input")
                or "training mode (random; imcc compiles inference, training_mode = false)")
    if op == "Einsum":
        eq = str(a.get("equation", "")).replace(" ", "")
        terms = eq.split("->")[0].split(",")
        if len(node.inputs) > 2:
            return f"{len(node.inputs)} operands (one or two are supported)"
        if "..." in eq:
            return "an ellipsis ('...') in the equation"
        if any(len(set(t)) < len(t) for t in terms):
            return "a letter repeated within one operand (a diagonal)"
        return "this equation is not supported"
    if op == "ConstantOfShape":
        return _not_const(node, graph, 0, "shape input") or "this form is not supported"
    if op == "Range":
        for k, what in enumerate(("start", "limit", "delta")):
            why = _not_const(node, graph, k, what)
            if why:
                return why + ": the output's length would depend on the data"
    if op in _REDUCE_COMPOSITES:
        return (_not_const(node, graph, 1, "axes input")
                or "noop_with_empty_axes = 1 with empty axes is not supported")
    if op == "GatherND" and int(a.get("batch_dims", 0)):
        return "batch_dims > 0 (only 0 is supported)"
    if op == "LpNormalization" and int(a.get("p", 2)) not in (1, 2):
        return f"p = {a.get('p')} (1 and 2 are supported)"
    if x and graph.types[x].dtype not in ("float32", "float64"):
        return f"{graph.types[x].dtype} input {x!r} (this operator is supported on float32)"
    if op == "GroupNormalization":
        return "num_groups must divide the channels, with one scale and bias per channel"
    return "this form is not supported"


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
    for n in graph.nodes:
        info = classify(n, graph.is_const, lambda t: graph.types[t].shape) \
            if n.op_type in OP_TABLE else None
        if info is None:
            why = _frontend_problem(n, graph) if n.op_type in FRONTEND_OPS else None
        else:
            why = _form_problem(n, graph)
        if info is None or why:
            problems.setdefault(graph.origins.get(n.name, n.name),
                                describe(graph, n, why, noun=False))
            continue
        classes[n.name] = info.cls
        categories[n.name] = info.category
    if problems:
        raise UnsupportedOpError(
            f"{graph.name}: {len(problems)} unsupported node(s): "
            f"{', '.join(problems.values())}; "
            "docs/frontend.md lists the supported operators")
    return Partition(MappingProxyType(classes), MappingProxyType(categories), dynamic)
