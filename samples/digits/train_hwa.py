"""Hardware-aware training of the digits CNN for a noisy chip, end to end (docs/torch.md).

    python samples/digits/train_hwa.py [--chip rram|pcm|FILE] [--precision FILE]
                                       [--epochs 60] [--finetune-epochs 60] [--seeds 10]
                                       [--times 0,3600,86400,31536000] [--train-time 86400]
                                       [--out DIR]

1. Train the float CNN in PyTorch on scikit-learn's 8x8 digits (the split of ``train.py``).
2. Fold its BatchNorms into the convolutions (what the compiler does to the ONNX graph).
3. Compile that float model for the chip and run it on the reference machine over ``--seeds``
   simulated chips (and read times, for a chip whose conductances drift).
4. ``imcc.torch.convert`` it for the chip, calibrate the input scales on the training images,
   and fine-tune it with the chip's noise in the forward pass (straight-through gradients).
5. Compile the fine-tuned model and run it the same way; print both, with the float model's
   accuracy, and write the fine-tuned ONNX model (``--out``, default the system's temporary
   folder) for ``imcc compile`` / ``imcc explore``.

scikit-learn is needed for the training images (``pip install scikit-learn``); the functions
below take arrays, so a test can run the same flow on the bundled ``test.npz``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import imcc
import imcc.torch as itorch

#: Read times after programming reported for a chip whose cells drift: right after
#: programming, one hour, one day, one year.
DRIFT_TIMES = (0.0, 3600.0, 86400.0, 31536000.0)


def build_cnn() -> nn.Sequential:
    """The architecture of ``cnn.onnx``: two (Conv 3x3 + BatchNorm + ReLU + MaxPool 2x2)
    stages on 1x8x8, Flatten, Linear 64 -> 10."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
        weight_decay: float = 0.0, batch: int = 32, seed: int = 0, log=None) -> nn.Module:
    """An ordinary PyTorch training loop (Adam, cosine learning rate, cross-entropy). On a
    model converted by :func:`imcc.torch.convert` it is hardware-aware training: every
    forward pass in ``train()`` draws a new chip and passes gradients straight through."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}")
    return model.eval()


def fold_batchnorms(model: nn.Sequential) -> nn.Sequential:
    """The model with each (Conv, BatchNorm) pair replaced by one Conv with a bias, equal in
    ``eval()`` (the compiler folds them the same way, so the analog layers then simulate the
    weights it programs)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers, mods = [], list(model.eval())
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d) and i + 1 < len(mods) and isinstance(mods[i + 1],
                                                                        nn.BatchNorm2d):
            layers.append(fuse_conv_bn_eval(m, mods[i + 1]))
            i += 2
            continue
        layers.append(m)
        i += 1
    return nn.Sequential(*layers).eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy of a torch model (a converted one simulates its chip in ``eval()``)."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def chip_accuracy(program: imcc.Program, x: np.ndarray, y: np.ndarray, *, seeds: int,
                  times=(0.0,)) -> dict[float, np.ndarray]:
    """Top-1 accuracy of a compiled program on the reference machine: read time -> one value
    per simulated chip (run seeds ``0 .. seeds-1``)."""
    out = {}
    for t in times:
        acc = []
        for s in range(seeds):
            logits = next(iter(program.run(x, seed=s, time=t).values()))
            acc.append(float((logits.argmax(1) == y).mean()))
        out[t] = np.array(acc)
    return out


def hardware_aware(model: nn.Module, chip, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
                   lr: float = 3e-3, precision=None, train_time: float = 0.0, seed: int = 0,
                   log=None) -> nn.Module:
    """Convert a float model (BatchNorms folded) for ``chip``, calibrate its input scales on
    ``x`` as the compiler would, fine-tune it with the chip's noise (drift at ``train_time``
    seconds after programming, where the chip drifts), and calibrate again for the trained
    weights."""
    analog = itorch.convert(model, chip, precision=precision)
    itorch.calibrate(analog, x)
    if train_time:
        itorch.set_time(analog, train_time, train=True)
    torch.manual_seed(seed)
    fit(analog, x, y, epochs=epochs, lr=lr, seed=seed, log=log)
    itorch.set_time(analog, 0.0)
    itorch.calibrate(analog, x)
    return analog


