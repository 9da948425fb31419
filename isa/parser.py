"""Parse imcc assembly text into frozen AST nodes that carry source spans.

The grammar (``asm.lark``) is small and generic; the transformer here only builds nodes. All
meaning (which mnemonic, which operand kinds) is checked later by :mod:`isa.assembler` against
the instruction table. Syntax errors on several lines are all reported: after an error the
offending line is left out and parsing resumes on the next line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from isa.diagnostics import AsmSyntaxError, ErrorList, SourceSpan, source_lines

MAX_ERRORS = 50


@dataclass(frozen=True)
class Pos:
    """Line and column range (1-based, end exclusive) inside one source line."""

    line: int
    col: int
    end_col: int

    def to(self, other: "Pos") -> "Pos":
        if other.line != self.line:
            return self
        return Pos(self.line, self.col, max(self.end_col, other.end_col))


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int
    pos: Pos


@dataclass(frozen=True)
class Flt:
    value: float
    pos: Pos


@dataclass(frozen=True)
class Sym:
    name: str
    pos: Pos


@dataclass(frozen=True)
class BinOp:
    op: str  # "+", "-", "*"
    left: "Expr"
    right: "Expr"
    pos: Pos
    depth: int = field(default=1, compare=False)  # of the expression tree (bounded on parsing)


@dataclass(frozen=True)
class Neg:
    arg: "Expr"
    pos: Pos
    depth: int = field(default=1, compare=False)


@dataclass(frozen=True)
class Reloc:
    """``%hi(e)``, ``%lo(e)`` (lui/addi halves of a 32-bit value) or ``%f32(x)`` (float bits)."""

    func: str
    arg: "Expr"
    pos: Pos
    depth: int = field(default=1, compare=False)


Expr = Num | Flt | Sym | BinOp | Neg | Reloc


# ---- operands and statements ---------------------------------------------------------------


@dataclass(frozen=True)
class Mem:
    offset: Expr | None
    base: str
    base_pos: Pos
    pos: Pos


@dataclass(frozen=True)
class Str:
    value: str
    pos: Pos


@dataclass(frozen=True)
class ListOp:
    items: tuple[Expr, ...]
    pos: Pos


Operand = Expr | Mem | Str | ListOp


@dataclass(frozen=True)
class Label:
    name: str
    pos: Pos


@dataclass(frozen=True)
class Statement:
    """An instruction (``name`` is a mnemonic) or a directive (``name`` starts with a dot)."""

    name: str
    operands: tuple[Operand, ...]
    name_pos: Pos
    pos: Pos

    @property
    def is_directive(self) -> bool:
        return self.name.startswith(".")


@dataclass(frozen=True)
class Line:
    labels: tuple[Label, ...]
    statement: Statement | None
    line: int


@dataclass(frozen=True)
class Source:
    """A parsed file: its name, text (for carets) and lines."""

    file: str
    text: str
    lines: tuple[Line, ...]

    def span(self, pos: Pos) -> SourceSpan:
        return SourceSpan(self.file, pos.line, pos.col, max(1, pos.end_col - pos.col))


def _pos(tok: Token) -> Pos:
    return Pos(tok.line, tok.column, tok.column + len(tok))


def _pos_of(node) -> Pos:
    return node.pos


class _BadLiteral(Exception):
    """A token the grammar accepts but whose value is invalid (a bad escape in a string), or
    an expression nested beyond :data:`MAX_DEPTH`."""

    def __init__(self, tok: Token, msg: str) -> None:
        super().__init__(msg)
        self.tok = tok


#: Deepest expression tree accepted (operators and parentheses nest; evaluation recurses).
MAX_DEPTH = 100


def _deeper(pos: Pos, *args) -> int:
    depth = 1 + max(getattr(a, "depth", 1) for a in args)
    if depth > MAX_DEPTH:
        tok = Token("EXPR", " " * max(1, pos.end_col - pos.col), line=pos.line, column=pos.col)
        raise _BadLiteral(tok, f"expression nested more than {MAX_DEPTH} levels deep; "
                          "split it with .equ constants")
    return depth


def _unescape(tok: Token) -> str:
    s = str(tok)
    try:
        out = s[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        out.encode("utf-8")  # lone surrogates (\ud800) have no UTF-8 form
    except UnicodeError as e:
        raise _BadLiteral(tok, f"invalid escape in string: {e.reason}") from None
    return out


@v_args(inline=True)
class _Build(Transformer):
    def int(self, tok):
        t = tok.replace("_", "")
        base = {"x": 16, "b": 2}.get(t[1:2].lower(), 10) if t[:1] == "0" else 10
        digits = (t[2:] if base != 10 else t).lstrip("0")
        # Bounded before conversion: values are 64-bit at most (and a decimal of thousands of
        # digits is more than Python converts).
        if len(digits) > {16: 16, 2: 64, 10: 20}[base] or int(digits or "0", base) >= 2**64:
            raise _BadLiteral(tok, "integer literal does not fit in 64 bits")
        return Num(int(digits or "0", base), _pos(tok))

    def float(self, tok):
        return Flt(float(tok), _pos(tok))

    def name(self, tok):
        return Sym(str(tok), _pos(tok))

    def neg(self, arg):
        p = arg.pos
        pos = Pos(p.line, max(1, p.col - 1), p.end_col)
        return Neg(arg, pos, _deeper(pos, arg))

    def _bin(self, op, a, b):
        pos = a.pos.to(b.pos)
        return BinOp(op, a, b, pos, _deeper(pos, a, b))

    def add(self, a, b):
        return self._bin("+", a, b)

    def sub(self, a, b):
        return self._bin("-", a, b)

    def mul(self, a, b):
        return self._bin("*", a, b)

    def reloc(self, tok, arg):
        p = _pos(tok)
        pos = Pos(p.line, p.col, arg.pos.end_col + 1)
        return Reloc(str(tok)[1:], arg, pos, _deeper(pos, arg))

    def mem(self, offset, base):
        bp = _pos(base)
        start = offset.pos if offset is not None else Pos(bp.line, bp.col - 1, bp.col)
        return Mem(offset, str(base), bp, Pos(start.line, start.col, bp.end_col + 1))

    def string(self, tok):
        return Str(_unescape(tok), _pos(tok))

    def list(self, lb, *rest):
        *items, rb = rest
        items = tuple(i for i in items if i is not None)
        return ListOp(items, Pos(lb.line, lb.column, rb.column + 1))

    def label(self, tok):
        return Label(str(tok), _pos(tok))

    def statement(self, name, *operands):
        operands = tuple(o for o in operands if o is not None)
        np_ = _pos(name)
        end = operands[-1].pos if operands else np_
        return Statement(str(name), operands, np_, np_.to(end))

    def line(self, *items):
        labels = tuple(i for i in items if isinstance(i, Label))
        stmt = next((i for i in items if isinstance(i, Statement)), None)
        first = labels[0].pos.line if labels else (stmt.pos.line if stmt else 0)
        return Line(labels, stmt, first)

    def start(self, *lines):
        return tuple(lines)


_GRAMMAR = (Path(__file__).with_name("asm.lark")).read_text()
_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Build(), maybe_placeholders=True)

_TOKEN_WORDS = {
    "_NL": "end of line",
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "COMMA": "','",
    "COLON": "':'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACK": "'['",
    "RBRACK": "']'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "RELOC": "a %hi/%lo/%f32 operator",
    "$END": "end of file",
}


def _describe(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of file"
    return repr(str(tok))


def _syntax_error(e: UnexpectedInput, file: str, text: str) -> AsmSyntaxError:
    line, col = max(1, e.line), max(1, e.column)
    if isinstance(e, UnexpectedCharacters):
        rows = source_lines(text)
        ch = rows[line - 1][col - 1:col] if line <= len(rows) else ""
        ch = ch or "?"
        msg = f"unexpected character {ch!r}"
        length = 1
    elif isinstance(e, UnexpectedToken):
        tok = e.token
        msg = f"unexpected {_describe(tok)}"
        exp = set(e.expected)
        if {"INT", "NAME"} <= exp:
            msg += "; expected an operand"
        elif {"COMMA", "_NL"} <= exp:
            msg += "; expected ',' or end of line"
        elif exp and len(exp) <= 4:
            msg += "; expected " + " or ".join(sorted(_TOKEN_WORDS.get(t, t) for t in exp))
        length = max(1, len(str(tok))) if tok.type not in ("_NL", "$END") else 1
        if tok.type == "$END":
            line = len(source_lines(text.rstrip("\n"))) or 1
    elif isinstance(e, UnexpectedEOF):
        msg, length = "unexpected end of file", 1
    else:  # pragma: no cover - lark raises only the kinds above
        msg, length = str(e), 1
    return AsmSyntaxError(msg, SourceSpan(file, line, col, length), source=text)


def _shift(node, lines: int):
    """``node`` (a parsed line or a part of one) with every position ``lines`` lines lower."""
    if isinstance(node, Pos):
        return Pos(node.line + lines, node.col, node.end_col)
    if isinstance(node, tuple):
        return tuple(_shift(x, lines) for x in node)
    if isinstance(node, Line):
        return Line(_shift(node.labels, lines), _shift(node.statement, lines), node.line + lines)
    if hasattr(node, "__dataclass_fields__"):
        return type(node)(**{k: _shift(getattr(node, k), lines)
                             for k in node.__dataclass_fields__})
    return node


def _parse_from(rows: list[str], start: int, file: str, text: str):
    """Parse ``rows[start:]`` (lines of the source, line numbers kept): ``(lines, None)``, or
    ``(lines before the first bad line, its error)``."""
    chunk = "\n".join(rows[start:])
    try:
        lines = _PARSER.parse(chunk)
    except (UnexpectedInput, _BadLiteral) as e:
        if isinstance(e, _BadLiteral):
            err = AsmSyntaxError(str(e), SourceSpan(file, e.tok.line, e.tok.column,
                                                    max(1, len(e.tok))), source=chunk)
        else:
            err = _syntax_error(e, file, chunk)
        sp = err.span
        err = AsmSyntaxError(err.message, SourceSpan(file, sp.line + start, sp.col, sp.length),
                             source=text)
        bad = sp.line - 1  # rows before it parse: every line is a statement of its own
        good = _PARSER.parse("\n".join(rows[start:start + bad]) + "\n") if bad > 0 else ()
        return _shift(good, start) if start else good, err
    return _shift(lines, start) if start else lines, None


#: The lines a code generator writes most (a mnemonic or directive, then names, decimal
#: integers and ``name + integer`` separated by commas, an optional label and comment) are read
#: by :func:`_plain_line` without the grammar, into the same nodes; any other line goes to it.
_P_NAME = r"([A-Za-z_.$][A-Za-z0-9_.$]*)"
_P_LABEL = re.compile(r"[ \t]*" + _P_NAME + r"[ \t]*:")
_P_HEAD = re.compile(r"[ \t]*" + _P_NAME + r"(?=[ \t#]|$)")
_P_INT = r"(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,19})"
_P_OPERAND = re.compile(r"[ \t]*(?:" + _P_NAME + "|" + _P_INT + r")"
                        r"(?:[ \t]*\+[ \t]*" + _P_INT + r")?[ \t]*(?=[,#]|$)")
_P_END = re.compile(r"[ \t]*(?:#.*)?$")


def _plain_int(tok: str) -> int:
    return int(tok[2:], 16) if tok[1:2] in ("x", "X") else int(tok)


def _plain_line(row: str, line: int):
    """The parsed line ``row`` (number ``line``), ``()`` for a blank one, or None when the
    grammar must read it (anything beyond the plain forms above, and every error)."""
    if '"' in row or "\r" in row:
        return None
    labels = []
    pos = 0
    m = _P_LABEL.match(row)
    if m is not None:
        c = m.start(1) + 1
        labels.append(Label(m.group(1), Pos(line, c, c + len(m.group(1)))))
        pos = m.end()
    if _P_END.match(row, pos):
        return Line(tuple(labels), None, line) if labels else ()
    m = _P_HEAD.match(row, pos)
    if m is None:
        return None
    head, c = m.group(1), m.start(1) + 1
    name_pos = Pos(line, c, c + len(head))
    operands = []
    pos = m.end()
    if not _P_END.match(row, pos):
        if row[pos] not in " \t":
            return None
        while True:
            m = _P_OPERAND.match(row, pos)
            if m is None:
                return None
            sym, num, add = m.group(1, 2, 3)
            c = m.start(1 if sym is not None else 2) + 1
            tok = sym if sym is not None else num
            op = Sym(sym, Pos(line, c, c + len(tok))) if sym is not None else \
                Num(_plain_int(num), Pos(line, c, c + len(tok)))
            if add is not None:
                a = m.start(3) + 1
                b = Num(_plain_int(add), Pos(line, a, a + len(add)))
                op = BinOp("+", op, b, Pos(line, c, b.pos.end_col), 2)
            operands.append(op)
            pos = m.end()
            if pos < len(row) and row[pos] == ",":
                pos += 1
                continue
            if not _P_END.match(row, pos):
                return None
            break
    end = operands[-1].pos if operands else name_pos
    stmt = Statement(head, tuple(operands), name_pos, name_pos.to(end))
    return Line(tuple(labels), stmt, labels[0].pos.line if labels else line)


def _recover(rows: list[str], start: int, file: str, text: str,
             errors: list[AsmSyntaxError], parsed: list[Line]) -> bool:
    """Parse ``rows[start:]`` with the grammar, skipping bad lines (see
    :func:`parse_recovering`); False when parsing must stop."""
    while True:
        lines, err = _parse_from(rows, start, file, text)
        parsed.extend(lines)
        if err is None:
            return True
        errors.append(err)
        idx = err.span.line - 1
        if len(errors) >= MAX_ERRORS or idx + 1 >= len(rows) or not rows[idx].strip():
            return False
        start = idx + 1


def parse_recovering(text: str, file: str = "<input>", *,
                     plain: bool = True) -> tuple[Source, list[AsmSyntaxError]]:
    """Parse assembly text, skipping bad lines: return the good lines and the syntax errors.

    After an error the offending line is left out (line numbers are kept) and parsing resumes
    on the next line, so later passes can still report their own errors for the other lines.
    Each line is parsed at most twice, so recovery takes linear time. With ``plain`` (the
    default), the plain lines are read without the grammar (:func:`_plain_line`) and each run
    of the other lines goes to it: the same nodes, faster.
    """
    if not text.endswith("\n"):
        text = text + "\n"
    rows = text.split("\n")  # the last is "" (the text ends with a newline)
    errors: list[AsmSyntaxError] = []
    parsed: list[Line] = []
    fast = [_plain_line(r, i + 1) for i, r in enumerate(rows[:-1])] if plain else []
    i = 0
    while i < len(fast):
        if fast[i] is not None:
            if fast[i]:
                parsed.append(fast[i])
            i += 1
            continue
        j = i
        while j < len(fast) and fast[j] is None:
            j += 1
        if not _recover(rows[:j] + [""], i, file, text, errors, parsed):
            return Source(file, text, ()), errors
        i = j
    if not plain and not _recover(rows, 0, file, text, errors, parsed):
        return Source(file, text, ()), errors
    return Source(file, text, tuple(ln for ln in parsed if ln.labels or ln.statement)), errors


def parse(text: str, file: str = "<input>") -> Source:
    """Parse assembly text. Raise :class:`ErrorList` of :class:`AsmSyntaxError` on bad lines."""
    source, errors = parse_recovering(text, file)
    if errors:
        raise ErrorList(errors)
    return source
