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
import contextvars
import dataclasses
import io
import json
import math
import os
import re
import stat
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from isa.diagnostics import ConfigError, LimitError

__all__ = [
    "LIMITS",
    "MAX_NESTING",
    "HostLimits",
    "LimitError",
    "NotRegularFile",
    "check_elements",
    "check_file_bytes",
    "check_nesting",
    "check_nodes",
    "check_shape",
    "check_total_bytes",
    "configure",
    "limits",
    "load_array_file",
    "note_read",
    "parse_json",
    "parse_toml",
    "read_bytes",
    "read_text",
    "tracking_reads",
    "was_read",
]

DEFAULT_MAX_FILE_MIB = 8192
DEFAULT_MAX_ELEMENTS = 2**28  # 1 GiB of float32
DEFAULT_MAX_TOTAL_MIB = 4096
DEFAULT_MAX_NODES = 100_000


@dataclass
class HostLimits:
    """The limits in force (one per process; see the module doc)."""

    max_file_mib: int = DEFAULT_MAX_FILE_MIB
    max_elements: int = DEFAULT_MAX_ELEMENTS
    max_total_mib: int = DEFAULT_MAX_TOTAL_MIB
    max_nodes: int = DEFAULT_MAX_NODES

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mib * 2**20

    @property
    def max_total_bytes(self) -> int:
        return self.max_total_mib * 2**20


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
    """Limits from ``IMCC_MAX_FILE_MIB`` / ``IMCC_MAX_ELEMENTS`` / ``IMCC_MAX_TOTAL_MIB`` /
    ``IMCC_MAX_NODES`` (the defaults where unset)."""
    return HostLimits(_env_int("IMCC_MAX_FILE_MIB", DEFAULT_MAX_FILE_MIB),
                      _env_int("IMCC_MAX_ELEMENTS", DEFAULT_MAX_ELEMENTS),
                      _env_int("IMCC_MAX_TOTAL_MIB", DEFAULT_MAX_TOTAL_MIB),
                      _env_int("IMCC_MAX_NODES", DEFAULT_MAX_NODES))


def _at_import() -> HostLimits:
    """The environment's limits for library callers (``import imcc`` and on); a value that is
    not a positive integer leaves the defaults here, and :func:`configure` (the command line)
    reports it."""
    try:
        return from_env()
    except ConfigError:
        return HostLimits()


LIMITS = _at_import()


def configure(*, max_file_mib: int | None = None, max_elements: int | None = None,
              max_total_mib: int | None = None, max_nodes: int | None = None) -> None:
    """Set the process's limits: the environment's, overridden by the arguments not None."""
    env = from_env()
    LIMITS.max_file_mib = max_file_mib or env.max_file_mib
    LIMITS.max_elements = max_elements or env.max_elements
    LIMITS.max_total_mib = max_total_mib or env.max_total_mib
    LIMITS.max_nodes = max_nodes or env.max_nodes


@contextlib.contextmanager
def limits(**changes):
    """Temporarily change the limits (``max_file_mib=``, ``max_elements=``,
    ``max_total_mib=``, ``max_nodes=``)."""
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
    """:func:`check_elements` of a shape (dims may be any integers; negative ones are 0). A
    dimension beyond the limit is refused too, even beside a 0: numpy computes sizes in 64
    bits, and a dimension of 10**30 overflows them."""
    dims = [int(d) for d in shape]
    big = max(dims, default=0)
    if big > LIMITS.max_elements:
        raise LimitError(f"{what} has a dimension of {big}, more than the limit of "
                         f"{LIMITS.max_elements} elements",
                         hint="raise the limit with --max-elements N (or IMCC_MAX_ELEMENTS) if "
                         "the input is trusted")
    check_elements(math.prod(max(0, d) for d in dims), what)


def check_nodes(n: int, what: str) -> None:
    """Refuse a graph of more than ``max_nodes`` nodes (the work every later stage does grows
    with it); ``what`` names the graph and how it got there."""
    if n > LIMITS.max_nodes:
        raise LimitError(f"{what} has more than the limit of {LIMITS.max_nodes} nodes",
                         hint="raise the limit with --max-nodes N (or IMCC_MAX_NODES) if the "
                         "model is trusted")


