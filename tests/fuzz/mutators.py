"""Generators of hostile inputs, one per category, each a function of a ``random.Random``.

Shared by the bounded fuzz tests (``test_fuzz.py``, a fixed number of seeds in CI) and by the
long campaigns of ``python -m tests.fuzz.campaign`` (any number of seeds; findings are saved
into ``corpus/`` and replayed by ``test_corpus.py`` from then on).

Categories and what a case is:

* ``asm``: an assembly source, either generated from the ISA table (instructions with random
  operands, directives, labels, expressions) or a sample program with characters changed;
* ``obj``: an object file with bits flipped, bytes cut, inserted or spliced;
* ``onnx``: a sample model, or a small network of onnxruntime's quantized contrib operators
  (:func:`qoperator_model`) or of its optimizer's fusions (:func:`fused_model`), with a
  structural change (nodes removed, duplicated or reordered,
  shapes changed, attributes and initializers corrupted, names redirected, opset changed);
* ``npy``: a data file (``--input``): a ``.npy`` array of an odd dtype, shape or order, its
  header or data damaged, or a ``.npz`` archive of such members (odd member names, compressed
  members whose header claims gigabytes, members that are not arrays);
* ``config``: a chip file (JSON) with fields set to wrong types, out-of-range or odd values;
* ``precision``: a precision file (TOML) likewise;
* ``pack``: a packing problem: JSON (``{"bin", "items"}`` or a benchmark collection) with odd
  values, or 2DPackLib / 2BP text with odd numbers.

Odd strings include paths that leave the input's folder (``../secret.bin``, ``/etc/passwd``):
the harness checks that nothing outside the case's folder is ever opened.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import onnx

from isa.spec import CSRS, INSTRUCTIONS, PSEUDOS, REGISTER_NAMES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
ASM_SAMPLES = sorted((SAMPLES / "asm").glob("*.s"))
MODEL_SAMPLES = [SAMPLES / "models" / n for n in
                 ("lenet.onnx", "mlp.onnx", "tiny_gpt2.onnx", "resnet_basic_block.onnx",
                  "depthwise_separable.onnx", "encoder_layer.onnx")] + [
    SAMPLES / "digits" / "cnn.onnx"]
CATEGORIES = ("asm", "obj", "onnx", "npy", "config", "precision", "pack")

# ---- values that break things ----------------------------------------------------------------

ODD_INTS = [0, 1, -1, 2, 3, 7, 255, 256, 4095, 4096, 2**15, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
            -2**31, 2**63 - 1, -2**63, 10**30]
ODD_FLOATS = [0.0, -0.0, 0.5, -1.5, 1e-45, 1e38, 1e40, -1e40, math.inf, -math.inf, math.nan]
ODD_STRINGS = ["", "x", "..", "../../etc/passwd", "/etc/passwd", "a\nb", "\x00", "é", "\u2028",
               "%hi(x)", "\"", "'", "\\", "{", "[", "NaN", "1e999", "0x", "ideal", " " * 3,
               "../secret.bin", "../secret.npy", "\x1b[2J\nimcc: error: forged", "9" * 5000]


def odd_value(rng: random.Random):
    """A value of a random kind: odd int, odd float, odd string, bool, list, table."""
    r = rng.random()
    if r < 0.35:
        return rng.choice(ODD_INTS)
    if r < 0.55:
        return rng.choice(ODD_FLOATS)
    if r < 0.75:
        return rng.choice(ODD_STRINGS)
    if r < 0.85:
        return rng.choice([True, False])
    if r < 0.93:
        return [rng.choice(ODD_INTS) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["a", "bits", "name"]): rng.choice(ODD_INTS)}


# ---- assembly ---------------------------------------------------------------------------------

_REGS = sorted(REGISTER_NAMES)
_CSR_NAMES = [c.name for c in CSRS]
_MNEMONICS = [i.mnemonic for i in INSTRUCTIONS] + [p.mnemonic for p in PSEUDOS]
_DIRECTIVES = [".text", ".data", ".weights", ".equ", ".set", ".word", ".float", ".zero", ".u8",
               ".u16", ".f32", ".align", ".npy", ".incbin", ".entry", ".rerun", ".input",
               ".output", ".chip", ".map", ".bogus"]
_JUNK = ["(", ")", "[", "]", ",", ":", "%hi(", "%lo(", "%f32(", "+", "-", "*", "/", "<<", ">>",
         "&", "|", "^", "~", "\"", "#", ".", "\t", "\r", "\x0b", "\u0085", "1_", "0b2", "0o9",
         "0x", "010", "1e", "_", "x32", "f0", "%"]


def _expr(rng: random.Random, labels: list[str]) -> str:
    r = rng.random()
    if r < 0.45:
        v = rng.choice(ODD_INTS)
        return rng.choice([str(v), hex(v) if v >= 0 else str(v)])
    if r < 0.6 and labels:
        return rng.choice(labels)
    if r < 0.7:
        return rng.choice(_CSR_NAMES)
    if r < 0.8:
        return f"%{rng.choice(['hi', 'lo'])}({_expr(rng, labels)})"
    if r < 0.9:
        return f"{_expr(rng, labels)} {rng.choice(['+', '-', '*', '/', '<<', '>>', '&', '|'])} " \
               f"{_expr(rng, labels)}"
    return rng.choice(_JUNK)


def _operand(rng: random.Random, labels: list[str]) -> str:
    r = rng.random()
    if r < 0.45:
        return rng.choice(_REGS)
    if r < 0.55:
        return f"{_expr(rng, labels)}({rng.choice(_REGS)})"
    if r < 0.6:
        return f'"{rng.choice(ODD_STRINGS)}"'
    if r < 0.65:
        return "[" + ", ".join(_expr(rng, labels) for _ in range(rng.randint(0, 3))) + "]"
    return _expr(rng, labels)


def asm_program(rng: random.Random) -> str:
    """A source of 1 to 30 statements drawn from the ISA table, directives and junk."""
    labels = [f"L{i}" for i in range(rng.randint(0, 4))]
    lines = []
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        label = f"{rng.choice(labels)}: " if labels and rng.random() < 0.2 else ""
        if r < 0.6:
            mn = rng.choice(_MNEMONICS)
            ops = ", ".join(_operand(rng, labels) for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 4])))
            lines.append(f"{label}{mn} {ops}")
        elif r < 0.85:
            d = rng.choice(_DIRECTIVES)
            ops = ", ".join(_operand(rng, labels) for _ in range(rng.randint(0, 3)))
            lines.append(f"{label}{d} {ops}")
        elif r < 0.95:
            lines.append(" ".join(rng.choice(_JUNK + _MNEMONICS[:5]) for _ in
                                  range(rng.randint(1, 5))))
        else:
            lines.append(f"{label}# comment {rng.choice(ODD_STRINGS)}")
    for lab in labels:  # usually define the labels, so deeper passes run
        if rng.random() < 0.8:
            lines.append(f"{lab}: halt")
    return "\n".join(lines) + rng.choice(["\n", "", "\r\n"])


def mutate_text(text: str, rng: random.Random) -> str:
    """A source with 1 to 8 characters, tokens or lines changed."""
    s = list(text)
    for _ in range(rng.randint(1, 8)):
        if not s:
            s = list(rng.choice(_JUNK))
        k = rng.randrange(len(s))
        r = rng.random()
        if r < 0.3:
            s[k] = rng.choice(_JUNK + list("0123456789abcxz,()\n "))
        elif r < 0.5:
            del s[k: k + rng.randint(1, 12)]
        elif r < 0.7:
            s[k:k] = list(rng.choice(_JUNK + [str(rng.choice(ODD_INTS))] + _MNEMONICS))
        else:
            lines = "".join(s).split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if rng.random() < 0.5:
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            s = list("\n".join(lines))
    return "".join(s)


def asm_case(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return asm_program(rng)
    return mutate_text(rng.choice(ASM_SAMPLES).read_text(), rng)


# ---- bytes (objects) ---------------------------------------------------------------------------

def mutate_bytes(blob: bytes, rng: random.Random) -> bytes:
    """Bits flipped, bytes overwritten, cut, inserted or a region copied elsewhere."""
    b = bytearray(blob)
    for _ in range(rng.randint(1, 6)):
        if not b:
            b = bytearray(rng.randbytes(8))
        k = rng.randrange(len(b))
        r = rng.random()
        if r < 0.35:
            b[k] ^= 1 << rng.randrange(8)
        elif r < 0.55:
            b[k] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        elif r < 0.7:
            del b[k: k + rng.randint(1, 64)]
        elif r < 0.8:
            b[k:k] = rng.randbytes(rng.randint(1, 16))
        elif r < 0.9:
            j = rng.randrange(len(b))
            n = rng.randint(1, 32)
            b[k:k + n] = b[j:j + n]
        else:
            b = b[:k]  # truncated
    return bytes(b)


def _sections(blob: bytes) -> list[tuple[int, bytes]] | None:
    """(kind, payload) of each section of a well-formed object, or None."""
    from isa.objfile import _ENTRY, _HEADER  # noqa: PLC2701 (the test reads the layout)

    try:
        _, _, _, n = _HEADER.unpack_from(blob, 0)
        out = []
        for i in range(n):
            kind, _, off, size = _ENTRY.unpack_from(blob, _HEADER.size + i * _ENTRY.size)
            out.append((kind, blob[off:off + size]))
        return out
    except struct.error:
        return None


def _rebuild(sections: list[tuple[int, bytes]]) -> bytes:
    """An object with these sections and a valid table and checksum."""
    from isa.objfile import _ENTRY, _HEADER, FORMAT_VERSION, MAGIC  # noqa: PLC2701

    head = _HEADER.pack(MAGIC, FORMAT_VERSION, 0, len(sections))
    offset = len(head) + _ENTRY.size * len(sections)
    table = b""
    for kind, payload in sections:
        table += _ENTRY.pack(kind, 0, offset, len(payload))
        offset += len(payload)
    body = head + table + b"".join(p for _, p in sections)
    return body + hashlib.sha256(body).digest()


def _mutate_json(payload: bytes, rng: random.Random) -> bytes:
    try:
        doc = json.loads(payload)
    except ValueError:
        return payload
    for _ in range(rng.randint(1, 3)):
        target = doc
        # walk down a random path of dicts and lists, then replace one entry
        for _ in range(rng.randint(0, 3)):
            if isinstance(target, dict) and target:
                nxt = target[rng.choice(list(target))]
            elif isinstance(target, list) and target:
                nxt = rng.choice(target)
            else:
                break
            if not isinstance(nxt, dict | list):
                break
            target = nxt
        if isinstance(target, dict) and target:
            key = rng.choice(list(target))
            if rng.random() < 0.15:
                del target[key]
            else:
                target[key] = odd_value(rng)
        elif isinstance(target, list) and target:
            target[rng.randrange(len(target))] = odd_value(rng)
    return json.dumps(doc, allow_nan=True).encode()


def mutate_object(blob: bytes, rng: random.Random) -> bytes:
    """Raw byte damage (caught by the checksum), damage under a recomputed checksum, or a
    changed section (code words, data, JSON symbols/meta/map) in a well-formed file."""
    r = rng.random()
    if r < 0.25:
        return mutate_bytes(blob, rng)
    if r < 0.5:
        return (lambda b: b + hashlib.sha256(b).digest())(mutate_bytes(blob[:-32], rng))
    sections = _sections(blob)
    if not sections:
        return mutate_bytes(blob, rng)
    k = rng.randrange(len(sections))
    kind, payload = sections[k]
    if kind in (4, 5, 6):  # symbols, meta, map: JSON
        payload = _mutate_json(payload, rng)
    elif kind == 1 and payload and rng.random() < 0.6:  # text: random or bit-flipped words
        words = bytearray(payload)
        for _ in range(rng.randint(1, 4)):
            i = 4 * rng.randrange(len(words) // 4)
            if rng.random() < 0.5:
                words[i:i + 4] = rng.randbytes(4)
            else:
                words[i + rng.randrange(4)] ^= 1 << rng.randrange(8)
        payload = bytes(words)
    elif rng.random() < 0.1:
        sections.insert(rng.randrange(len(sections) + 1), (rng.randrange(9), rng.randbytes(8)))
    else:
        payload = mutate_bytes(payload, rng) if payload else rng.randbytes(4)
    sections[k] = (kind, payload)
    if rng.random() < 0.05:
        del sections[rng.randrange(len(sections))]
    return _rebuild(sections)


# ---- ONNX models ------------------------------------------------------------------------------

_OPS = ["Relu", "Add", "MatMul", "Conv", "Gemm", "Reshape", "Transpose", "Softmax", "Concat",
        "Gather", "Slice", "MaxPool", "Identity", "BatchNormalization", "Unknown", "Loop", "If",
        "Where", "Expand", "Range", "TopK"]


def _dims(rng: random.Random) -> list:
    return [rng.choice([0, 1, -1, 2, 3, 7, 64, 2**31, 10**6]) for _ in range(rng.randint(0, 5))]


def _corrupt_attribute(a: onnx.AttributeProto, rng: random.Random) -> None:
    r = rng.random()
    if r < 0.15:
        a.type = rng.choice(list(onnx.AttributeProto.AttributeType.values()))
    elif a.type == onnx.AttributeProto.INT or r < 0.3:
        a.i = rng.choice(ODD_INTS[:-1])
    elif a.type == onnx.AttributeProto.INTS:
        del a.ints[:]
        a.ints.extend(rng.choice(ODD_INTS[:-1]) for _ in range(rng.randint(0, 6)))
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = rng.choice(ODD_FLOATS)
    elif a.type == onnx.AttributeProto.STRING:
        a.s = rng.choice(ODD_STRINGS).encode() if rng.random() < 0.8 else rng.randbytes(4)
    elif a.type == onnx.AttributeProto.TENSOR:
        a.t.dims[:] = _dims(rng)
    else:
        a.name = rng.choice(["axis", "perm", "kernel_shape", "bogus", ""])


def _corrupt_tensor(t: onnx.TensorProto, rng: random.Random) -> None:
    r = rng.random()
    if r < 0.3:
        t.dims[:] = _dims(rng)
    elif r < 0.5:
        t.data_type = rng.randrange(0, 25)
    elif r < 0.7 and t.raw_data:
        t.raw_data = t.raw_data[: rng.randrange(len(t.raw_data) + 1)]
    elif r < 0.85 and t.raw_data and t.data_type == onnx.TensorProto.FLOAT:
        a = np.frombuffer(t.raw_data, np.float32).copy()
        with np.errstate(over="ignore"):
            a[rng.randrange(a.size)] = rng.choice(ODD_FLOATS)
        t.raw_data = a.tobytes()
    else:
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        e = t.external_data.add()
        e.key, e.value = "location", rng.choice(ODD_STRINGS + ["w.bin"])


def _value_infos(g: onnx.GraphProto) -> list:
    return list(g.input) + list(g.output) + list(g.value_info)


def mutate_model(model: onnx.ModelProto, rng: random.Random) -> bytes:
    """One to three structural changes (see the module doc), serialized."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for _ in range(rng.randint(1, 3)):
        r = rng.random()
        nodes = list(g.node)
        if r < 0.12 and nodes:
            del g.node[rng.randrange(len(nodes))]
        elif r < 0.2 and nodes:
            g.node.insert(rng.randrange(len(nodes) + 1), rng.choice(nodes))
        elif r < 0.28 and len(nodes) > 1:
            i, j = rng.randrange(len(nodes)), rng.randrange(len(nodes))
            a, b = onnx.NodeProto(), onnx.NodeProto()
            a.CopyFrom(g.node[i])
            b.CopyFrom(g.node[j])
            g.node[i].CopyFrom(b)
            g.node[j].CopyFrom(a)
        elif r < 0.42:
            vis = _value_infos(g)
            if vis:
                vi = rng.choice(vis)
                shape = vi.type.tensor_type.shape
                if shape.dim and rng.random() < 0.7:
                    d = rng.choice(shape.dim)
                    if rng.random() < 0.8:
                        d.dim_value = rng.choice([0, 1, 2, 3, 5, 64, 10**5, 2**31])
                    else:
                        d.dim_param = rng.choice(["N", "", "é"])
                elif rng.random() < 0.5:
                    vi.type.tensor_type.ClearField("shape")
                else:
                    vi.type.tensor_type.elem_type = rng.randrange(0, 25)
        elif r < 0.6:
            attrs = [a for n in g.node for a in n.attribute]
            if attrs:
                a = rng.choice(attrs)
                if rng.random() < 0.15:
                    for n in g.node:
                        if a in n.attribute:
                            n.attribute.remove(a)
                            break
                else:
                    _corrupt_attribute(a, rng)
        elif r < 0.72 and g.initializer:
            _corrupt_tensor(rng.choice(g.initializer), rng)
        elif r < 0.82 and nodes:
            n = rng.choice(g.node)
            names = [i for x in g.node for i in x.input] + [o for x in g.node for o in x.output]
            if n.input and rng.random() < 0.6:
                k = rng.randrange(len(n.input))
                n.input[k] = rng.choice(names + ["missing", ""])
            elif n.input and rng.random() < 0.5:
                del n.input[rng.randrange(len(n.input))]
            else:
                n.input.append(rng.choice(names + ["missing"]))
        elif r < 0.9 and nodes:
            rng.choice(g.node).op_type = rng.choice(_OPS)
        elif r < 0.95:
            op = m.opset_import[0] if m.opset_import else m.opset_import.add()
            op.version = rng.choice([1, 6, 9, 12, 13, 18, 21, 22, 25, 99, -1])
        else:
            for o in g.output:
                if rng.random() < 0.5:
                    o.name = rng.choice([n for x in g.node for n in x.output] + ["nowhere"])
    return m.SerializeToString()


