"""Global-memory layout of a compiled program.

    0 ............ constants (the .data section, float32)
    act_base ..... activation buffers, reused across the graph by liveness (first fit)
    scratch ...... per-node scratch (im2col patches, padded images, partial sums)
    tile t ....... the first half of its buffer: outputs of the IMC layers whose arrays all sit
                   on tile t (when they fit); the second half: per-node staging for sends

Every tensor lives in one buffer from the node that defines it to its last use; graph outputs
live to the end. A ``Reshape`` of a row-major tensor is free: its output shares its input's
buffer (and so does a ``Transpose`` that moves only size-1 dims, and a ``Split``'s part that is
a contiguous run of its input, at its offset). A ``Concat`` is free where
its inputs can be computed in place: an input defined by a node, used by no Reshape, is
placed in its slice of the output's buffer (a strided view when
the slice is not contiguous: batch > 1 along the channel axis), and a concatenation of inputs
that already lie side by side (DenseNet's growing concatenations, each the prefix of the next)
is placed where they lie; the shared buffer lives as long as any tensor in it. A
``Transpose``, ``Slice`` or ``Expand`` read only element by element is a view of its input
(``plan_views``): no buffer, no copy, its input kept alive while it is read. Buffers are
64-byte aligned. All values are float32 (int64 and bool tensors included:
exact below 2**24). Graph inputs and outputs always live in global memory.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from imcc.codegen.asm import symbol
from imcc.codegen.views import View, node_view
from imcc.opdefs import OPS, Layout
from isa.diagnostics import ConfigError

ALIGN = 64
CONSTS = "consts"
SCRATCH = "scratch"


def _align(n: int, a: int = ALIGN) -> int:
    return -(-n // a) * a


class ConstPool:
    """Constants of the program, deduplicated, as one float32 blob at the start of ``.data``."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._index: dict[bytes, int] = {}
        self.size = 0  # bytes

    def add(self, array: np.ndarray, where: str = "constant") -> View:
        a = np.asarray(array)
        if a.dtype.kind in "iub":
            if a.size and np.abs(a.astype(np.float64)).max() > 2**24:
                raise ConfigError(
                    f"{where}: integer values beyond 2**24 cannot be represented exactly in the "
                    "machine's float32 memory")
        f = np.ascontiguousarray(a, dtype="<f4").reshape(a.shape)  # rank 0 stays rank 0
        blob = f.tobytes()
        key = hashlib.sha256(blob + str(f.shape).encode()).digest()
        if key not in self._index:
            self._index[key] = self.size
            self._chunks.append(blob)
            pad = _align(len(blob), 16) - len(blob)
            if pad:
                self._chunks.append(bytes(pad))
            self.size += len(blob) + pad
        return View.of(CONSTS, tuple(int(d) for d in f.shape), self._index[key] // 4)

    def blob(self) -> bytes:
        return b"".join(self._chunks)


@dataclass(frozen=True)
class Buffer:
    """A tensor's storage: ``addr`` bytes into its arena (``tile`` None: global activations).
    ``inside``: a tensor placed in a slice of another's buffer, as ``(that buffer's symbol,
    element offset, element strides)``."""

    symbol: str
    addr: int
    nbytes: int
    tile: int | None = None
    inside: tuple[str, int, tuple[int, ...]] | None = None
    channels_last: bool = False  # an NCHW tensor stored NHWC (see channels_last_tensors)

    def view(self, shape: tuple[int, ...]) -> View:
        if self.inside is None:
            if self.channels_last:
                n, c, h, w = shape
                return View.of(self.symbol, (n, h, w, c)).permute((0, 3, 1, 2))
            return View.of(self.symbol, shape)
        base, offset, strides = self.inside
        return View(base, offset, tuple(shape), strides)


# Ops whose lowerings take operands of any strides (elementwise, windows, reductions, concat):
# the only producers and consumers a tensor placed in a non-contiguous slice may have.
STRIDED_OPS = frozenset(op for op, d in OPS.items() if d.layout is not Layout.ROW_MAJOR)
# Ops that read and write 4-D tensors element by element or window by window, through strides,
# with their output in the layout of their input: a chain of them between convolutions keeps
# one layout. (Conv reads and writes any layout; the global pools read any.)
LAYOUT_FREE = frozenset(op for op, d in OPS.items() if d.layout is Layout.ELEMENTWISE)
_WRITES_ANY = frozenset(op for op, d in OPS.items() if d.layout is Layout.ANY)
_READS_ANY = frozenset(op for op, d in OPS.items()
                       if d.layout in (Layout.ANY, Layout.READS_ANY))


def channels_last_tensors(graph, keep: set[str]) -> set[str]:
    """The 4-D activations stored channels-last (NHWC; their views keep the NCHW shape, with
    NHWC strides). A convolution multiplies channels-last rows, so a conv's output written in
    NCHW is transposed twice before the next conv reads it (into NCHW, then back); stored
    NHWC, its bias add writes whole rows and a 1x1 conv reads it in place.

    The tensors joined by element-wise and pooling ops (:data:`LAYOUT_FREE`: a ReLU, a residual
    Add) form groups that share one layout. A group is stored NHWC when one of its tensors is a
    Conv's input or output and every tensor in it is 4-D, not a graph input or output, not in
    ``keep`` (Reshape aliases, Concat placements), and produced and read only by Conv, the
    global pools (readers) and :data:`LAYOUT_FREE` ops."""
    io = set(graph.inputs) | set(graph.outputs)
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    def acts(ts):
        return [t for t in ts if t and not graph.is_const(t)]

    for n in graph.nodes:
        if n.op_type in LAYOUT_FREE:
            ts = [t for t in acts(list(n.inputs) + list(n.outputs))
                  if tuple(graph.types[t].shape) == tuple(graph.types[n.outputs[0]].shape)]
            for t in ts[1:]:
                parent[find(t)] = find(ts[0])
    groups: dict[str, list[str]] = {}
    for t in dict.fromkeys(t for n in graph.nodes for t in acts(list(n.inputs) + list(n.outputs))):
        groups.setdefault(find(t), []).append(t)

    def fits(t: str) -> bool:
        prod = graph.producer(t)
        return (len(graph.types[t].shape) == 4 and t not in io and t not in keep
                and prod is not None
                and (prod.op_type in LAYOUT_FREE or prod.op_type in _WRITES_ANY)
                and all(c.op_type in LAYOUT_FREE or c.op_type in _READS_ANY
                        for c in graph.consumers(t)))

    def touches_conv(t: str) -> bool:
        prod = graph.producer(t)
        return (prod is not None and prod.op_type == "Conv") or any(
            c.op_type == "Conv" and c.inputs[0] == t for c in graph.consumers(t))

    out: set[str] = set()
    for members in groups.values():
        if members and all(fits(t) for t in members) and any(touches_conv(t) for t in members):
            out.update(members)
    return out


def is_reshape_transpose(graph, node) -> bool:
    """Whether ``node`` is a Transpose that keeps the order of its input's dims of size above
    1: its output is its input's row-major elements in the same order (a reshape)."""
    if node.op_type != "Transpose" or not node.inputs or graph.is_const(node.inputs[0]):
        return False
    shape = tuple(graph.types[node.inputs[0]].shape)
    perm = node.attrs.get("perm") or list(range(len(shape)))[::-1]
    kept = [int(p) for p in perm if shape[int(p)] != 1]
    return kept == sorted(kept)


# Ops whose lowerings read their operands through views of any strides (zero strides too),
# element by element, so an operand may be a view of another tensor (:func:`plan_views`) with
# the same result.
_VIEW_READERS = (LAYOUT_FREE - {"AveragePool", "MaxPool"}) | {"Concat", "Transpose", "Slice",
                                                              "Expand"}


def _reads_views(graph, node) -> bool:
    """Whether ``node`` may read its operands as views: :data:`_VIEW_READERS`, and a product
    of two activations (``smm``/``vmm`` take strided operands; attention's ``K^T``). The
    interpreter's float32 product of a transposed operand may round otherwise than that of its
    copy (BLAS sums in another order): a few ulps, not bit for bit."""
    if node.op_type in _VIEW_READERS:
        return True
    return node.op_type == "MatMul" and not any(graph.is_const(t) for t in node.inputs[:2])


def plan_views(graph, root: dict[str, str]) -> dict[str, str]:
    """The outputs of ``Transpose``, ``Slice`` and ``Expand`` that are read in place, as a
    view of their input (:func:`~imcc.codegen.views.node_view`), instead of copied: tensor ->
    its input. Such a tensor has no buffer of its own; it is not a graph output, not aliased
    by a Reshape (``root``), and read only by ops that take views (:func:`_reads_views`)."""
    io = set(graph.inputs) | set(graph.outputs)
    aliased = set(root) | set(root.values())
    views: dict[str, str] = {}
    for node in graph.nodes:
        if node.op_type not in ("Transpose", "Slice", "Expand") or not node.outputs:
            continue
        t, x = node.outputs[0], node.inputs[0]
        readers = graph.consumers(t)
        if (not t or t in io or t in aliased or graph.is_const(x) or not readers
                or math.prod(graph.types[t].shape) == 0
                or not all(_reads_views(graph, c) for c in readers)):
            continue
        if node_view(graph, node, View.of("", tuple(graph.types[x].shape))) is not None:
            views[t] = x
    return views


def split_runs(graph, node) -> dict[str, int]:
    """The outputs of a Split ``node`` that are contiguous runs of its input, not graph
    outputs: output -> element offset of its run."""
    shape = tuple(graph.types[node.inputs[0]].shape)
    ax = int(node.attrs.get("axis", 0)) % len(shape)
    io = set(graph.outputs)
    runs, pos = {}, 0
    for t in node.outputs:
        if not t:
            continue
        d = graph.types[t].shape[ax]
        part = View.of("", shape).slice(ax, pos, pos + d)
        if t not in io and d and part.is_contiguous():
            runs[t] = part.offset
        pos += d
    return runs


def _row_major(shape) -> tuple[int, ...]:
    return View.of("", tuple(shape)).strides


def place_concats(graph, keep: set[str]) -> dict[str, tuple[str, int]]:
    """Tensors computed in place inside a Concat's output: tensor -> (the tensor whose buffer
    holds it, element offset); its strides are that tensor's row-major strides. Tensors in
    ``keep`` keep buffers of their own, and so do graph inputs and outputs."""
    io = set(graph.inputs) | set(graph.outputs)
    place: dict[str, tuple[str, int]] = {}

    def movable(t: str, offset: int, strides, root: str) -> bool:
        if not t or t in io or t in place or t in keep or graph.is_const(t):
            return False
        prod = graph.producer(t)
        if prod is None:
            return False
        shape = tuple(graph.types[t].shape)
        if math.prod(shape) == 0:
            return False
        if View(root, offset, shape, strides).is_contiguous():
            return True
        return prod.op_type in STRIDED_OPS and all(c.op_type in STRIDED_OPS
                                                   for c in graph.consumers(t))

    for node in reversed(graph.nodes):
        if node.op_type != "Concat" or not node.outputs or not node.outputs[0]:
            continue
        out = node.outputs[0]
        shape = tuple(graph.types[out].shape)
        if math.prod(shape) == 0:
            continue
        axis = int(node.attrs["axis"]) % len(shape)
        ins = [t for t in node.inputs if t]
        # Inputs already side by side in one buffer: the output is that slice of it.
        spots = [place.get(t) for t in ins]
        if out not in place and ins and all(spots) and len({r for r, _ in spots}) == 1:
            root = spots[0][0]
            strides = _row_major(graph.types[root].shape)
            pos, ok = spots[0][1], True
            for t, (_, off) in zip(ins, spots):
                ok = ok and off == pos
                pos += graph.types[t].shape[axis] * strides[axis]
            if ok and movable(out, spots[0][1], strides, root):
                place[out] = (root, spots[0][1])
                continue
        # (the output may be read through a Reshape: the alias reads its whole buffer)
        root, base = place.get(out, (out, 0))
        strides = _row_major(graph.types[root].shape)
        pos = 0
        for t in ins:
            off = base + pos * strides[axis]
            if movable(t, off, strides, root):
                place[t] = (root, off)
            pos += graph.types[t].shape[axis]
    return place


class Scratch:
    """A bump allocator for one node's temporaries; ``reset`` between nodes."""

    def __init__(self, symbol: str = SCRATCH) -> None:
        self.symbol = symbol
        self.top = 0
        self.peak = 0

    def take(self, shape: tuple[int, ...]) -> View:
        n = math.prod(shape)
        v = View.of(self.symbol, tuple(int(d) for d in shape), self.top // 4)
        self.top += _align(4 * n)
        self.peak = max(self.peak, self.top)
        return v

    def reset(self, mark: int = 0) -> None:
        """Free everything taken since ``mark`` (a former ``top``; 0: everything)."""
        self.top = mark


def _find(root: dict[str, str], t: str) -> str:
    """The tensor whose storage ``t`` shares (itself when none)."""
    while t in root:
        t = root[t]
    return t


def _live_ranges(graph, root: dict[str, str]) -> tuple[dict[str, int], dict[str, int]]:
    """First and last node index at which each storage root is used (-1: a graph input,
    ``len(nodes)``: a graph output)."""
    start: dict[str, int] = {}
    end: dict[str, int] = {}

    def touch(t: str, i: int) -> None:
        r = _find(root, t)
        start[r] = min(start.get(r, i), i)
        end[r] = max(end.get(r, i), i)

    for t in graph.inputs:
        if not graph.is_const(t):
            touch(t, -1)
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t and not graph.is_const(t):
                touch(t, i)
        for t in node.outputs:
            if t:
                touch(t, i)
    for t in graph.outputs:  # constant outputs too: the program copies them out at the end
        touch(t, len(graph.nodes))
    return start, end


def _allocate(graph, root, inside, start, end, act_base: int, tile_pref: dict[str, int],
              tile_capacity: int):
    """An address for every storage root, under liveness: in its preferred tile's buffer when
    it fits there (graph inputs and outputs never), else in global memory. Returns
    ``(root -> address, root -> tile or None, end of the global activations)``."""
    size = {}
    for t in list(start):
        members = [t] + [m for m in root if _find(root, m) == t and m not in inside]
        size[t] = max(4 * max(1, math.prod(graph.types[m].shape)) for m in members)
    io = ({_find(root, t) for t in graph.inputs if not graph.is_const(t)}
          | {_find(root, t) for t in graph.outputs})
    arenas: dict[int | None, _Arena] = {None: _Arena(act_base, None)}
    addr: dict[str, int] = {}
    where: dict[str, int | None] = {}
    for r in sorted(start, key=lambda t: (start[t], t)):
        for a in arenas.values():
            a.release(start[r])
        need = _align(size[r])
        tile = tile_pref.get(r)
        if tile is not None and r not in io:
            arena = arenas.setdefault(tile, _Arena(0, tile_capacity))
            got = arena.take(need, end[r], r)
            if got is not None:
                addr[r], where[r] = got, tile
                continue
        addr[r], where[r] = arenas[None].take(need, end[r], r), None
    return addr, where, arenas[None].top


def plan_buffers(graph, act_base: int, tile_pref: dict[str, int] | None = None,
                 tile_capacity: int = 0) -> tuple[dict[str, Buffer], int]:
    """Assign every non-constant tensor an address: in the tile ``tile_pref`` names when its
    storage fits that tile's ``tile_capacity`` bytes (under liveness), else in global memory.
    Return (tensor -> Buffer, end of the global activations)."""
    tile_pref = dict(tile_pref or {})
    # Aliases: a Reshape's output shares its input's storage, and so does a Transpose's that
    # moves only size-1 dims (a head split or merge at one position), of a computed tensor.
    # A Split's part that is a contiguous run of its computed input is an alias at an offset.
    root: dict[str, str] = {}
    shift: dict[str, int] = {}  # alias -> element offset into its root's buffer
    for node in graph.nodes:
        x = node.inputs[0] if node.inputs else ""
        if node.op_type == "Reshape" and not graph.is_const(x) or (
                is_reshape_transpose(graph, node) and graph.producer(x) is not None):
            root[node.outputs[0]] = _find(root, x)
            shift[node.outputs[0]] = shift.get(x, 0)
        elif node.op_type == "Split" and graph.producer(x) is not None:
            for t, off in split_runs(graph, node).items():
                root[t] = _find(root, x)
                shift[t] = shift.get(x, 0) + off
    # Tensors that share their buffer with a Reshape are not placed inside a Concat's output;
    # tensors that are (and the output) live in global memory, even if a tile would hold them:
    # writing them in place saves the copy that would take them there.
    views = plan_views(graph, root)
    inside = place_concats(graph, set(root) | set(root.values()) | set(views))
    nhwc = channels_last_tensors(graph, set(root) | set(root.values()) | set(inside)
                                 | {r for r, _ in inside.values()} | set(views))
    for t, (r, _) in inside.items():
        root[t] = r
        tile_pref.pop(t, None)
        tile_pref.pop(r, None)
    for t, x in views.items():  # a view keeps the tensor it reads alive while it is read
        root[t] = x
        tile_pref.pop(t, None)
    start, end = _live_ranges(graph, root)
    addr, where, act_end = _allocate(graph, root, set(inside) | set(views), start, end,
                                     act_base, tile_pref, tile_capacity)
    out: dict[str, Buffer] = {}
    used_syms: set[str] = set()
    for node_t in list(start) + [m for m in root]:
        sym = symbol("t_", node_t)
        while sym in used_syms:
            sym += "_"
        used_syms.add(sym)
        out[node_t] = Buffer(sym, addr[_find(root, node_t)] + 4 * shift.get(node_t, 0),
                             4 * max(1, math.prod(graph.types[node_t].shape)),
                             where[_find(root, node_t)], channels_last=node_t in nhwc)
    for t, (r, off) in inside.items():
        b = out[t]
        out[t] = Buffer(b.symbol, b.addr + 4 * off, b.nbytes, b.tile,
                        (out[r].symbol, off, _row_major(graph.types[r].shape)))
    for node in graph.nodes:  # in graph order: a view of a view reads the first one's view
        if node.outputs and node.outputs[0] in views:
            t, x = node.outputs[0], node.inputs[0]
            v = node_view(graph, node, out[x].view(tuple(graph.types[x].shape)))
            b = out[t]
            out[t] = Buffer(b.symbol, b.addr, b.nbytes, b.tile, (v.base, v.offset, v.strides))
    return out, act_end


class _Arena:
    """First-fit allocation with liveness in one address range (``limit`` None: unbounded)."""

    def __init__(self, base: int, limit: int | None) -> None:
        self.top = base
        self.limit = limit
        self.free: list[tuple[int, int]] = []
        self.live: list[tuple[int, int, int]] = []  # (last use, addr, nbytes)

    def release(self, now: int) -> None:
        still = []
        for e, a, n in self.live:
            if e < now:
                self.free.append((a, n))
            else:
                still.append((e, a, n))
        self.live = still
        self.free = _merge(self.free)

    def take(self, need: int, end: int, _name: str) -> int | None:
        for k, (a, sz) in enumerate(self.free):
            if sz >= need:
                self.free[k] = (a + need, sz - need)
                if self.free[k][1] == 0:
                    self.free.pop(k)
                self.live.append((end, a, need))
                return a
        if self.limit is not None and self.top + need > self.limit:
            return None
        a = self.top
        self.top += need
        self.live.append((end, a, need))
        return a


def _merge(holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    holes = sorted(h for h in holes if h[1] > 0)
    out: list[tuple[int, int]] = []
    for a, s in holes:
        if out and out[-1][0] + out[-1][1] == a:
            out[-1] = (out[-1][0], out[-1][1] + s)
        else:
            out.append((a, s))
    return out
