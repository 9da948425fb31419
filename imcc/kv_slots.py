"""A KV cache the decode step writes in place: one move of a row a step, no copy of the cache
(docs/llm.md, "How the cache lives on the machine").

:func:`slot_cache` rewrites a compiled decoder's program text (a decode step or a prefill,
:mod:`imcc.decoder`) so that each layer's ``present`` key and value (``[1, kv_heads, C,
head_dim]``) live in the cache region, memory no other tensor uses, and stay there between
runs. The decode step then declares each ``past_key_values`` input as that region, all ``C``
rows of it (the machine keeps it *resident*), and drops the copy of the past into ``present``
(it is there already). It still writes its own key and value at the last row, as compiled;
rows ``0 .. C - 2`` hold the earlier tokens in any order. Its first instruction moves the
last step's row, every layer's key and value in one ``vcopy``, to the row the host names in
the input ``imcc.cache_slot`` (the row's byte offset, a ``u32bits`` word the step loads into
``x31``): one instruction a step at an address that changes, the rest of the program as
compiled. Attention reads all ``C`` rows; the host's ``attention_mask`` marks the rows that
hold tokens (:func:`cached_rows`). Keys are rotated by their position before they are cached,
and attention's scores and weighted sum do not depend on the order of the rows, so a row's
place in the cache is free. A prefill of ``P`` tokens writes its present as compiled (the
past rows, zeros, then the prompt's rows ``C - P .. C - 1``) into the same region.

The rewrite reads what it needs from the text: the ``.equ`` addresses and the tensors their
comments name, and the nodes' ``in:``/``out:`` comments. Where the program is not the shape
it expects (a past read by another instruction, a ``present`` row written other than the last
one, a tensor written inside ``present`` through a symbol of its own, ``x31`` in use) it
returns None, and the caller keeps the cache the other way (:func:`imcc.decoder._with_cache`:
the past copied into ``present`` and ``present`` shifted back each step).
"""

from __future__ import annotations

import re

SLOT_INPUT = "imcc.cache_slot"
_SLOT_SYM = "t_imcc_cache_slot"
_SLOT_REG = "x31"
_EQU = re.compile(r"^\.equ ([^,\s]+), *([^#]*?)\s*(?:#\s*(.*))?$")
_NODE = re.compile(r"^ +# (.+): (\w+) \[\w+\]$")
_IO = re.compile(r"^ +#   (in|out): +(.*)$")
_LI = re.compile(r"^( +)li (x\d+), ([^\s#+]+)(?: \+ (\d+))?\s*(#.*)?$")
_INPUT = re.compile(r'^\.input "((?:[^"\\]|\\.)*)", *([^,\s]+), *\[[^\]]*\](.*)$')


def _value(expr: str, env: dict[str, int]) -> int | None:
    total = 0
    for term in expr.split("+"):
        term = term.strip()
        try:
            total += int(term, 0)
        except ValueError:
            if term not in env:
                return None
            total += env[term]
    return total


class _Text:
    """The program's addresses, tensors and nodes, as its text declares them."""

    def __init__(self, asm: str):
        self.lines = asm.split("\n")
        self.addr: dict[str, int] = {}
        self.sym: dict[str, str] = {}  # tensor -> symbol
        self.equ_line: dict[str, int] = {}
        for k, line in enumerate(self.lines):
            m = _EQU.match(line)
            if m:
                v = _value(m.group(2), self.addr)
                if v is not None:
                    self.addr[m.group(1)] = v
                    self.equ_line[m.group(1)] = k
                if m.group(3) and " [" in m.group(3):
                    self.sym.setdefault(m.group(3).rsplit(" [", 1)[0], m.group(1))
        self.nodes: list[tuple[str, list[str], list[str]]] = []  # op, inputs, outputs
        for k, line in enumerate(self.lines):
            m = _NODE.match(line)
            if m and k + 2 < len(self.lines):
                a, b = _IO.match(self.lines[k + 1]), _IO.match(self.lines[k + 2])
                if a and b and a.group(1) == "in" and b.group(1) == "out":
                    self.nodes.append((m.group(2), a.group(2).split(", "),
                                       b.group(2).split(", ")))

    def at(self, tensor: str) -> int | None:
        s = self.sym.get(tensor)
        return None if s is None else self.addr.get(s)

    def same_place(self, tensor: str, forward: bool) -> set[str]:
        """``tensor`` and the tensors at its address that follow from it (``forward``: its
        reshapes and views) or that it follows from."""
        where, group, grew = self.at(tensor), {tensor}, True
        while grew:
            grew = False
            for _, ins, outs in self.nodes:
                src, dst = (ins, outs) if forward else (outs, ins)
                if group.intersection(src):
                    for t in dst:
                        if t not in group and t and self.at(t) == where:
                            group.add(t)
                            grew = True
        return group


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