def check_total_bytes(size: int, what: str) -> None:
    """Refuse ``size`` bytes held at once (tensors that together, not each, are too large)
    beyond ``max_total_mib``; ``what`` names them."""
    if size > LIMITS.max_total_bytes:
        raise LimitError(f"{what} would take {size / 2**20:.1f} MiB, more than the limit of "
                         f"{LIMITS.max_total_mib} MiB",
                         hint="raise the limit with --max-total-mib N (or IMCC_MAX_TOTAL_MIB) "
                         "if the input is trusted")


def check_file_bytes(size: int, what: str) -> None:
    """Refuse a file (or a model with its external data) of ``size`` bytes beyond the limit."""
    if size > LIMITS.max_file_bytes:
        raise LimitError(f"{what} is {size / 2**20:.1f} MiB, more than the limit of "
                         f"{LIMITS.max_file_mib} MiB",
                         hint="raise the limit with --max-file-mib N (or IMCC_MAX_FILE_MIB) if "
                         "the file is trusted")


#: The files read since :func:`tracking_reads` began, as ``(device, inode)``: the inputs that
#: :func:`isa.outfiles.write_files` must never replace. None where nobody tracks.
_READ: contextvars.ContextVar[set | None] = contextvars.ContextVar("imcc_read", default=None)


@contextlib.contextmanager
def tracking_reads():
    """Remember every file read inside the block (the command line tracks each command)."""
    token = _READ.set(set())
    try:
        yield
    finally:
        _READ.reset(token)


def note_read(st: os.stat_result) -> None:
    """Record a file read by other means than :func:`read_bytes` (its ``os.stat``)."""
    seen = _READ.get()
    if seen is not None:
        seen.add((st.st_dev, st.st_ino))


def was_read(st: os.stat_result) -> bool:
    """True when the file of ``st`` was read while reads are tracked."""
    seen = _READ.get()
    return seen is not None and (st.st_dev, st.st_ino) in seen


