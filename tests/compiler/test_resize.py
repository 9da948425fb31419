"""Linear and cubic Resize (one interpolation product per resized axis, imcc/codegen/movement.py)
against onnx's reference evaluator on the whole model, over the coordinate transformations,
antialiasing, the ``axes`` attribute, crop regions with extrapolation, and 3-D inputs."""

import numpy as np
import pytest

from tests.compiler.helpers import check, helper, make_model

F = np.float32
R = np.random.default_rng(11)

CASES = [
    ("up2", [1, 2, 4, 5], dict(scales=[1, 1, 2, 2]), dict(mode="linear")),
    ("align_corners", [1, 2, 4, 5], dict(sizes=[1, 2, 7, 9]),
     dict(mode="linear", coordinate_transformation_mode="align_corners")),
    ("asymmetric_down", [1, 2, 8, 6], dict(scales=[1, 1, 0.5, 0.75]),
     dict(mode="linear", coordinate_transformation_mode="asymmetric")),
    ("pytorch_half_pixel", [2, 3, 5, 5], dict(scales=[1, 1, 1.6, 1.6]),
     dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel")),
    ("antialias_down", [1, 2, 8, 8], dict(scales=[1, 1, 0.5, 0.5]),
     dict(mode="linear", antialias=1)),
    ("cubic", [1, 2, 4, 5], dict(scales=[1, 1, 2, 2]), dict(mode="cubic")),
    ("cubic_exclude_outside", [1, 2, 4, 5], dict(scales=[1, 1, 1.5, 2]),
     dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1)),
    ("axes_attribute", [1, 2, 4, 5], dict(scales=[2, 3]), dict(mode="linear", axes=[2, 3])),
    ("crop_extrapolate", [1, 1, 6, 6],
     dict(sizes=[1, 1, 5, 7], roi=[0, 0, -0.3, 0.4, 1, 1, 0.9, 1.4]),
     dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
          extrapolation_value=0.5)),
    ("cubic_crop_extrapolate", [1, 1, 6, 6],
     dict(sizes=[1, 1, 5, 7], roi=[0, 0, -0.3, 0.4, 1, 1, 0.9, 1.4]),
     dict(mode="cubic", coordinate_transformation_mode="tf_crop_and_resize",
          extrapolation_value=-2.0)),
    ("rank2", [3, 10], dict(scales=[1, 2.5]), dict(mode="linear")),
    ("rank5", [2, 3, 2, 4, 4], dict(scales=[1, 1, 2, 2, 2]), dict(mode="linear")),
]


@pytest.mark.parametrize("name,shape,operands,attrs", CASES, ids=[c[0] for c in CASES])
def test_resize_interpolating(name, shape, operands, attrs, tmp_path):
    ins, inits = ["a", "", "", ""], {}
    for k, (key, dtype) in enumerate((("roi", F), ("scales", F), ("sizes", np.int64)), 1):
        if key in operands:
            ins[k] = key
            inits[key] = np.array(operands[key], dtype)
    while not ins[-1]:
        ins.pop()
    opset = 18 if "axes" in attrs or "antialias" in attrs else 13
    m = make_model([helper.make_node("Resize", ins, ["y"], **attrs)], [("a", F, tuple(shape))],
                   [("y", F, None)], inits=inits, opset=opset)
    check(m, {"a": R.standard_normal(shape).astype(F)}, tmp_path, tol=1e-5)
