"""Diagnostics shared by every layer: source spans, the error hierarchy, caret rendering.

Every error a user can cause is a :class:`ToolchainError` (or a subclass). The CLI catches the
base class, prints :func:`render` of it to stderr and exits with status 2, without a traceback.
Anything else that escapes is an internal error (status 1, traceback kept).

>>> src = "addi x1, x0, 5000\\n"
>>> err = AsmError("value 5000 doesn't fit in 12 bits", SourceSpan("p.s", 1, 14, 4), source=src)
>>> print(render(err))
p.s:1:14: error: value 5000 doesn't fit in 12 bits
    addi x1, x0, 5000
                 ^~~~
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceSpan:
    """A place in a source file: 1-based line and column, and the length of the marked text."""

    file: str
    line: int
    col: int
    length: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ToolchainError(Exception):
    """A user-facing error: one clear line (what, where, what to do), optionally with a span.

    ``source`` is the text of the file the span points into; when given, :func:`render` shows
    the offending line with a caret under the marked columns. ``str()`` of an error is its
    rendering, what the command line prints; ``message`` is the message alone.

    >>> e = ToolchainError("unknown chip preset 'x'", hint="see `imcc chips`")
    >>> print(e)
    imcc: error: unknown chip preset 'x'
        hint: see `imcc chips`
    >>> e.message
    "unknown chip preset 'x'"
    """

    kind = "error"

    def __init__(
        self,
        message: str,
        span: SourceSpan | None = None,
        *,
        source: str | None = None,
        hint: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.hint = hint

    def with_source(self, source: str) -> "ToolchainError":
        self.source = source
        return self

    def __str__(self) -> str:
        return render(self)


class AsmSyntaxError(ToolchainError):
    """The assembler could not parse a line."""


class AsmError(ToolchainError):
    """A parsed assembly statement is wrong: unknown mnemonic, bad operand, undefined label."""


class EncodeError(ToolchainError):
    """An operand value does not fit the field it is encoded into."""


class ObjectFileError(ToolchainError):
    """An object file is truncated, corrupt, of another version, or not an object file."""


class ConfigError(ToolchainError):
    """A chip, precision or packing configuration is invalid."""


class OnnxImportError(ToolchainError):
    """An ONNX file cannot be loaded or is malformed."""


class UnsupportedOpError(ToolchainError):
    """A model uses operators the compiler does not support."""


class VerifyError(ToolchainError):
    """An IR invariant does not hold (raised by verifiers between passes)."""


class OutputError(ToolchainError):
    """An output file cannot be written (missing folder, no permission, disk full)."""


class InputError(ToolchainError):
    """Run inputs, calibration data or labels are missing, unreadable or of the wrong shape."""


class LimitError(ToolchainError):
    """An input is larger than the host limits allow (file size, tensor elements)."""


class MachineTrap(ToolchainError):
    """The reference machine stopped on a trap (bad address, unknown opcode, step limit...)."""


class ErrorList(ToolchainError):
    """Several errors from one input, reported together (e.g. every bad line of a file)."""

    def __init__(self, errors: list[ToolchainError]):
        self.errors = list(errors)
        first = self.errors[0].message if self.errors else "no errors"
        super().__init__(f"{len(self.errors)} error(s); first: {first}")


def source_lines(text: str) -> list[str]:
    """The lines of a source as the assembler counts them: split at ``\n`` only (a ``\r``
    before it dropped), never at the other characters ``str.splitlines`` breaks on."""
    return [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]


def _caret_lines(span: SourceSpan, source: str) -> list[str]:
    lines = source_lines(source)
    if not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].expandtabs(1)
    # One printable character per column, so the caret stays under its place.
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    col = max(1, min(span.col, len(text) + 1))
    length = max(1, min(span.length, len(text) - col + 1)) if text else 1
    if len(text) > _WIDTH:  # show a window of a long line around the marked place
        start = max(0, min(col - 1 - _WIDTH // 3, len(text) - _WIDTH))
        shown = text[start:start + _WIDTH]
        head, tail = ("..." if start else ""), ("..." if start + _WIDTH < len(text) else "")
        text = head + shown + tail
        col = col - start + len(head)
        length = max(1, min(length, len(shown) + len(head) - col + 1))
    return ["    " + text, "    " + " " * (col - 1) + "^" + "~" * (length - 1)]


_WIDTH = 100  # widest source excerpt under a diagnostic


def escape(text: str) -> str:
    """``text`` with every character that is not printable (newlines, terminal escapes, line
    separators) written as its Python escape, so a name taken from a file can neither split a
    diagnostic into several lines nor forge one.

    >>> print(escape("conv\\nimcc: error: forged\\x1b[2J"))
    conv\\nimcc: error: forged\\x1b[2J
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] if ch != "'" else ch
                   for ch in text)


def render(err: ToolchainError, prog: str = "imcc") -> str:
    """Format an error as ``file:line:col: error: message`` plus source line and caret.

    An :class:`ErrorList` renders each of its errors in turn, then a count.
    """
    if isinstance(err, ErrorList):
        parts = [render(e, prog) for e in err.errors]
        n = len(err.errors)
        parts.append(f"{n} error{'s' if n != 1 else ''} generated.")
        return "\n".join(parts)
    head = f"{escape(str(err.span))}: {err.kind}: " if err.span else f"{prog}: {err.kind}: "
    out = [head + escape(err.message)]
    if err.span is not None and err.source is not None:
        out.extend(_caret_lines(err.span, err.source))
    if err.hint:
        out.append(f"    hint: {escape(err.hint)}")
    return "\n".join(out)
