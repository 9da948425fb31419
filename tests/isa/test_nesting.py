"""The nesting bound of JSON and TOML text (isa.hostlimits: check_nesting, and parse_json's
measure of text json accepted) against a character-by-character walk written here: brackets
outside strings and comments, a closer too many ignored, the document refused when any bracket
sits deeper than the limit."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa.hostlimits import MAX_NESTING, StructureError, check_nesting, parse_json


def _first_over(data: bytes, limit: int) -> int | None:
    """The byte offset of the first bracket deeper than ``limit`` (None if none), scanning one
    byte at a time; strings are "..." with backslash escapes or '...', both ending at a newline, and
    comments run from # to the end of the line."""
    depth = 0
    i, n = 0, len(data)
    while i < n:
        c = data[i:i + 1]
        if c == b'"':
            i += 1
            while i < n and data[i:i + 1] not in (b'"', b"\n"):
                i += 2 if data[i:i + 1] == b"\\" and i + 1 < n else 1
            if i < n and data[i:i + 1] == b'"':
                i += 1
            continue
        if c in (b"'", b"#"):
            end = (b"'",) if c == b"'" else ()
            i += 1
            while i < n and data[i:i + 1] != b"\n" and data[i:i + 1] not in end:
                i += 1
            if c == b"'" and i < n and data[i:i + 1] == b"'":
                i += 1
            continue
        if c in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return i
        elif c in (b"]", b"}"):
            depth = max(0, depth - 1)
        i += 1
    return None


_PIECES = st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"'", b"#", b"\n", b"\\", b"a", b",",
                           b'"[["', b"'{'", b"# [[\n", b'"\\"[', b"]]]"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=80), st.integers(0, 12))
def test_nesting_matches_a_byte_walk(pieces, limit):
    data = b"".join(pieces)
    at = _first_over(data, limit)
    if at is None:
        check_nesting(data, limit)
    else:
        with pytest.raises(StructureError, match=f"nested more than {limit} levels deep "
                                                 f"\\(at byte {at}\\)"):
            check_nesting(data, limit)


_TEXT = st.text(alphabet=st.sampled_from('ab[]{}"\\\'#\n\u00e9\u2603/'), max_size=6)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=40)


def _depth(doc) -> int:
    if isinstance(doc, list):
        return 1 + max(map(_depth, doc), default=0)
    if isinstance(doc, dict):
        return 1 + max(map(_depth, doc.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON, st.integers(0, 2), st.booleans(), st.integers(1, 40))
def test_parse_json_measures_the_nesting_of_what_json_accepts(doc, indent, ascii_only, wrap):
    doc = [[doc]] if wrap % 2 else doc
    text = json.dumps(doc, indent=indent or None, ensure_ascii=ascii_only)
    deep = text
    for _ in range(wrap):  # deeper, past the limit for some
        deep = f'{{"k": [{deep}, "]]"]}}'
    expected = json.loads(deep)
    at = _first_over(deep.encode(), MAX_NESTING)
    assert (at is None) == (_depth(expected) <= MAX_NESTING)
    if at is None:
        assert parse_json(deep) == expected
        assert parse_json(deep.encode()) == expected
    else:
        with pytest.raises(StructureError, match=f"\\(at byte {at}\\)"):
            parse_json(deep)


def test_the_error_names_the_first_bracket_too_deep():
    data = b'{"a": "[[[[", "b": [[[1]]], "c": [[[[[2]]]]]}'
    with pytest.raises(StructureError) as e:
        check_nesting(data, 4)
    assert str(e.value) == f"nested more than 4 levels deep (at byte {data.index(b'[[[[[2') + 3})"


def test_a_large_storage_map_like_document():
    doc = {"entries": [{"layer": f"/l{i}/[x]\\", "rc": [[i, i + 1], [2, 3]]}
                       for i in range(20_000)]}
    assert parse_json(json.dumps(doc, indent=1)) == doc
    deep = {"x": doc["entries"][:3]}
    for _ in range(MAX_NESTING - 3):
        deep = [deep]
    with pytest.raises(StructureError, match="nested more than"):
        parse_json(json.dumps(deep))


def test_json_too_deep_for_python_and_malformed_deep_json_name_the_nesting():
    for text in ("[" * 100_000 + "]" * 100_000, "[" * 100 + "x"):
        with pytest.raises(StructureError, match=f"nested more than {MAX_NESTING} levels deep "
                                                 f"\\(at byte {MAX_NESTING}\\)"):
            parse_json(text)
