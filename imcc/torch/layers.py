"""Analog layers: ``nn.Conv2d``, ``nn.Conv1d`` and ``nn.Linear`` whose forward pass carries a
chip's numerics (docs/torch.md).

:func:`convert` swaps the class of each such module in a deep copy of a model for its analog
subclass (:class:`AnalogConv2d`, :class:`AnalogConv1d`, :class:`AnalogLinear`), so the float
weights and bias stay the module's trainable parameters and its ``state_dict`` keys stay the
same (plus one ``_extra_state`` entry: the observed input range and sign). In ``eval()`` a
layer simulates the chip: its weights programmed once per seed and read time (programming
noise, stuck cells, drift), read noise drawn at every forward pass from a generator of its own.
In ``train()`` it observes its inputs, draws a fresh chip at every forward pass from torch's
random generator, and passes gradients straight through: ``y = y_float + (y_chip -
y_float).detach()``.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imcc.precision import LayerPrecision, PrecisionConfig, resolve
from imcc.tiling import divide_layer
from imcc.torch import chip as xchip
from imcc.torch.names import static_names, traced_names
from isa.diagnostics import ConfigError, InputError
from runtime.crossbar import Precision

__all__ = ["AnalogConv1d", "AnalogConv2d", "AnalogLinear", "analog_layers", "convert",
           "set_seed", "set_time", "set_train_noise", "to_float"]


def _exporting() -> bool:
    """True while torch traces or exports the model: the float layer is what it records."""
    exporting = getattr(torch.compiler, "is_exporting", None)  # torch >= 2.5
    return (torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()
            or (exporting is not None and exporting()))


class _Analog:
    """The chip side of an analog layer (a mixin before the torch layer class)."""

    _float_class: type[nn.Module]

    # ---- set up --------------------------------------------------------------------------

    def _setup(self, chip, config: PrecisionConfig | None, name: str, index: int) -> None:
        self.chip = chip
        self.precision_config = config
        self.layer_index = index
        self.onnx_name = name
        self.precision = _resolve(chip, config, name)
        self._input_amax: float | None = None  # None: neither observed nor calibrated
        self._input_signed: bool | None = None  # set by calibrate (the compiler's analysis)
        self._seen_negative = False
        self._seed = 0
        self._time = 0.0
        self._train_time = False
        self._train_noise = 1.0
        self._reset()

    def _reset(self) -> None:
        """Forget the programmed chip and the read-noise generator (a new run)."""
        self._cache = None
        self._gen = None
        self._plan = None

    def rename(self, name: str) -> None:
        """Take ``name`` as the layer's ONNX node name and resolve its precision for it."""
        if name != self.onnx_name:
            self.onnx_name = name
            p = _resolve(self.chip, self.precision_config, name)
            if p != self.precision:
                self.precision = p
                self._reset()

    def get_extra_state(self):
        return {"input_amax": self._input_amax, "input_signed": self._input_signed,
                "seen_negative": self._seen_negative}

    def set_extra_state(self, state) -> None:
        self._input_amax = state.get("input_amax")
        self._input_signed = state.get("input_signed")
        self._seen_negative = bool(state.get("seen_negative", False))
        self._cache = None

    def extra_repr(self) -> str:
        p = self.precision
        return (f"{self._float_class.extra_repr(self)}, onnx_name={self.onnx_name!r}, "
                f"chip={self.chip.name!r}, weight_bits={p.weight_bits}, cell_bits={p.cell_bits}"
                f", input_bits={p.input_bits}, dac_bits={p.dac_bits}, adc_bits={p.adc_bits}")

    # ---- seeds, time, input range --------------------------------------------------------

    def set_seed(self, seed: int) -> None:
        """Simulate the chip of run seed ``seed`` (as ``Program.run(seed=...)``): programming
        noise, stuck cells and drift exponents drawn anew, and the read noise of the following
        ``eval()`` forward passes from a generator started afresh."""
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed = {seed!r}: must be an integer >= 0")
        self._seed = int(seed)
        self._cache = None
        self._gen = None

    def set_time(self, time: float, *, train: bool = False) -> None:
        """Read the chip ``time`` seconds after programming (drift; 0 = none), as
        ``Program.run(time=...)``; with ``train``, ``train()`` forward passes drift too."""
        ok = not isinstance(time, bool) and isinstance(time, int | float | np.number)
        if not ok or not np.isfinite(time) or time < 0:
            raise ConfigError(f"time = {time!r}: must be a number of seconds >= 0")
        self._time = float(time)
        self._train_time = bool(train)
        self._cache = None
        self._gen = None

    def set_train_noise(self, scale: float) -> None:
        """Scale the device noise that ``train()`` forward passes inject: programming and read
        noise amplitudes and the stuck-cell fractions times ``scale`` (1 = the chip's own;
        ``eval()`` always simulates the chip as it is). Training against somewhat more noise
        than the chip has makes a model more robust to the chip's rare large errors."""
        ok = not isinstance(scale, bool) and isinstance(scale, int | float | np.number)
        if not ok or not np.isfinite(scale) or scale < 0:
            raise ConfigError(f"scale = {scale!r}: must be a number >= 0")
        self._train_noise = float(scale)

    @property
    def input_signed(self) -> bool:
        """Whether the layer's inputs are quantized as signed: the compiler's static analysis
        after :func:`imcc.torch.calibrate`, else whether a negative input was observed."""
        if self._input_signed is not None:
            return self._input_signed
        return self._seen_negative if self._input_amax is not None else True

    @property
    def input_scale(self) -> float:
        """The input quantization step: ``float32(amax / (2**(input_bits - signed) - 1))`` of
        the input range (1 for a range of 0 or an ideal DAC), as the compiler sets it."""
        p = self.precision
        if p.input_bits == 0:
            return 1.0
        qmax = (1 << (p.input_bits - int(self.input_signed))) - 1
        if qmax < 1:
            raise ConfigError(
                f"layer {self.onnx_name!r}: its inputs can be negative, and input_bits = "
                f"{p.input_bits} leaves no bit beside the sign",
                hint="use input_bits >= 2 for this layer (chip file or precision file)")
        if self._input_amax is None:
            raise InputError(
                f"layer {self.onnx_name!r} has no input range yet: call "
                "imcc.torch.calibrate(model, inputs), or train the model, which observes it")
        amax = self._input_amax
        return float(np.float32(amax / qmax)) if amax > 0 else 1.0

    def set_input_range(self, amax: float, signed: bool | None = None) -> None:
        """Set the largest input magnitude (and, if given, the sign) the layer quantizes for."""
        self._input_amax = float(amax)
        if signed is not None:
            self._input_signed = bool(signed)
        self._cache = None

    def _observe(self, x: torch.Tensor) -> None:
        amax, lo = torch.stack([x.detach().abs().max(), x.detach().min()]).float().tolist()
        self._input_amax = amax if self._input_amax is None else max(self._input_amax, amax)
        self._seen_negative = self._seen_negative or lo < 0

    # ---- forward -------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _exporting():
            return self._float_class.forward(self, x)
        if self.training:
            if self.precision.input_bits:
                self._observe(x)
            y = self._float_class.forward(self, x)
            with torch.no_grad():
                yc = self._chip_forward(x.detach(), train=True)
            return y + (yc.to(y.dtype) - y).detach()
        with torch.no_grad():
            yc = self._chip_forward(x.detach(), train=False)
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            y = self._float_class.forward(self, x)
            return y + (yc.to(y.dtype) - y).detach()
        return yc.to(x.dtype)

    def _generator(self, device: torch.device) -> torch.Generator:
        """The eval read-noise generator, seeded by (chip seed, run seed, layer)."""
        if self._gen is None or self._gen.device != device:
            ss = np.random.SeedSequence([self.chip.nonideal.seed, self._seed, self.layer_index,
                                         2])
            self._gen = torch.Generator(device=device)
            self._gen.manual_seed(int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        return self._gen

    def _layer_plan(self):
        if self._plan is None or self._plan[0] != self.precision:
            shape, groups = self._weight_shape()
            plan = divide_layer(self.onnx_name, self._plan_op, shape, groups, self.precision,
                                self.chip.rows, self.chip.cols)
            self._plan = (self.precision, plan, self._block_index(plan))
        return self._plan[1], self._plan[2]

    def _state(self, train: bool, device: torch.device):
        """The programmed layer (and its weight scales) for this forward pass."""
        ni = self.chip.nonideal
        time_s = self._time if (not train or self._train_time) and self._time else None
        random = bool(ni.program_noise or ni.stuck_on or ni.stuck_off
                      or (ni.has_drift and time_s is not None and time_s > ni.drift_t0))
        signed = self.input_signed
        key = (self.weight._version, self.weight.data_ptr(), device, self.precision, signed,
               self._seed, time_s, self.chip)
        if self._cache is not None and self._cache[0] == key and not (train and random):
            return self._cache[1:]
        plan, _ = self._layer_plan()
        w = self._weight_matrix()
        if not np.isfinite(w).all():
            bad = int(w.size - np.count_nonzero(np.isfinite(w)))
            raise InputError(f"layer {self.onnx_name!r}: its weight holds {bad} NaN or "
                             "infinite value(s), which no crossbar cell can store")
        if train and random:  # a fresh chip every step, from torch's generator
            seed = int(torch.randint(0, 2**62, (1,)).item())
        else:
            seed = self._seed
        comp = getattr(self.chip, "drift_compensation", "none")
        chip = self.chip
        if train and self._train_noise != 1.0:
            chip = _noisier(chip, self._train_noise)
        layer, wscale = xchip.program_layer(
            plan, w, chip, signed=signed, seed=seed, index=self.layer_index,
            time_s=time_s, reference=comp != "none", device=device)
        gen = None if train else self._generator(device)
        if comp != "none":
            layer.s0 = xchip.reference_sums(layer, self._precision(signed, 1.0), comp,
                                            plan.N, programmed=True, direct=self._direct,
                                            gen=gen, device=device)
        self._cache = (key, layer, wscale)
        return layer, wscale

    @property
    def _direct(self) -> bool:
        return self.precision.signed == "direct"

    def _precision(self, signed: bool, iscale: float) -> Precision:
        p = self.precision
        return Precision(ibits=p.input_bits, isgn=int(signed), iscale=iscale, dacb=p.dac_bits,
                         adcb=p.adc_bits, adcsh=0)

    def _chip_forward(self, x: torch.Tensor, train: bool) -> torch.Tensor:
        device = x.device
        signed = self.input_signed
        iscale = self.input_scale  # (raises before any programming when there is no range)
        layer, wscale = self._state(train, device)
        p = self._precision(signed, iscale)
        gen = None if train else self._generator(device)
        xf = x.float()
        if p.ibits:
            scale_t = torch.tensor(np.float32(iscale), device=device)
            q = xchip.quantize_inputs(xf, p, scale_t)
        else:
            q = xf
        a, finish = self._patches(q)
        _, index = self._layer_plan()
        outs = []
        for blk, idx in zip(layer.blocks, index):
            ab = a if idx is None else a[:, idx.to(device)]
            outs.append(xchip.block_product(ab, blk, layer, p, gen))
        y = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        scale = torch.from_numpy(np.float32(iscale) * wscale).to(device)  # as dequantize
        comp = getattr(self.chip, "drift_compensation", "none")
        if comp != "none":
            s = xchip.reference_sums(layer, p, comp, y.shape[1], programmed=False,
                                     direct=self._direct, gen=gen, device=device)
            scale = scale * xchip.compensation(layer.s0, s)
        y = y * scale
        if self.bias is not None:
            y = y + self.bias.detach().float()
        return finish(y)


def _noisier(chip, scale: float):
    """``chip`` with its programming and read noise and its stuck-cell fractions times
    ``scale`` (the fractions capped so they still sum to at most 1)."""
    ni = chip.nonideal
    stuck = ni.stuck_on + ni.stuck_off
    cap = min(scale, 1.0 / stuck) if stuck else scale
    return dataclasses.replace(chip, nonideal=dataclasses.replace(
        ni, program_noise=ni.program_noise * scale, read_noise=ni.read_noise * scale,
        stuck_on=ni.stuck_on * cap, stuck_off=min(ni.stuck_off * cap, 1.0 - ni.stuck_on * cap)))


def _resolve(chip, config: PrecisionConfig | None, name: str) -> LayerPrecision:
    precs, _ = resolve(chip, config, [name])
    return precs[name]


class _AnalogConv(_Analog):
    _plan_op = "Conv"

    def _weight_shape(self):
        w = self.weight
        shape = tuple(w.shape) if w.dim() == 4 else (w.shape[0], w.shape[1], 1, w.shape[2])
        return shape, self.groups

    def _weight_matrix(self) -> np.ndarray:
        shape, _ = self._weight_shape()
        return self.weight.detach().float().cpu().numpy().reshape(shape)

    def _kernel(self):
        if self.weight.dim() == 4:
            return tuple(self.kernel_size), tuple(self.stride), tuple(self.dilation)
        return (1, self.kernel_size[0]), (1, self.stride[0]), (1, self.dilation[0])

    def _block_index(self, plan):
        """Per block, the columns of ``F.unfold``'s patch (channel, kh, kw order) in the order
        of the block's rows: (kh, kw, channel) from the block's first channel on (imcc/tiling)."""
        (kh, kw), _, _ = self._kernel()
        out = []
        for b in plan.blocks:
            first, cb = b.k_offset // (kh * kw), b.K // (kh * kw)
            i, j, c = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(cb), indexing="ij")
            out.append(torch.from_numpy(((first + c) * kh * kw + i * kw + j).reshape(-1)))
        return out

    def _patches(self, q: torch.Tensor):
        (kh, kw), stride, dilation = self._kernel()
        pad = self._reversed_padding_repeated_twice
        if any(pad):
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            q = F.pad(q, pad, mode=mode)
        one_d = q.dim() == 3
        if one_d:
            q = q.unsqueeze(2)
        n, _, hp, wp = q.shape
        oh = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        cols = F.unfold(q, (kh, kw), dilation=dilation, stride=stride)
        a = cols.transpose(1, 2).reshape(n * oh * ow, -1)

        def finish(y: torch.Tensor) -> torch.Tensor:
            y = y.view(n, oh * ow, -1).transpose(1, 2)
            return y.reshape(n, -1, ow) if one_d else y.reshape(n, -1, oh, ow)

        return a, finish


