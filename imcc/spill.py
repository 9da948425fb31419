"""Large constants out of the process's memory while the compile does not read them.

BatchNorm folding and other passes make new weight arrays in the process's own memory, where
they would stay through packing, calibration and quantizing although each stage reads a
layer's weight for a moment only. :func:`spill` writes such arrays to an unnamed temporary file
and maps each one back read-only, as the loader maps a model's external data
(:func:`imcc.frontend.external_data.read_external`). A stage then reads a weight's pages when it
uses it and gives them back with :func:`~imcc.frontend.external_data.let_go`; the system keeps
them in its page cache, or drops them under memory pressure and reads them again. The values
are the same bytes: only where they live changes.
"""

from __future__ import annotations

import mmap
import tempfile

import numpy as np

from imcc.frontend.external_data import can_let_go, mapped
from imcc.ir import Graph, storage_order

#: Spill when the large constants in the process's own memory hold at least this many bytes
#: (below it the temporary file would cost more than it saves).
SPILL_BYTES = 64 << 20
#: Arrays smaller than this (bytes) stay where they are.
MIN_ARRAY = 1 << 16


def _key(v: np.ndarray) -> tuple:
    """The same key for two views of the same bytes as the same array (one array under two
    names is written once)."""
    return v.__array_interface__["data"][0], v.shape, v.strides, v.dtype.str


def _candidates(graph: Graph) -> dict[tuple, tuple[np.ndarray, tuple[int, ...]]]:
    """The constants worth spilling, by :func:`_key`: numeric arrays of at least
    :data:`MIN_ARRAY` bytes in the process's own memory whose bytes lie in one block."""
    out = {}
    for v in graph.constants.values():
        if (not isinstance(v, np.ndarray) or v.nbytes < MIN_ARRAY or v.dtype.kind not in "biufc"
                or _key(v) in out or mapped(v)):
            continue
        perm = storage_order(v)
        if perm is not None:
            out[_key(v)] = (v, perm)
    return out


def spill(graph: Graph) -> Graph:
    """``graph`` whose large constants in the process's memory (:func:`_candidates`) are mapped
    from an unnamed temporary file instead, when they hold :data:`SPILL_BYTES` or more and the
    system can give mapped pages back (Linux); else, or where the file cannot be written (no
    space: the compile goes on in memory), ``graph`` itself. The caller drops the graph it gave
    (and :func:`imcc.mapper.return_freed_memory`) for the memory to leave."""
    todo = _candidates(graph)
    if not can_let_go() or sum(v.nbytes for v, _ in todo.values()) < SPILL_BYTES:
        return graph
    moved: dict[tuple, np.ndarray] = {}
    try:
        with tempfile.TemporaryFile() as f:
            at, pos = {}, 0
            for key, (v, perm) in todo.items():
                pos = -(-pos // mmap.ALLOCATIONGRANULARITY) * mmap.ALLOCATIONGRANULARITY
                f.seek(pos)
                f.write(v.transpose(perm).reshape(-1).view(np.uint8).data)
                at[key], pos = pos, pos + v.nbytes
            f.flush()
            for key, (v, perm) in todo.items():
                view = mmap.mmap(f.fileno(), v.nbytes, access=mmap.ACCESS_READ, offset=at[key])
                stored = np.frombuffer(view, v.dtype).reshape([v.shape[i] for i in perm])
                moved[key] = stored.transpose(np.argsort(perm))
    except OSError:  # no space in the temporary folder: the constants stay in memory
        return graph
    consts = {k: moved.get(_key(v), v) for k, v in graph.constants.items()}
    return graph.replace(constants=consts)
