"""Expansions of ``expand-composites`` for the discrete Fourier transforms: ``DFT`` and
``STFT``.

A DFT of a fixed length is a matrix-vector product with fixed weights (the cosines and sines of
the transform), so it expands to a ``MatMul`` by a constant matrix, which the partition places
on the crossbars like a ``Linear`` layer: the signal axis moved last with its real and
imaginary parts side by side (``[re_0 .. re_{n-1}, im_0 .. im_{n-1}]``), times one ``[c n, c'
m]`` matrix that gives the output's parts the same way. The matrix is computed in float64 from
the angles ``2 pi (j k mod L) / L`` and rounded to float32 once; it covers the forward
transform (``onesided``: the first ``L // 2 + 1`` bins), the inverse (scaled by ``1 / L``) and
the inverse of a one-sided spectrum (a real signal: each bin but the first and, for even ``L``,
the middle one counted twice, the imaginary parts of those two ignored, as ``numpy.fft.irfft``
does). Zero padding and truncation to ``dft_length`` are rows of zeros and rows left out.
``STFT`` cuts the frames with one ``Gather`` of constant indices and folds a constant window
into the matrix (a runtime window multiplies the frames first).
"""

from __future__ import annotations

import numpy as np

from imcc.passes.composite_index import _bin, _const, _reshape
from imcc.passes.composite_registry import FLOAT32, Ops, composite


