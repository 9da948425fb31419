"""Writing output files all together or not at all, without ever destroying an input.

:func:`write_files` is the one way imcc writes what a command produces (objects, listings,
storage maps, pictures, reports, arrays). Before anything is written it refuses:

* an output path that is also one of the command's inputs (any file that
  :func:`isa.hostlimits.read_bytes` read while :func:`isa.hostlimits.tracking_reads` was on, as
  the command line has it for every command): ``imcc compile -o MODEL`` would replace the model;
* two outputs on one path (``-o m.s -S``, ``--map`` equal to ``-o``): the later would silently
  replace the earlier;
* a path that holds something other than a regular file (a device such as ``/dev/full``, a
  folder, a pipe): a rename would replace it with a regular file.

Each file is then written to a temporary file in its folder, ``.NAME.PID-XXXXXXXX.tmp``, which
a failure, Ctrl-C, SIGTERM or SIGHUP removes. Only when every file is complete are they renamed
into place, one after the other; if a rename fails, the files already renamed get their previous
contents back (they were kept as hard links) and no temporary is left behind. SIGKILL cannot be
caught: the temporaries of a killed process (its id no longer running) are removed the next
time imcc writes the same output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from isa import hostlimits
from isa.diagnostics import OutputError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"),
          (stat.S_ISSOCK, "a socket"))


def _identity(path: Path):
    """``(device, inode)`` of what ``path`` names (links followed), or None if nothing."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def check_targets(paths: Iterable[str | os.PathLike]) -> None:
    """Refuse outputs that would replace an input, each other, or a file that is not regular
    (see the module doc). Nothing is written."""
    seen: dict[object, Path] = {}
    for p in map(Path, paths):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise OutputError(f"cannot write {p}: {e.strerror}") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
            raise OutputError(f"cannot write {p}: it is {kind}, not a regular file; imcc writes "
                              "regular files only", hint="give the path of a file to create "
                              "or replace")
        if st is not None and hostlimits.was_read(st):
            raise OutputError(f"cannot write {p}: it is an input of this command, and writing "
                              "would replace it", hint="give the output another path")
        keys = [os.path.normcase(os.path.realpath(p))]
        if st is not None:
            keys.append((st.st_dev, st.st_ino))
        for k in keys:
            if k in seen:
                raise OutputError(f"two outputs of this command would be written to {p}"
                                  + (f" (also named {seen[k]})" if str(seen[k]) != str(p) else
                                     "") + "; the later would replace the earlier",
                                  hint="give each output its own path")
            seen[k] = p


def _temp_name(path: Path, suffix: str) -> str:
    """A fresh hidden name beside ``path`` that records this process's id."""
    folder = path.parent if str(path.parent) else Path(".")
    return str(folder / f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}{suffix}")


def _sweep(path: Path) -> None:
    """Remove temporaries and backups of ``path`` left by a process that was killed (SIGKILL
    cannot be caught): their names record the id of a process that no longer exists."""
    folder = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}."
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)
                 and n.endswith((".tmp", ".old"))]
    except OSError:
        return
    for n in names:
        pid = n[len(prefix):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(folder / n)
        except (PermissionError, OverflowError, OSError):
            pass


class _Staged:
    """One output written to a temporary file beside its path."""

    def __init__(self, path: Path):
        self.path = path
        _sweep(path)
        self.name: str | None = _temp_name(path, ".tmp")
        try:
            self.fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                              | getattr(os, "O_CLOEXEC", 0), 0o666)  # the umask applies
        except OSError as e:
            self.name = None
            raise OutputError(f"cannot write {path}: {e.strerror}",
                              hint="check that the folder exists and is writable") from None

    def write(self, blob) -> None:
        with open(self.fd, "wb", closefd=False) as f:
            if isinstance(blob, bytes | bytearray | memoryview):
                f.write(blob)
            else:
                f.writelines(blob)

    def commit(self) -> None:
        """Rename it onto its path."""
        os.close(self.fd)
        self.fd = None
        os.replace(self.name, self.path)
        self.name = None

    def discard(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if self.name is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.name)
            self.name = None


class _Terminated(SystemExit):
    """SIGTERM or SIGHUP while files are written: unwinds (removing the temporaries), then
    exits with the usual status 128 + signal."""


@contextlib.contextmanager
def _signals_unwind():
    """Turn SIGTERM and SIGHUP into an exception for the duration (main thread only, and only
    where the default action, termination, was in force)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {}

    def unwind(signum, frame):
        raise _Terminated(128 + signum)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            old[sig] = signal.signal(sig, unwind)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _backup(path: Path) -> str | None:
    """A hard link to the file at ``path`` (to restore it), or None if there is none or the
    file system cannot link."""
    if not os.path.isfile(path):
        return None
    name = _temp_name(path, ".old")
    try:
        os.link(path, name)
    except OSError:
        return None
    return name


def write_files(files: Mapping[str | os.PathLike, object]) -> None:
    """Write every file all or nothing (see the module doc). Values are bytes-like or an
    iterable of byte pieces (streamed: an object's sections are never joined in memory)."""
    items = [(Path(p), blob) for p, blob in files.items()]
    check_targets(p for p, _ in items)
    staged: list[_Staged] = []
    done: list[tuple[Path, str | None]] = []
    with _signals_unwind():
        try:
            for path, blob in items:
                s = _Staged(path)
                staged.append(s)
                try:
                    s.write(blob)
                except OSError as e:
                    raise OutputError(f"cannot write {path}: {e.strerror}") from None
            for s in staged:
                backup = _backup(s.path) if len(staged) > 1 else None
                try:
                    s.commit()
                except OSError as e:
                    if backup is not None:
                        os.unlink(backup)
                    raise OutputError(f"cannot write {s.path}: {e.strerror}") from None
                done.append((s.path, backup))
        except BaseException:
            for path, backup in reversed(done):  # the files renamed already: as they were
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, path)
                    else:
                        os.unlink(path)
            raise
        finally:
            for s in staged:
                s.discard()
            for _, backup in done:
                if backup is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(backup)
