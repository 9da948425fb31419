"""A calibration model run in stages, so that its weights are not all read at once.

A run of the whole float model reads every weight, so the compile's memory holds all of them
at the moment onnxruntime's own memory is added to it. Where the weights fed to the model
hold more than :data:`STAGE_BYTES`, :func:`staged_runner` cuts the model's nodes, in their
order, into stages of about that many weight bytes each, runs them one after another (each
stage's inputs: the samples, its weights, the tensors earlier stages made for it) and gives
each stage's weights back after it (:func:`imcc.frontend.external_data.let_go`, for weights
mapped from a file). A stage runs on several samples before its weights are given back, as
many as keep the tensors they hold between stages within :data:`STAGE_BYTES`. Only the nodes
the wanted outputs need run. Every run, whole or in stages, takes each node by its own kernel
(``runner(plain=True)``): the outputs of a model cut into stages are then those of the whole
model, bit for bit (fused nodes could differ in the last bits depending on where the cuts
fall).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from imcc.frontend.external_data import let_go
from imcc.reference import runner

#: A stage reads at most about this many bytes of weights (one weight larger than this is a
#: stage of its own).
STAGE_BYTES = 32 << 20

Run = Callable[[list[dict[str, np.ndarray]]], list[dict[str, np.ndarray]]]


@dataclass(frozen=True)
class _Stage:
    run: Callable  # feeds -> list of outputs, in ``outputs``' order
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: tuple[str, ...]  # the weights among the inputs, given back after the stage
    drop: tuple[str, ...]  # tensors no later stage reads and no caller wants


def staged_runner(model: onnx.ModelProto, weights: dict[str, np.ndarray], wanted: list[str],
                  types: Callable[[str], onnx.ValueInfoProto | None], *,
                  lean: bool = False, refused: list[str] | None = None) -> tuple[int, Run]:
    """``(group, run)``: ``run(list of feeds) -> list of {name: array}``, the ``wanted`` outputs
    of ``model`` (whose inputs are the feeds and the ``weights``) on each feeds, best called
    with ``group`` of them at once: each stage then runs on all of them before its weights are
    given back, and the tensors they hold between stages stay within :data:`STAGE_BYTES`.
    ``types`` gives the type of a tensor that crosses a cut where ``model`` declares none
    (None: the model runs whole). ``lean`` and ``refused`` as for
    :func:`imcc.reference.runner`. The model runs whole where its weights hold at most
    :data:`STAGE_BYTES`, or it has nodes with sub-graphs."""
    groups = _stages(model, weights, wanted) if _total(weights) > STAGE_BYTES else None
    built = _build(model, weights, wanted, groups, types, lean, refused) if groups else None
    if built is None:
        names = [o.name for o in model.graph.output]
        _, run = runner(model, lean=lean, plain=True, refused=refused)

        def whole(many):
            return [dict(zip(names, run(feeds | weights))) for feeds in many]

        return 1, whole
    stages, held = built

    def staged(many):
        envs = [dict(feeds) for feeds in many]
        for st in stages:
            for env in envs:
                outs = st.run({t: env[t] if t in env else weights[t] for t in st.inputs})
                # copies: an engine's output may hold on to its memory pool while it lives
                env.update((t, np.array(o)) for t, o in zip(st.outputs, outs))
                for t in st.drop:
                    env.pop(t, None)
            for w in st.weights:
                let_go(weights[w])
        return [{t: env[t] for t in wanted} for env in envs]

    return max(1, STAGE_BYTES // max(1, held)), staged


def _total(weights: dict[str, np.ndarray]) -> int:
    return sum(int(np.asarray(v).nbytes) for v in weights.values())


def _stages(model: onnx.ModelProto, weights: dict[str, np.ndarray],
            wanted: list[str]) -> list[list[onnx.NodeProto]] | None:
    """The nodes ``wanted`` needs, cut in order into stages of about :data:`STAGE_BYTES` of
    weights; a node computed from constants only (a weight's transpose) joins the first stage
    that reads it. None where the model cannot be cut (sub-graphs) or is one stage."""
    nodes = list(model.graph.node)
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
           for n in nodes for a in n.attribute):
        return None
    live, keep = set(wanted), []
    for n in reversed(nodes):
        if any(o in live for o in n.output):
            keep.append(n)
            live.update(t for t in n.input if t)
    keep.reverse()
    origin: dict[str, frozenset[str]] = {w: frozenset([w]) for w in weights}
    origin.update((t.name, frozenset()) for t in model.graph.initializer)
    static = set()
    for i, n in enumerate(keep):
        if all(not t or t in origin for t in n.input):
            static.add(i)
            made = frozenset().union(*(origin[t] for t in n.input if t))
            origin.update((o, made) for o in n.output)
    stage_of, counted, cur, size = {}, set(), 0, 0
    for i, n in enumerate(keep):
        if i in static:
            continue
        new = frozenset().union(*(origin.get(t, frozenset()) for t in n.input)) - counted
        b = sum(int(np.asarray(weights[w]).nbytes) for w in new)
        if size and size + b > STAGE_BYTES:
            cur, size = cur + 1, 0
        stage_of[i], size = cur, size + b
        counted |= new
    if cur == 0:
        return None
    readers: dict[str, list[int]] = {}
    for i, n in enumerate(keep):
        for t in n.input:
            readers.setdefault(t, []).append(i)
    for i in sorted(static, reverse=True):  # its readers come later: placed already
        stage_of[i] = min((stage_of[r] for o in keep[i].output for r in readers.get(o, ())),
                          default=0)  # read by none: a wanted output
    groups: list[list[onnx.NodeProto]] = [[] for _ in range(cur + 1)]
    for i, n in enumerate(keep):
        groups[stage_of[i]].append(n)
    return [g for g in groups if g]


def _build(model, weights, wanted, groups, types, lean, refused):
    """One session per stage of ``groups`` (:func:`_stages`) and the most bytes one feeds'
    tensors take between two stages, or None where a tensor that crosses a cut has no known
    type."""
    g = model.graph
    declared = {v.name: v for v in (*g.input, *g.output, *g.value_info)}
    inits = {t.name: t for t in g.initializer}
    made = [{o for n in nodes for o in n.output if o} for nodes in groups]
    read = [{t for n in nodes for t in n.input if t} for nodes in groups]
    later: set[str] = set(wanted)
    outputs: list[list[str]] = []
    for k in reversed(range(len(groups))):
        outputs.append(sorted(made[k] & later))
        later |= read[k]
    outputs.reverse()
    plans = []
    for k, nodes in enumerate(groups):
        ins = sorted(read[k] - made[k] - set(inits))
        vis = [declared.get(t) or types(t) for t in (*ins, *outputs[k])]
        if any(v is None for v in vis):
            return None
        used = [inits[t] for t in sorted(read[k] & set(inits))]
        sub = onnx.helper.make_graph(nodes, f"{g.name}_stage{k}", vis[: len(ins)],
                                     vis[len(ins):], initializer=used)
        m = onnx.helper.make_model(sub, opset_imports=list(model.opset_import),
                                   functions=list(model.functions))
        m.ir_version = model.ir_version
        plans.append((m, tuple(ins), tuple(outputs[k])))
    stages, held = [], 0
    env = {i.name for i in g.input} - set(weights)  # one feeds' tensors between stages
    for k, (m, ins, outs) in enumerate(plans):
        after = set(wanted).union(*read[k + 1:])
        drop = tuple(sorted((set(ins) | set(outs)) - after))
        env = (env | set(outs)) & after
        held = max(held, sum(_bytes(declared.get(t) or types(t)) for t in env))
        # no arena: each session's would keep its largest run's memory to the end (GPT-2
        # medium's 49 stages held 300 MB more)
        _, run = runner(m, lean=lean, plain=True, arena=False, refused=refused)
        stages.append(_Stage(run, ins, outs, tuple(t for t in ins if t in weights), drop))
    return stages, held


def _bytes(vi: onnx.ValueInfoProto | None) -> int:
    """The bytes of a tensor of type ``vi`` (:data:`STAGE_BYTES` where its shape or type is not
    known)."""
    t = vi.type.tensor_type if vi is not None else None
    if t is None or not t.HasField("shape") or any(not d.HasField("dim_value")
                                                   for d in t.shape.dim):
        return STAGE_BYTES
    try:
        size = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize
    except (KeyError, TypeError, ValueError):
        return STAGE_BYTES
    return size * int(np.prod([d.dim_value for d in t.shape.dim], dtype=np.int64))