def _names(code: str, sym: str) -> bool:
    """Whether ``code`` holds ``sym`` as a whole word (``re.search(rf"\b{sym}\b")``, by
    ``str.find``: the regular expression scans a large program's text a character at a time,
    a second per symbol for the 1.1B model)."""
    i = code.find(sym)
    while i >= 0:
        j = i + len(sym)
        if (i > 0 and _word(code[i - 1])) != _word(sym[0]) and \
                (j < len(code) and _word(code[j])) != _word(sym[-1]):
            return True
        i = code.find(sym, i + 1)
    return False


def _places(text: _Text, names: list[str], dec, context: int, base: int):
    """Per ``present`` tensor: its symbols (itself and its aliases), its old address and its
    address in the cache region; None when a tensor written inside it has a symbol the code
    uses."""
    size = dec.kv_heads * context * dec.head_dim * 4
    code = "\n".join(ln for ln in text.lines if ln.startswith("    ") and not
                     ln.lstrip().startswith("#"))
    out = []
    for k, name in enumerate(names):
        present = "present." + name[len("past_key_values."):]
        p = text.at(present)
        concat = [n for n in text.nodes if n[2] == [present]]
        if p is None or len(concat) != 1 or concat[0][0] != "Concat" \
                or concat[0][1][0] != name or len(concat[0][1]) != 2:
            return None
        aliases = text.same_place(present, forward=True)
        inside = text.same_place(concat[0][1][1], forward=False)
        if inside and text.at(concat[0][1][1]) is not None \
                and p <= text.at(concat[0][1][1]) < p + size:
            for t in inside:  # written in place: the code must name present's rows only
                if _names(code, text.sym[t]):
                    return None
        out.append(({text.sym[t] for t in aliases}, p, base + k * size,
                    text.sym.get(name)))
    return out


