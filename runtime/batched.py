"""Running a batch larger than a program's, chunk by chunk (``imcc run``'s batching).

``run_batched`` is also importable from :mod:`runtime.machine`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from isa.diagnostics import InputError

if TYPE_CHECKING:
    from runtime.machine import Machine


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def run_batched(machine: Machine, inputs: dict[str, np.ndarray], *,
                progress: Callable[[int, int], None] | None = None,
                trace: Callable[[str], None] | None = None,
                trace_limit: int = 0) -> dict[str, np.ndarray]:
    """Run a batch larger than the program's: inputs whose leading dimension ``N`` differs from
    the declared leading dimension ``B`` are split into chunks of ``B`` (the last zero-padded),
    run one by one, and the outputs concatenated and trimmed to ``N``. Inputs of exactly the
    declared shape are passed to every chunk. ``progress(done, total)`` is called per chunk;
    ``trace`` and ``trace_limit`` apply to the first chunk."""
    declared = {t.name: t for t in machine.obj.inputs}
    batched: dict[str, np.ndarray] = {}
    n_total = None
    for name, arr in inputs.items():
        t = declared.get(name)
        arr = np.asarray(arr)
        if t is None or arr.shape == t.shape:
            continue
        if arr.ndim != len(t.shape) or arr.shape[1:] != t.shape[1:]:
            raise InputError(f"input '{name}' has shape {_shape(arr.shape)}; the program "
                             f"declares {_shape(t.shape)} (a batch may differ only in the "
                             "leading dimension)")
        if n_total is not None and arr.shape[0] != n_total:
            raise InputError(f"input '{name}' has a batch of {arr.shape[0]}, another input "
                             f"{n_total}")
        if arr.shape[0] == 0:
            raise InputError(f"input '{name}' has a batch of 0 rows (shape "
                             f"{_shape(arr.shape)}); give at least one sample")
        n_total = arr.shape[0]
        batched[name] = arr
    if not batched:
        return machine.run(inputs, trace=trace, trace_limit=trace_limit)
    sizes = {declared[k].shape[0] for k in batched}
    if len(sizes) != 1:
        raise InputError("batched inputs declare different leading dimensions "
                         f"({', '.join(map(str, sorted(sizes)))})")
    b = sizes.pop()
    for t in machine.obj.outputs:
        if not t.shape or t.shape[0] != b:
            raise InputError(f"output '{t.name}' {_shape(t.shape)} does not have the batch "
                             f"dimension {b} of the inputs, so a batch cannot be split")
    chunks = -(-n_total // b)
    results: dict[str, list[np.ndarray]] = {t.name: [] for t in machine.obj.outputs}
    for k in range(chunks):
        feed = dict(inputs)
        for name, arr in batched.items():
            part = arr[k * b : (k + 1) * b]
            if len(part) < b:
                pad = np.zeros((b - len(part), *part.shape[1:]), part.dtype)
                part = np.concatenate([part, pad])
            feed[name] = part
        limit = trace_limit if k == 0 else 0
        for name, out in machine.run(feed, trace=trace, trace_limit=limit).items():
            results[name].append(out)
        if progress is not None:
            progress(k + 1, chunks)
    return {name: np.concatenate(parts)[:n_total] for name, parts in results.items()}
