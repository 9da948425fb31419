"""Progress of long work on one status line of stderr, rewritten in place, on a terminal only.

A :class:`Progress` shows a label, the current stage (numbered when the stages are known), a
count with its share and the time left (``12/24 evaluations (50 %), 1 min 3 s left``) and the
time spent so far. A background thread redraws the line twice a second, so a stage that takes
long (packing, one long run of the machine) still shows that it moves. When stderr is not a
terminal, or with ``-q``, nothing is written at all; when the work ends the line is cleared, so
what the command prints next starts on a clean line.

>>> import io
>>> p = Progress("compile", stream=io.StringIO())   # not a terminal: disabled
>>> p.enabled
False
>>> fmt_seconds(75.4), fmt_seconds(3.2), fmt_seconds(7300)
('1 min 15 s', '3.2 s', '2 h 1 min')
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable

CLEAR = "\r\x1b[K"


def fmt_seconds(s: float) -> str:
    """A duration as a person reads it: ``3.2 s``, ``1 min 15 s``, ``2 h 1 min``."""
    if s < 10:
        return f"{s:.1f} s"
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """The status line of one command (a context manager: the line is cleared on exit).

    ``stages``: the names of the stages when they are known in advance (their number is shown
    as ``[2/7]``); a stage message that starts with one of them takes its number."""

    def __init__(self, label: str, *, quiet: bool = False, stream=None,
                 stages: tuple[str, ...] = (), interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and _isatty(self.stream)
        self.label = label
        self.stages = stages
        self.interval = interval
        self.clock = clock
        self._start = self._stage_start = clock()
        self._stage = ""
        self._detail = ""  # a message within the stage (the packer's), when stages are known
        self._note = ""
        self._count: tuple[int, int, str, float] | None = None  # done, total, unit, since
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    # ---- use ---------------------------------------------------------------------------------

    def __enter__(self) -> Progress:
        if self.enabled and self.interval > 0:
            self._thread = threading.Thread(target=self._tick, name="imcc-progress",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stage(self, message: str) -> None:
        """A new stage (a compile stage's message, ``packing 54 tiles onto arrays``). With known
        ``stages``, a message that starts none of them is a detail of the current stage (the
        packer's ``CP-SAT: 11 bins``)."""
        with self._lock:
            if self.stages and self._stage and not message.startswith(self.stages):
                self._detail = message
            else:
                self._stage, self._detail = message, ""
                self._stage_start = self.clock()
                self._count = None
            self._draw()

    def count(self, done: int, total: int, unit: str = "", note: str = "") -> None:
        """``done`` of ``total`` things of the current stage; the time left is estimated from
        the rate since the stage began (or since a first count of 0)."""
        with self._lock:
            if self._count is None or self._count[1] != total:
                since = self.clock() if done == 0 else self._stage_start
            else:
                since = self._count[3]
            self._count = (done, total, unit, since)
            self._note = note
            self._draw()

    def batches(self, done: int, total: int) -> None:
        """A ``progress(done, total)`` callback for :func:`runtime.machine.run_batched`."""
        if total > 1:
            self.count(done, total, "batches")

    def echo(self, text: str, err: bool = False) -> None:
        """Print a line of output (stdout, or stderr with ``err``) above the status line."""
        import click

        with self._lock:
            if self._shown:
                self._write(CLEAR)
            click.echo(text, err=err)
            if self._shown:
                self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._shown:
                self._write(CLEAR)
                self._shown = False

    # ---- drawing -----------------------------------------------------------------------------

    def line(self) -> str:
        """The status line as it is drawn now (without the control characters)."""
        now = self.clock()
        parts = [f"{self.label}:"]
        if self._stage:
            num = next((i for i, s in enumerate(self.stages) if self._stage.startswith(s)), None)
            parts.append((f"[{num + 1}/{len(self.stages)}] " if num is not None else "")
                         + self._stage + (f": {self._detail}" if self._detail else ""))
        if self._count is not None:
            done, total, unit, since = self._count
            pct = f" ({100 * done // total} %)" if total else ""
            text = f"{done}/{total}{' ' + unit if unit else ''}{pct}"
            if self._note:
                text += f", {self._note}"
            if 0 < done < total:
                left = (now - since) / done * (total - done)
                text += f", {fmt_seconds(left)} left"
            parts.append(text)
        parts.append(f"[{fmt_seconds(now - self._start)}]")
        return " ".join(parts)

    def _draw(self) -> None:
        if not self.enabled:
            return
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self._write(CLEAR + self.line()[:max(width, 20)])
        self._shown = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing
            self.enabled = False

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if self._shown or self._stage or self._count:
                    self._draw()


#: The stages of a compile, in order (the messages of :func:`imcc.compiler.compile_model`).
COMPILE_STAGES = ("loading", "canonicalizing", "packing", "calibrating", "quantizing",
                  "generating code", "assembling", "estimating")
MAP_STAGES = ("loading", "canonicalizing", "packing")
