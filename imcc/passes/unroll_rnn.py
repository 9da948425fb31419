"""Recurrent layers (``RNN``, ``GRU``, ``LSTM``) unrolled over their static sequence length.

Each follows its ONNX definition. The input projection of every time step is one matrix product
with the constant ``W^T`` (an IMC layer over all ``T x B`` rows at once) plus the biases; each
step then adds ``H[t-1] @ R^T`` (an IMC product with the constant recurrent weights) and applies
the gate activations element-wise. Per direction (``forward``, ``reverse``, or both for
``bidirectional``) the steps run in order; ``Y`` stacks every step's hidden state, ``Y_h`` (and
``Y_c`` for LSTM) the last one. ``layout = 1`` (batch first) is handled with transposes;
``clip``, LSTM's ``input_forget`` and peepholes, GRU's ``linear_before_reset``, initial states,
and the activation functions that are ONNX operators (with ``activation_alpha`` /
``activation_beta``) are supported. Weights, biases and peepholes that are runtime tensors are
sliced, transposed and added by nodes, and their products run on the dynamic unit (products of
two activations). Refused with a clear message: ``sequence_lens`` other than the full length.

Unrolling costs one IMC layer of ``R`` per time step: the recurrent weights are programmed
``T`` times (docs/frontend.md).
"""

from __future__ import annotations

import numpy as np

from imcc.frontend.bind_constants import NeedsConstants, graph_inputs_behind
from imcc.ir import Graph, Node, TensorType, describe
from imcc.passes.rewrite import Rewriter
from isa.diagnostics import LimitError, UnsupportedOpError

RECURRENT = frozenset({"RNN", "GRU", "LSTM"})
#: gates per cell, and the default activations (f, g, h) of each direction
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}
#: ONNX activation names -> (operator, number of alpha/beta values it takes, default alpha, beta)
_ACTS = {"Relu": ("Relu", 0, None, None), "Tanh": ("Tanh", 0, None, None),
         "Sigmoid": ("Sigmoid", 0, None, None), "Softsign": ("Softsign", 0, None, None),
         "Softplus": ("Softplus", 0, None, None),
         "LeakyRelu": ("LeakyRelu", 1, 0.01, None), "ThresholdedRelu": ("ThresholdedRelu", 1, 1.0,
                                                                       None),
         "Elu": ("Elu", 1, 1.0, None), "HardSigmoid": ("HardSigmoid", 2, 0.2, 0.5)}


class _Val:
    """A weight of a recurrent node: a constant array (sliced and added here, and programmed
    into the arrays by its products) or a runtime tensor (sliced and added by nodes; its
    products are then products of two activations, on the dynamic unit)."""

    def __init__(self, cell: _Cell, value: np.ndarray | None = None, tensor: str = ""):
        self.cell, self.value, self.tensor = cell, value, tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape if self.value is not None else self.cell.rw.type(self.tensor).shape

    def _new(self, value=None, tensor: str = "") -> _Val:
        return _Val(self.cell, value, tensor)

    def __getitem__(self, key: int | slice) -> _Val:
        """An index or a slice along the first axis."""
        if self.value is not None:
            return self._new(self.value[key])
        c, n = self.cell, self.shape[0]
        start, stop, _ = (slice(key, key + 1) if isinstance(key, int) else key).indices(n)
        t = c.slice(self.tensor, 0, start, stop)
        if isinstance(key, int):
            rest = self.shape[1:]
            t = c.op("Reshape", (t, c.rw.shape_const(f"{c.n.name}_s", rest)), rest)
        return self._new(tensor=t)

    @property
    def T(self) -> _Val:
        if self.value is not None:
            return self._new(self.value.T.copy())
        a, b = self.shape
        return self._new(tensor=self.cell.op("Transpose", (self.tensor,), (b, a), perm=(1, 0)))

    def __add__(self, other: _Val) -> _Val:
        if self.value is not None and other.value is not None:
            return self._new(self.value + other.value)
        return self._new(tensor=self.cell.op("Add", (self.name(), other.name()), self.shape))

    def concat(self, other: _Val) -> _Val:
        """``self`` and ``other`` joined along the first (only) axis."""
        if self.value is not None and other.value is not None:
            return self._new(np.concatenate([self.value, other.value]))
        shape = (self.shape[0] + other.shape[0],)
        return self._new(tensor=self.cell.op("Concat", (self.name(), other.name()), shape,
                                             axis=0))

    def name(self) -> str:
        """The tensor holding it (a new constant for a constant)."""
        return self.cell.const(self.value) if self.value is not None else self.tensor


