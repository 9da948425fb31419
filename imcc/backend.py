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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from isa.diagnostics import ConfigError, InputError

__all__ = ["ImccBackend", "ImccRep", "prepare", "run_model", "run_node", "supports_device"]


class ImccRep(BackendRep):
    """A compiled model: :attr:`program` is the :class:`imcc.Program`; :meth:`run` runs it."""

    def __init__(self, program, input_names: Sequence[str], run_args: Mapping[str, Any]):
        self.program = program
        self._inputs = tuple(input_names)
        self._run_args = dict(run_args)

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
        declared = {t.name for t in self.program.inputs}
        # an input the compiled program does not read (nothing in the model depends on it)
        feeds = {k: v for k, v in feeds.items() if k in declared}
        out = self.program.run(feeds, **{**self._run_args, **kwargs})
        return tuple(out[t.name] for t in self.program.outputs)


class ImccBackend(Backend):
    """ONNX's ``Backend`` for imcc: CPU only (the reference machine runs on numpy).

    ``prepare(model, device="CPU", chip="ideal", **options)``: ``options`` are
    :func:`imcc.compile`'s keyword arguments (``priority``, ``time_limit``, ``set``...) and
    :meth:`imcc.Program.run`'s ``time``, ``max_steps`` and ``backend``, kept for every ``run``
    (``seed`` is the compiler's; the run's is an argument of ``run``)."""

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

        if not cls.supports_device(device):
            raise ConfigError(f"device {device!r}: imcc's backend runs on CPU only")
        if not isinstance(model, onnx.ModelProto):
            raise ConfigError(f"prepare: expected an onnx.ModelProto, got "
                              f"{type(model).__name__}")
        run_args = {k: options.pop(k) for k in ("time", "max_steps", "backend") if k in options}
        for k in ("rtol", "atol"):  # the test runner's tolerances, for its own comparison
            options.pop(k, None)
        program = api.compile(model, chip, **options)
        inits = {t.name for t in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
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
