"""The constants of the fused vector instructions (:data:`isa.spec.INSTRUCTIONS`' ``vgelut``), as
float32: what the machine computes with (:mod:`runtime.ops.fused`) and what the compiler's
fusion finds in a graph before it writes the instruction (:mod:`imcc.passes.fuse_gelu`)."""

from __future__ import annotations

import math

import numpy as np

#: GELU's tanh form: ``(x * HALF) * (tanh((x ** CUBE_POWER * CUBE + x) * SCALE) + ONE)``.
GELU_CUBE = np.float32(0.044715)
GELU_SCALE = np.float32(math.sqrt(2.0 / math.pi))
GELU_CUBE_POWER = np.float32(3.0)
GELU_HALF = np.float32(0.5)
GELU_ONE = np.float32(1.0)
