"""A KV cache the decode step writes in place: one row a step, no copy of the cache (docs/llm.md,
"The cache on the machine").

:func:`slot_cache` rewrites a compiled decoder's program text (a decode step or a prefill,
:mod:`imcc.decoder`) so that each layer's ``present`` key and value (``[1, kv_heads, C,
head_dim]``) live in the cache region, memory no other tensor uses, and stay there between
runs. The decode step then declares each ``past_key_values`` input as that region, all ``C``
rows of it (the machine keeps it *resident*), drops the copy of the past into ``present`` (it
is there already) and writes its own key and value row at the row the host names in the input
``imcc.cache_slot`` (the row's byte offset, as a ``u32bits`` word the step loads into ``x31``)
instead of the last row. Attention reads all ``C`` rows; the host's ``attention_mask`` marks
the rows that hold tokens (:func:`slot_mask`). Keys are rotated by their position before they
are cached, and attention's scores and weighted sum do not depend on the order of the rows, so
a row's place in the cache is free. A prefill of ``P`` tokens writes its present as compiled
(the past rows, zeros, then the prompt's rows ``C - P .. C - 1``) into the same region, and
the decode steps that follow fill rows ``0, 1, ...``.

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


def slot_mask(context: int, first: int, n: int) -> list[int]:
    """The rows of the cache that hold tokens once the token at position ``n`` is written:
    positions ``0 .. n`` at rows ``(first + k) % context``."""
    return sorted({(first + k) % context for k in range(n + 1)})


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
                if re.search(rf"\b{re.escape(text.sym[t])}\b", code):
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
        indent, reg, sym, off = m.group(1), m.group(2), m.group(3), int(m.group(4) or 0)
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
        if rel == 0:  # attention reads every row
            out.append(lines[k])
        elif (rel // row) % context == context - 1:  # this step's row: at the host's slot
            out.append(f"{indent}li {reg}, {sym} + {off - (context - 1) * row}")
            out.append(f"{indent}add {reg}, {reg}, {_SLOT_REG}    # + the cache slot's offset")
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
        lines[at + 1:at + 1] = ["    # the row of the KV cache this step writes (its byte offset)",
                                f"    li {_SLOT_REG}, {_SLOT_SYM}",
                                f"    lw {_SLOT_REG}, 0({_SLOT_REG})"]
        lines.append(f".equ {_SLOT_SYM}, {slot_at:#x}    # the KV cache's write slot")
    return "\n".join(lines)


def region_bytes(dec, context: int) -> int:
    """Bytes of the cache region: every layer's key and value, ``context`` rows, and the slot
    word (64-byte aligned)."""
    return 2 * dec.layers * dec.kv_heads * context * dec.head_dim * 4 + 64