def qoperator_model() -> onnx.ModelProto:
    """A small network in onnxruntime's QOperator form: QuantizeLinear, QLinearConv, then the
    ``com.microsoft`` QLinearAdd, QLinearSigmoid, QLinearLeakyRelu, QLinearGlobalAveragePool,
    QGemm, QLinearSoftmax, QLinearConcat and DequantizeLinear."""
    from onnx import helper, numpy_helper

    r = np.random.default_rng(0)
    u8, i8, f32 = np.uint8, np.int8, np.float32
    consts = {"s": f32(0.05), "z": u8(128), "w": r.integers(-60, 60, (4, 2, 3, 3)).astype(i8),
              "ws": np.full(4, 0.01, f32), "wz": np.zeros(4, i8), "cs": f32(0.04), "cz": u8(100),
              "g": r.integers(-60, 60, (5, 4)).astype(i8), "gs": np.full(5, 0.02, f32),
              "gz": np.zeros(5, i8), "b": r.integers(-500, 500, 5).astype(np.int32),
              "ys": f32(1 / 256), "yz": u8(0)}
    ms = "com.microsoft"
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("QLinearConv", ["q", "s", "z", "w", "ws", "wz", "cs", "cz"], ["c"],
                              pads=[1, 1, 1, 1]),
             helper.make_node("QLinearAdd", ["c", "cs", "cz", "c", "cs", "cz", "cs", "cz"], ["a"],
                              domain=ms),
             helper.make_node("QLinearSigmoid", ["a", "cs", "cz", "ys", "yz"], ["sg"], domain=ms),
             helper.make_node("QLinearLeakyRelu", ["sg", "ys", "yz", "cs", "cz"], ["lr"],
                              domain=ms, alpha=0.1),
             helper.make_node("QLinearGlobalAveragePool", ["lr", "cs", "cz", "cs", "cz"], ["gp"],
                              domain=ms),
             helper.make_node("Flatten", ["gp"], ["f"]),
             helper.make_node("QGemm", ["f", "cs", "cz", "g", "gs", "gz", "b", "cs", "cz"],
                              ["gm"], domain=ms, transB=1),
             helper.make_node("QLinearSoftmax", ["gm", "cs", "cz", "ys", "yz"], ["sm"],
                              domain=ms, axis=-1, opset=13),
             helper.make_node("QLinearConcat", ["ys", "yz", "sm", "ys", "yz", "gm", "cs", "cz"],
                              ["cat"], domain=ms, axis=1),
             helper.make_node("DequantizeLinear", ["cat", "ys", "yz"], ["y"], domain=ms)]
    g = helper.make_graph(
        nodes, "qoperator",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid(ms, 1)])
    m.ir_version = 8
    return m


