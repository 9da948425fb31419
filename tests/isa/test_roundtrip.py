"""asm -> object -> disasm -> asm gives identical bytes: for every sample, and for generated
programs with labels, branches, data and weights."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isa.assembler import assemble, assemble_file
from isa.disassembler import disassemble
from isa.objfile import from_bytes, to_bytes

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "samples" / "asm").glob("*.s"))


def test_there_are_samples():
    assert len(SAMPLES) >= 3


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_round_trip(path, tmp_path):
    first = to_bytes(assemble_file(path).obj)
    listing = disassemble(from_bytes(first), base_name=str(tmp_path / "re"))
    for name, blob in listing.side_files.items():
        Path(name).write_bytes(blob)
    (tmp_path / "re.s").write_text(listing.text)
    again = to_bytes(assemble_file(tmp_path / "re.s").obj)
    assert again == first
    # Inline form (no side files) too, since the samples' weights are small.
    inline = disassemble(from_bytes(first))
    assert inline.complete
    assert to_bytes(assemble(inline.text, "inline.s").obj) == first


REGS = st.integers(0, 31).map(lambda i: f"x{i}")
ALU = ["add", "sub", "and", "or", "xor", "sll", "srl", "sra", "slt", "mul"]
VEC = ["vadd", "vmul", "vmax", "vcopy", "vrelu", "vexp", "vrsum", "vsoftmax", "mvm", "mvm.acc"]


@st.composite
def programs(draw):
    n = draw(st.integers(1, 40))
    labels = [f"L{i}" for i in range(draw(st.integers(1, 6)))]
    where: dict[int, list[str]] = {}
    for lab in labels:
        where.setdefault(draw(st.integers(0, n)), []).append(lab)
    used = labels
    lines = [".text"]
    for i in range(n + 1):
        lines.extend(f"{lab}:" for lab in where.get(i, []))
        if i == n:
            break
        kind = draw(st.integers(0, 6))
        if kind == 0:
            lines.append(f"  {draw(st.sampled_from(ALU))} {draw(REGS)}, {draw(REGS)}, {draw(REGS)}")
        elif kind == 1:
            lines.append(f"  addi {draw(REGS)}, {draw(REGS)}, {draw(st.integers(-2048, 2047))}")
        elif kind == 2 and used:
            lines.append(f"  bne {draw(REGS)}, {draw(REGS)}, {draw(st.sampled_from(used))}")
        elif kind == 3 and used:
            lines.append(f"  jal {draw(REGS)}, {draw(st.sampled_from(used))}")
        elif kind == 4:
            lines.append(f"  li {draw(REGS)}, {draw(st.integers(-(2**31), 2**32 - 1))}")
        elif kind == 5:
            mn = draw(st.sampled_from(VEC))
            ops = 3 if mn in ("vadd", "vmul", "vmax") else 2
            lines.append(f"  {mn} " + ", ".join(draw(REGS) for _ in range(ops)))
        else:
            lines.append(f"  cfgi xbw, {draw(st.integers(0, 2**17 - 1))}")
    lines.append("  halt")
    nwords = draw(st.integers(0, 5))
    if nwords:
        lines.append(".data")
        lines.append("d0: .float " + ", ".join(str(draw(st.floats(-1e6, 1e6, width=32)))
                                               for _ in range(nwords)))
        lines.append("d1: .word " + ", ".join(str(draw(st.integers(0, 2**32 - 1)))
                                             for _ in range(nwords)))
    nbytes = draw(st.integers(0, 20))
    if nbytes:
        lines.append(".weights")
        lines.append("w0: .u8 " + ", ".join(str(draw(st.integers(0, 255))) for _ in range(nbytes)))
        lines.append("    .align 4")
        lines.append("w1: .f32 1.5, -2.25")
    if draw(st.booleans()):
        lines.append(f".entry {draw(st.sampled_from(labels))}")
    lines.append(".equ K, 12345")
    return "\n".join(lines) + "\n"


@settings(max_examples=150, deadline=None)
@given(programs())
def test_generated_program_round_trip(src):
    first = to_bytes(assemble(src, "gen.s").obj)
    listing = disassemble(from_bytes(first))
    assert listing.complete
    assert to_bytes(assemble(listing.text, "dis.s").obj) == first


def test_same_source_same_bytes():
    src = SAMPLES[0].read_text()
    assert to_bytes(assemble(src, "a.s", SAMPLES[0].parent).obj) == \
        to_bytes(assemble(src, "a.s", SAMPLES[0].parent).obj)


def test_large_sections_go_to_side_files(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    (tmp_path / "d.bin").write_bytes(rng.standard_normal(40000).astype("<f4").tobytes())
    (tmp_path / "w.bin").write_bytes(rng.integers(0, 255, 100000, dtype=np.uint8).tobytes())
    (tmp_path / "m.json").write_text('{"schema": "x", "entries": []}')
    src = (".text\n halt\n.data\nd0: .incbin \"d.bin\"\nd1: .word 7\n"
           ".weights\nw0: .incbin \"w.bin\"\n.align 4\nw1: .u8 1\n.map \"m.json\"\n")
    (tmp_path / "p.s").write_text(src)
    first = to_bytes(assemble_file(tmp_path / "p.s").obj)
    obj = from_bytes(first)
    assert not disassemble(obj).complete
    out = tmp_path / "out"
    out.mkdir()
    listing = disassemble(obj, base_name=str(out / "re"))
    assert listing.complete and len(listing.side_files) >= 3
    for name, blob in listing.side_files.items():
        Path(name).write_bytes(blob)
    (out / "re.s").write_text(listing.text)
    assert to_bytes(assemble_file(out / "re.s").obj) == first
