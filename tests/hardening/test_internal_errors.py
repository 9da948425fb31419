"""Exceptions from parsers and the OS never escape as internal errors: each input here once
ended in ``imcc: internal error`` (exit 1) or a traceback, and now ends in one diagnostic with
exit status 2 and no output file."""

import json

import pytest

from tests.hardening.helpers import assert_user_error, imcc

# ---- assembly --------------------------------------------------------------------------------

SOURCES = {
    # an integer literal too large for a float (1e309 and beyond as an integer)
    "float-of-a-huge-integer": (".data\nx: .float 1" + "0" * 309 + "\n",
                                "2:11: error: integer literal does not fit in 64 bits"),
    "decimal-of-5000-digits": (".equ x, " + "9" * 5000 + "\n",
                               "1:9: error: integer literal does not fit in 64 bits"),
    "zero-of-2**63": (".data\n.zero 0x8000000000000000\n",
                      "2:1: error: .data would end at 0x8000000000000000, beyond global memory"),
    "align-of-2**64": (".weights\n.align 18446744073709551616\n",
                       "2:8: error: integer literal does not fit in 64 bits"),
    "align-of-2**32": (".weights\n.align 0x100000000\n",
                       "2:8: error: .align 4294967296: expected a power of two up to 2**31"),
    "equ-beyond-32-bits": (".equ big, 0x100000000\n",
                           "1:6: error: symbol 'big' = 4294967296 doesn't fit in 32 bits"),
    "negative-equ-beyond-32-bits": (".equ neg, -0x80000001\n",
                                    "1:6: error: symbol 'neg' = -2147483649 doesn't fit"),
    "input-dim-beyond-32-bits": ('.input "x", 0, [4294967296]\n',
                                 "1:16: error: .input shape dimensions must be in 0..2**32-1"),
}


@pytest.mark.parametrize("name", SOURCES)
def test_assembler_diagnoses_what_once_crashed_it(tmp_path, name):
    text, needle = SOURCES[name]
    src = tmp_path / "s.s"
    src.write_text(text + ".text\nhalt\n")
    out = tmp_path / "s.imo"
    assert_user_error(imcc("asm", src, "-o", out), f"s.s:{needle}", no_files=[out])


def test_a_local_symbol_may_hold_64_bits(tmp_path):
    """``.L`` symbols stay out of the object, so they may hold what expressions compute."""
    src = tmp_path / "s.s"
    src.write_text(".equ .Lbig, 0x100000000\n.equ small, .Lbig - 0xFFFFFFFF\n.text\nhalt\n")
    r = imcc("asm", src, "-o", tmp_path / "s.imo")
    assert r.exit_code == 0, r.output
    r = imcc("disasm", tmp_path / "s.imo")
    assert ".equ small, 1" in r.output and "Lbig" not in r.output


def test_forward_equ_chain_of_500(tmp_path):
    """Each symbol defined by the next: evaluated innermost first, without recursion."""
    lines = [f".equ s{i}, s{i + 1} + 1" for i in range(500)] + [".equ s500, 1"]
    src = tmp_path / "chain.s"
    src.write_text("\n".join(lines) + "\n.text\nli x1, s0\nhalt\n")
    r = imcc("asm", src, "-o", tmp_path / "chain.imo")
    assert r.exit_code == 0, r.output
    r = imcc("disasm", tmp_path / "chain.imo")
    assert ".equ s0, 501" in r.output


def test_a_long_cycle_of_equ_is_one_error(tmp_path):
    lines = [f".equ s{i}, s{(i + 1) % 500} + 1" for i in range(500)]
    src = tmp_path / "cycle.s"
    src.write_text("\n".join(lines) + "\n.text\nhalt\n")
    r = imcc("asm", src, "-o", tmp_path / "cycle.imo")
    assert_user_error(r, "symbol 's0' is defined in terms of itself", "1 error generated")


@pytest.mark.parametrize("directive", [".incbin", ".npy", ".map"])
def test_an_included_symlink_loop(tmp_path, directive):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    section = ".weights\n" if directive != ".map" else ""
    src = tmp_path / "s.s"
    src.write_text(f'{section}{directive} "loop"\n.text\nhalt\n')
    out = tmp_path / "s.imo"
    assert_user_error(imcc("asm", src, "-o", out), "cannot read 'loop': a symlink loop",
                      no_files=[out])