def fused_model() -> onnx.ModelProto:
    """A small network of the fusions onnxruntime's optimizer saves: FusedConv, FusedMatMul,
    BiasGelu, SkipLayerNormalization (every output), SimplifiedLayerNormalization; and of its
    block quantizer's MatMulNBits and GatherBlockQuantized."""
    from onnx import helper, numpy_helper

    r = np.random.default_rng(1)
    f32 = np.float32
    consts = {"w": r.standard_normal((4, 2, 3, 3)).astype(f32), "shape": np.array([4, 36]),
              "m": r.standard_normal((36, 8)).astype(f32), "b": r.standard_normal(8).astype(f32),
              "g": np.ones(8, f32), "nb": r.integers(0, 256, (8, 1, 8)).astype(np.uint8),
              "ns": np.full((8, 1), 0.05, f32), "nz": np.full((8, 1), 0x88, np.uint8),
              "ids": np.array([3, 0]), "ts": np.full((10, 1), 0.1, f32)}
    ms = "com.microsoft"
    nodes = [helper.make_node("FusedConv", ["x", "w"], ["c"], domain=ms, pads=[1, 1, 1, 1],
                              activation="LeakyRelu", activation_params=[0.1]),
             helper.make_node("Reshape", ["c", "shape"], ["f"]),
             helper.make_node("FusedMatMul", ["f", "m"], ["mm"], domain=ms, alpha=0.5),
             helper.make_node("BiasGelu", ["mm", "b"], ["ge"], domain=ms),
             helper.make_node("SkipLayerNormalization", ["ge", "mm", "g", "b"],
                              ["ln", "mean", "inv", "sum"], domain=ms),
             helper.make_node("SimplifiedLayerNormalization", ["ln", "g"], ["y"]),
             helper.make_node("MatMulNBits", ["y", "nb", "ns", "nz"], ["q4"], domain=ms, K=8,
                              N=8, bits=4, block_size=16),
             helper.make_node("GatherBlockQuantized", ["table", "ids", "ts"], ["rows"],
                              domain=ms, block_size=16, gather_axis=0, quantize_axis=1)]
    g = helper.make_graph(
        nodes, "fused", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("q4", onnx.TensorProto.FLOAT, [4, 8]),
         helper.make_tensor_value_info("sum", onnx.TensorProto.FLOAT, [4, 8]),
         helper.make_tensor_value_info("rows", onnx.TensorProto.FLOAT, [2, 16])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
        + [helper.make_tensor("table", onnx.TensorProto.UINT4, [10, 16],
                              r.integers(0, 16, 160).tolist())])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21),
                                            helper.make_opsetid(ms, 1)])
    m.ir_version = 10
    return m


