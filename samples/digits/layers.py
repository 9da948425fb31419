"""Plain-numpy layers with hand-written backward passes, just enough for the digit samples.

Every layer stores its parameters under PyTorch-style names (``weight``, ``bias``,
``running_mean``, ``running_var``) in PyTorch layouts, so the ONNX export is a direct copy.
A layer's ``forward(x, train)`` caches what its ``backward(grad)`` needs; ``backward`` fills
``self.grads`` (same keys as ``self.params``) and returns the gradient for its input.

Training runs in float64 for stable statistics; the exporter casts to float32.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: no parameters, no buffers."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """Kaiming-normal initial weights for a ReLU network: N(0, 2 / fan_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


class Dense(Layer):
    """``y = x @ weight.T + bias`` with ``weight`` of shape [out, in] (ONNX Gemm, transB=1)."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.params = {"weight": he_normal(rng, (n_out, n_in), n_in), "bias": np.zeros(n_out)}

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        self.grads = {"weight": grad.T @ self._x, "bias": grad.sum(axis=0)}
        return grad @ self.params["weight"]


class Relu(Layer):
    """``y = max(x, 0)``."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._mask = x > 0
        return np.where(self._mask, x, 0.0)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return np.where(self._mask, grad, 0.0)


def im2col(x: np.ndarray, k: int, pad: int) -> np.ndarray:
    """Windows of a stride-1 convolution as rows: [N*H*W, C*k*k] for same-size output.

    Columns are ordered (c, kh, kw), matching ``weight.reshape(out, -1)`` of an ONNX Conv weight
    [out, C, k, k]; rows are ordered (n, h, w).
    """
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(2, 3))
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def col2im(cols: np.ndarray, shape: tuple[int, int, int, int], k: int, pad: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: sums each window's gradient back onto the input [N, C, H, W]."""
    n, c, h, w = shape
    windows = cols.reshape(n, h, w, c, k, k)
    padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for dy in range(k):
        for dx in range(k):
            padded[:, :, dy : dy + h, dx : dx + w] += windows[:, :, :, :, dy, dx].transpose(
                0, 3, 1, 2
            )
    return padded[:, :, pad : pad + h, pad : pad + w]


class Conv2d(Layer):
    """Square-kernel, stride-1, 'same'-padded convolution without bias (it feeds a BatchNorm)."""

    def __init__(self, c_in: int, c_out: int, k: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.k, self.pad = k, k // 2
        self.params = {"weight": he_normal(rng, (c_out, c_in, k, k), c_in * k * k)}

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        n, _, h, w = x.shape
        self._shape = x.shape
        self._cols = im2col(x, self.k, self.pad)
        weight = self.params["weight"]
        out = self._cols @ weight.reshape(weight.shape[0], -1).T
        return out.reshape(n, h, w, -1).transpose(0, 3, 1, 2)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        weight = self.params["weight"]
        g = grad.transpose(0, 2, 3, 1).reshape(-1, weight.shape[0])
        self.grads = {"weight": (g.T @ self._cols).reshape(weight.shape)}
        dcols = g @ weight.reshape(weight.shape[0], -1)
        return col2im(dcols, self._shape, self.k, self.pad)


class BatchNorm2d(Layer):
    """Per-channel batch normalisation with PyTorch's running-statistics update.

    Training uses the batch's mean and biased variance and updates the running mean and the
    unbiased running variance with ``momentum``; inference uses the running statistics, which is
    exactly ONNX BatchNormalization (``training_mode=0``).
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.params = {"weight": np.ones(channels), "bias": np.zeros(channels)}
        self.buffers = {"running_mean": np.zeros(channels), "running_var": np.ones(channels)}

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        if train:
            mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
            self._update_running(mean, var, x.size // x.shape[1])
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self._inv_std = 1.0 / np.sqrt(var + self.eps)
        self._xhat = (x - mean[:, None, None]) * self._inv_std[:, None, None]
        gamma, beta = self.params["weight"], self.params["bias"]
        return self._xhat * gamma[:, None, None] + beta[:, None, None]

    def _update_running(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        m = self.momentum
        unbiased = var * count / max(count - 1, 1)
        self.buffers["running_mean"] = (1 - m) * self.buffers["running_mean"] + m * mean
        self.buffers["running_var"] = (1 - m) * self.buffers["running_var"] + m * unbiased

    def backward(self, grad: np.ndarray) -> np.ndarray:
        axes = (0, 2, 3)
        self.grads = {"weight": (grad * self._xhat).sum(axis=axes), "bias": grad.sum(axis=axes)}
        g = grad * self.params["weight"][:, None, None]
        mean_g = g.mean(axis=axes, keepdims=True)
        mean_gx = (g * self._xhat).mean(axis=axes, keepdims=True)
        return (g - mean_g - self._xhat * mean_gx) * self._inv_std[:, None, None]


class MaxPool2d(Layer):
    """Non-overlapping 2x2 max pooling, stride 2 (H and W must be even)."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        n, c, h, w = x.shape
        blocks = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
        blocks = blocks.reshape(n, c, h // 2, w // 2, 4)
        self._shape = x.shape
        self._arg = blocks.argmax(axis=-1)
        return np.take_along_axis(blocks, self._arg[..., None], axis=-1)[..., 0]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        n, c, h, w = self._shape
        blocks = np.zeros((n, c, h // 2, w // 2, 4), dtype=grad.dtype)
        np.put_along_axis(blocks, self._arg[..., None], grad[..., None], axis=-1)
        blocks = blocks.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
        return blocks.reshape(n, c, h, w)


class Flatten(Layer):
    """[N, C, H, W] -> [N, C*H*W] in (c, h, w) order, like ONNX Flatten(axis=1)."""

    def forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)


class Sequential:
    """Named layers applied in order; names become ONNX node and initializer prefixes."""

    def __init__(self, layers: list[tuple[str, Layer]]) -> None:
        self.layers = layers

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        for _, layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, grad: np.ndarray) -> None:
        for _, layer in reversed(self.layers):
            grad = layer.backward(grad)

    def parameters(self) -> list[tuple[Layer, str]]:
        """Every trainable tensor as (layer, key), in a fixed order."""
        return [(layer, key) for _, layer in self.layers for key in layer.params]
