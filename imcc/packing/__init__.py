"""Two-dimensional bin packing of weight tiles onto crossbar arrays.

Tiles are rectangles ``w`` columns by ``h`` rows, never rotated; bins are arrays of
``bin_w x bin_h`` cells. :func:`pack` minimises the number of bins under a priority
(``resource``: any tiles share an array; ``efficiency``: tiles of one group, read at the same
time, never share rows of an array), reports lower bounds beside the answer, and is
deterministic for a given seed and time limit. :func:`check_packing` verifies any packing
independently; :func:`lower_bounds` computes the bounds alone. See ``docs/packing.md``.
"""

from imcc.packing.bounds import lower_bounds
from imcc.packing.check import check_packing
from imcc.packing.problem import PRIORITIES, PackResult, Placement, Rect
from imcc.packing.solver import pack

__all__ = ["PRIORITIES", "PackResult", "Placement", "Rect", "check_packing", "lower_bounds",
           "pack"]