def slot_cache(asm: str, dec, context: int, base: int, *, decode: bool) -> str | None:
    """The program text with the cache in place (module docstring): a decode step's
    (``decode``) or a prefill's; None where the program is not as expected."""
    text = _Text(asm)
    names = [f"past_key_values.{i}.{k}" for i in range(dec.layers) for k in ("key", "value")]
    places = _places(text, names, dec, context, base)
    if places is None or any(s is None for *_, s in places):
        return None
    lines = text.lines
    if decode and any(re.search(rf"\b{_SLOT_REG}\b", ln) for ln in lines
                      if ln.startswith("    ") and not ln.lstrip().startswith("#")):
        return None
    row = dec.head_dim * 4
    owner = {s: (p, new, past) for syms, p, new, past in places for s in syms}
    pasts = {past: syms for syms, _, _, past in places}
    out, k, uses = [], 0, 0
    while k < len(lines):
        m = _LI.match(lines[k])
        if m is None or not decode:
            out.append(lines[k])
            k += 1
            continue
        reg, sym, off = m.group(2), m.group(3), int(m.group(4) or 0)
        if sym in pasts:
            return None  # the past read anywhere but in the copy below
        if sym not in owner:
            out.append(lines[k])
            k += 1
            continue
        p, _, past = owner[sym]
        rel = text.addr[sym] - p + off
        if rel == 0 and k + 2 < len(lines):  # the past copied into present: it is there
            m2 = _LI.match(lines[k + 1])
            if m2 and m2.group(3) == past and m2.group(4) is None and \
                    lines[k + 2].split("#")[0].split() == ["vcopy", f"{reg},", m2.group(2)]:
                k += 3
                uses += 1
                continue
        if rel == 0 or (rel // row) % context == context - 1:  # every row, or this step's
            out.append(lines[k])
        else:
            return None
        k += 1
    if decode and uses != len(names):
        return None
    return _declare(out, dec, context, base, places, decode)


def _declare(lines: list[str], dec, context: int, base: int, places, decode: bool) -> str:
    """The directives: present (and its aliases) in the cache region; for a decode step the
    past inputs there too, all ``context`` rows, the slot input and its load at ``.rerun``."""
    moved = {s: new for syms, _, new, _ in places for s in syms}
    if decode:
        moved.update((past, new) for _, _, new, past in places)
    slot_at = base + 2 * dec.layers * dec.kv_heads * context * dec.head_dim * 4
    shape = f"[1, {dec.kv_heads}, {context}, {dec.head_dim}]"
    label = None
    for k, line in enumerate(lines):
        m = _EQU.match(line)
        if m and m.group(1) in moved:
            lines[k] = f".equ {m.group(1)}, {moved[m.group(1)]:#x}    # KV cache, in place"
        m = _INPUT.match(line)
        if decode and m and m.group(2) in moved:
            lines[k] = f'.input "{m.group(1)}", {m.group(2)}, {shape}{m.group(3)}'
        if line.startswith(".rerun "):
            label = line.split()[1]
    if decode:
        last_in = max(k for k, ln in enumerate(lines) if ln.startswith(".input "))
        lines.insert(last_in + 1, f'.input "{SLOT_INPUT}", {_SLOT_SYM}, [1], u32bits')
        at = lines.index(f"{label}:")
        lines[at + 1:at + 1] = _move(dec, context, base)
        lines.append(f".equ {_SLOT_SYM}, {slot_at:#x}    # the row the last step's moves to")
    return "\n".join(lines)


def _move(dec, context: int, base: int) -> list[str]:
    """The code that starts a decode step: every layer's key and value of the last token, at
    the last row, copied to the row the host gives (one ``vcopy`` over tensors x heads x
    ``head_dim``); the program's own settings follow it."""
    rows = dec.kv_heads * context * dec.head_dim  # words of one tensor
    out = ["    # the last token's keys and values, every layer's, to their row in the cache",
           f"    li {_SLOT_REG}, {_SLOT_SYM}", f"    lw {_SLOT_REG}, 0({_SLOT_REG})"]
    for csr, v in (("n0", 1), ("n1", 1), ("n2", 1), ("n3", 2 * dec.layers),
                   ("n4", dec.kv_heads), ("n5", dec.head_dim), ("sd3", rows), ("sa3", rows),
                   ("sd4", context * dec.head_dim), ("sa4", context * dec.head_dim),
                   ("sd5", 1), ("sa5", 1)):
        out += [f"    cfgi {csr}, {v}"] if v < 1 << 17 else [f"    li x5, {v}",
                                                        f"    csrw {csr}, x5"]
    return out + [f"    li x5, {base:#x}", f"    add x5, x5, {_SLOT_REG}",
                  f"    li x6, {base + (context - 1) * dec.head_dim * 4:#x}",
                  "    vcopy x5, x6"]


def cached_rows(context: int, prompt: int, n: int) -> tuple[list[int], int]:
    """For the decode step of the token at position ``n``: the rows of the cache that hold
    tokens (those of positions ``0 .. n - 1`` and the step's own, the last row) and the row
    the step moves position ``n - 1`` to (row 0 at ``n = 0``, a row the mask hides). After a
    batched prefill of ``prompt`` tokens positions ``0 .. prompt - 2`` are at rows
    ``context - prompt ..`` and the later ones at rows ``0, 1, ...``; without one (``prompt =
    0``) position ``m`` is at row ``m``."""
    def row(m: int) -> int:
        if prompt > 1:
            return context - prompt + m if m < prompt - 1 else m - prompt + 1
        return m

    return sorted({row(m) for m in range(n)} | {context - 1}), row(n - 1) if n else 0


def region_bytes(dec, context: int) -> int:
    """Bytes of the cache region: every layer's key and value, ``context`` rows, and the slot
    word (64-byte aligned)."""
    return 2 * dec.layers * dec.kv_heads * context * dec.head_dim * 4 + 64
