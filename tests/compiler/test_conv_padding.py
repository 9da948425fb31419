"""A padded convolution's padding is zeroed around its interior only (the interior is the copy
of its input): the border must read as zeros even where the scratch held another layer's
values. A chain of padded convolutions (ungrouped, channels last, then depthwise im2col) whose
padded copies reuse the scratch of the previous layers' patches is compared with onnx's
reference evaluator, on the float and the lossless 8-bit chip."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model
from tests.compiler.test_imc import chip

F = np.float32
R = np.random.default_rng(31)


def _chain():
    c = 8
    inits = {"w1": R.standard_normal((c, 3, 3, 3)).astype(F),
             "b1": R.standard_normal(c).astype(F),
             "w2": R.standard_normal((c, 1, 3, 3)).astype(F),
             "w3": R.standard_normal((c, c, 3, 3)).astype(F),
             "w4": R.standard_normal((c, 1, 5, 5)).astype(F)}
    nodes = [helper.make_node("Conv", ["a", "w1", "b1"], ["t1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["t1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["t2"], group=c, pads=[1, 2, 1, 0]),
             helper.make_node("Conv", ["t2", "w3"], ["t3"], pads=[2, 1, 0, 1]),
             helper.make_node("Conv", ["t3", "w4"], ["y"], group=c, strides=[2, 1],
                              pads=[2, 2, 2, 2])]
    m = make_model(nodes, [("a", F, (2, 3, 9, 10))], [("y", F, None)], inits=inits)
    return m, {"a": (R.standard_normal((2, 3, 9, 10)) + 3.0).astype(F)}  # borders would show


@pytest.mark.parametrize("precision", ["float", "int8"])
def test_padding_zero_over_reused_scratch(precision, tmp_path):
    model, feeds = _chain()
    if precision == "float":
        check(model, feeds, tmp_path, tol=1e-5, chip=chip())
    else:
        check(model, feeds, tmp_path, tol=0.05, chip="ideal-int8", calib=feeds)
