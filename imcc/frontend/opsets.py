"""The default-domain opsets imcc reads, and what each operator's versions after opset 21 mean.

imcc's passes and lowerings know each operator as it is at opset 21 (``upgrade-opset`` brings
the forms of opsets 13 to 20 there). A model of an older opset (the model zoo's 7 to 12) is
converted up by ``onnx.version_converter``. A model of a newer opset, 22 up to the newest onnx
knows, is read as it is, node by node, against :func:`changes`, which is derived from
``onnx.defs`` (each version's schema against the one before; computed when a model of such an
opset is first read: the schema objects of every version take about 6 MB that a model of opset
21 or older never needs):

* a version that only changed element types (most of opset 22: ``GlobalMaxPool``, ``Celu``,
  ``Mod``, the trigonometric and pooling operators...) is its previous version;
* a version that added attributes (``Cast.round_mode``, ``Range.stash_type``,
  ``SpaceToDepth.mode``, ``QuantizeLinear.precision``...) is its previous version where the
  node leaves each new attribute at its default, which is the old behaviour; a node that sets
  one is refused, unless :data:`READ_ATTRIBUTES` says a lowering reads it;
* a version that changed its inputs or outputs is refused;
* an operator introduced after opset 21 (``Attention``, ``RMSNormalization``,
  ``RotaryEmbedding``, ``CumProd``, ``Swish``...) is an operator like any other: the passes
  that implement it (``imcc.passes.expand_attention``) check the attributes of its versions,
  and the partitioner refuses it where none does.
"""

from __future__ import annotations

import functools
import re

import onnx
from onnx import helper, version_converter

from isa.diagnostics import OnnxImportError, UnsupportedOpError

#: The opsets of the form imcc's passes know (older models are converted up to ``MIN_OPSET``).
MIN_OPSET, BASE_OPSET = 13, 21
#: The newest default-domain opset imcc reads: the newest the installed onnx knows.
MAX_OPSET = onnx.defs.onnx_opset_version()
STD_DOMAINS = ("", "ai.onnx")
#: (op type, attribute) pairs a newer version added whose other values the lowerings read:
#: ``SpaceToDepth``'s index table is onnx's reference of the node, ``mode`` included.
READ_ATTRIBUTES = frozenset({("SpaceToDepth", "mode")})


def _signature(s: onnx.defs.OpSchema):
    """What a version of an operator takes: its inputs and outputs by name and arity, and its
    attributes by name, type and default (element types left out)."""
    def params(ps):
        return tuple((p.name, p.option) for p in ps)

    attrs = {k: (a.type, a.required, a.default_value.SerializeToString()
                 if a.default_value is not None else b"")
             for k, a in s.attributes.items()}
    return params(s.inputs), params(s.outputs), attrs


@functools.cache
def _version(op: str, opset: int) -> int | None:
    try:
        return onnx.defs.get_schema(op, opset, "").since_version
    except onnx.defs.SchemaError:
        return None


@functools.cache
def changes() -> dict[str, tuple[tuple[int, tuple[str, ...] | None], ...]]:
    """Op type -> ``(version, added)`` for each of its versions after ``BASE_OPSET``:
    ``added`` is the attributes that version added (``()``: it only changed element types), or
    None where it changed its inputs, outputs or existing attributes. Operators introduced
    after ``BASE_OPSET`` are not listed."""
    out: dict[str, list[tuple[int, tuple[str, ...] | None]]] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain != "" or s.since_version <= BASE_OPSET:
            continue
        if _version(s.name, BASE_OPSET) is None:
            continue  # introduced after BASE_OPSET
        prev = onnx.defs.get_schema(s.name, s.since_version - 1, "")
        ins, outs, attrs = _signature(s)
        pins, pouts, pattrs = _signature(prev)
        same = ins == pins and outs == pouts and all(attrs.get(k) == v
                                                     for k, v in pattrs.items())
        added = tuple(sorted(set(attrs) - set(pattrs))) if same else None
        out.setdefault(s.name, []).append((s.since_version, added))
    return {op: tuple(sorted(vs)) for op, vs in out.items()}


def _attr_default(op: str, version: int, name: str):
    d = onnx.defs.get_schema(op, version, "").attributes[name].default_value
    return None if d is None or d.type == onnx.AttributeProto.UNDEFINED else \
        helper.get_attribute_value(d)


def _text(v) -> str:
    return repr(v.decode("utf-8", "replace") if isinstance(v, bytes) else v)


def _refusal(n: onnx.NodeProto, opset: int) -> str | None:
    """Why node ``n`` of an opset above ``BASE_OPSET`` does not mean what its opset-21 form
    means, or None when it does (or its operator is newer than that)."""
    op, version = n.op_type, _version(n.op_type, opset)
    if version is None or op not in changes():
        return None  # not an operator at this opset (onnx's checker says so), or unchanged
    given = {a.name: helper.get_attribute_value(a) for a in n.attribute}
    for v, added in changes()[op]:
        if v > version:
            break
        if added is None:
            return (f"{op} changed its inputs or outputs at opset {v}, and imcc reads the form "
                    f"of opset {BASE_OPSET}")
        for name in added:
            if name in given and (op, name) not in READ_ATTRIBUTES and \
                    given[name] != _attr_default(op, version, name):
                return (f"attribute {name}={_text(given[name])} of {op} (new at opset {v}) is "
                        f"not supported; imcc reads {op} as of opset {BASE_OPSET}, as if "
                        f"{name} were {_text(_attr_default(op, version, name))}")
    return None


