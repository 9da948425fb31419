"""Tile network semantics: ``send`` and ``barrier``.

The program is one instruction stream, so ``barrier`` changes no data; the cost model uses it to
synchronize the tiles' clocks.
"""

from __future__ import annotations

import numpy as np

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


def bind_send(s, d: int, a: int, n: int):
    """``send`` bound for the dispatcher: its source and destination views kept while its
    three registers hold the same values (a change, or a count of 0, runs :func:`send`)."""
    x, touch, cost = s.x, s.mem.touch, s.cost
    last: list = [None, None]  # key, plan

    def run() -> None:
        key = (x[d], x[a], x[n])
        if key != last[0]:
            send(s, d, a, n)  # its traps, its copy and its cost
            count = key[2]
            if count:
                src_region, src = s.mem.span(key[1], count)
                dst_region, i = s.mem.locate(key[0])
                dst = s.mem.u32[dst_region][i : i + count]
                last[0] = key
                last[1] = (src_region, src, dst_region, dst, i, i + count, 4 * count,
                           np.may_share_memory(src, dst))
            return
        src_region, src, dst_region, dst, lo, hi, nbytes, overlap = last[1]
        touch(dst_region, lo, hi)
        dst[...] = src.copy() if overlap else src
        cost.send(src_region, dst_region, nbytes)

    return run


@semantics("barrier")
def barrier(s):
    """wait until every tile reaches the barrier"""
    s.cost.barrier()
