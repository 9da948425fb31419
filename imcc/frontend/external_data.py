"""External data of an ONNX model: every reference checked (a relative path inside the model's
folder, a regular file, long enough), the total checked against the host limits, then the bytes
read, as raw bytes only.

Large initializers can be deferred (:func:`load_external_data` with ``defer``): their arrays
are then mapped from the file on import (:func:`read_external`), so their bytes are held once,
as the page cache's pages, and read only when used.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import external_data_helper, helper

from isa import hostlimits
from isa.diagnostics import OnnxImportError

#: Initializers with at most this many elements keep their values during checking and shape
#: inference (shape operands); larger ones are checked by type only, which keeps big models cheap.
SMALL_TENSOR = 4096


@dataclass(frozen=True)
class ExternalData:
    """A large initializer's checked external data, read straight into an array when the model
    is imported (:func:`read_external`): the bytes are then held once, not in the protobuf and
    again in the array."""

    path: Path
    offset: int
    length: int


#: Element types whose external bytes are a little-endian numpy array as they are (deferred).
_PLAIN_TYPES = frozenset({
    onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
    onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT16,
    onnx.TensorProto.UINT16, onnx.TensorProto.INT32, onnx.TensorProto.UINT32,
    onnx.TensorProto.INT64, onnx.TensorProto.UINT64})


def _attribute_tensors(graph: onnx.GraphProto):
    """The tensors held in node attributes, subgraphs' initializers included."""
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t
            elif a.type == onnx.AttributeProto.TENSORS:
                yield from a.tensors
            elif a.type == onnx.AttributeProto.GRAPH:
                yield from a.g.initializer
                yield from _attribute_tensors(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from g.initializer
                    yield from _attribute_tensors(g)


def _numel(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n


def _target(t: onnx.TensorProto, loc: str, base_dir: Path | None, where: str) -> Path:
    """The file that tensor ``t``'s external data path ``loc`` names, checked to be a regular
    file inside ``base_dir``."""
    if base_dir is None:
        raise OnnxImportError(
            f"{where}: tensor {t.name!r} keeps its data in external file {loc!r}, and no "
            "model folder is known; load the model from its file path")
    if "\x00" in loc:
        raise OnnxImportError(f"{where}: tensor {t.name!r}: external data path {loc!r} "
                              "contains a NUL byte; the file is corrupt")
    if not loc or os.path.isabs(loc) or loc.startswith(("/", "\\")) or (
            len(loc) > 1 and loc[1] == ":"):
        raise OnnxImportError(
            f"{where}: tensor {t.name!r}: external data path {loc!r} is absolute; "
            "external data must be a relative path inside the model's folder")
    parts = Path(loc.replace("\\", "/")).parts
    try:
        base = base_dir.resolve()
        target = (base / loc).resolve()
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
        raise OnnxImportError(f"{where}: tensor {t.name!r}: external data path {loc!r} is a "
                              "symlink loop; the model's folder is damaged") from None
    if ".." in parts or not target.is_relative_to(base):
        raise OnnxImportError(
            f"{where}: tensor {t.name!r}: external data path {loc!r} leaves the model's "
            "folder; external data must stay inside it")
    if not target.is_file():
        what = "is not a regular file" if target.exists() else "is missing"
        raise OnnxImportError(
            f"{where}: tensor {t.name!r}: external data file {loc!r} {what}; "
            "put the data file beside the model")
    return target


def _extent(t: onnx.TensorProto, info: Mapping[str, str], target: Path,
            where: str) -> tuple[int, int]:
    """The ``(offset, length)`` of tensor ``t``'s bytes in ``target``, checked to fit."""
    loc = info.get("location", "")
    st = target.stat()
    hostlimits.note_read(st)  # an input: no output of the command may replace it
    size = st.st_size
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else size - offset
    except ValueError:
        raise OnnxImportError(f"{where}: tensor {t.name!r}: bad external data offset or "
                              "length") from None
    if offset < 0 or length < 0 or offset + length > size:
        raise OnnxImportError(
            f"{where}: tensor {t.name!r}: external data {loc!r} is too short "
            f"(needs bytes {offset}..{offset + length}, file has {size})")
    return offset, length


def _read_into_proto(todo, where: str) -> None:
    """Read the external data of each ``(tensor, location, base folder)`` into the tensor."""
    for t, loc, base in todo:
        try:
            external_data_helper.load_external_data_for_tensor(t, str(base))
        except (OSError, ValueError, onnx.checker.ValidationError) as e:
            raise OnnxImportError(f"{where}: tensor {t.name!r}: cannot read external data "
                                  f"{loc!r}: {e}") from None
        if t.data_type in _PLAIN_TYPES:
            need = _numel(t) * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            if len(t.raw_data) != need:
                raise OnnxImportError(
                    f"{where}: tensor {t.name!r}: its external data {loc!r} holds "
                    f"{len(t.raw_data)} bytes, and its shape {list(t.dims)} needs {need}; the "
                    "model and its data file do not belong together")


def load_external_data(model: onnx.ModelProto, base_dir: Path | None, where: str, *,
                       defer: bool = False) -> dict[str, ExternalData]:
    """Read every tensor's external data, accepting only files inside ``base_dir``, after
    checking every reference and the total size against the host limits.

    With ``defer``, the graph's large initializers (more than ``SMALL_TENSOR`` elements, of a
    plain numeric type) are checked but not read: they are returned by name, for
    :func:`read_external`, and stay external in ``model``.
    """
    todo = []
    deferred: dict[str, ExternalData] = {}
    total = model.ByteSize()
    plain = defer and sys.byteorder == "little"
    tensors = [(t, True) for t in model.graph.initializer]
    tensors += [(t, False) for t in _attribute_tensors(model.graph)]
    for t, top in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        target = _target(t, loc, base_dir, where)
        offset, length = _extent(t, info, target, where)
        total += length
        if plain and top and t.data_type in _PLAIN_TYPES and _numel(t) > SMALL_TENSOR:
            itemsize = helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
            if length != _numel(t) * itemsize:
                raise OnnxImportError(
                    f"{where}: initializer {t.name!r}: its external data holds {length} bytes, "
                    f"and its shape {list(t.dims)} needs {_numel(t) * itemsize}; the model and "
                    "its data file do not belong together")
            deferred[t.name] = ExternalData(target, offset, length)
        else:
            todo.append((t, loc, base_dir.resolve()))
    hostlimits.check_file_bytes(total, f"{where}: the model with its external data")
    _read_into_proto(todo, where)
    return deferred


def read_external(t: onnx.TensorProto, ref: ExternalData, where: str) -> np.ndarray:
    """The array of initializer ``t``, whose bytes ``ref`` locates (see :func:`load_external_data`):
    a read-only array over a private mapping of its file, so the bytes are neither copied nor
    read until used, and their pages are the page cache's (the system may drop them under
    pressure and read them again). The mapping lives as long as the array and its views. A
    file cut short after this check ends the process (``SIGBUS``), as for any mapped file."""
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    shape = tuple(t.dims)
    if not ref.length:
        return np.empty(shape, dtype)
    start = ref.offset - ref.offset % mmap.ALLOCATIONGRANULARITY
    try:
        with open(ref.path, "rb") as f:
            if os.fstat(f.fileno()).st_size < ref.offset + ref.length:
                raise OnnxImportError(f"{where}: initializer {t.name!r}: its external data "
                                      f"file {ref.path.name!r} became shorter while it was read")
            view = mmap.mmap(f.fileno(), ref.offset + ref.length - start,
                             access=mmap.ACCESS_COPY, offset=start)
    except OSError as e:
        raise OnnxImportError(f"{where}: initializer {t.name!r}: cannot read its external data "
                              f"{ref.path.name!r}: {e.strerror}") from None
    # Inside an .onnx file (embedded.py) the data may start at any byte: numpy reads such an
    # unaligned array as it is, at the price of buffering in its loops.
    arr = np.frombuffer(view, dtype, ref.length // dtype.itemsize, ref.offset - start)
    arr.flags.writeable = False  # as the graph's constants are; let_go keeps its pages cached
    return arr.reshape(shape)


_byte_bounds = getattr(np.lib, "array_utils", np).byte_bounds  # numpy 2, numpy 1.26
#: madvise(2)'s MADV_PAGEOUT (Linux 5.4 on; Python's mmap names it from 3.12 only).
_PAGEOUT = getattr(mmap, "MADV_PAGEOUT", 21 if sys.platform.startswith("linux") else None)


def _mapping(arr: np.ndarray) -> tuple[mmap.mmap | None, bool]:
    """The file mapping ``arr``'s bytes lie in (through its views), or None for an array of
    the process's own memory; and whether nothing can have written to it (the map is read-only,
    or so is the array made over it)."""
    base, made = arr, arr
    while isinstance(base, np.ndarray):
        made, base = base, base.base
    clean = not made.flags.writeable
    if isinstance(base, memoryview):  # np.frombuffer's view of the map
        clean, base = clean or base.readonly, base.obj
    return (base, clean) if isinstance(base, mmap.mmap) else (None, False)


def mapped(arr: np.ndarray) -> bool:
    """Whether ``arr``'s bytes are mapped from a file (:func:`read_external`,
    :func:`imcc.spill.spill`) rather than held in the process's own memory."""
    return _mapping(arr)[0] is not None


def can_let_go() -> bool:
    """Whether :func:`let_go` can give pages back on this system."""
    return _PAGEOUT is not None


def let_go(arr: np.ndarray) -> None:
    """Give back the resident pages of ``arr`` where it is mapped from its file
    (:func:`read_external`, :func:`imcc.spill.spill`), for a stage done reading it (BatchNorm
    folding, which made a new array out of it; the finiteness check; a calibration run), so
    the weights are not all held at once. Pages nothing can have written (a read-only map or
    array) leave the process and stay in the system's page cache, so reading them again costs
    no disk read; of a writable array, pages never written leave the process and the page cache
    (the file is read again if they are used), written ones stay. A no-op for an array of the
    process's own memory, or where the system cannot."""
    base, clean = _mapping(arr)
    if _PAGEOUT is None or base is None or not arr.size:
        return
    origin = np.frombuffer(base, np.uint8).ctypes.data
    lo, hi = _byte_bounds(arr)
    start = (lo - origin) // mmap.PAGESIZE * mmap.PAGESIZE
    try:
        base.madvise(mmap.MADV_DONTNEED if clean else _PAGEOUT, start, hi - origin - start)
    except (OSError, ValueError):  # an older kernel: the pages stay
        pass


def materialize(model: onnx.ModelProto, deferred: Mapping[str, ExternalData],
                where: str) -> None:
    """Put the data of the ``deferred`` initializers into ``model`` (for code that needs a
    self-contained protobuf)."""
    for t in model.graph.initializer:
        ref = deferred.get(t.name)
        if ref is not None and t.data_location == onnx.TensorProto.EXTERNAL:
            t.raw_data = read_external(t, ref, where).tobytes()
            del t.external_data[:]
            t.data_location = onnx.TensorProto.DEFAULT