class AnalogConv2d(_AnalogConv, nn.Conv2d):
    """``nn.Conv2d`` on the chip (grouped and depthwise included)."""

    _float_class = nn.Conv2d


class AnalogConv1d(_AnalogConv, nn.Conv1d):
    """``nn.Conv1d`` on the chip (the compiler makes it a 2-D conv of height 1)."""

    _float_class = nn.Conv1d


class AnalogLinear(_Analog, nn.Linear):
    """``nn.Linear`` on the chip (any leading dimensions)."""

    _float_class = nn.Linear
    _plan_op = "Gemm"

    def _weight_shape(self):
        return (self.in_features, self.out_features), 1

    def _weight_matrix(self) -> np.ndarray:
        return np.ascontiguousarray(self.weight.detach().float().cpu().numpy().T)

    def _block_index(self, plan):
        return [None]

    def _patches(self, q: torch.Tensor):
        lead = q.shape[:-1]

        def finish(y: torch.Tensor) -> torch.Tensor:
            return y.reshape(*lead, y.shape[-1])

        return q.reshape(-1, q.shape[-1]), finish


_ANALOG = {nn.Conv2d: AnalogConv2d, nn.Conv1d: AnalogConv1d, nn.Linear: AnalogLinear}


# ---- whole models --------------------------------------------------------------------------