def test_deeply_nested_map_json(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    src = tmp_path / "s.s"
    src.write_text('.map "deep.json"\n.text\nhalt\n')
    out = tmp_path / "s.imo"
    assert_user_error(imcc("asm", src, "-o", out), "'deep.json' is not valid JSON: nested "
                      "more than 64 levels deep", no_files=[out])


# ---- object files ----------------------------------------------------------------------------

def _object_with(tmp_path, kind: int, payload: bytes | None = None, edit=None):
    """A well-formed object (checksum recomputed) whose section ``kind`` (4 symbols, 5 meta,
    6 map) is ``payload`` or ``edit(parsed JSON)``."""
    from isa.assembler import assemble
    from isa.objfile import to_bytes
    from tests.fuzz.mutators import _rebuild, _sections

    obj = assemble('.text\nstart: halt\n.output "y", 0, [1]\n').obj
    secs = _sections(to_bytes(obj))
    if kind not in {k for k, _ in secs}:
        secs.append((kind, b"{}"))
    if edit is not None:
        payload = json.dumps(edit(json.loads(dict(secs)[kind]))).encode()
    p = tmp_path / "o.imo"
    p.write_bytes(_rebuild([(k, payload if k == kind else v) for k, v in secs]))
    return p


def _rename_output(meta):
    meta["outputs"][0]["name"] = "\ud800"
    return meta


OBJECTS = {
    "deep-meta": (5, b"[" * 100_000 + b"]" * 100_000, None, "nested more than 64 levels deep"),
    "deep-symbols": (4, b"[" * 100_000, None, "nested more than 64 levels deep"),
    "deep-map": (6, b'{"a":' * 100_000, None, "nested more than 64 levels deep"),
    "surrogate-symbol": (4, None, lambda s: [["\ud800", "text", 0]],
                         "symbol 0 name = '\\ud800' is not valid text"),
    "surrogate-output": (5, None, _rename_output,
                         "outputs[0].name = '\\ud800' is not valid text"),
}


@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("command", ["disasm", "run"])
def test_object_reader_diagnoses_what_once_crashed_it(tmp_path, name, command):
    kind, payload, edit, needle = OBJECTS[name]
    p = _object_with(tmp_path, kind, payload, edit)
    assert_user_error(imcc(command, p), "o.imo: corrupt object file", needle)


# ---- ONNX ------------------------------------------------------------------------------------

def _matmul_model(tmp_path, weight, *, as_constant=False):
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    inits = [weight]
    if as_constant:
        nodes.insert(0, helper.make_node("Constant", [], ["w"], value=weight))
        inits = []
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


def _external(name, location, length, dims=(3, 2)):
    from onnx import TensorProto

    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


@pytest.mark.parametrize("command", ["stats", "compile"])
def test_external_data_that_is_a_symlink_loop(tmp_path, command):
    """``Path.resolve()`` raised RuntimeError on a symlink that points to itself."""
    (tmp_path / "w.bin").symlink_to(tmp_path / "w.bin")
    p = _matmul_model(tmp_path, _external("w", "w.bin", 24))
    out = tmp_path / "m.imo"
    r = imcc(command, p, *(["-o", out] if command == "compile" else []))
    assert_user_error(r, "tensor 'w': external data path 'w.bin' is a symlink loop",
                      no_files=[out])


@pytest.mark.parametrize("length", [13, 14, 15, 16])
def test_a_constants_external_data_of_the_wrong_length(tmp_path, length):
    """Not a whole number of float32 elements (13..15 bytes), or more than the shape needs
    (16): numpy's ValueError escaped from the Constant's attribute."""
    (tmp_path / "w.bin").write_bytes(bytes(32))
    p = _matmul_model(tmp_path, _external("w", "w.bin", length, dims=(3,)), as_constant=True)
    out = tmp_path / "m.imo"
    r = imcc("compile", p, "-o", out)
    assert_user_error(r, f"tensor 'w': its external data 'w.bin' holds {length} bytes, and its "
                      "shape [3] needs 12", no_files=[out])


# ---- data files ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(0, 10**30, 64), (0, 2**63)])
def test_an_npy_header_dimension_numpy_cannot_count(tmp_path, shape):
    """A dimension beside a 0 passed the element check (0 elements) and overflowed numpy's
    64-bit size computation: OverflowError (found by the npy fuzzer, inside an .npz)."""
    import io
    import zipfile

    import numpy as np

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                  "shape": shape})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("input.npy", member.getvalue() + bytes(16))
    data = tmp_path / "x.npz"
    data.write_bytes(archive.getvalue())
    src = tmp_path / "p.s"
    src.write_text('.text\nhalt\n.input "input", 0, [1, 64]\n')
    r = imcc("run", src, "--input", data)
    assert_user_error(r, "array 'input.npy' has a dimension of", "more than the limit of "
                      "268435456 elements")
