"""The crossbar's float sums in float64 (``accumulate="float64"``): the reference backend with
every product of float inputs (an ideal DAC, or quantized inputs on float cells) summed in
float64 and rounded once to float32.

An ideal array's column current is the exact sum of its products; numpy's float32 matrix
products (BLAS) round after every addition, in an order that depends on the column's position
in the region and on the region's width, so two columns of equal cells can give results an
ulp apart. Summed in float64 (each product of two float32 values is exact there, and ``h`` of
them lose at most ``h`` float64 ulps), the rounded result is the correctly rounded float32 sum
except within that margin of a tie, whatever the order: equal columns give equal outputs. It
costs two to three times the float32 products (docs/runtime.md, "Float sums"), so it is an
option: ``Program.run(accumulate="float64")``, ``imcc run --accumulate float64``, and the
default of :mod:`imcc.backend`, whose results are compared with onnx's reference.

Integer products (quantized inputs on integer cells) are exact either way and unchanged.
"""

from __future__ import annotations

import numpy as np

from runtime.converters import Precision
from runtime.crossbar import NumpyCrossbar

#: The sums a crossbar backend may compute float products with.
ACCUMULATE = ("float32", "float64")


def _rounded(y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``y`` (float64) rounded once to float32, into ``out`` when given."""
    if out is None:
        return y.astype(np.float32)
    out[...] = y
    return out


class Float64Sums(NumpyCrossbar):
    """:class:`~runtime.crossbar.NumpyCrossbar` with float products summed in float64 (see the
    module docstring); the cells of each region it multiplies are kept in float64 until the
    array is programmed again."""

    def __init__(self, config, **kw):
        super().__init__(config, **kw)
        self._wide: dict[tuple, np.ndarray] = {}  # region (and combination) -> float64 cells

    def _changed(self, array: int) -> None:
        super()._changed(array)
        for key in [k for k in self._wide if k[0] == array]:
            del self._wide[key]

    def kernel(self, array: int, row: int, col: int, h: int, w: int, p: Precision,
               coef: np.ndarray | None = None):
        """The reference's kernel, except that of float inputs (``X @ G`` with an ideal DAC
        and ADC: the region's cells or their combination), which sums in float64."""
        f = super().kernel(array, row, col, h, w, p, coef)
        if f is None or p.ibits:
            return f
        key = (array, row, col, h, w, None if coef is None else coef.tobytes())
        g = self._wide.get(key)
        if g is None:
            gr = self._cells(array)[row : row + h, col : col + w]
            cells = gr if coef is None else self._combined(array, row, col, h, w, coef, gr)[0]
            g = self._wide[key] = cells.astype(np.float64)
        return lambda x, out: _rounded(np.asarray(x, dtype=np.float64) @ g, out)

    def _sums(self, qc: np.ndarray, gr: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        return _rounded(np.asarray(qc, dtype=np.float64) @ gr.astype(np.float64), out)
