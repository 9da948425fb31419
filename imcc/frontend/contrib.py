"""onnxruntime's own operators (domain ``com.microsoft``, and a few it keeps in the default
domain) in standard ONNX.

Two kinds of model carry them. onnxruntime's quantizer writes its QOperator format
(``quantize_static(..., quant_format=QuantFormat.QOperator)``, and the int8 models of the ONNX
Model Zoo) with standard ``QLinearConv`` and ``QLinearMatMul`` and contrib operators for the
rest (:mod:`imcc.frontend.contrib_quant`); its graph optimizer saves fused operators
(:mod:`imcc.frontend.contrib_fused`). :func:`expand_contrib` rewrites each node of :data:`RULES`,
in place and before anything else reads the model, into the standard nodes that compute what
the operator's documentation says (:mod:`imcc.frontend.contrib_rewrite`: fresh names, constants,
dequantization and quantization). A constant weight's ``DequantizeLinear`` then gives its layer
the model's integer codes (:mod:`imcc.qdq`).

onnxruntime computes some of these in fixed point or through tables: its integers can differ
from the documented formula by one step where a value falls near a rounding boundary
(docs/frontend.md). Other ``com.microsoft`` operators are left as they are, and the loader
refuses them by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import onnx
from onnx import TensorProto

from imcc.frontend.contrib_fused import DEFAULT_DOMAIN, FUSED, OUTPUTS
from imcc.frontend.contrib_quant import QUANTIZED
from imcc.frontend.contrib_rewrite import SAME_TYPE, Rewrite
from imcc.frontend.external_data import ExternalData
from imcc.frontend.opsets import STD_DOMAINS, default_opset

CONTRIB = "com.microsoft"
#: com.microsoft operator -> its rewrite into standard nodes.
RULES = {**QUANTIZED, **FUSED}
#: The input whose element type an operator's output has, where it is not the first: the zero
#: point of the quantizers, the scale of the dequantizers, the data of Where and QLinearWhere.
_SOURCE = {"QuantizeLinear": 2, "QLinearConv": 7, "QLinearMatMul": 7, "QLinearConcat": 1,
           "QLinearWhere": 1, "QGemm": 8, "DequantizeLinear": 1, "MatMulIntegerToFloat": 2,
           "GatherBlockQuantized": 2, "Where": 1}


def expand_contrib(model: onnx.ModelProto, where: str,
                   label: Callable[[int, onnx.NodeProto], str],
                   external: Mapping[str, ExternalData] | None = None) -> None:
    """Rewrite every node of :data:`RULES` (domain ``com.microsoft``) and of
    :data:`~imcc.frontend.contrib_fused.DEFAULT_DOMAIN` (onnxruntime's own operators of the
    default domain, where ONNX does not define them) into standard nodes (in place); ``where``
    names the model and ``label(i, node)`` a node in messages; ``external``: the initializers
    whose data is still in their file (read where a rewrite needs their values). The
    ``com.microsoft`` import is dropped once no node uses it."""
    g = model.graph
    if not has_rewrites(model):
        return
    opset = default_opset(model)
    names = {t for n in g.node for t in (*n.input, *n.output)}
    names |= {t.name for t in (*g.initializer, *g.input, *g.output, *g.value_info)}
    dtype = _types(model)
    out: list[onnx.NodeProto] = []
    for i, n in enumerate(g.node):
        rule = _rule(n, opset)
        if rule is None:
            out.append(n)
            continue
        r = Rewrite(model, n, f"{where}: {label(i, n)}", opset, names, dtype, external or {})
        most = OUTPUTS.get(n.op_type, 1)
        if not n.output or not n.output[0] or len(n.output) > most:
            raise r.fail(f"it writes {len(n.output)} output(s) (the first named), where it has "
                         f"{'one' if most == 1 else f'one to {most}'}")
        rule(r)
        out.extend(r.nodes)
    del g.node[:]
    g.node.extend(out)
    if not any(n.domain == CONTRIB for n in g.node):
        keep = [o for o in model.opset_import if o.domain != CONTRIB]
        del model.opset_import[:]
        model.opset_import.extend(keep)


def has_rewrites(model: onnx.ModelProto) -> bool:
    """Whether :func:`expand_contrib` would rewrite a node of ``model``."""
    opset = default_opset(model)
    return any(_rule(n, opset) for n in model.graph.node)


def _rule(n: onnx.NodeProto, opset: int) -> Callable[[Rewrite], None] | None:
    """The rewrite of node ``n`` in a model of ``opset``, None where it keeps its node."""
    if n.domain == CONTRIB:
        return RULES.get(n.op_type)
    if n.domain in STD_DOMAINS and n.op_type in DEFAULT_DOMAIN:
        rule, standard = DEFAULT_DOMAIN[n.op_type]
        return rule if standard is None or opset < standard else None
    return None


def _types(model: onnx.ModelProto) -> Callable[[str], int | None]:
    """The element type of a tensor where the model tells it: a graph input, output,
    value_info or initializer, or the output of a quantizing node (its zero point's type) or of
    an operator that keeps its input's type (:data:`SAME_TYPE`); None where it does not."""
    g = model.graph
    known: dict[str, int | None] = {t.name: t.data_type for t in g.initializer}
    for vi in (*g.input, *g.output, *g.value_info):
        if vi.type.tensor_type.elem_type:
            known.setdefault(vi.name, vi.type.tensor_type.elem_type)
    producer = {o: n for n in g.node for o in n.output if o}

    def source(n: onnx.NodeProto) -> str | None:
        """The input whose type ``n``'s output has."""
        if n.op_type in _SOURCE:
            k = _SOURCE[n.op_type]
        elif n.op_type in SAME_TYPE or n.domain == CONTRIB and n.op_type in RULES:
            k = 0
        else:
            return None
        return n.input[k] if len(n.input) > k and n.input[k] else None

    def dtype(name: str) -> int | None:
        chain = []
        while name not in known and name in producer and name not in chain:
            chain.append(name)
            n = producer[name]
            if n.op_type in ("QuantizeLinear", "DynamicQuantizeLinear") and (
                    n.op_type == "DynamicQuantizeLinear" or len(n.input) < 3 or not n.input[2]):
                known[name] = TensorProto.UINT8
                break
            if n.op_type == "Cast":
                known[name] = next((a.i for a in n.attribute if a.name == "to"), None)
                break
            nxt = source(n)
            if nxt is None:
                break
            name = nxt
        t = known.get(name)
        for c in chain:
            known.setdefault(c, t)
        return t

    return dtype
