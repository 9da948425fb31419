"""Einsum with an ellipsis and with diagonals (imcc/passes/lower_einsum.py), compiled for the
ideal chip and run on the reference machine, against ``numpy.einsum``."""

import numpy as np
import pytest

from tests.compiler.helpers import helper, make_model, run_compiled

F = np.float32
R = np.random.default_rng(23)


@pytest.mark.parametrize("equation,shapes", [
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (2, 3, 5, 6)]),
    ("...ij,jk->...ik", [(2, 3, 4, 5), (5, 6)]),  # operands of different ellipsis widths
    ("b...d,b...d->b...", [(2, 3, 4, 5), (2, 3, 4, 5)]),
    ("...d,...d", [(3, 4, 5), (3, 4, 5)]),  # implicit output: the ellipsis first
    ("...ii->...i", [(2, 3, 4, 4)]),  # onnx's test_einsum_batch_diagonal
    ("ii", [(5, 5)]),  # trace
    ("bii->bi", [(3, 4, 4)]),
    ("iij,jk->ik", [(3, 3, 4), (4, 2)]),
    ("i...i->...", [(3, 2, 3)]),
])
def test_einsum_against_numpy(equation, shapes, tmp_path):
    names = [f"x{k}" for k in range(len(shapes))]
    xs = [R.standard_normal(s).astype(F) for s in shapes]
    want = np.einsum(equation, *[x.astype(np.float64) for x in xs])
    node = helper.make_node("Einsum", names, ["y"], equation=equation)
    m = make_model([node], [(n, F, s) for n, s in zip(names, shapes)], [("y", F, None)])
    got, _ = run_compiled(m, dict(zip(names, xs)), tmp_path)
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-5)


def test_einsum_with_a_constant_weight_is_an_imc_product(tmp_path):
    """``...d,de->...e`` with a constant ``de``: a 2-D product on the crossbars."""
    x = R.standard_normal((2, 3, 8)).astype(F)
    w = R.standard_normal((8, 4)).astype(F)
    node = helper.make_node("Einsum", ["x", "w"], ["y"], equation="...d,de->...e")
    m = make_model([node], [("x", F, x.shape)], [("y", F, None)], inits={"w": w})
    got, res = run_compiled(m, {"x": x}, tmp_path)
    np.testing.assert_allclose(got[0], np.einsum("...d,de->...e", x, w), rtol=1e-5, atol=1e-5)
    assert res.report["partition"]["imc"] >= 1
