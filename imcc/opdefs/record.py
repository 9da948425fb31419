"""The record imcc keeps of each ONNX operator it accepts (:class:`OpDef`) and its vocabulary:
where the operator runs (:class:`OpClass`), the statistics categories, how its lowering treats
operand layouts (:class:`Layout`)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imcc.ir import Graph, Node, TensorType


class OpClass(enum.Enum):
    """Where an operator executes."""

    IMC = "imc"          # memristive crossbar: constant weights programmed once
    DYNAMIC = "dynamic"  # activation x activation product: SRAM-IMC or digital
    DIGITAL = "digital"  # digital vector unit


#: Statistics categories, in the order ``imcc stats`` prints them (the seed's Table I classes).
CATEGORIES = ("conv", "linear", "matmul", "batchnorm", "activation", "pooling",
              "normalization", "other")


class Layout(enum.Enum):
    """What a lowering accepts of its operands' memory layout.

    Every lowering reads and writes row-major tensors. The others also take tensors placed with
    other strides (a slice of a Concat's output, a 4-D tensor stored channels-last) and so
    decide where the code generator may place their operands
    (:mod:`imcc.codegen.memory`)."""

    ROW_MAJOR = "row-major"   # contiguous row-major operands only
    STRIDED = "strided"       # operands of any strides (Concat writes into its output's slices)
    ELEMENTWISE = "keeps"     # any strides, element by element or window by window: the output
    #                           is in the layout of the input (a chain keeps one layout)
    READS_ANY = "reads-any"   # reads any layout, writes row-major (the global pools)
    ANY = "any"               # reads and writes any layout (Conv)


class Sign(enum.Enum):
    """What is known of the sign of an operator's output (:func:`imcc.calibrate.nonnegative`
    proves IMC inputs non-negative with it, so they quantize unsigned)."""

    UNKNOWN = "unknown"
    NONNEG = "nonneg"   # never negative (Relu, Exp, Softmax...)
    FIRST = "first"     # non-negative where its first input is (Reshape, Slice, Gather...)
    ALL = "all"         # non-negative where all its inputs are (Add, Mul, Concat, pooling...)


#: An attribute rule: (attributes with schema defaults, input types, where) -> attributes with
#: every shape-dependent default explicit (:mod:`imcc.opdefs.attrs`).
AttrRule = Callable[[dict[str, Any], Sequence[TensorType | None], str], dict[str, Any]]
#: A form check: why this node of a supported operator is still not compilable, or None.
FormCheck = Callable[[Node, Graph], "str | None"]


@dataclass(frozen=True)
class OpDef:
    """Everything imcc knows about one ONNX operator it accepts.

    ``removed_by`` names the canonicalization pass that rewrites the operator into others
    (empty: it reaches the code generator, which has one lowering for it). ``const_operands``
    are the input positions that must be constants by the time the partition runs;
    ``attrs`` completes the node's attributes at import; ``check`` says why a node of this
    operator is still not compilable (a form the lowering or the rewrite does not take);
    ``sign`` what the output's sign follows from; ``notes`` is what docs/frontend.md says of
    the supported forms and opsets."""

    name: str
    cls: OpClass
    category: str
    removed_by: str = ""
    const_operands: tuple[int, ...] = ()
    layout: Layout = Layout.ROW_MAJOR
    attrs: AttrRule | None = None
    check: FormCheck | None = None
    sign: Sign = Sign.UNKNOWN
    notes: str = ""

    @property
    def lowered(self) -> bool:
        """Whether the code generator lowers it (it may stay in a canonical graph)."""
        return not self.removed_by