def onnx_case(rng: random.Random) -> bytes:
    k = rng.randrange(len(MODEL_SAMPLES) + 2)
    built = {len(MODEL_SAMPLES): qoperator_model, len(MODEL_SAMPLES) + 1: fused_model}
    return mutate_model(built[k]() if k in built else onnx.load(MODEL_SAMPLES[k]), rng)


# ---- chip and precision files ------------------------------------------------------------------

CHIP_BASE = {"name": "fuzz", "tiles": 8, "arrays_per_tile": 4, "rows": 64, "cols": 64,
             "global_mib": 16, "buffer_kib": 64, "cell_bits": 4, "weight_bits": 8,
             "input_bits": 8, "dac_bits": 1, "adc_bits": 8, "signed": "differential",
             "nonideal": {"seed": 0, "program_noise": 0.02, "read_noise": 0.005,
                          "stuck_on": 0.001, "stuck_off": 0.005},
             "cost": {"clock_ghz": 1.2, "adc_pj": 1.56, "adc_ref_bits": 8, "adc_ns": 0.78,
                      "adcs_per_array": 1, "dac_pj": 0.39, "cell_pj": 0.0018}}


def config_case(rng: random.Random) -> str:
    """A chip file (JSON text): the base chip with 1 to 4 fields changed, added or removed,
    at the top level or in its ``nonideal`` and ``cost`` tables."""
    doc = json.loads(json.dumps(CHIP_BASE))
    if rng.random() < 0.5:  # an ideal chip, on which the float programs run
        doc.update(cell_bits=11, weight_bits=0, input_bits=0, adc_bits=0)
    for _ in range(rng.randint(1, 4)):
        table = doc if rng.random() < 0.6 else doc.get(rng.choice(["nonideal", "cost"]))
        if not isinstance(table, dict):
            table = doc
        key = rng.choice(list(table) + ["bogus", "description", "drift_nu", "t_seconds"])
        r = rng.random()
        if r < 0.15:
            table.pop(key, None)
        elif r < 0.5:  # a plausible value, so that later checks and the machine are reached
            table[key] = rng.choice([0, 1, 2, 4, 8, 16, 0.01, 0.3, 1.0, 1e-6])
        else:
            table[key] = odd_value(rng)
    return json.dumps(doc)