class _Cell:
    """Emits the nodes of one recurrent node (local state of one expansion)."""

    def __init__(self, rw: Rewriter, n: Node, where: str):
        self.rw, self.n, self.where = rw, n, where
        self.kind = n.op_type
        self.dtype = rw.type(n.inputs[0]).dtype

    def fail(self, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.where}: {why}")

    # -- small emitters -------------------------------------------------------------------------
    def op(self, op_type: str, inputs, shape, **attrs) -> str:
        return self.rw.add(op_type, inputs, TensorType(tuple(shape), self.dtype),
                           f"{self.n.name}_{op_type.lower()}", **attrs)

    def const(self, value) -> str:
        return self.rw.const(f"{self.n.name}_w", np.asarray(value, self.dtype))

    def slice(self, x: str, axis: int, start: int, stop: int) -> str:
        shape = list(self.rw.type(x).shape)
        shape[axis] = stop - start
        ints = [self.rw.shape_const(f"{self.n.name}_s", [v]) for v in (start, stop, axis)]
        return self.op("Slice", (x, *ints), shape)

    def act(self, name: str, x: str, alpha, beta) -> str:
        op, nparams, a0, b0 = _ACTS[name]
        attrs = {}
        if nparams >= 1:
            attrs["alpha"] = float(a0 if alpha is None else alpha)
        if nparams >= 2:
            attrs["beta"] = float(b0 if beta is None else beta)
        return self.op(op, (x,), self.rw.type(x).shape, **attrs)

    # -- the expansion --------------------------------------------------------------------------
    def expand(self) -> None:
        n, rw, a = self.n, self.rw, self.n.attrs
        ins = list(n.inputs) + [""] * (8 - len(n.inputs))
        x, w_in, r_in, b_in, seq = ins[0], ins[1], ins[2], ins[3], ins[4]
        h0, c0 = ins[5], ins[6] if self.kind == "LSTM" else ""
        p_in = ins[7] if self.kind == "LSTM" else ""
        W, R = self.weight(w_in), self.weight(r_in)
        B = self.weight(b_in) if b_in else _Val(self, np.zeros(
            (W.shape[0], 2 * W.shape[1]), self.dtype))
        P = self.weight(p_in) if p_in else None
        layout = int(a.get("layout", 0))
        xt = rw.type(x)
        if layout:
            x = self.op("Transpose", (x,), (xt.shape[1], xt.shape[0], xt.shape[2]),
                        perm=(1, 0, 2))
            xt = rw.type(x)
        T, batch, _ = xt.shape
        if layout:  # initial states [B, D, H] -> [D, B, H]
            h0, c0 = (self.op("Transpose", (s,), (rw.type(s).shape[1], batch,
                                                   rw.type(s).shape[2]), perm=(1, 0, 2))
                      if s else s for s in (h0, c0))
        if seq:
            lens = rw.value(seq)
            names = graph_inputs_behind(rw.graph, [seq]) if lens is None else ()
            if names:
                raise NeedsConstants(f"{self.where}: its sequence_lens ({seq!r}) is not a "
                                     "constant (the steps unrolled depend on it)", names)
            if lens is None or not np.all(np.asarray(lens) == T):
                raise self.fail("sequence_lens other than the full length of every sequence "
                                f"({T}) are not supported; export without packed sequences")
        direction = a.get("direction", "forward")
        if isinstance(direction, bytes):
            direction = direction.decode()
        dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}.get(
            direction)
        if dirs is None:
            raise self.fail(f"unknown direction {direction!r}")
        hidden = W.shape[1] // _GATES[self.kind]
        acts = list(a.get("activations", ())) or list(_DEFAULT_ACTS[self.kind]) * len(dirs)
        acts = [s.decode() if isinstance(s, bytes) else s for s in acts]
        per_dir = len(_DEFAULT_ACTS[self.kind])
        if len(acts) == per_dir and len(dirs) == 2:  # one direction's list serves both
            acts = acts * 2
        elif len(acts) == 2 * per_dir and len(dirs) == 1:  # RNN's schema default lists two
            acts = acts[:per_dir]
        if len(acts) != per_dir * len(dirs):
            raise self.fail(f"activations lists {len(acts)} functions; {self.kind} "
                            f"{direction} needs {per_dir * len(dirs)}")
        unknown = sorted({s for s in acts if s not in _ACTS})
        if unknown:
            raise self.fail(f"activation function {unknown[0]!r} is not supported (supported: "
                            f"{', '.join(sorted(_ACTS))})")
        alphas = list(a.get("activation_alpha", ()))
        betas = list(a.get("activation_beta", ()))
        params = []
        for s in acts:  # alpha/beta lists are consumed in order by the functions that take them
            k = _ACTS[s][1]
            params.append((alphas.pop(0) if k >= 1 and alphas else None,
                           betas.pop(0) if k >= 2 and betas else None))
        self.clip = a.get("clip")
        ys, hs, cs = [], [], []
        for d, backwards in enumerate(dirs):
            fns = [(acts[d * per_dir + i], *params[d * per_dir + i]) for i in range(per_dir)]
            y, h, c = self.direction(x, d, backwards, W[d], R[d], B[d],
                                     None if P is None else P[d], h0, c0, fns, T, batch, hidden)
            ys.append(y)
            hs.append(h)
            cs.append(c)
        self.outputs(ys, hs, cs, layout, T, batch, hidden)

    def weight(self, t: str) -> _Val:
        v = self.rw.value(t)
        return _Val(self, np.asarray(v, self.dtype)) if v is not None else _Val(self, tensor=t)

    def state0(self, init: str, d: int) -> str | None:
        """Direction ``d``'s initial state [1, B, H], or None for the zero state."""
        if not init:
            return None
        return self.slice(init, 0, d, d + 1)  # [1, B, H]

    def gate_act(self, fn, x: str) -> str:
        if self.clip is not None:
            c = float(self.clip)
            x = self.op("Clip", (x, self.const(-c), self.const(c)), self.rw.type(x).shape)
        return self.act(fn[0], x, fn[1], fn[2])

    def direction(self, x, d, backwards, W, R, B, P, h0, c0, fns, T, batch, hidden):
        G = _GATES[self.kind]
        wb, rb = B[: G * hidden], B[G * hidden:]
        # input projection of every step at once: X [T, B, I] @ W^T + Wb (+ Rb where it adds)
        bias = wb + rb if self.kind != "GRU" else (
            wb[: 2 * hidden] + rb[: 2 * hidden]).concat(wb[2 * hidden:])
        xw = self.op("MatMul", (x, W.T.name()), (T, batch, G * hidden))
        xw = self.op("Add", (xw, bias.name()), (T, batch, G * hidden))
        # H[t-1] @ R^T; GRU without linear_before_reset multiplies its third block by r * H
        self.lbr = int(self.n.attrs.get("linear_before_reset", 0))
        split = self.kind == "GRU" and not self.lbr
        RT = (R[: 2 * hidden] if split else R).T.name()
        self.RhT = R[2 * hidden:].T.name() if split else None
        width = (2 if split else G) * hidden
        h = self.state0(h0, d)  # None: zero, so the first step skips R
        c = self.state0(c0, d) if self.kind == "LSTM" else None
        shape = (1, batch, hidden)
        steps = range(T - 1, -1, -1) if backwards else range(T)
        outs = {}
        for t in steps:
            xt = self.slice(xw, 0, t, t + 1)  # [1, B, G*H]
            hr = None if h is None else self.op("MatMul", (h, RT), (1, batch, width))
            if self.kind == "RNN":
                pre = xt if hr is None else self.op("Add", (xt, hr), shape)
                h = self.gate_act(fns[0], pre)
            elif self.kind == "GRU":
                h = self.gru_step(xt, hr, h, rb, fns, shape, hidden)
            else:
                h, c = self.lstm_step(xt, hr, c, P, fns, shape, hidden)
            outs[t] = h
        seq = [outs[t] for t in range(T)]
        y = seq[0] if T == 1 else self.op("Concat", tuple(seq), (T, batch, hidden), axis=0)
        return y, h, c

    def _plus(self, a: str, b: str | None, shape) -> str:
        return a if b is None else self.op("Add", (a, b), shape)

    def gru_step(self, xt, hr, h, rb, fns, shape, hidden):
        def gates(v, i):
            return None if v is None else self.slice(v, 2, i * hidden, (i + 1) * hidden)

        f, g = fns
        z = self.gate_act(f, self._plus(gates(xt, 0), gates(hr, 0), shape))
        r = self.gate_act(f, self._plus(gates(xt, 1), gates(hr, 1), shape))
        rbh = rb[2 * hidden:].name()
        if h is None:  # zero state: (r * 0) @ Rh^T and r * (0 @ Rh^T) are both 0
            cand = self.op("Mul", (r, rbh), shape) if self.lbr else rbh
        elif self.lbr:  # r * (H @ Rh^T + Rbh)
            cand = self.op("Mul", (r, self.op("Add", (gates(hr, 2), rbh), shape)), shape)
        else:  # (r * H) @ Rh^T + Rbh
            rh = self.op("MatMul", (self.op("Mul", (r, h), shape), self.RhT), shape)
            cand = self.op("Add", (rh, rbh), shape)
        hh = self.gate_act(g, self.op("Add", (gates(xt, 2), cand), shape))
        if h is None:  # H = (1 - z) * hh
            return self.op("Sub", (hh, self.op("Mul", (z, hh), shape)), shape)
        # H = (1 - z) * hh + z * H_prev = hh + z * (H_prev - hh)
        return self.op("Add", (hh, self.op("Mul", (z, self.op("Sub", (h, hh), shape)), shape)),
                       shape)

    def lstm_step(self, xt, hr, c, P, fns, shape, hidden):
        f, g, hfn = fns
        pre = self._plus(xt, hr, (shape[0], shape[1], 4 * hidden))
        gi, go, gf, gc = (self.slice(pre, 2, k * hidden, (k + 1) * hidden) for k in range(4))
        pi, po, pf = ((None,) * 3 if P is None else
                      tuple(P[k * hidden:(k + 1) * hidden].name() for k in range(3)))
        if pi is not None and c is not None:
            gi = self.op("Add", (gi, self.op("Mul", (pi, c), shape)), shape)
        i = self.gate_act(f, gi)
        cc = self.gate_act(g, gc)
        new = self.op("Mul", (i, cc), shape)
        if c is not None:  # C = f * C_prev + i * cc (C_prev = 0 at a zero start)
            if int(self.n.attrs.get("input_forget", 0)):
                fg = self.op("Sub", (self.const(1.0), i), shape)
            else:
                if pf is not None:
                    gf = self.op("Add", (gf, self.op("Mul", (pf, c), shape)), shape)
                fg = self.gate_act(f, gf)
            new = self.op("Add", (self.op("Mul", (fg, c), shape), new), shape)
        c = new
        if po is not None:
            go = self.op("Add", (go, self.op("Mul", (po, c), shape)), shape)
        o = self.gate_act(f, go)
        h = self.op("Mul", (o, self.act(hfn[0], c, hfn[1], hfn[2])), shape)
        return h, c

    def outputs(self, ys, hs, cs, layout, T, batch, hidden):
        n, rw = self.n, self.rw
        D = len(ys)
        outs = list(n.outputs) + [""] * (3 - len(n.outputs))
        results = {}
        if outs[0]:
            parts = [self.op("Reshape", (y, rw.shape_const(f"{n.name}_s", (T, 1, batch, hidden))),
                             (T, 1, batch, hidden)) for y in ys]
            y = parts[0] if D == 1 else self.op("Concat", tuple(parts), (T, D, batch, hidden),
                                                axis=1)
            if layout:  # [B, T, D, H]
                y = self.op("Transpose", (y,), (batch, T, D, hidden), perm=(2, 0, 1, 3))
            results[outs[0]] = y
        for k, states in ((1, hs), (2, cs)):
            if not outs[k]:
                continue
            s = states[0] if D == 1 else self.op("Concat", tuple(states), (D, batch, hidden),
                                                 axis=0)
            if layout:  # [B, D, H]
                s = self.op("Transpose", (s,), (batch, D, hidden), perm=(1, 0, 2))
            results[outs[k]] = s
        for name, src in results.items():
            rw.alias(name, src)


def unroll_rnn(graph: Graph) -> Graph:
    """Unroll RNN, GRU and LSTM nodes over their sequence length (see the module doc)."""
    if not any(n.op_type in RECURRENT for n in graph.nodes):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.op_type in RECURRENT:
            where = describe(graph, n)
            try:
                _Cell(rw, n, where).expand()
            except LimitError as e:  # say which node made the graph grow, and by what
                steps = graph.types[n.inputs[0]].shape[0 if n.attrs.get("layout", 0) == 0
                                                         else 1]
                raise LimitError(f"{where}: unrolled over its {steps} time steps, "
                                 f"{e.message.split(': ', 1)[-1]}", hint=e.hint) from None
        else:
            rw.emit(n)
    return rw.finish()
