"""Det (imcc/passes/composite_math.py) compiled for the ideal chip and run on the reference
machine, against numpy's LAPACK determinant in float64."""

import numpy as np
import pytest

from tests.compiler.helpers import helper, make_model, run_compiled

F = np.float32
R = np.random.default_rng(29)


def _det_model(shape):
    return make_model([helper.make_node("Det", ["x"], ["y"])], [("x", F, shape)],
                      [("y", F, None)])


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (5, 5), (4, 3, 3), (2, 3, 6, 6)])
def test_det_of_random_matrices(shape, tmp_path):
    x = R.standard_normal(shape).astype(F)
    got, _ = run_compiled(_det_model(shape), {"x": x}, tmp_path)
    want = np.linalg.det(x.astype(np.float64))
    scale = np.prod(np.linalg.norm(x.astype(np.float64), axis=-1), axis=-1)  # Hadamard's bound
    np.testing.assert_allclose(got[0], want, rtol=0, atol=1e-5 * scale.max())


def test_det_needs_pivoting_and_of_singular_matrices(tmp_path):
    """A zero on the diagonal (no LU without row swaps), a permutation (sign -1), a singular
    matrix (a zero pivot) and a zero matrix."""
    x = np.array([[[0, 2, 1], [3, 0, 4], [1, 1, 0]],
                  [[0, 1, 0], [0, 0, 1], [1, 0, 0]],
                  [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
                  [[1, 2, 3], [2, 4, 6], [1, 0, 1]],
                  [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], F)
    got, _ = run_compiled(_det_model(x.shape), {"x": x}, tmp_path)
    np.testing.assert_allclose(got[0], np.linalg.det(x.astype(np.float64)), atol=1e-5)


def test_det_beyond_its_limit_is_refused(tmp_path):
    import imcc
    from imcc.opdefs.forms import DET_MAX

    n = DET_MAX + 1
    m = _det_model((n, n))
    with pytest.raises(imcc.Error, match="Det"):
        imcc.compile(m.SerializeToString(), "ideal", time_limit=0.1, workers=1)


def test_det_of_a_matrix_holding_nan_is_nan(tmp_path):
    """A NaN column has no largest element to pivot on: the elimination goes on (no index out
    of the matrix) and the determinant is NaN, as LAPACK's."""
    x = R.standard_normal((2, 3, 3)).astype(F)
    x[0, 1, 1] = np.nan
    got, _ = run_compiled(_det_model(x.shape), {"x": x}, tmp_path)
    want = np.linalg.det(x.astype(np.float64))
    assert np.isnan(got[0][0]) and np.isnan(want[0])
    np.testing.assert_allclose(got[0][1], want[1], rtol=1e-5)