def analog_layers(model: nn.Module) -> dict[str, _Analog]:
    """The analog layers of ``model`` by qualified module name."""
    return {q: m for q, m in model.named_modules() if isinstance(m, _Analog)}


def convert(module: nn.Module, chip, *, precision=None, example_inputs=None) -> nn.Module:
    """A deep copy of ``module`` whose ``nn.Conv2d``, ``nn.Conv1d`` and ``nn.Linear`` carry the
    chip's numerics (see the module doc and docs/torch.md).

    ``chip``: a preset name, a chip file or a :class:`runtime.config.ChipConfig`;
    ``precision``: a precision file (its dict, or an :class:`imcc.precision.PrecisionConfig`),
    matched against the layers' ONNX node names as the compiler matches them. The names come
    from the module tree (:mod:`imcc.torch.names`); ``example_inputs`` (a tensor or a tuple of
    them) runs the model once to take them from the modules that actually run, as
    :func:`imcc.torch.calibrate` and :func:`imcc.torch.compile` do."""
    from imcc.api import _chip, _precision

    if not isinstance(module, nn.Module):
        raise ConfigError(f"convert: expected a torch.nn.Module, got {type(module).__name__}")
    cfg = _chip(chip)
    config = _precision(precision, cfg)
    if analog_layers(module):
        raise ConfigError("convert: the module is already converted (it holds analog layers)",
                          hint="convert the float model, or imcc.torch.to_float(model) first")
    model = copy.deepcopy(module)
    targets = [(q, m) for q, m in model.named_modules() if type(m) in _ANALOG]
    names = static_names(model, [q for q, _ in targets])
    if example_inputs is not None:
        was = model.training
        model.eval()
        names.update(traced_names(model, _args(example_inputs), [q for q, _ in targets]))
        model.train(was)
    _, warns = resolve(cfg, config, [names[q] for q, _ in targets])
    for w in warns:
        warnings.warn(w, stacklevel=2)
    for i, (q, m) in enumerate(targets):  # in place: a module shared by two parents stays one
        m.__class__ = _ANALOG[type(m)]
        m._setup(cfg, config, names[q], i)
    return model


