"""One record per ONNX operator imcc accepts (:data:`OPS`), and the facts derived from them.

See :mod:`imcc.opdefs.table` for the records and what reads them.
"""

from imcc.opdefs.record import CATEGORIES, AttrRule, FormCheck, Layout, OpClass, OpDef, Sign
from imcc.opdefs.table import OPS

__all__ = ["CATEGORIES", "OPS", "AttrRule", "FormCheck", "Layout", "OpClass", "OpDef", "Sign"]
