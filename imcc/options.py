"""The compiler's options, typed: what a compile produces (:class:`CompileOptions`), the sizes
the code generator cuts work into (:class:`Tuning`) and the checks around the canonicalization
passes (:class:`PassChecks`). Each is a frozen dataclass with defaults, passed down the stages;
nothing reads a module constant that a caller would have to patch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class CompileOptions:
    """Everything that changes what the compiler produces (no hidden switches)."""

    priority: str = "efficiency"  # or "resource"
    dynamic: str = "sram"  # attention matmuls on the SRAM-IMC unit, or "digital"
    sram_bits: int | None = None  # operand bits of the SRAM-IMC unit; None: the chip's input_bits
    batch: int | None = None  # fix a symbolic leading dimension of the inputs
    input_shapes: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    calibration: str = "minmax"  # or "percentile"
    percentile: float = 99.99
    time_limit: float = 10.0  # packing effort budget (deterministic)
    seed: int = 0
    workers: int = 2
    fit: bool = False  # grow the chip until the model fits (imcc.settings)
    # with fit: global memory kept free after the program's (from its next 64-byte boundary):
    # a decoder's KV cache region, so that the chip the program is emitted for holds it too
    reserve_bytes: int = 0


@dataclass(frozen=True)
class Tuning:
    """How the code generator cuts large work into pieces; the program computes the same
    values whatever they are (tests shrink them to exercise the cut paths on small models)."""

    # Largest im2col patch (and product) of one convolution chunk, in elements: 8 MB of
    # float32 scratch, well inside the reference machine's per-operand limit
    # (docs/runtime.md). A chunk whose patch and products stay in the host's caches between
    # the copy and the MVMs runs 15 % to 25 % faster at batch 8 than one of 64 MB
    # (docs/performance.md).
    patch_elements: int = 1 << 21
    # A stride-1 conv computes its outputs at every position of the padded image (those beyond
    # the last kernel position are discarded): shifted windows when that costs at most this
    # factor of the products (small images, where the border is a large share, take the im2col
    # copy instead).
    shifted_waste: float = 1.4


@dataclass(frozen=True)
class PassChecks:
    """Checks around each canonicalization pass (``imcc compile --dump-after/--verify-each``):
    the graph is written to ``write`` after every pass named in ``dump_after``, and the IR
    verifier runs after every pass with ``verify_each``."""

    dump_after: frozenset[str] = frozenset()
    verify_each: bool = False
    write: Callable[[str], None] | None = None  # None: standard error
