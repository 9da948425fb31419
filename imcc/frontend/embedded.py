"""Large weights inside an ``.onnx`` file (as PyTorch writes models under 2 GB) read like external
data: the file is mapped, its protobuf walked at the wire level down to the graph's
initializers, and each large one's ``raw_data`` left in the file. What is parsed is the model
with those initializers marked as external data in the model's own file (``location`` its name,
``offset`` and ``length`` the bytes' place), so they are checked and read like any external
data (:mod:`.external_data`): once, straight into their arrays when the model is imported. The
weights are never held as protobuf bytes, nor as a copy of the file.

Every byte of the file but those payloads goes to the protobuf parser unchanged. Anything the
walk does not expect (a truncated field, a group, a tensor with two ``raw_data`` fields, data
that does not match its shape) leaves the file to the ordinary parser, and its errors.
"""

from __future__ import annotations

import mmap
import os
import stat
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from imcc.frontend.external_data import _PLAIN_TYPES, SMALL_TENSOR
from isa import hostlimits

#: Files smaller than this are parsed whole: the walk pays only for large weights.
SCAN_BYTES = 1 << 20

_MODEL_GRAPH, _GRAPH_INITIALIZER, _TENSOR_RAW_DATA = 7, 5, 9
_TENSOR_SEGMENT, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 3, 13, 14
_LEN = 2  # the length-delimited wire type


class _Foreign(Exception):
    """The bytes are not what the walk expects: the ordinary parser takes the file."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Foreign
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf, pos: int, end: int):
    """``(number, wire type, start of the field, start of its payload, end)`` of each field
    of the message in ``buf[pos:end]``."""
    while pos < end:
        start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        body = pos
        if wire == 0:
            _, pos = _varint(buf, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == _LEN:
            n, body = _varint(buf, pos, end)
            pos = body + n
        elif wire == 5:
            pos += 4
        else:  # groups (deprecated) and invalid wire types
            raise _Foreign
        if pos > end or number == 0:
            raise _Foreign
        yield number, wire, start, body, pos


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def _tensor(buf, pos: int, end: int, location: str) -> bytes | None:
    """The initializer in ``buf[pos:end]`` with its ``raw_data`` as external data in the
    model's own file, or None to keep it as it is."""
    rest = bytearray()
    raw = []
    for number, wire, start, body, stop in _fields(buf, pos, end):
        if number == _TENSOR_RAW_DATA and wire == _LEN:
            raw.append((body, stop - body))
        elif number == _TENSOR_DATA_LOCATION and wire == 0 and \
                _varint(buf, body, stop)[0] == onnx.TensorProto.DEFAULT:
            continue  # written out by onnx.save; replaced by EXTERNAL below
        elif number in (_TENSOR_SEGMENT, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION):
            return None
        else:
            rest += buf[start:stop]
    if len(raw) != 1:
        return None
    try:
        t = onnx.TensorProto.FromString(bytes(rest))
    except (DecodeError, RuntimeError, ValueError):
        return None
    offset, length = raw[0]
    numel = 1
    for d in t.dims:
        numel *= d
    if t.data_type not in _PLAIN_TYPES or numel <= SMALL_TENSOR or min(t.dims, default=0) < 0 \
            or length != numel * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize:
        return None
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t.SerializeToString()


def _graph(buf, pos: int, end: int, location: str) -> tuple[bytes, int]:
    """The graph in ``buf[pos:end]`` with its large initializers left in the file, and how
    many were."""
    out = bytearray()
    left = 0
    for number, wire, start, body, stop in _fields(buf, pos, end):
        t = None
        if number == _GRAPH_INITIALIZER and wire == _LEN and stop - body > SMALL_TENSOR:
            t = _tensor(buf, body, stop, location)
        if t is None:
            out += buf[start:stop]
        else:
            out += _len_field(_GRAPH_INITIALIZER, t)
            left += 1
    return bytes(out), left


def _strip(buf, size: int, location: str) -> bytes | None:
    """The model's bytes with its large initializers left in the file, or None when none is."""
    out = bytearray()
    left = 0
    for number, wire, start, body, stop in _fields(buf, 0, size):
        if number == _MODEL_GRAPH and wire == _LEN:
            g, n = _graph(buf, body, stop, location)
            out += _len_field(_MODEL_GRAPH, g)
            left += n
        else:
            out += buf[start:stop]
    return bytes(out) if left else None


def read_embedded(path: Path, where: str) -> bytes | None:
    """The bytes of the model at ``path`` to parse, its large initializers left in the file as
    external data of the model itself; None for a file to parse whole (small, not a regular
    file, no large initializer, or not what the walk expects). ``OSError`` passes through."""
    if "\\" in path.name or "\x00" in path.name:
        return None
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size < max(SCAN_BYTES, 1):
            return None
        hostlimits.note_read(st)
        hostlimits.check_file_bytes(st.st_size, where)
        with mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ) as buf:
            try:
                return _strip(buf, st.st_size, path.name)
            except _Foreign:
                return None
    finally:
        os.close(fd)
