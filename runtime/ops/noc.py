"""Tile network semantics: ``send`` and ``barrier``.

The program is one instruction stream, so ``barrier`` changes no data; the cost model uses it to
synchronize the tiles' clocks.
"""

from __future__ import annotations

from runtime.ops.registry import semantics


@semantics("send")
def send(s, d, a, n):
    """copy n words from address a to address d (any regions; all reads before the writes)"""
    count = s.x[n]
    if count == 0:
        return
    src_region, src = s.mem.span(s.x[a], count)
    dst_region, dst = s.mem.span(s.x[d], count, write=True)
    dst[...] = src.copy()
    s.cost.send(src_region, dst_region, 4 * count)


@semantics("barrier")
def barrier(s):
    """wait until every tile reaches the barrier"""
    s.cost.barrier()
