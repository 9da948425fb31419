"""The model-zoo classics of onnx's offline ``light`` set through :mod:`imcc.backend`, as onnx's
``OnnxBackendRealModelTest`` runs them: each model from the wheel's data/light folder, its
input ``arange(n) / n`` in the input's shape (the runner's ``generate_dummy_data`` with
``random=False``), its output compared with the stored one at the runner's ``rtol``/``atol``
(those onnx's ``collect_testcases`` gives each model). onnxruntime reproduces every stored
output exactly.

The weights of the light models are ``ConstantOfShape`` fills (0.02 everywhere), so
full-size: AlexNet, ZFNet and VGG19 hold 61 to 143 M weights, which do not fit the ``ideal``
preset's 512 arrays; each compiles for the chip ``fit=True`` grows (``--fit``). AlexNet,
GoogLeNet (inception_v1) and ZFNet have LRN. The models that take over 20 s to compile and
run here are marked ``slow`` (``pytest -m slow``): all but ShuffleNet and SqueezeNet (5 and 3 s).

The backend sums the crossbar's float products in float64 (``accumulate="float64"``,
docs/runtime.md "Float sums"). GoogLeNet needs it: its logits reach 1.2e21 (57 convolutions of
0.02 weights) and all 1000 are equal in the stored output, where float32 sums in BLAS's order
(which differs between a region's columns) gave 8 of them one ulp (2e14) more, and Softmax of
logits 2e14 apart puts all the probability on those 8. Equal columns summed in float64 and
rounded once are equal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import imcc.backend

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"

#: The runner's tolerances (onnx.backend.test.case.model.collect_testcases).
RTOL = {"densenet121": 2e-3}
ATOL = 1e-7

_SLOW = pytest.mark.slow
MODELS = [
    pytest.param("bvlc_alexnet", marks=_SLOW),
    pytest.param("densenet121", marks=_SLOW),
    pytest.param("inception_v1", marks=_SLOW),
    pytest.param("inception_v2", marks=_SLOW),
    pytest.param("resnet50", marks=_SLOW),
    "shufflenet",
    "squeezenet",
    pytest.param("vgg19", marks=_SLOW),
    pytest.param("zfnet512", marks=_SLOW),
]


def _input(model: onnx.ModelProto) -> tuple[str, np.ndarray]:
    """The runner's input: ``arange(n) / n`` in the first non-initializer input's shape
    (symbolic dimensions 1)."""
    inits = {t.name for t in model.graph.initializer}
    x = next(i for i in model.graph.input if i.name not in inits)
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                  for d in x.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return x.name, (np.arange(n).reshape(shape) / n).astype(np.float32)


@pytest.mark.parametrize("name", MODELS)
def test_light_model_matches_stored_output(name):
    model = onnx.load(LIGHT / f"light_{name}.onnx")
    want = numpy_helper.to_array(onnx.load_tensor(LIGHT / f"light_{name}_output_0.pb"))
    x_name, x = _input(model)
    rep = imcc.backend.prepare(model, time_limit=0.1, workers=1, fit=True)
    (got,) = rep.run({x_name: x})
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL.get(name, 1e-3), atol=ATOL)
