"""ONNX's backend interface (:mod:`onnx.backend.base`) over imcc: ``prepare`` compiles a model
for a chip with :func:`imcc.compile`, ``run`` runs the program on the reference machine
(:meth:`imcc.Program.run`). With it, onnx's own backend test suite runs against imcc
(tests/backend).

>>> import numpy as np, onnx
>>> from onnx import helper, TensorProto
>>> import imcc.backend
>>> node = helper.make_node("Relu", ["x"], ["y"])
>>> graph = helper.make_graph([node], "relu",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
>>> model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
>>> rep = imcc.backend.prepare(model)
>>> rep.run([np.array([[-1, 0, 1], [2, -3, 4]], np.float32)])[0]
array([[0., 0., 1.],
       [2., 0., 4.]], dtype=float32)
>>> imcc.backend.supports_device("CPU"), imcc.backend.supports_device("CUDA")
(True, False)

Every model imcc cannot compile raises :data:`imcc.Error` from ``prepare`` (one line saying
why); a result is never returned for a model imcc cannot compute.

A model whose shapes (or parameters imcc fixes at compile time) depend on graph inputs, such as a
Pad whose pads are an input, is compiled for each run's values of exactly those inputs: the
compiler's refusal names them (:class:`imcc.frontend.bind_constants.NeedsConstants`),
``prepare`` remembers them, and ``run`` compiles a program with them bound as constants
(``imcc.compile(..., constants=...)``). The programs are cached per values (the inputs' dtype,
shape and a SHA-256 of their bytes; the 16 most recent): a run with the values of an earlier one
reuses its program, a run with other values compiles another. Inputs the refusal does not name
are never bound. For such a model, a refusal of the values given (a Pad's negative pads beyond
the input, a training-mode Dropout's nonzero ratio) is raised by ``run``.

>>> pad = helper.make_node("Pad", ["x", "pads"], ["y"])
>>> graph = helper.make_graph([pad], "pad",
...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2]),
...      helper.make_tensor_value_info("pads", TensorProto.INT64, [4])],
...     [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
>>> rep = imcc.backend.prepare(helper.make_model(graph))
>>> rep.constant_inputs
('pads',)
>>> x = np.array([[1, 2]], np.float32)
>>> rep.run([x, np.array([0, 1, 0, 0])])[0]
array([[0., 1., 2.]], dtype=float32)
>>> rep.run([x, np.array([1, 0, 0, 1])])[0]
array([[0., 0., 0.],
       [1., 2., 0.]], dtype=float32)
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from isa.diagnostics import ConfigError, InputError

__all__ = ["ImccBackend", "ImccRep", "prepare", "run_model", "run_node", "supports_device"]


class ImccRep(BackendRep):
    """A compiled model: :attr:`program` is the :class:`imcc.Program`; :meth:`run` runs it.

    For a model compiled per run (:attr:`constant_inputs` not empty: the graph inputs bound to
    each run's values), :attr:`program` is the program of the latest run (None before the
    first)."""

    #: How many specialized programs a rep keeps (the most recently used).
    CACHE = 16

    def __init__(self, program, input_names: Sequence[str], run_args: Mapping[str, Any], *,
                 compile: Callable[..., Any] | None = None, constant_inputs: Sequence[str] = ()):
        self.program = program
        self._inputs = tuple(input_names)
        self._run_args = dict(run_args)
        self._compile = compile
        self.constant_inputs = tuple(constant_inputs)
        self._programs: OrderedDict[tuple, Any] = OrderedDict()

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run on ``inputs`` (a list of arrays in the order of the model's graph inputs, a dict
        name -> array, or one array for a one-input model); the outputs in the model's order.
        ``kwargs`` are :meth:`imcc.Program.run`'s (``seed``, ``time``...), over those given to
        ``prepare``."""
        if isinstance(inputs, Mapping):
            feeds = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray) or not isinstance(inputs, Sequence):
                inputs = [inputs]
            if len(inputs) != len(self._inputs):
                raise InputError(f"{len(inputs)} input(s) given; the model takes "
                                 f"{len(self._inputs)} ({', '.join(self._inputs) or 'none'})")
            feeds = dict(zip(self._inputs, inputs, strict=True))
        if self.constant_inputs:
            self.program = self._specialized(feeds)
        declared = {t.name for t in self.program.inputs}
        # an input the compiled program does not read (nothing in the model depends on it, or
        # it is compiled in as a constant)
        feeds = {k: v for k, v in feeds.items() if k in declared}
        out = self.program.run(feeds, **{**self._run_args, **kwargs})
        return tuple(out[t.name] for t in self.program.outputs)

    def _specialized(self, feeds: Mapping[str, Any]):
        """The program for the values ``feeds`` gives the constant inputs: cached, or compiled
        with them bound (and with any further input a compile refusal names as needed)."""
        from imcc.frontend.bind_constants import NeedsConstants

        while True:
            missing = [n for n in self.constant_inputs if n not in feeds]
            if missing:
                raise InputError(f"input {missing[0]!r} is not given; the model is compiled for "
                                 "its value")
            values = {n: np.asarray(feeds[n]) for n in self.constant_inputs}
            key = tuple((n, v.dtype.str, v.shape,
                         hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
                        for n, v in values.items())
            if key in self._programs:
                self._programs.move_to_end(key)
                return self._programs[key]
            try:
                prog = self._compile(constants=values)
            except NeedsConstants as e:
                more = [n for n in e.names if n in self._inputs and n not in values]
                if not more:
                    raise
                self.constant_inputs += tuple(more)
                continue
            self._programs[key] = prog
            while len(self._programs) > self.CACHE:
                self._programs.popitem(last=False)
            return prog


class ImccBackend(Backend):
    """ONNX's ``Backend`` for imcc: CPU only (the reference machine runs on numpy).

    ``prepare(model, device="CPU", chip="ideal", **options)``: ``options`` are
    :func:`imcc.compile`'s keyword arguments (``priority``, ``time_limit``, ``set``...) and
    :meth:`imcc.Program.run`'s ``time``, ``max_steps``, ``backend`` and ``accumulate``, kept
    for every ``run`` (``seed`` is the compiler's; the run's is an argument of ``run``).
    ``accumulate`` is ``float64`` unless given (with the numpy backend): the crossbar's float
    products are summed in float64 and rounded once, so that equal sums give equal results as in
    onnx's reference (docs/runtime.md, "Float sums")."""

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            return Device(device).type == DeviceType.CPU
        except (AttributeError, ValueError):
            return False

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", chip: str = "ideal",
                **options: Any) -> ImccRep:
        from imcc import api
        from imcc.frontend.bind_constants import NeedsConstants

        if not cls.supports_device(device):
            raise ConfigError(f"device {device!r}: imcc's backend runs on CPU only")
        if not isinstance(model, onnx.ModelProto):
            raise ConfigError(f"prepare: expected an onnx.ModelProto, got "
                              f"{type(model).__name__}")
        run_args = {k: options.pop(k) for k in ("time", "max_steps", "backend", "accumulate")
                    if k in options}
        if run_args.get("backend", "numpy") == "numpy":
            run_args.setdefault("accumulate", "float64")
        for k in ("rtol", "atol"):  # the test runner's tolerances, for its own comparison
            options.pop(k, None)
        inits = {t.name for t in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
        try:
            program = api.compile(model, chip, **options)
        except NeedsConstants as e:
            bind = [n for n in e.names if n in names]
            if not bind:
                raise
            return ImccRep(None, names, run_args, constant_inputs=bind,
                           compile=functools.partial(api.compile, model, chip, **options))
        return ImccRep(program, names, run_args)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info=None, **kwargs: Any) -> tuple[np.ndarray, ...]:
        """Run one node: a model of that node alone, its inputs typed from ``inputs`` (arrays
        in the node's input order) and its outputs from ``outputs_info`` (dtype, shape) when
        given, else by onnx's shape inference, at ``opset_version`` (default: onnx's newest)."""
        from onnx import helper

        opset = kwargs.pop("opset_version", None)
        arrays = [np.asarray(x) for x in inputs]
        names = [n for n in node.input if n]
        if len(names) != len(arrays):
            raise InputError(f"{len(arrays)} input(s) given; node {node.name or node.op_type!r} "
                             f"has {len(names)}")
        ins = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in zip(
                names, arrays, strict=True)]
        outs = []
        for i, n in enumerate(o for o in node.output if o):
            if outputs_info is not None and i < len(outputs_info):
                dt, shape = outputs_info[i]
                outs.append(helper.make_tensor_value_info(
                    n, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), shape))
            else:
                outs.append(helper.make_empty_tensor_value_info(n))
        graph = helper.make_graph([node], node.name or node.op_type, ins, outs)
        opsets = [helper.make_opsetid(node.domain, opset)] if opset else None
        model = helper.make_model(graph, opset_imports=opsets) if opsets else \
            helper.make_model(graph)
        if any(not o.type.HasField("tensor_type") for o in model.graph.output):
            # the outputs outputs_info leaves untyped: the types onnx's inference gives them
            inferred = onnx.shape_inference.infer_shapes(model)
            del model.graph.output[:]
            model.graph.output.extend(inferred.graph.output)
        return cls.prepare(model, device, **kwargs).run(arrays)


prepare = ImccBackend.prepare
run_model = ImccBackend.run_model
run_node = ImccBackend.run_node
supports_device = ImccBackend.supports_device