def dft_matrix(n: int, parts: int, length: int, inverse: bool, onesided: bool) -> np.ndarray:
    """The ``[parts * n, parts' * m]`` float64 matrix of a DFT of ``length`` over ``n`` input
    samples of ``parts`` (1: real, 2: complex) parts; ``parts'`` is 1 for the inverse of a
    one-sided spectrum (a real signal) and 2 otherwise, ``m`` the output's samples."""
    if inverse and onesided:
        bins = min(n, length // 2 + 1)  # the bins irfft reads
        j, t = np.arange(bins)[:, None], np.arange(length)[None, :]
        angle = 2 * np.pi * ((j * t) % length) / length
        twice = np.where((j == 0) | ((length % 2 == 0) & (j == length // 2)), 1.0, 2.0)
        w = np.zeros((parts * n, length))
        w[:bins] = twice * np.cos(angle) / length
        if parts == 2:
            w[n : n + bins] = -twice * np.sin(angle) / length
        return w
    m = length // 2 + 1 if onesided and not inverse else length
    used = min(n, length)
    j, k = np.arange(used)[:, None], np.arange(m)[None, :]
    angle = 2 * np.pi * ((j * k) % length) / length
    c, s = np.cos(angle), np.sin(angle) * (1.0 if inverse else -1.0)
    scale = 1.0 / length if inverse else 1.0
    w = np.zeros((parts * n, 2 * m))
    w[:used, :m], w[:used, m:] = c * scale, s * scale  # re_j -> (cos, +-sin)
    if parts == 2:
        w[n : n + used, :m], w[n : n + used, m:] = -s * scale, c * scale  # im_j -> (-+sin, cos)
    return w


def _transform(o: Ops, x: str, axis: int, w: np.ndarray, parts_out: int) -> None:
    """The node's output: ``x`` (``[..., n, ..., parts]``, the signal along ``axis``) times
    ``w`` (rounded to float32) along ``axis``, ``[..., m, ..., parts_out]``."""
    shape = list(o.rw.type(x).shape)
    rank, parts, n = len(shape), shape[-1], shape[axis]
    m = w.shape[1] // parts_out
    perm = [i for i in range(rank - 1) if i != axis] + [rank - 1, axis]  # [..., parts, n]
    lead = [shape[i] for i in perm[:-2]]
    moved = o.op("Transpose", x, shape=[*lead, parts, n], perm=tuple(perm))
    flat = _reshape(o, moved, [*lead, parts * n])
    y = o.op("MatMul", flat, _const(o, "dft", w.astype(np.float32), np.float32),
             shape=[*lead, parts_out * m])
    y = _reshape(o, y, [*lead, parts_out, m])
    back = list(range(axis)) + [rank - 1] + list(range(axis, rank - 2)) + [rank - 2]
    o.final("Transpose", y, perm=tuple(back))


def _int_input(o: Ops, k: int) -> int | None | bool:
    """Input ``k`` as an int: None where it is not given, False where it is not a constant."""
    n = o.n
    if k >= len(n.inputs) or not n.inputs[k]:
        return None
    v = o.rw.value(n.inputs[k])
    return False if v is None else int(np.asarray(v).reshape(-1)[0])


@composite("DFT", dtypes=FLOAT32)
def _dft(o: Ops) -> bool:
    """``DFT(x, dft_length, axis)``: ``Y_k = sum_j x_j exp(-+2 pi i j k / L)`` (``inverse``:
    ``+`` and divided by ``L``; ``onesided``: bins ``0 .. L // 2`` of a forward transform, or
    the real signal of a one-sided spectrum for the inverse), ``x`` zero padded or truncated to
    ``L = dft_length``: a ``MatMul`` by the constant matrix of :func:`dft_matrix`."""
    n = o.n
    shape = tuple(o.xt.shape)
    rank = len(shape)
    length = _int_input(o, 1)
    axis = _int_input(o, 2) if o.graph.opset >= 20 else int(n.attrs.get("axis", 1))
    if axis is None:
        axis = -2
    inverse, onesided = bool(n.attrs.get("inverse", 0)), bool(n.attrs.get("onesided", 0))
    if length is False or axis is False or rank < 2 or shape[-1] not in (1, 2):
        return False
    axis %= rank
    if axis == rank - 1:
        return False
    if length is None:
        length = 2 * (shape[axis] - 1) if inverse and onesided else shape[axis]
    if length < 1 or shape[axis] < 1:
        return False
    w = dft_matrix(shape[axis], shape[-1], length, inverse, onesided)
    _transform(o, o.x, axis, w, 1 if inverse and onesided else 2)
    return True


@composite("STFT", dtypes=FLOAT32)
def _stft(o: Ops) -> bool:
    """``STFT(signal, frame_step, window, frame_length)``: frame ``f`` is ``signal[:, f *
    frame_step : f * frame_step + frame_length]`` times ``window``, and its DFT (``onesided``:
    bins ``0 .. frame_length // 2``); ``1 + (length - frame_length) // frame_step`` frames. The
    frames are one ``Gather`` of constant indices; a constant window is folded into the DFT's
    matrix."""
    n = o.n
    shape = tuple(o.xt.shape)
    step, frame = _int_input(o, 1), _int_input(o, 3)
    window = n.inputs[2] if len(n.inputs) > 2 and n.inputs[2] else None
    if step is None or step is False or frame is False or len(shape) != 3 \
            or shape[-1] not in (1, 2) or step < 1:
        return False
    if frame is None:
        frame = o.rw.type(window).shape[0] if window else shape[1]
    frames = 1 + (shape[1] - frame) // step
    if frame < 1 or frames < 1 or (window and tuple(o.rw.type(window).shape) != (frame,)):
        return False
    index = _const(o, "frames", np.arange(frames)[:, None] * step + np.arange(frame), np.int64)
    x = o.op("Gather", o.x, index, shape=[shape[0], frames, frame, shape[2]], axis=1)
    w = dft_matrix(frame, shape[2], frame, False, bool(n.attrs.get("onesided", 1)))
    win = o.rw.value(window) if window else np.ones(frame, np.float32)
    if win is None:  # a runtime window: the frames times it
        x = _bin(o, "Mul", x, _reshape(o, window, [1, 1, frame, 1]))
        win = np.ones(frame, np.float32)
    _transform(o, x, 2, w * np.tile(np.asarray(win, np.float64), shape[2])[:, None], 2)
    return True