_PRECISION_KEYS = ["weight_bits", "cell_bits", "input_bits", "dac_bits", "adc_bits", "signed",
                   "slices", "weight_scale", "weight_percentile", "bogus"]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else
                                             "-inf" if v == -math.inf else repr(v))
    if isinstance(v, int):
        return str(v) if -2**63 <= v < 2**63 else str(2**63 - 1)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"


def precision_case(rng: random.Random) -> str:
    """A precision file (TOML text) with odd values, globs and tables."""
    lines = []
    if rng.random() < 0.8:
        lines.append("[default]")
        for _ in range(rng.randint(0, 4)):
            lines.append(f"{rng.choice(_PRECISION_KEYS)} = {_toml_value(odd_value(rng))}")
    for _ in range(rng.randint(0, 3)):
        lines.append("[[layer]]")
        if rng.random() < 0.85:
            lines.append(f"match = {json.dumps(rng.choice(['*', '*conv*', '', '[', '/fc*']))}")
        for _ in range(rng.randint(0, 3)):
            lines.append(f"{rng.choice(_PRECISION_KEYS + ['match'])} = "
                         f"{_toml_value(odd_value(rng))}")
    if rng.random() < 0.1:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["[default", "= 3", "x = ", "[[]]"]))
    return "\n".join(lines) + "\n"