def to_float(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every analog layer back to its torch class (the trained
    float weights, no chip): what :func:`imcc.torch.compile` exports."""
    memo: dict = {}
    for m in analog_layers(model).values():  # the programmed chips are not copied
        memo[id(m._cache)] = memo[id(m._gen)] = memo[id(m._plan)] = None
    out = copy.deepcopy(model, memo)
    for m in out.modules():
        if isinstance(m, _Analog):
            cls = m._float_class
            for k in list(vars(m)):
                if k in _ANALOG_ATTRS:
                    delattr(m, k)
            m.__class__ = cls
    return out


_ANALOG_ATTRS = ("chip", "precision_config", "layer_index", "onnx_name", "precision",
                 "_input_amax", "_input_signed", "_seen_negative", "_seed", "_time",
                 "_train_time", "_train_noise", "_cache", "_gen", "_plan")


def _args(example) -> tuple:
    return tuple(example) if isinstance(example, tuple | list) else (example,)


def set_seed(model: nn.Module, seed: int) -> None:
    """:meth:`_Analog.set_seed` on every analog layer of ``model``."""
    for m in analog_layers(model).values():
        m.set_seed(seed)


def set_train_noise(model: nn.Module, scale: float) -> None:
    """:meth:`_Analog.set_train_noise` on every analog layer of ``model``."""
    for m in analog_layers(model).values():
        m.set_train_noise(scale)


def set_time(model: nn.Module, time: float, *, train: bool = False) -> None:
    """:meth:`_Analog.set_time` on every analog layer of ``model``."""
    for m in analog_layers(model).values():
        m.set_time(time, train=train)