@functools.cache
def newer_defaults(op_type: str, opset: int) -> dict[str, object]:
    """The attributes that versions of ``op_type`` after ``BASE_OPSET`` (up to ``opset``) added,
    with their defaults (strings as text): a node holding one at its default is the node of
    opset 21. (onnx's reference evaluator refuses some of them: ``CastLike``'s
    ``round_mode``.)"""
    version = _version(op_type, opset)
    out: dict[str, object] = {}
    if opset <= BASE_OPSET:
        return out
    for v, added in changes().get(op_type, ()):
        if version is None or v > version:
            break
        for name in added or ():
            d = _attr_default(op_type, version, name)
            out[name] = d.decode("utf-8") if isinstance(d, bytes) else d
    return out


def default_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset ``model`` imports, 0 where it imports none."""
    return max((o.version for o in model.opset_import if o.domain in STD_DOMAINS), default=0)


def declared_opset(model: onnx.ModelProto, where: str) -> int:
    """The default-domain opset ``model`` imports (an error where it imports none)."""
    if not any(o.domain in STD_DOMAINS for o in model.opset_import):
        raise OnnxImportError(f"{where}: the model imports no version of the standard ONNX "
                              "domain; re-export it with an opset between "
                              f"{MIN_OPSET} and {MAX_OPSET}")
    return default_opset(model)


def read_opset(model: onnx.ModelProto, where: str, label) -> int:
    """The model's default-domain opset, as imcc reads it. A model older than ``MIN_OPSET``
    is converted (in place) to ``MIN_OPSET``; a newer model's nodes are checked against
    :func:`changes`. ``label(i, node)`` names a node in messages."""
    v = declared_opset(model, where)
    if v > MAX_OPSET:
        raise OnnxImportError(
            f"{where}: opset {v} is outside the opsets imcc reads ({MIN_OPSET} to "
            f"{MAX_OPSET}): it is newer than the installed onnx knows; re-export the model at "
            f"an opset from {MIN_OPSET} to {MAX_OPSET}")
    if v > BASE_OPSET:
        for i, n in enumerate(model.graph.node):
            why = _refusal(n, v) if n.domain in STD_DOMAINS else None
            if why:
                raise UnsupportedOpError(f"{where}: {label(i, n)} (opset {v}): {why}")
    elif v < MIN_OPSET:
        if v < 7:
            _legacy_prelu(model)
        try:  # onnx's own converter; it knows every operator's changes between opsets
            converted = version_converter.convert_version(model, MIN_OPSET)
        except Exception as e:  # noqa: BLE001 - the converter raises several kinds
            raise OnnxImportError(
                f"{where}: opset {v} is outside the opsets imcc reads ({MIN_OPSET} to "
                f"{MAX_OPSET}) and onnx.version_converter cannot convert it to {MIN_OPSET}: "
                f"{converter_reason(e)}; re-export the model at an opset from "
                f"{MIN_OPSET} to {MAX_OPSET}") from None
        model.CopyFrom(converted)
        return MIN_OPSET
    return v


def _legacy_prelu(model: onnx.ModelProto) -> None:
    """Before opset 7 a PRelu's slope of the input's channel count applied along axis 1 (one
    slope per channel); from opset 7 it broadcasts numpy-style, from the last axis, and
    onnx.version_converter leaves the slope as it is. Such a slope (rank 1, the size of axis 1
    of an input of rank 3 or more) gets an Unsqueeze to ``[C, 1, ...]`` (in place)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - a model onnx cannot infer keeps its nodes as they are
        return
    shapes = {}
    g = inferred.graph
    for vi in (*g.input, *g.value_info, *g.output):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    for t in g.initializer:
        shapes.setdefault(t.name, list(t.dims))
    nodes = []
    for k, n in enumerate(model.graph.node):
        x, slope = (list(n.input) + ["", ""])[:2]
        xs, ss = shapes.get(x), shapes.get(slope)
        if (n.op_type == "PRelu" and n.domain in STD_DOMAINS and xs and ss and len(ss) == 1
                and len(xs) >= 3 and ss[0] not in (None, 1) and ss[0] == xs[1]):
            wide = f"{slope}_per_channel_{k}"
            nodes.append(helper.make_node("Unsqueeze", [slope], [wide],
                                          axes=list(range(1, len(xs) - 1))))
            n.input[1] = wide
        nodes.append(n)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def first_line(e: Exception) -> str:
    """The first lines of an exception's text, at most 400 characters."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    text = " ".join(lines[:2]) if lines else type(e).__name__
    return text if len(text) < 400 else text[:400] + "..."


def converter_reason(e: Exception) -> str:
    """Why ``onnx.version_converter`` refused a model, in words: its C++ assertions read
    ``file.h:48: adapt: Assertion `...` failed: <what>``, and ``<what>`` names an element type
    by number or an operator it has no adapter for."""
    text = first_line(e)
    text = re.sub(r"^.*?Assertion `.*?` failed:\s*", "", text)
    m = re.search(r"DataType \((\d+)\) of (?:Input or Output|input) of operator '(\w+)' is "
                  r"(?:unallowed for|not supported in) Opset Version (\d+)", text)
    if m:
        try:
            dtype = helper.tensor_dtype_to_string(int(m.group(1))).removeprefix(
                "TensorProto.")
        except (KeyError, ValueError):
            dtype = f"element type {m.group(1)}"
        return (f"operator {m.group(2)!r} uses element type {dtype}, which it does not take "
                f"at opset {m.group(3)}")
    m = re.search(r"No Adapter (?:From|For) Version \$?(\d+) for (\w+)", text)
    if m:
        return f"the converter has no adapter for operator {m.group(2)!r} at opset {m.group(1)}"
    return text.rstrip(".")