# ---- data files (.npy / .npz) -----------------------------------------------------------------

_DTYPES = ["<f4", "<f4", "<f8", "<f2", ">f4", "<i8", "<i4", "|i1", "|u1", "|b1", "<c8", "<U3",
           "|S2", "<M8[s]", "<m8[s]", "V4"]
_SHAPES = [(1, 64), (1, 64), (3, 64), (0, 64), (64,), (1, 63), (2, 1, 64), (), (1, 0), (5, 64)]


def _npy_bytes(arr: np.ndarray, fortran: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asfortranarray(arr) if fortran else arr,
                              allow_pickle=False)
    return buf.getvalue()


def _odd_array(rng: random.Random) -> np.ndarray:
    dtype = np.dtype(rng.choice(_DTYPES))
    shape = rng.choice(_SHAPES)
    n = math.prod(shape)
    raw = np.frombuffer(rng.randbytes(n * dtype.itemsize), np.uint8)
    arr = raw.view(dtype).reshape(shape) if dtype.itemsize else np.zeros(shape, dtype)
    if dtype.kind == "f" and n and rng.random() < 0.5:  # plausible values mostly
        arr = np.asarray(rng.choice([np.zeros, np.ones])(shape), dtype)
        if rng.random() < 0.3:
            with np.errstate(over="ignore"):
                arr.reshape(-1)[rng.randrange(n)] = rng.choice(ODD_FLOATS)
    return arr