def load_chip(spec: str):
    """A chip preset by name, or a chip file (.toml or .json)."""
    from runtime.config import load_config, preset, preset_names

    return preset(spec) if spec in preset_names() else load_config(spec)


def _summary(acc: np.ndarray) -> str:
    return f"{100 * acc.mean():6.2f} +- {100 * acc.std():4.2f} % (min {100 * acc.min():.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", default="rram", help="chip preset or chip file [rram]")
    parser.add_argument("--precision", help="precision file (TOML) for compile and convert")
    parser.add_argument("--epochs", type=int, default=60, help="float training epochs [60]")
    parser.add_argument("--finetune-epochs", type=int, default=60,
                        help="hardware-aware fine-tuning epochs [60]")
    parser.add_argument("--lr", type=float, default=3e-3, help="fine-tuning learning rate [3e-3]")
    parser.add_argument("--seeds", type=int, default=10, help="simulated chips per point [10]")
    parser.add_argument("--times", help="read times in seconds, comma-separated [0, or "
                        "0,3600,86400,31536000 for a chip whose cells drift]")
    parser.add_argument("--train-time", type=float, default=86400.0,
                        help="read time in seconds that fine-tuning trains against, on a chip "
                        "whose cells drift [86400: one day]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training runs")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()),
                        help="folder for cnn_hwa.onnx [the system's temporary folder]")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a model this small trains fastest on one thread

    from train import load_split  # the split of the bundled models (needs scikit-learn)

    data = load_split(np.random.default_rng([args.seed, 0]))
    xt = torch.tensor(data.x_train.reshape(-1, 1, 8, 8))
    yt = torch.tensor(data.y_train)
    xs, ys = data.x_test.reshape(-1, 1, 8, 8), data.y_test
    chip = load_chip(args.chip)
    if args.times:
        times = tuple(float(t) for t in args.times.split(","))
    else:
        times = DRIFT_TIMES if chip.nonideal.has_drift else (0.0,)

    def say(msg: str) -> None:
        print(f"  {msg}", file=sys.stderr, flush=True)

    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    model = fit(build_cnn(), xt, yt, epochs=args.epochs, lr=3e-3, weight_decay=1e-4,
                seed=args.seed)
    model = fold_batchnorms(model)
    print(f"float model: {100 * accuracy(model, torch.tensor(xs), torch.tensor(ys)):.2f} % "
          f"on {len(ys)} test images ({time.perf_counter() - t0:.1f} s)")

    example = torch.tensor(xs[:64])
    before = itorch.compile(model, example, chip=chip, precision=args.precision,
                            calib=data.x_train.reshape(-1, 1, 8, 8))
    t0 = time.perf_counter()
    analog = hardware_aware(model, chip, xt, yt, epochs=args.finetune_epochs, lr=args.lr,
                            precision=args.precision, seed=args.seed, log=say,
                            train_time=args.train_time if chip.nonideal.has_drift else 0.0)
    print(f"fine-tuned with the chip's noise for {args.finetune_epochs} epochs "
          f"({time.perf_counter() - t0:.1f} s)")
    after = itorch.compile(analog, example, chip=chip, precision=args.precision,
                           calib=data.x_train.reshape(-1, 1, 8, 8))
    print(f"on chip {chip.name}, {args.seeds} simulated chips, top-1 on the test split:")
    acc_before = chip_accuracy(before, xs, ys, seeds=args.seeds, times=times)
    acc_after = chip_accuracy(after, xs, ys, seeds=args.seeds, times=times)
    for t in times:
        when = f" at t = {t:g} s" if len(times) > 1 or t else ""
        print(f"  float model{when}: {_summary(acc_before[t])}")
        print(f"  fine-tuned {when}: {_summary(acc_after[t])}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "cnn_hwa.onnx"
    proto = itorch.export_onnx(analog, example[:1])
    tmp = path.with_suffix(".onnx.tmp")
    tmp.write_bytes(proto.SerializeToString())
    tmp.replace(path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
