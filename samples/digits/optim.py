"""Loss, optimiser and the mini-batch training loop for the digit samples (plain numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from layers import Sequential


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)``, and d(loss)/d(logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    loss = -log_p[rows, labels].mean()
    grad = np.exp(log_p)
    grad[rows, labels] -= 1.0
    return float(loss), grad / len(labels)


class Adam:
    """Adam (Kingma & Ba) with decoupled weight decay on tensors of rank >= 2 (AdamW style)."""

    def __init__(self, model: Sequential, lr: float, weight_decay: float) -> None:
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.beta1, self.beta2, self.eps, self.step_count = 0.9, 0.999, 1e-8, 0
        self.m = [np.zeros_like(layer.params[key]) for layer, key in model.parameters()]
        self.v = [np.zeros_like(layer.params[key]) for layer, key in model.parameters()]

    def step(self, lr: float) -> None:
        """Apply one update from the gradients left in each layer by the last backward pass."""
        self.step_count += 1
        t, b1, b2 = self.step_count, self.beta1, self.beta2
        for i, (layer, key) in enumerate(self.model.parameters()):
            p, g = layer.params[key], layer.grads[key]
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat, v_hat = self.m[i] / (1 - b1**t), self.v[i] / (1 - b2**t)
            decay = self.weight_decay * p if p.ndim >= 2 else 0.0
            layer.params[key] = p - lr * (m_hat / (np.sqrt(v_hat) + self.eps) + decay)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; ``lr`` decays by a cosine to zero over the run."""

    epochs: int
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4


def cosine_lr(base: float, step: int, total: int) -> float:
    """Cosine-annealed learning rate at ``step`` of ``total``."""
    return 0.5 * base * (1.0 + np.cos(np.pi * step / total))


def train(
    model: Sequential, x: np.ndarray, y: np.ndarray, config: TrainConfig, rng: np.random.Generator
) -> list[float]:
    """Trains ``model`` in place on (x, y); returns the mean loss of each epoch."""
    opt = Adam(model, config.lr, config.weight_decay)
    steps_per_epoch = -(-len(x) // config.batch_size)
    total, losses = config.epochs * steps_per_epoch, []
    for _ in range(config.epochs):
        order, epoch_loss = rng.permutation(len(x)), 0.0
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            loss, grad = softmax_cross_entropy(model.forward(x[idx], train=True), y[idx])
            model.backward(grad)
            opt.step(cosine_lr(config.lr, opt.step_count, total))
            epoch_loss += loss * len(idx)
        losses.append(epoch_loss / len(x))
    return losses


def accuracy(model: Sequential, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` in inference mode."""
    return float((model.forward(x, train=False).argmax(axis=1) == y).mean())