def _damage_header(blob: bytes, rng: random.Random) -> bytes:
    """Change the dict literal of a .npy header (shape, descr, fortran_order) in place."""
    end = blob.find(b"}")
    if end < 0:
        return mutate_bytes(blob, rng)
    head = blob[:end + 1].decode("latin-1")
    r = rng.random()
    if r < 0.4:
        dims = ", ".join(str(rng.choice([0, 1, 64, 2**31, 2**40, -1, 10**30]))
                         for _ in range(rng.randint(0, 4)))
        new = head.split("'shape':")[0] + f"'shape': ({dims},), }}"
    elif r < 0.6:
        descr = rng.choice(["'|O'", "'<f4'", "[]", "1"])
        new = head.replace("'descr':", f"'descr': {descr}, 'x':", 1)
    elif r < 0.8:
        new = head.replace("False", "True") if "False" in head else head.replace("True", "False")
    else:
        new = head[: rng.randrange(len(head))]
    payload = blob[end + 1:]
    return new.encode("latin-1", "replace") + payload


def npy_case(rng: random.Random) -> bytes:
    """A .npy or .npz payload (see the module doc)."""
    r = rng.random()
    if r < 0.55:
        blob = _npy_bytes(_odd_array(rng), fortran=rng.random() < 0.2)
        k = rng.random()
        if k < 0.3:
            return _damage_header(blob, rng)
        if k < 0.45:
            return mutate_bytes(blob, rng)
        return blob
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as z:
        warnings.simplefilter("ignore")  # a duplicate member name is one of the cases
        for _ in range(rng.randint(0, 3)):
            name = rng.choice(["input", "input", "x", "y", "../input", "a/b", "_", "input.npy",
                               "é", "input"]) + rng.choice([".npy", ".npy", "", ".txt"])
            comp = zipfile.ZIP_DEFLATED if rng.random() < 0.4 else zipfile.ZIP_STORED
            k = rng.random()
            if k < 0.15:  # a bomb: a small compressed member whose header claims gigabytes
                head = _npy_bytes(np.zeros(4, np.float32))
                end = head.find(b"}")
                body = head[:end + 1].replace(b"(4,)", b"(1, 1073741824)") + bytes(2**16)
                z.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED)
            elif k < 0.3:
                z.writestr(name, rng.randbytes(rng.randint(0, 64)), compress_type=comp)
            else:
                blob = _npy_bytes(_odd_array(rng))
                if rng.random() < 0.2:
                    blob = _damage_header(blob, rng)
                z.writestr(name, blob, compress_type=comp)
    blob = buf.getvalue()
    return mutate_bytes(blob, rng) if rng.random() < 0.15 else blob


