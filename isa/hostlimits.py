"""Host resource limits: how large an input file or a tensor may be before imcc refuses it.

imcc reads files that users download from others. Sizes written in such a file (a tensor's
dims, a ``Range``'s bounds, an array header) must not make imcc allocate more memory than the
machine has, so every file is checked against ``max_file_mib`` before it is read, and every
tensor whose size comes from a file is checked against ``max_elements`` before it is allocated.
The defaults suit a workstation and admit the largest models imcc targets (VGG-16's 103 M-weight
layer, GPT-2's embedding); change them on the command line (``imcc --max-file-mib N
--max-elements N COMMAND ...``), in the environment (``IMCC_MAX_FILE_MIB``,
``IMCC_MAX_ELEMENTS``) or, from Python, with :func:`limits`.

>>> with limits(max_elements=100):
...     check_elements(101, "tensor 'x'")
Traceback (most recent call last):
...
isa.diagnostics.LimitError: imcc: error: tensor 'x' would have 101 elements, more than the limit of 100
    hint: raise the limit with --max-elements N (or IMCC_MAX_ELEMENTS) if the input is trusted
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isa.diagnostics import ConfigError, LimitError

__all__ = ["LIMITS", "HostLimits", "LimitError", "check_elements", "check_file_bytes",
           "check_shape", "configure", "limits", "load_array_file", "read_bytes", "read_text"]

DEFAULT_MAX_FILE_MIB = 8192
DEFAULT_MAX_ELEMENTS = 2**28  # 1 GiB of float32


@dataclass
class HostLimits:
    """The limits in force (one per process; see the module doc)."""

    max_file_mib: int = DEFAULT_MAX_FILE_MIB
    max_elements: int = DEFAULT_MAX_ELEMENTS

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mib * 2**20


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"environment variable {name}={text!r} is not a positive integer")
    return value


def from_env() -> HostLimits:
    """Limits from ``IMCC_MAX_FILE_MIB`` / ``IMCC_MAX_ELEMENTS`` (the defaults where unset)."""
    return HostLimits(_env_int("IMCC_MAX_FILE_MIB", DEFAULT_MAX_FILE_MIB),
                      _env_int("IMCC_MAX_ELEMENTS", DEFAULT_MAX_ELEMENTS))


LIMITS = HostLimits()


def configure(*, max_file_mib: int | None = None, max_elements: int | None = None) -> None:
    """Set the process's limits: the environment's, overridden by the arguments not None."""
    env = from_env()
    LIMITS.max_file_mib = max_file_mib or env.max_file_mib
    LIMITS.max_elements = max_elements or env.max_elements


@contextlib.contextmanager
def limits(**changes):
    """Temporarily change the limits (``max_file_mib=``, ``max_elements=``)."""
    saved = dataclasses.replace(LIMITS)
    for k, v in changes.items():
        setattr(LIMITS, k, v)
    try:
        yield LIMITS
    finally:
        for f in dataclasses.fields(LIMITS):
            setattr(LIMITS, f.name, getattr(saved, f.name))


def check_elements(n: int, what: str) -> None:
    """Refuse a tensor of ``n`` elements beyond ``max_elements`` (``what`` names it)."""
    if n > LIMITS.max_elements:
        raise LimitError(f"{what} would have {n} elements, more than the limit of "
                         f"{LIMITS.max_elements}",
                         hint="raise the limit with --max-elements N (or IMCC_MAX_ELEMENTS) if "
                         "the input is trusted")


def check_shape(shape, what: str) -> None:
    """:func:`check_elements` of a shape (dims may be any integers; negative ones are 0)."""
    check_elements(math.prod(max(0, int(d)) for d in shape), what)


def check_file_bytes(size: int, what: str) -> None:
    """Refuse a file (or a model with its external data) of ``size`` bytes beyond the limit."""
    if size > LIMITS.max_file_bytes:
        raise LimitError(f"{what} is {size / 2**20:.1f} MiB, more than the limit of "
                         f"{LIMITS.max_file_mib} MiB",
                         hint="raise the limit with --max-file-mib N (or IMCC_MAX_FILE_MIB) if "
                         "the file is trusted")


def read_bytes(path: str | os.PathLike, what: str | None = None) -> bytes:
    """The bytes of a file, after checking its size against ``max_file_mib``. ``OSError``
    (missing file, no permission) passes through for the caller to word."""
    path = Path(path)
    what = what or str(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        check_file_bytes(size, what)
        blob = f.read(size) if size else b""
        # A file that grows while read, or a pipe (size 0), is read on up to the limit.
        more = []
        while piece := f.read(2**20):
            more.append(piece)
            check_file_bytes(len(blob) + sum(map(len, more)), what)
        return blob + b"".join(more) if more else blob


def read_text(path: str | os.PathLike, what: str | None = None) -> str:
    """:func:`read_bytes` decoded as UTF-8 (``UnicodeDecodeError`` passes through)."""
    return read_bytes(path, what).decode("utf-8")


def _check_npy_header(f, what: str) -> None:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, _, dtype = read(f)
    if dtype.hasobject:
        raise ValueError("it holds Python objects (saved with pickles)")
    check_shape(shape, what)


def load_array_file(source: str | os.PathLike | bytes, what: str):
    """``np.load`` of a ``.npy`` or ``.npz`` (path or bytes) without pickles, checking the file
    size and every array's header against the limits before any array is read. Returns an
    ndarray or an ``NpzFile`` as ``np.load`` does. Unreadable data raises what ``np.load``
    raises (``ValueError``, ``OSError``, ``zipfile.BadZipFile``...)."""
    blob = source if isinstance(source, bytes) else read_bytes(source, what)
    if blob[:4] == b"PK\x03\x04" or blob[:4] == b"PK\x05\x06":
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            for info in z.infolist():
                with z.open(info) as m:
                    head = m.read(4096)
                if head.startswith(b"\x93NUMPY"):
                    _check_npy_header(io.BytesIO(head), f"{what}: array {info.filename!r}")
    elif blob.startswith(b"\x93NUMPY"):
        _check_npy_header(io.BytesIO(blob), what)
    return np.load(io.BytesIO(blob), allow_pickle=False)
