"""Strided views of machine memory (imcc/codegen/views.py) against numpy's own views."""

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imcc.codegen.views import View


def _addresses(v: View) -> np.ndarray:
    """The element offsets ``v`` addresses, in row-major order of its shape."""
    return np.array([v.offset + sum(i * s for i, s in zip(ix, v.strides))
                     for ix in itertools.product(*map(range, v.shape))], dtype=np.int64)


@st.composite
def strided_views(draw):
    """A numpy view of ``arange`` (every other element along some dims, maybe transposed), and
    a shape of the same size made of random factors."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    steps = tuple(draw(st.integers(1, 2)) for _ in shape)
    a = np.arange(math.prod(d * s for d, s in zip(shape, steps)))
    v = a.reshape(tuple(d * s for d, s in zip(shape, steps)))[tuple(slice(0, d * s, s)
                                                                  for d, s in zip(shape, steps))]
    v = v.transpose(draw(st.permutations(range(v.ndim))))
    rest, new = v.size, []
    while rest > 1 and len(new) < 4:
        d = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
        new.append(d)
        rest //= d
    new.append(rest)
    if draw(st.booleans()):
        new.insert(draw(st.integers(0, len(new))), 1)
    return a, v, tuple(new)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(strided_views())
def test_reshape_without_copy_follows_numpy(case):
    """``View.reshape`` of a strided view addresses the elements numpy's reshape gives, and
    refuses exactly when numpy would have to copy."""
    a, v, new = case
    view = View("b", 0, v.shape, tuple(s // v.itemsize for s in v.strides))
    try:
        numpy_view = v.view()
        numpy_view.shape = new  # numpy's no-copy reshape, AttributeError when it must copy
    except AttributeError:
        numpy_view = None
    try:
        got = view.reshape(new)
    except ValueError:
        assert numpy_view is None
        return
    assert got.shape == new
    assert np.array_equal(a[_addresses(got)], v.reshape(-1))
