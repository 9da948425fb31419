"""What drift compensation buys: the digits CNN on the ``pcm`` chip, read at several times after
programming, with ``drift_compensation`` set to ``none``, ``global`` and ``per-column``.

The CNN (``samples/digits/cnn.onnx``) is compiled once per mode for ``pcm`` (calibrated on the
test images ``samples/digits/test.npz:x_img``, batch = all 539 images) and run on machines of
ten seeds (programming noise, read noise and drift exponents differ per seed) at each read time;
the table gives top-1 accuracy, mean +- standard deviation over the seeds. ``t = 0`` is just
after programming (no drift).

Run: ``python benchmarks/bench_drift.py [--seeds N] [--chip PRESET]``. An accuracy table, not a
timing: it is the same on any machine.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from imcc.compiler import CompileOptions, compile_model
from runtime.config import DRIFT_COMPENSATION, preset
from runtime.machine import Machine

ROOT = Path(__file__).resolve().parents[1]
TIMES = (("0", 0.0), ("1 h", 3600.0), ("1 day", 86400.0), ("1 year", 365 * 86400.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--chip", default="pcm")
    args = ap.parse_args()
    data = np.load(ROOT / "samples" / "digits" / "test.npz", allow_pickle=False)
    x, y = data["x_img"], data["y"]
    base = preset(args.chip)
    print(f"digits CNN on {args.chip}, {len(x)} test images, {args.seeds} seeds: top-1 accuracy "
          "(%), mean +- std")
    print(f"{'compensation':<13}" + "".join(f"{'t = ' + name:>17}" for name, _ in TIMES))
    for mode in DRIFT_COMPENSATION:
        chip = dataclasses.replace(base, drift_compensation=mode)
        obj = compile_model(ROOT / "samples" / "digits" / "cnn.onnx", chip,
                            calib={"input": x}, options=CompileOptions(batch=len(x))).obj
        cells = []
        for _, t in TIMES:
            acc = [100 * float((Machine(chip, obj, seed=s, time_s=t).run({"input": x})
                                ["logits"].argmax(1) == y).mean()) for s in range(args.seeds)]
            cells.append(f"{np.mean(acc):6.1f} +- {np.std(acc):4.1f}")
        print(f"{mode:<13}" + "".join(f"{c:>17}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