class NotRegularFile(OSError):
    """A path that names a folder, a device, a socket or (where only regular files are read) a
    pipe: reading it could block forever or never end."""

    def __init__(self, path, kind: str):
        super().__init__(f"{kind}, not a regular file; imcc reads regular files only")
        self.filename = str(path)
        self.strerror = str(self)

    def __str__(self) -> str:
        return self.args[0]


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a pipe"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def read_bytes(path: str | os.PathLike, what: str | None = None, *,
               regular_only: bool = False) -> bytes:
    """The bytes of a file, after checking its size against ``max_file_mib``. ``OSError``
    (missing file, no permission) passes through for the caller to word.

    Only regular files are read, and pipes (``imcc asm /dev/stdin``) unless ``regular_only``
    (files named inside other files: includes, external data). A folder, a device or a socket
    raises :class:`NotRegularFile`; opening never blocks (a pipe without a writer is empty)."""
    path = Path(path)
    what = what or str(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        pipe = stat.S_ISFIFO(st.st_mode) and not regular_only
        if not stat.S_ISREG(st.st_mode) and not pipe:
            raise NotRegularFile(path, _kind(st.st_mode))
        if pipe:
            os.set_blocking(fd, True)
        note_read(st)
    except BaseException:
        os.close(fd)
        raise
    with open(fd, "rb", closefd=True) as f:
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
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


#: Deepest nesting of lists and tables a JSON or TOML file may have (chip, precision and
#: packing files, object metadata, storage maps). Parsers recurse once per level.
MAX_NESTING = 64


class StructureError(ValueError):
    """A JSON or TOML document that parses into more than imcc accepts (nesting, long numbers)."""


_NEST_TOKENS = re.compile(rb'"(?:[^"\\\n]|\\.)*"?|\'[^\'\n]*\'?|#[^\n]*|[\[\]{}]')
_NEST_STEP = np.zeros(256, np.int8)
_NEST_STEP[[ord("["), ord("{")]] = 1
_NEST_STEP[[ord("]"), ord("}")]] = -1


def check_nesting(text: str | bytes, limit: int = MAX_NESTING) -> None:
    """Refuse JSON or TOML text whose brackets (``[``, ``{`` outside strings and comments) nest
    deeper than ``limit``: a few kilobytes of ``[[[[...`` would otherwise exhaust the parser's
    recursion. Linear in the text."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = 0
    for m in _NEST_TOKENS.finditer(data):
        c = m.group()
        if c in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise StructureError(f"nested more than {limit} levels deep (at byte "
                                     f"{m.start()})")
        elif c in (b"]", b"}"):
            depth = max(0, depth - 1)


def _valid_json_depth(data: bytes) -> int:
    """The deepest bracket of ``data``, text that ``json.loads`` accepted: its strings are the
    spans between unescaped quotes (a quote after an even run of backslashes), and nothing
    outside them is a quote, a backslash, a comment or a newline inside a string, so the
    brackets between them are what :func:`check_nesting` counts (without its Python loop)."""
    b = np.frombuffer(data, np.uint8)
    quotes = np.flatnonzero(b == ord('"'))
    run = np.zeros(quotes.size, np.int64)  # backslashes just before each quote
    more = np.ones(quotes.size, bool)
    while True:
        run += more
        more &= quotes >= run
        i = np.flatnonzero(more)
        more[i] = b[quotes[i] - run[i]] == ord("\\")
        if not more.any():
            break
    run -= 1
    edges = quotes[run % 2 == 0]
    brackets = np.flatnonzero(_NEST_STEP[b])
    outside = np.searchsorted(edges, brackets) % 2 == 0
    steps = _NEST_STEP[b[brackets[outside]]]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


class MadeJson(bytes):
    """JSON text a JSON encoder wrote in this process, handed over in memory (the compiler's
    storage map, ``imcc.storagemap.to_json``), never bytes read from a file: the assembler's
    ``.map`` takes it without parsing it again (:func:`parse_json` is for what a file holds)."""

    __slots__ = ()


def parse_json(text: str | bytes):
    """``json.loads`` bounded: nesting beyond :data:`MAX_NESTING` and integers of more digits
    than Python converts raise :class:`StructureError` (a ``ValueError``), as malformed JSON
    raises ``json.JSONDecodeError`` (also a ``ValueError``). NaN and infinity are accepted as
    ``json`` accepts them. ``json.loads`` runs first (it stops at Python's recursion limit on
    its own); the nesting is then measured on the accepted text, and a document that ``json``
    refused is checked for nesting first, so a too-deep document gives the same error either
    way."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        check_nesting(text)
        raise
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits
        check_nesting(text)
        raise StructureError(_why(e)) from None
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if data.count(b"[") + data.count(b"{") > MAX_NESTING \
            and _valid_json_depth(data) > MAX_NESTING:
        check_nesting(data)  # raises, naming the first bracket too deep
    return doc


def parse_toml(text: str):
    """``tomllib.loads`` bounded as :func:`parse_json`: malformed TOML raises
    ``tomllib.TOMLDecodeError``, too deep or too long values :class:`StructureError` (both
    ``ValueError``)."""
    check_nesting(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except (ValueError, RecursionError) as e:
        raise StructureError(_why(e)) from None


def _why(e: BaseException) -> str:
    text = str(e).strip()
    if "integer string conversion" in text:
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return text.splitlines()[0] if text else type(e).__name__


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
    ndarray or an ``NpzFile`` as ``np.load`` does. Unreadable data raises ``ValueError``,
    ``OSError``, ``EOFError`` or ``zipfile.BadZipFile`` (a damaged header makes numpy's parser
    raise other kinds too: they become ``ValueError``)."""
    blob = source if isinstance(source, bytes) else read_bytes(source, what)
    try:
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
    except (LimitError, OSError, EOFError, zipfile.BadZipFile, ValueError):
        raise
    except Exception as e:  # noqa: BLE001 - numpy's header parser (tokenize, ast, zlib...)
        raise ValueError(f"damaged array header or data ({type(e).__name__}: "
                         f"{_why(e)})") from None
