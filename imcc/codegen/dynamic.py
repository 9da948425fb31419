"""Matrix products whose operands are both activations (attention's Q K^T and P V).

They run on the SRAM-IMC unit (``smm``: operands quantized per tensor to ``sram_bits``, by
default the chip's input bits, so an ideal chip's SRAM unit is exact) or on the digital unit
(``vmm``: float32), as the compile option ``dynamic`` selects.
"""

from __future__ import annotations

import itertools

from imcc.codegen.context import Ctx
from imcc.codegen.views import View, emit_raw


def _as_matrix_operands(a: View, b: View):
    """numpy matmul rules for 1-D operands: [K] -> [1, K] (A) and [K] -> [K, 1] (B)."""
    squeeze = []
    if a.rank == 1:
        a = View(a.base, a.offset, (1,) + a.shape, (0,) + a.strides)
        squeeze.append(-2)
    if b.rank == 1:
        b = View(b.base, b.offset, b.shape + (1,), b.strides + (0,))
        squeeze.append(-1)
    return a, b, squeeze


def lower_dynamic(ctx: Ctx, node) -> None:
    opts = ctx.options
    mnemonic = "smm" if opts.dynamic == "sram" else "vmm"
    if mnemonic == "smm":
        ctx.w.csr("ibits", 8 if opts.sram_bits is None else opts.sram_bits)
    a = ctx.view(node.inputs[0])
    b = ctx.view(node.inputs[1])
    y = ctx.view(node.outputs[0])
    if node.op_type == "Gemm":
        if node.attrs.get("transA", 0):
            a = a.permute((1, 0))
        if node.attrs.get("transB", 0):
            b = b.permute((1, 0))
        alpha = float(node.attrs.get("alpha", 1.0))
        beta = float(node.attrs.get("beta", 1.0))
        emit_matmul_dynamic(ctx, mnemonic, y, a, b)
        if alpha != 1.0:
            ctx.binary("vmul", y, y, ctx.scalar(alpha))
        if len(node.inputs) > 2 and node.inputs[2] and beta != 0.0:
            c = ctx.view(node.inputs[2])
            if beta != 1.0:
                ctx.ternary("vfma", y, c, ctx.scalar(beta), y)
            else:
                ctx.binary("vadd", y, y, c)
        return
    a, b, squeeze = _as_matrix_operands(a, b)
    full = a.shape[:-1] + b.shape[-1:]
    batch = _broadcast(a.shape[:-2], b.shape[:-2])
    out_shape = batch + full[-2:]
    out = y.reshape(out_shape) if squeeze else y
    emit_matmul_dynamic(ctx, mnemonic, out, a, b)


def _broadcast(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(s1), len(s2))
    s1 = (1,) * (n - len(s1)) + s1
    s2 = (1,) * (n - len(s2)) + s2
    return tuple(max(x, y) for x, y in zip(s1, s2))


def emit_matmul_dynamic(ctx: Ctx, mnemonic: str, out: View, a: View, b: View) -> None:
    """``out[..., m, n] = sum_k a[..., m, k] * b[..., k, n]`` with numpy batch broadcasting,
    on the digital unit (``vmm``) or the SRAM-IMC unit (``smm``)."""
    batch = out.shape[:-2]
    M, N = out.shape[-2:]
    K = a.shape[-1]
    a = a.broadcast_to(batch + (M, K))
    b = b.broadcast_to(batch + (K, N))
    nb = len(batch)
    if nb > 3:  # fold leading batch dims into a loop of instructions
        for idx in itertools.product(*(range(s) for s in batch[: nb - 3])):
            emit_matmul_dynamic(ctx, mnemonic, *(_index_many(v, idx) for v in (out, a, b)))
        return
    pad = 3 - nb
    bsz = (1,) * pad + tuple(batch)

    def st(v, axes):
        return (0,) * pad + tuple(v.strides[:nb]) + axes

    emit_raw(ctx.w, mnemonic, bsz + (M, N, K),
             {"d": st(out, (out.strides[-2], out.strides[-1], None)),
              "a": st(a, (a.strides[-2], None, a.strides[-1])),
              "b": st(b, (None, b.strides[-1], b.strides[-2]))},
             {"d": out.addr(), "a": a.addr(), "b": b.addr()})


def _index_many(v: View, idx) -> View:
    for i in idx:
        v = v.index(0, i)
    return v
