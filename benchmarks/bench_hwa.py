"""Accuracy a noisy chip loses, and what drift compensation and hardware-aware training win back.

    python benchmarks/bench_hwa.py [--seeds 10] [--epochs 60] [--finetune-epochs 60]
                                   [--only rram|pcm] [--json out.json]

The digits CNN of ``samples/digits`` (the architecture of ``cnn.onnx``) is trained in PyTorch
(``samples/digits/train_hwa.py``), its BatchNorms folded, and compiled for the ``rram`` and
``pcm`` presets; every accuracy is top-1 on the 539 held-back test images, measured on the
reference machine (``imcc.Program.run``) over ``--seeds`` simulated chips (run seeds 0..n-1),
as mean +- standard deviation (and the worst chip). Rows:

- rram: the float model and the fine-tuned one, with the preset's 8-bit weights and with the
  format-aligned 9-bit weights of ``samples/digits/weights9.toml`` (same columns and cost);
- pcm, read 0 s, 1 hour, 1 day and 1 year after programming: neither remedy, drift
  compensation alone (the preset's ``global``, and ``per-column``), hardware-aware training
  alone (trained and run with compensation off), and both.

Hardware-aware fine-tuning: ``imcc.torch.convert`` for the chip the model runs on, calibrate,
``--finetune-epochs`` epochs of Adam (lr ``--lr``) with the chip's noise in every forward pass
(on pcm with one day of drift). Needs torch and scikit-learn (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples" / "digits"))

import torch
import train_hwa as hwa
from train import load_split

import imcc.torch as itorch
from runtime.config import preset

WEIGHTS9 = ROOT / "samples" / "digits" / "weights9.toml"
TIMES = hwa.DRIFT_TIMES
TIME_NAMES = {0.0: "0 s", 3600.0: "1 h", 86400.0: "1 day", 31536000.0: "1 year"}
PCM_TRAIN_TIME = 86400.0


def _cell(acc: np.ndarray) -> str:
    return f"{100 * acc.mean():5.2f} +- {100 * acc.std():4.2f} ({100 * acc.min():5.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=60, help="float training epochs")
    parser.add_argument("--finetune-epochs", type=int, default=60)
    parser.add_argument("--lr", type=float, default=3e-3, help="fine-tuning learning rate")
    parser.add_argument("--only", choices=["rram", "pcm"])
    parser.add_argument("--json", type=Path, help="write every accuracy list here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    data = load_split(np.random.default_rng([0, 0]))
    xt = torch.tensor(data.x_train.reshape(-1, 1, 8, 8))
    yt = torch.tensor(data.y_train)
    xs, ys = data.x_test.reshape(-1, 1, 8, 8), data.y_test
    calib = data.x_train.reshape(-1, 1, 8, 8)
    example = torch.tensor(xs[:64])

    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = hwa.fold_batchnorms(hwa.fit(hwa.build_cnn(), xt, yt, epochs=args.epochs, lr=3e-3,
                                        weight_decay=1e-4))
    float_acc = hwa.accuracy(model, torch.tensor(xs), torch.tensor(ys))
    print(f"float model (PyTorch, BatchNorms folded): {100 * float_acc:.2f} % "
          f"({time.perf_counter() - t0:.1f} s to train)")
    results: dict = {"float": float_acc}

    def measure(m, chip, precision, times=(0.0,)):
        prog = itorch.compile(m, example, chip=chip, precision=precision, calib=calib)
        return hwa.chip_accuracy(prog, xs, ys, seeds=args.seeds, times=times)

    def tuned(chip, precision, train_time=0.0):
        t = time.perf_counter()
        m = hwa.hardware_aware(model, chip, xt, yt, epochs=args.finetune_epochs, lr=args.lr,
                               precision=precision, train_time=train_time)
        print(f"  fine-tuned for {chip.name} ({args.finetune_epochs} epochs, "
              f"{time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
        return m

    if args.only in (None, "rram"):
        rram = preset("rram")
        print(f"\nrram, {args.seeds} chips: top-1 % mean +- std (worst chip)")
        print(f"  {'weights':<28} {'float model':>24} {'fine-tuned':>24}")
        for label, prec in (("8-bit (preset)", None), ("9-bit (weights9.toml)", WEIGHTS9)):
            a = measure(model, rram, prec)[0.0]
            b = measure(tuned(rram, prec), rram, prec)[0.0]
            print(f"  {label:<28} {_cell(a):>24} {_cell(b):>24}", flush=True)
            results[f"rram {label}"] = {"float": a.tolist(), "tuned": b.tolist()}

    if args.only in (None, "pcm"):
        pcm = preset("pcm")  # its drift compensation is "global"
        col = dataclasses.replace(pcm, drift_compensation="per-column")
        off = dataclasses.replace(pcm, drift_compensation="none")
        print(f"\npcm, {args.seeds} chips: top-1 % mean +- std (worst chip) at each read time")
        print(f"  {'':<48}" + "".join(f"{TIME_NAMES[t]:>24}" for t in TIMES))
        for weights, prec in (("9-bit", WEIGHTS9), ("8-bit", None)):
            rows = [("neither", lambda: model, off),
                    ("compensation (global)", lambda: model, pcm),
                    ("compensation (per-column)", lambda: model, col),
                    ("training", lambda p=prec: tuned(off, p, PCM_TRAIN_TIME), off),
                    ("both (global)", lambda p=prec: tuned(pcm, p, PCM_TRAIN_TIME), pcm),
                    ("both (per-column)", lambda p=prec: tuned(col, p, PCM_TRAIN_TIME), col)]
            if weights == "8-bit":  # the preset as it comes: the two ends only
                rows = [rows[0], rows[4]]
            for label, make, chip in rows:
                acc = measure(make(), chip, prec, TIMES)
                name = f"{weights} weights, {label}"
                print(f"  {name:<48}" + "".join(f"{_cell(acc[t]):>24}" for t in TIMES),
                      flush=True)
                results[f"pcm {name}"] = {TIME_NAMES[t]: acc[t].tolist() for t in TIMES}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
