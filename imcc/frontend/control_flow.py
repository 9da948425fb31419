"""Static control flow, resolved before import (at the model's own opset): an ``If`` whose
condition is known at compile time becomes the nodes of the branch it takes, a ``Loop`` with a
constant trip count (at most :data:`MAX_UNROLL`) whose condition stays true becomes that many
copies of its body, and a ``Scan`` (opset 9 and later) over a length shape inference fixes (at
most :data:`MAX_UNROLL`) one copy per step. An ``If`` on a runtime condition whose branches give
tensors of the same fixed types is both branches and a ``Where`` per output.

"Known at compile time" is what small constants give: initializers and ``Constant`` nodes,
``Shape``/``Size`` of a graph input whose dimensions are fixed (of any tensor whose shape onnx's
inference fixes, where that is needed: LocalResponseNorm's ``If`` on its pooled tensor's rank,
EmbeddingBag's ``Loop`` over the bags of a reshaped input), and what the arithmetic of
flags and shapes (:data:`_EVALUATED`) computes from those alone (each node evaluated with onnx's
reference evaluator, up to :data:`MAX_ELEMENTS` elements). A spliced subgraph's own tensors are
renamed under the node's name (its outer-scope names stay); its outputs become ``Identity``
nodes writing the node's outputs. What is left
(branches of other types, a trip count that depends on the data, a Loop whose condition the
body computes, opset 8's Scan, a subgraph holding another) is refused by the loader as before.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from imcc.frontend.bind_constants import inputs_behind
from imcc.frontend.opsets import default_opset
from imcc.frontend.repairs import skeleton

#: The most iterations a Loop is unrolled to.
MAX_UNROLL = 64
#: The largest constant (elements) evaluated while looking for conditions and trip counts.
MAX_ELEMENTS = 4096
#: The operators evaluated while looking for conditions and trip counts: the arithmetic of
#: flags and shapes, none whose output can be much larger than its inputs.
_EVALUATED = frozenset({
    "Constant", "Identity", "Cast", "CastLike", "Equal", "Less", "LessOrEqual", "Greater",
    "GreaterOrEqual", "Not", "And", "Or", "Xor", "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs",
    "Min", "Max", "Where", "Gather", "Slice", "Concat", "Squeeze", "Unsqueeze", "Reshape",
    "Flatten", "ReduceProd", "ReduceSum", "ReduceMin", "ReduceMax", "Floor", "Ceil", "Relu",
    "Sign", "Round", "Sqrt", "Pow", "IsNaN", "IsInf", "Transpose", "Split", "ConstantOfShape"})
#: Scan's form without a batch axis and sequence lengths (opset 8's) dates from opset 9.
_OPSET_SCAN = 9
#: Reshape's shape is an input from opset 5 (a runtime If's condition is made a scalar).
_OPSET_RESHAPE = 5
_GRAPH_ATTRS = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def _has_subgraph(n: onnx.NodeProto) -> bool:
    return any(a.type in _GRAPH_ATTRS for a in n.attribute)


def _small(v: np.ndarray) -> bool:
    return v.size <= MAX_ELEMENTS


def _known(model: onnx.ModelProto,
           shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """The small values the graph's constants determine (module doc); with ``shapes`` (static
    shapes inferred), ``Shape`` and ``Size`` of any tensor among them too."""
    g = model.graph
    vals: dict[str, np.ndarray] = {f"\0shape:{t}": np.array(d, np.int64)
                                   for t, d in (shapes or {}).items()}
    for t in g.initializer:
        if not t.HasField("data_location") or t.data_location != onnx.TensorProto.EXTERNAL:
            n = int(np.prod(t.dims)) if t.dims else 1
            if n <= MAX_ELEMENTS:
                try:
                    vals[t.name] = numpy_helper.to_array(t)
                except ValueError:  # corrupt data: the loader's checks name it later
                    continue
    for i in g.input:
        dims = i.type.tensor_type.shape.dim
        if i.type.HasField("tensor_type") and i.type.tensor_type.HasField("shape") and \
                all(d.HasField("dim_value") for d in dims):
            vals.setdefault(f"\0shape:{i.name}", np.array([d.dim_value for d in dims], np.int64))
    opset = [o for o in model.opset_import]
    for n in g.node:
        if n.op_type not in _EVALUATED and n.op_type not in ("Shape", "Size") or \
                n.domain not in ("", "ai.onnx"):
            continue
        if n.op_type in ("Shape", "Size") and f"\0shape:{n.input[0]}" in vals:
            shape = vals[f"\0shape:{n.input[0]}"]
            if n.op_type == "Size":
                vals[n.output[0]] = np.array(int(np.prod(shape)), np.int64)
            else:
                a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
                vals[n.output[0]] = shape[a.get("start", 0):a.get("end", len(shape))]
            continue
        if not all(x in vals for x in n.input if x) or _too_large(n, vals):
            continue
        try:
            out = _run_node(n, vals, opset)
        except Exception:  # noqa: BLE001, S112 - what cannot be evaluated here is not known
            continue
        vals.update({o: v for o, v in zip(n.output, out, strict=False)
                     if o and isinstance(v, np.ndarray) and _small(v)})
    return vals


def _too_large(n: onnx.NodeProto, vals: dict[str, np.ndarray]) -> bool:
    """Whether an elementwise node's broadcast output, or a ``ConstantOfShape``'s, would exceed
    :data:`MAX_ELEMENTS`."""
    if n.op_type in ("Gather", "Slice", "Concat", "Squeeze", "Unsqueeze", "Reshape", "Flatten") \
            or n.op_type.startswith("Reduce"):
        return False
    if n.op_type == "ConstantOfShape":
        dims = vals[n.input[0]].reshape(-1)
        return dims.size > 8 or bool((dims < 0).any()) or \
            math.prod(int(d) for d in dims) > MAX_ELEMENTS
    try:
        shape = np.broadcast_shapes(*(vals[x].shape for x in n.input if x))
    except ValueError:
        return False  # the evaluator reports it
    return int(np.prod(shape)) > MAX_ELEMENTS


def _run_node(n: onnx.NodeProto, vals: dict[str, np.ndarray], opset) -> list:
    from onnx.reference import ReferenceEvaluator

    ins = [x for x in n.input if x]
    graph = helper.make_graph(
        [n], "eval", [helper.make_tensor_value_info(x, helper.np_dtype_to_tensor_dtype(
            vals[x].dtype), vals[x].shape) for x in ins],
        [helper.make_empty_tensor_value_info(o) for o in n.output if o])
    model = helper.make_model(graph, opset_imports=opset)
    return ReferenceEvaluator(model).run(None, {x: vals[x] for x in ins})


def _splice(g: onnx.GraphProto, prefix: str, bind: dict[str, str]) -> tuple[list, list[str]]:
    """The nodes of subgraph ``g`` with its own tensors renamed under ``prefix`` (its formal
    inputs to ``bind``'s names; its initializers as Constant nodes), and the names its outputs
    then have. Outer-scope names are left as they are."""
    own = {t.name for t in g.initializer} | {o for n in g.node for o in n.output if o}
    rename = {x: f"{prefix}/{x}" for x in own} | dict(bind)
    nodes = [helper.make_node("Constant", [], [rename[t.name]], value=t,
                              name=f"{prefix}/{t.name}") for t in g.initializer]
    for n in g.node:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.name = f"{prefix}/{n.name or n.op_type}"
        c.input[:] = [rename.get(x, x) if x else x for x in n.input]
        c.output[:] = [rename.get(x, x) if x else x for x in n.output]
        nodes.append(c)
    return nodes, [rename.get(o.name, o.name) for o in g.output]


def _outputs(node: onnx.NodeProto, names: list[str], prefix: str) -> list:
    return [helper.make_node("Identity", [src], [dst], name=f"{prefix}/out{k}")
            for k, (src, dst) in enumerate(zip(names, node.output, strict=False)) if dst]


def _attr(n: onnx.NodeProto, name: str):
    return next(helper.get_attribute_value(a) for a in n.attribute if a.name == name)


def _unsqueeze(x: str, axis: int, out: str, opset: int) -> list:
    """``Unsqueeze(x)`` at ``axis``, in the form of ``opset`` (axes an input from 13)."""
    if opset < 13:
        return [helper.make_node("Unsqueeze", [x], [out], axes=[axis], name=out)]
    ax = f"{out}_axes"
    return [helper.make_node("Constant", [], [ax], name=ax,
                             value=numpy_helper.from_array(np.array([axis], np.int64))),
            helper.make_node("Unsqueeze", [x, ax], [out], name=out)]


def _nested(g: onnx.GraphProto) -> bool:
    return any(_has_subgraph(n) for n in g.node)


def _static_type(v: onnx.ValueInfoProto):
    """(element type, dims) of a tensor type with every dimension fixed, else None."""
    tt = v.type.tensor_type
    if not v.type.HasField("tensor_type") or not tt.HasField("shape") or \
            not all(d.HasField("dim_value") for d in tt.shape.dim):
        return None
    return tt.elem_type, tuple(d.dim_value for d in tt.shape.dim)


def _select_if(n: onnx.NodeProto, prefix: str, opset: int) -> list | None:
    """An ``If`` on a runtime condition whose branches give tensors of the same fixed types:
    both branches, each output a ``Where`` of the condition (a scalar) between them."""
    then, other = _attr(n, "then_branch"), _attr(n, "else_branch")
    types = [_static_type(v) for v in then.output]
    if opset < _OPSET_RESHAPE or _nested(then) or _nested(other) or None in types or \
            types != [_static_type(v) for v in other.output]:
        return None
    t_nodes, t_outs = _splice(then, f"{prefix}/then", {})
    e_nodes, e_outs = _splice(other, f"{prefix}/else", {})
    c, dims = f"{prefix}/condition", f"{prefix}/scalar"
    nodes = [*t_nodes, *e_nodes,
             helper.make_node("Constant", [], [dims], name=dims,
                              value=numpy_helper.from_array(np.zeros(0, np.int64))),
             helper.make_node("Reshape", [n.input[0], dims], [c], name=c)]
    return nodes + [helper.make_node("Where", [c, t, e], [y], name=f"{prefix}/select{k}")
                    for k, (t, e, y) in enumerate(zip(t_outs, e_outs, n.output, strict=False))
                    if y]


def _inline_if(n: onnx.NodeProto, vals, prefix: str, opset: int) -> list | None:
    if n.input[0] not in vals:
        return _select_if(n, prefix, opset)
    branch = _attr(n, "then_branch" if bool(np.asarray(vals[n.input[0]]).reshape(-1)[0])
                   else "else_branch")
    if _nested(branch):
        return None
    nodes, outs = _splice(branch, prefix, {})
    return nodes + _outputs(n, outs, prefix)


def _unroll_loop(n: onnx.NodeProto, vals, prefix: str, opset: int) -> list | None:
    """A Loop with a constant trip count whose condition stays true (module doc); None for
    any other."""
    trip = n.input[0] if n.input else ""
    cond = n.input[1] if len(n.input) > 1 else ""
    if not trip or trip not in vals or (cond and (cond not in vals or
                                                  not bool(np.asarray(vals[cond]).all()))):
        return None
    count = int(np.asarray(vals[trip]).reshape(-1)[0])
    body = _attr(n, "body")
    if count < 0 or count > MAX_UNROLL or _nested(body):
        return None
    b_in, b_out = [i.name for i in body.input], [o.name for o in body.output]
    if not _stays_true(body, vals):
        return None
    states = list(n.input[2:])
    n_state = len(states)
    nodes: list = []
    scans: list[list[str]] = [[] for _ in b_out[1 + n_state:]]
    for i in range(count):
        p = f"{prefix}/{i}"
        it, c = f"{p}/iteration", f"{p}/condition"
        nodes += [helper.make_node("Constant", [], [it], value=numpy_helper.from_array(
                      np.array(i, np.int64), it), name=it),
                  helper.make_node("Constant", [], [c], value=numpy_helper.from_array(
                      np.array(True), c), name=c)]
        body_nodes, outs = _splice(body, p, {b_in[0]: it, b_in[1]: c, **dict(zip(
            b_in[2:], states, strict=True))})
        nodes += body_nodes
        states = outs[1:1 + n_state]
        for k, s in enumerate(outs[1 + n_state:]):
            u = f"{p}/scan{k}"
            nodes += _unsqueeze(s, 0, u, opset)
            scans[k].append(u)
    if scans and (count == 0 or not all(scans)):
        return None
    if scans:
        stacked = []
        for k, parts in enumerate(scans):
            s = f"{prefix}/stacked{k}"
            nodes.append(helper.make_node("Concat", parts, [s], axis=0, name=s))
            stacked.append(s)
    else:
        stacked = []
    return nodes + _outputs(n, states + stacked, prefix)


def _stays_true(body: onnx.GraphProto, vals) -> bool:
    """Whether a Loop body's condition output is its condition input passed through, or a
    true constant: the body's own, or an outer one (PyTorch's exports cast an outer ``True``),
    through ``Identity`` and ``Cast``."""
    writer = {nd.output[0]: nd for nd in body.node if nd.output}
    t, seen = body.output[0].name, set()
    while t in writer and writer[t].op_type in ("Identity", "Cast") and t not in seen:
        seen.add(t)
        t = writer[t].input[0]
    if t == body.input[1].name:
        return True
    if t in writer:
        nd = writer[t]
        if nd.op_type != "Constant" or not nd.attribute:
            return False
        v = helper.get_attribute_value(nd.attribute[0])
        v = numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else np.asarray(v)
        return v.size > 0 and bool(v.all())
    return t in vals and bool(np.asarray(vals[t]).all())


def _shapes(model: onnx.ModelProto,
            vals: dict[str, np.ndarray] | None = None) -> dict[str, tuple[int, ...]]:
    """The static shapes onnx's shape inference finds (tensors with every dimension fixed), on
    the model's :func:`~imcc.frontend.repairs.skeleton` (its weights are not copied) where the
    nodes whose outputs ``vals`` knows are those constants (a Pad's pads computed by a chain of
    Reshape, Transpose and Cast, which onnx's data propagation does not follow)."""
    skel = skeleton(model)
    if vals:
        nodes = list(skel.graph.node)
        known = [any(nd.output) and all(o in vals for o in nd.output if o) for nd in nodes]
        del skel.graph.node[:]
        skel.graph.node.extend(nd for nd, k in zip(nodes, known) if not k)
        skel.graph.initializer.extend(numpy_helper.from_array(vals[o], o)
                                      for nd, k in zip(nodes, known) if k for o in nd.output if o)
    try:
        typed = onnx.shape_inference.infer_shapes(skel, data_prop=True)
    except Exception:  # noqa: BLE001 - the loader reports inference failures itself
        return {}
    out = {}
    for v in [*typed.graph.input, *typed.graph.value_info, *typed.graph.output]:
        tt = v.type.tensor_type
        if v.type.HasField("tensor_type") and tt.HasField("shape") and \
                all(d.HasField("dim_value") for d in tt.shape.dim):
            out[v.name] = tuple(d.dim_value for d in tt.shape.dim)
    return out


def _unroll_scan(n: onnx.NodeProto, shapes, prefix: str, opset: int) -> list | None:
    """A Scan (opset 9 and later) over static lengths: one copy of its body per step, each
    reading the step's slice of every scan input (``Gather`` at that index along its axis, in
    its direction), the scan outputs stacked along their axes (``Unsqueeze``, ``Concat``)."""
    a = {x.name: x for x in n.attribute}
    body = helper.get_attribute_value(a["body"])
    m = int(helper.get_attribute_value(a["num_scan_inputs"]))
    states, scanned = list(n.input[:len(n.input) - m]), list(n.input[len(n.input) - m:])
    if _nested(body) or not all(x in shapes for x in scanned):
        return None

    def ints(name: str, k: int) -> list[int]:
        return list(helper.get_attribute_value(a[name])) if name in a else [0] * k

    in_axes, in_dirs = ints("scan_input_axes", m), ints("scan_input_directions", m)
    in_axes = [ax + len(shapes[x]) if ax < 0 else ax for ax, x in zip(in_axes, scanned,
                                                                       strict=True)]
    steps = {shapes[x][ax] for x, ax in zip(scanned, in_axes, strict=True)}
    k_out = len(body.output) - len(states)
    out_axes, out_dirs = ints("scan_output_axes", k_out), ints("scan_output_directions", k_out)
    count = steps.pop() if len(steps) == 1 else 0
    if not 0 < count <= MAX_UNROLL or any(ax < 0 for ax in out_axes):
        return None
    b_in = [i.name for i in body.input]
    nodes: list = []
    parts: list[list[str]] = [[] for _ in range(k_out)]
    for t in range(count):
        p = f"{prefix}/{t}"
        bind = dict(zip(b_in[:len(states)], states, strict=True))
        for j, (x, ax, d) in enumerate(zip(scanned, in_axes, in_dirs, strict=True)):
            idx, sl = f"{p}/index{j}", f"{p}/slice{j}"
            nodes += [helper.make_node("Constant", [], [idx], name=idx,
                                       value=numpy_helper.from_array(np.array(
                                           count - 1 - t if d else t, np.int64))),
                      helper.make_node("Gather", [x, idx], [sl], axis=ax, name=sl)]
            bind[b_in[len(states) + j]] = sl
        body_nodes, outs = _splice(body, p, bind)
        nodes += body_nodes
        states = outs[:len(states)]
        for j, o in enumerate(outs[len(states):]):
            u = f"{p}/scan{j}"
            nodes += _unsqueeze(o, out_axes[j], u, opset)
            parts[j].append(u)
    stacked = []
    for j, ps in enumerate(parts):
        st = f"{prefix}/stacked{j}"
        nodes.append(helper.make_node("Concat", ps[::-1] if out_dirs[j] else ps, [st],
                                      axis=out_axes[j], name=st))
        stacked.append(st)
    return nodes + _outputs(n, states + stacked, prefix)


def inline_static_control_flow(model: onnx.ModelProto) -> None:
    """Replace each ``If``, ``Loop`` and ``Scan`` the module doc describes by the nodes it runs
    (in place; up to :data:`MAX_UNROLL` of them), until none is left that can be."""
    inferred = False  # Shape and Size read from shape inference (once constants do not do)
    for _ in range(2 * MAX_UNROLL):
        g = model.graph
        if not any(n.op_type in ("If", "Loop", "Scan") for n in g.node):
            return
        opset = default_opset(model)
        scan = _OPSET_SCAN <= opset and any(n.op_type == "Scan" for n in g.node)
        vals = _known(model)
        shapes = _shapes(model, vals if inferred else None) if scan or inferred else {}
        if inferred:
            vals = _known(model, shapes)
        for k, n in enumerate(g.node):
            prefix = n.name or f"{n.op_type}_{k}"
            try:
                new = (_inline_if(n, vals, prefix, opset) if n.op_type == "If" else
                       _unroll_loop(n, vals, prefix, opset) if n.op_type == "Loop" else
                       _unroll_scan(n, shapes, prefix, opset) if n.op_type == "Scan" and scan
                       else None)
            except (IndexError, KeyError, StopIteration, TypeError, ValueError):
                new = None  # a malformed node: left to the checks that name what is wrong
            if new is not None:
                rest = list(g.node[k + 1:])
                del g.node[k:]
                g.node.extend(new + rest)
                break
        else:
            if inferred:
                return
            inferred = True


def control_inputs(model: onnx.ModelProto, nodes: list) -> tuple[str, ...]:
    """The graph inputs whose values decide the control ``nodes`` left after
    :func:`inline_static_control_flow` (an If's condition, a Loop's trip count and condition):
    bound as constants, each is resolved, except a Scan's or a node whose branches or body the
    unrolling does not take. Empty where any of them depends on no graph input of tensor type
    (a sequence's length, say)."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    inputs = [i.name for i in g.input if i.name not in inits and i.type.HasField("tensor_type")]
    writers = {t: n for n in g.node for t in n.output if t}
    names: list[str] = []
    for n in nodes:
        control = n.input[:1] if n.op_type == "If" else n.input[:2] if n.op_type == "Loop" \
            else []
        found = inputs_behind([t for t in control if t],
                              lambda t: (writers[t].op_type, t) if t in writers else None,
                              lambda t: writers[t].input, inputs)
        if not found:
            return ()
        names += found
    return tuple(dict.fromkeys(names))
