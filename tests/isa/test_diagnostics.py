"""Every kind of assembler diagnostic, checked to the column and the caret (cases and expected
output live side by side in asm_invalid.s)."""

from pathlib import Path

import pytest

from isa.assembler import assemble
from isa.diagnostics import ErrorList, render

HERE = Path(__file__).resolve().parent


def _cases():
    text = (HERE / "asm_invalid.s").read_text()
    chunks = text.split("# -----\n")[1:]
    out = []
    for chunk in chunks:
        src_lines, checks = [], []
        for line in chunk.splitlines():
            if line.startswith("# CHECK: "):
                checks.append(line[len("# CHECK: ") :])
            elif line.startswith("# CHECK:"):
                checks.append("")
            else:
                src_lines.append(line)
        out.append(("\n".join(src_lines) + "\n", checks))
    return out


CASES = _cases()


def test_cases_exist():
    assert len(CASES) >= 15


@pytest.mark.parametrize("src,checks", CASES, ids=[c[0].splitlines()[-1][:30] for c in CASES])
def test_diagnostic(src, checks, tmp_path):
    with pytest.raises(ErrorList) as exc:
        assemble(src, "case.s", tmp_path)
    rendered = render(exc.value).splitlines()
    # The last line counts the errors; everything before must equal the expectations.
    assert rendered[-1].endswith("generated.")
    assert rendered[:-1] == checks


def test_all_errors_of_a_file_are_reported(tmp_path):
    src = "addi x1, x0, 99999\nfoo bar baz\nbogus x1\nadd x1, x2\n"
    with pytest.raises(ErrorList) as exc:
        assemble(src, "many.s", tmp_path)
    lines = sorted(e.span.line for e in exc.value.errors)
    assert lines == [1, 2, 3, 4]


@pytest.mark.parametrize("text,value", [("010", 10), ("0_1", 1), ("1_000", 1000),
                                        ("0x1_f", 31), ("0B1_0", 2), ("0", 0)])
def test_integer_literals(text, value, tmp_path):
    asm = assemble(f".data\nv: .word {text}\n.text\n    halt\n", "n.s", tmp_path)
    assert int.from_bytes(asm.obj.data[:4], "little") == value


@pytest.mark.parametrize("src,line,shown", [
    ("    nop\x85\n    halt\n", 1, "    nop?"),          # NEL: a line break for str.splitlines
    ("    nop\r    bogus\n    halt\n", 1, "    nop?    bogus"),
    ("    nop # a\u2028b\n    bogus x1\n", 2, "    bogus x1"),
    ("\x0c    bogus x1\n", 1, "?    bogus x1"),
])
def test_odd_line_breaks_keep_the_line_and_the_caret(src, line, shown, tmp_path):
    # The assembler counts lines at "\n" only; the diagnostic must show that same line.
    with pytest.raises(ErrorList) as exc:
        assemble(src, "odd.s", tmp_path)
    err = exc.value.errors[0]
    assert err.span.line == line
    lines = render(exc.value).splitlines()
    assert lines[1] == "    " + shown
    assert lines[2].index("^") == 4 + err.span.col - 1


def test_float32_limits_are_accepted(tmp_path):
    import struct

    asm = assemble(".data\nv: .float 3.4028234e38, -3.4028234e38, inf, -inf\n.text\n    halt\n",
                   "f.s", tmp_path)
    vals = struct.unpack("<4f", asm.obj.data[:16])
    assert vals[0] == pytest.approx(3.4028234e38) and vals[2] == float("inf")
    assert vals[1] == -vals[0] and vals[3] == -vals[2]


def test_io_element_types_round_trip(tmp_path):
    from isa.disassembler import disassemble
    from isa.objfile import from_bytes, to_bytes

    src = ('.input "ids", 0, [1, 8], int64\n.input "x", 64, [4]\n'
           '.output "mask", 128, [1, 8], "bool"\n    halt\n')
    obj = assemble(src, "io.s", tmp_path).obj
    assert [t.dtype for t in obj.inputs] == ["int64", "float32"]
    assert [t.dtype for t in obj.outputs] == ["bool"]
    again = from_bytes(to_bytes(obj))
    assert again == obj
    text = disassemble(obj).text
    assert ".output \"mask\", 0x80, [1, 8], bool" in text
    assert assemble(text, "re.s", tmp_path).obj == obj


@pytest.mark.parametrize("expr", ["1" + "+1" * 5000, "-" * 5000 + "1", "%lo(" * 300 + "1"
                                  + ")" * 300])
def test_deeply_nested_expressions_are_one_error_not_a_recursion_crash(expr):
    with pytest.raises(ErrorList) as e:
        assemble(f"li x5, {expr}\nhalt\n", "deep.s")
    (err,) = e.value.errors
    assert "expression nested more than 100 levels deep" in err.message
    assert err.span.line == 1


def test_expression_of_100_levels_is_accepted():
    asm = assemble("li x5, " + "1" + "+1" * 99 + "\nhalt\n", "ok.s")
    # not a literal, so li is lui + addi of the sum (100)
    assert asm.obj.text == assemble("lui x5, 0\naddi x5, x5, 100\nhalt\n").obj.text


def test_long_lines_are_shown_as_a_window_around_the_caret():
    pad = "x" * 500
    src = f"addi x1, x0, 5000 # {pad}\n    {' ' * 400}addi x1, x0, 6000\n"
    with pytest.raises(ErrorList) as e:
        assemble(src, "w.s")
    for err, col in zip(e.value.errors, (14, 418)):
        text = render(err)
        shown, caret = text.splitlines()[1:3]
        assert len(shown) <= 4 + 100 + 6  # indent, window, two ellipses
        assert err.span.col == col
        k = caret.index("^")
        assert shown[k:k + 4] in ("5000", "6000")
