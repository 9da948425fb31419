"""The data a sweep evaluates on: a calibration part, an evaluation part, labels (optional) and
the float model's outputs on the evaluation part.

The first ``calib`` samples calibrate the activation scales (the compiler's ``--calib``); the
rest (at most ``limit`` of them) are evaluated. Nothing is shuffled, so the split is the same on
every run. The float reference comes from onnxruntime on the original ONNX file (onnx's
reference evaluator when onnxruntime is missing; :mod:`imcc.reference`).

Scores: with labels, top-1 ``accuracy`` (argmax over the output's last axis, or the
output itself when it holds integer class ids); always
``rel_error = ||Y - Y_float||_F / ||Y_float||_F`` over the evaluation part.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from isa.diagnostics import InputError


@dataclass(frozen=True)
class Dataset:
    """Calibration and evaluation inputs (name -> array pairs, leading dimension = samples),
    labels of the evaluation part (or None), the float model's output on it, and which
    output is scored."""

    calib: tuple[tuple[str, np.ndarray], ...]
    inputs: tuple[tuple[str, np.ndarray], ...]
    labels: np.ndarray | None
    reference: np.ndarray
    output: str

    @property
    def size(self) -> int:
        return len(self.inputs[0][1])

    @property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of everything that decides the scores."""
        h = hashlib.sha256(self.output.encode())
        for part in (self.calib, self.inputs):
            for name, a in part:
                h.update(f"|{name}{a.shape}{a.dtype}".encode())
                h.update(np.ascontiguousarray(a).tobytes())
        if self.labels is not None:
            h.update(b"|labels")
            h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()[:16]

    def float_score(self) -> dict:
        """The float model's scores on the evaluation part (rel_error is 0 by definition)."""
        return scores(self.reference, self)

    def split(self, n: int) -> tuple[Dataset, Dataset]:
        """The first ``n`` evaluation samples and the rest (same calibration part)."""
        def cut(s):
            return (tuple((k, a[s]) for k, a in self.inputs),
                    None if self.labels is None else self.labels[s], self.reference[s])

        a, b = cut(slice(0, n)), cut(slice(n, None))
        return (Dataset(self.calib, a[0], a[1], a[2], self.output),
                Dataset(self.calib, b[0], b[1], b[2], self.output))


def scores(out: np.ndarray, data: Dataset) -> dict:
    """``accuracy`` (None without labels) and ``rel_error`` of outputs ``out``."""
    ref = data.reference.astype(np.float64)
    diff = np.linalg.norm(out.astype(np.float64) - ref)
    norm = np.linalg.norm(ref)
    rel = float(diff / norm) if norm > 0 else float(diff)
    acc = None
    if data.labels is not None:
        if out.dtype.kind in "iu" and out.size == data.labels.size:  # already class ids
            pred = out.reshape(data.labels.shape)
        else:
            pred = out.reshape(len(out), -1, out.shape[-1]).argmax(-1).reshape(data.labels.shape)
        acc = float((pred == data.labels).mean())
    return {"accuracy": acc, "rel_error": rel}


def model_io(model: str | Path) -> tuple[list[str], list[str]]:
    """Names of the model's (non-initializer) inputs and of its outputs."""
    from imcc.frontend.loader import read_model_file

    m = read_model_file(Path(model), external_data=False)  # names only
    inits = {t.name for t in m.graph.initializer}
    return ([i.name for i in m.graph.input if i.name not in inits],
            [o.name for o in m.graph.output])


def float_outputs(model: str | Path, inputs: dict[str, np.ndarray], output: str) -> np.ndarray:
    """The float model's ``output`` on ``inputs`` (leading dimension = samples)."""
    from imcc.reference import evaluate

    outs, _engine = evaluate(model, inputs)
    return np.asarray(outs[output], dtype=np.float32)


def make_dataset(model: str | Path, inputs: dict[str, np.ndarray], labels: np.ndarray | None,
                 *, calib: int = 100, limit: int | None = None,
                 output: str | None = None) -> Dataset:
    """Split ``inputs`` (every model input, same leading dimension) into the calibration part
    (the first ``calib`` samples) and the evaluation part (the next ``limit``, default all),
    and compute the float reference."""
    names, outs = model_io(model)
    missing = [n for n in names if n not in inputs]
    if missing:
        raise InputError(f"--data gives no samples for model input {missing[0]!r} "
                        f"(inputs: {', '.join(names)})")
    arrays = {n: np.asarray(inputs[n]) for n in names}
    arrays = {n: a.astype(np.float32) if a.dtype.kind == "f" else a for n, a in arrays.items()}
    sizes = {n: len(a) if a.ndim else 0 for n, a in arrays.items()}
    n_all = min(sizes.values())
    if len(set(sizes.values())) != 1:
        raise InputError(f"--data: inputs have different numbers of samples {sizes}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim < 1 or len(labels) != n_all:
            raise InputError(f"labels: {labels.shape} does not match the {n_all} samples of "
                            "--data (one label per sample)")
        if labels.dtype.kind not in "iu":
            if labels.dtype.kind == "f" and np.all(labels == np.rint(labels)):
                labels = labels.astype(np.int64)
            else:
                raise InputError(f"labels: dtype {labels.dtype}: expected integer class indices")
    if calib < 1 or calib >= n_all:
        raise InputError(f"--calib-samples {calib}: need 1 <= N < {n_all} (the samples given), "
                        "so that some remain for evaluation")
    output = output or outs[0]
    if output not in outs:
        raise InputError(f"--output {output!r}: the model's outputs are {', '.join(outs)}")
    end = n_all if limit is None else min(n_all, calib + limit)
    cal = tuple((n, np.ascontiguousarray(a[:calib])) for n, a in arrays.items())
    ev = {n: np.ascontiguousarray(a[calib:end]) for n, a in arrays.items()}
    ref = float_outputs(model, ev, output)
    lab = None if labels is None else np.ascontiguousarray(labels[calib:end])
    return Dataset(cal, tuple(ev.items()), lab, ref, output)
