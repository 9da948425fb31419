"""One record per ONNX operator imcc accepts (:data:`OPS`), and the facts derived from them.

See :mod:`imcc.opdefs.table` for the records and what reads them.
"""

from imcc.opdefs import attrs as _attrs
from imcc.opdefs.record import CATEGORIES, AttrRule, FormCheck, Layout, OpClass, OpDef, Sign
from imcc.opdefs.table import OPS

#: The Reduce* family: the operators whose axes the reduction attribute rule completes
#: (``axes`` an attribute before opset 18, an input from it; ``ReduceSum`` from opset 13).
REDUCTIONS = frozenset(op for op, d in OPS.items() if d.attrs is _attrs.reduce_axes)

__all__ = ["CATEGORIES", "OPS", "REDUCTIONS", "AttrRule", "FormCheck", "Layout", "OpClass",
           "OpDef", "Sign"]