# ---- packing problems ---------------------------------------------------------------------------

def _pack_json(rng: random.Random) -> str:
    W, H = rng.choice([(64, 64), (256, 256), (10, 10), (1, 1)])
    items = []
    for i in range(rng.randint(0, 12)):
        w, h = rng.randint(1, W), rng.randint(1, H)
        if rng.random() < 0.3:
            items.append({"id": rng.choice([i, f"t{i}", i]), "w": w, "h": h,
                          "group": rng.choice([None, "a", "b"])})
        else:
            items.append([w, h])
    doc: object = {"bin": [W, H], "items": items}
    if rng.random() < 0.2:
        doc = {"instances": [{"name": rng.choice(["a", "b", "a"]), "bin": {"W": W, "H": H},
                              "items": [it if isinstance(it, list) else [it["w"], it["h"]]
                                        for it in items]} for _ in range(rng.randint(0, 3))]}
    text = json.dumps(doc)
    return _mutate_json(text.encode(), rng).decode() if rng.random() < 0.7 else text


def _pack_text(rng: random.Random) -> str:
    def num() -> str:
        return str(rng.choice([0, 1, 2, 3, 10, 64, -1, 2**31, 10**12, 2**62] + [5] * 6))

    if rng.random() < 0.5:  # 2DPackLib
        m = rng.randint(0, 4)
        lines = [str(m if rng.random() < 0.8 else num()), f"{num()} {num()}"]
        lines += [" ".join(num() for _ in range(rng.randint(2, 5))) for _ in range(m)]
    else:  # 2BP
        n = rng.randint(0, 4)
        lines = [num(), f"{n} 1 1", f"{num()} {num()}"]
        lines += [f"{num()} {num()}" for _ in range(n)]
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(ODD_STRINGS))
    return "\n".join(lines) + "\n"


def pack_case(rng: random.Random) -> str:
    """A packing problem (see the module doc)."""
    return _pack_json(rng) if rng.random() < 0.7 else _pack_text(rng)


GENERATORS = {"asm": asm_case, "onnx": onnx_case, "npy": npy_case, "config": config_case,
              "precision": precision_case, "pack": pack_case}
