"""Instruction semantics, one module per unit; importing this package registers every handler
(:func:`runtime.ops.registry.handlers`)."""

from runtime.ops import fused, matmul, noc, scalar, vector, xbar  # noqa: F401
