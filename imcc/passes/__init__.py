"""Canonicalization: named, pure ``Graph -> Graph`` passes and the pipeline that runs them.

Each pass lives in its own module. :data:`PASSES` names them; :func:`canonicalize` runs them in a
fixed order, calling ``hooks.before(pass, graph)`` / ``hooks.after(pass, graph)`` around each
(for dumping or timing; :class:`DumpAfter` writes the graph after the passes it names, as
``imcc compile --dump-after`` does) and :func:`~imcc.verify.verify` after each when
``verify_each`` is set.
The normal forms the result satisfies are listed in docs/frontend.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from imcc.ir import Graph
from imcc.passes.compute_float32 import compute_float32
from imcc.passes.dead_code import dead_code
from imcc.passes.eliminate_identity import eliminate_identity
from imcc.passes.empty_tensors import empty_tensors
from imcc.passes.expand_composites import expand_composites
from imcc.passes.fold_batchnorm import fold_batchnorm
from imcc.passes.fold_constants import fold_constants
from imcc.passes.fold_repeat_kv import fold_repeat_kv
from imcc.passes.fuse_gelu import fuse_gelu
from imcc.passes.fuse_layernorm import fuse_layernorm
from imcc.passes.fuse_rmsnorm import fuse_rmsnorm
from imcc.passes.lower_convtranspose import lower_convtranspose
from imcc.passes.lower_einsum import lower_einsum
from imcc.passes.normalize_conv import normalize_conv
from imcc.passes.normalize_gemm import normalize_gemm
from imcc.passes.normalize_matmul import normalize_matmul
from imcc.passes.normalize_operands import normalize_operands
from imcc.passes.normalize_reshape import normalize_reshape
from imcc.passes.operands_from_shapes import operands_from_shapes
from imcc.passes.unroll_rnn import unroll_rnn
from imcc.passes.upgrade_opset import upgrade_opset
from imcc.verify import verify
from isa.diagnostics import ConfigError


@dataclass(frozen=True)
class Pass:
    """A named graph rewrite. ``run`` is pure: it returns a new graph, never mutates one."""

    name: str
    run: Callable[[Graph], Graph]

    @property
    def doc(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0]


class Hooks(Protocol):
    def before(self, p: Pass, graph: Graph) -> None: ...
    def after(self, p: Pass, graph: Graph) -> None: ...


PASSES: dict[str, Pass] = {p.name: p for p in (
    Pass("fold-constants", fold_constants),
    Pass("eliminate-identity", eliminate_identity),
    Pass("upgrade-opset", upgrade_opset),
    Pass("compute-float32", compute_float32),
    Pass("operands-from-shapes", operands_from_shapes),
    Pass("empty-tensors", empty_tensors),
    Pass("lower-einsum", lower_einsum),
    Pass("unroll-rnn", unroll_rnn),
    Pass("expand-composites", expand_composites),
    Pass("normalize-reshape", normalize_reshape),
    Pass("normalize-gemm", normalize_gemm),
    Pass("normalize-matmul", normalize_matmul),
    Pass("lower-convtranspose", lower_convtranspose),
    Pass("normalize-conv", normalize_conv),
    Pass("fold-batchnorm", fold_batchnorm),
    Pass("normalize-operands", normalize_operands),
    Pass("fuse-layernorm", fuse_layernorm),
    Pass("fuse-rmsnorm", fuse_rmsnorm),
    Pass("fuse-gelu", fuse_gelu),
    Pass("fold-repeat-kv", fold_repeat_kv),
    Pass("dead-code", dead_code),
)}


def pass_names(names, option: str = "--dump-after") -> frozenset[str]:
    """``names`` as a set of pass names, or a one-line error naming the passes there are."""
    names = frozenset(names)
    unknown = sorted(names - set(PASSES))
    if unknown:
        raise ConfigError(f"{option} {unknown[0]!r}: no such pass; the passes are "
                          + ", ".join(PASSES))
    return names


@dataclass(frozen=True)
class DumpAfter:
    """Hooks that write the graph (:func:`~imcc.ir.format_graph`) after each pass in
    ``names`` (a pass that runs twice is written twice)."""

    names: frozenset[str]
    write: Callable[[str], None]

    def before(self, p: Pass, graph: Graph) -> None:
        pass

    def after(self, p: Pass, graph: Graph) -> None:
        if p.name in self.names:
            self.write(f"# after pass {p.name}\n{graph}\n")


def pipeline(*, fold_bn: bool = True) -> tuple[Pass, ...]:
    """The canonicalization passes, in order."""
    names = [
        "fold-constants",       # evaluate constant sub-graphs: shape chains, position ids
        "eliminate-identity",   # Identity / Dropout / no-op Cast only rename tensors
        "upgrade-opset",        # one operator version (21) for everything downstream
        "compute-float32",      # float16/bfloat16/float64 as float32, converted at the edges
        "operands-from-shapes",  # runtime Expand shapes, Tile repeats, Reduce axes the shapes fix
        "empty-tensors",        # size-0 tensors are constants; reductions of them fold
        "lower-einsum",         # Einsum -> Transpose/Reshape/MatMul, before those normalize
        "unroll-rnn",           # RNN/GRU/LSTM -> per-step MatMul and gate arithmetic
        "expand-composites",    # PRelu -> Less/Mul/Where
        "normalize-reshape",    # Flatten/Squeeze/Unsqueeze -> Reshape with explicit dims
        "normalize-gemm",       # A @ B + c with constant B [K, N]; dynamic Gemm -> MatMul
        "normalize-matmul",     # constant right operands as [K, N]
        "lower-convtranspose",  # transposed convolution -> zero insertion + Conv
        "normalize-conv",       # 2-D Conv/pooling only; dynamic bias -> Add
        "fold-batchnorm",       # needs normal-form Conv/Gemm weights to scale
        "normalize-operands",   # explicit Slice/Pad/Reduce/Split operands
        "fuse-layernorm",       # decomposed layer norms -> LayerNormalization (vnorm)
        "fuse-rmsnorm",         # RMS norms written out -> RMSNormalization (vrmsnorm)
        "fuse-gelu",            # GELU's tanh form written out -> Gelu (one vgelut)
        "fold-repeat-kv",       # grouped-query attention reads each K/V head once
        "normalize-reshape",    # merge the Reshape chains the rewrites above created
        "dead-code",            # drop whatever the rewrites left unread
    ]
    if not fold_bn:
        names.remove("fold-batchnorm")
    return tuple(PASSES[n] for n in names)


def run_passes(graph: Graph, passes: Sequence[Pass], *, verify_each: bool = False,
               hooks: Hooks | None = None) -> Graph:
    """Run ``passes`` in order with hooks and optional verification after each."""
    for p in passes:
        if hooks is not None:
            hooks.before(p, graph)
        graph = p.run(graph)
        if verify_each:
            verify(graph)
        if hooks is not None:
            hooks.after(p, graph)
    return graph


def canonicalize(graph: Graph, *, verify_each: bool = False, hooks: Hooks | None = None,
                 fold_bn: bool = True) -> Graph:
    """Bring ``graph`` to the normal forms the code generator relies on (docs/frontend.md).

    ``fold_bn=False`` keeps every BatchNormalization as its own (digital) node.
    """
    return run_passes(graph, pipeline(fold_bn=fold_bn), verify_each=verify_each, hooks=hooks)
