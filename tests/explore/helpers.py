"""Small models and chips for the explore tests."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from runtime.config import config_from_dict, preset

DIGITS = Path(__file__).resolve().parents[2] / "samples" / "digits"
DEADLINE_S = 120  # the longest a test waits for a sweep on worker processes or a cluster


def gemm_model(path: Path, W: np.ndarray, b: np.ndarray) -> Path:
    """``y = x @ W + b`` as one ONNX Gemm (symbolic batch), input ``input``, output ``y``."""
    K, N = W.shape
    g = helper.make_graph(
        [helper.make_node("Gemm", ["input", "W", "b"], ["y"], name="fc")], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", N])],
        [numpy_helper.from_array(W.astype(np.float32), "W"),
         numpy_helper.from_array(b.astype(np.float32), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path.write_bytes(m.SerializeToString())
    return path


def chip(base: str = "ideal-int8", **fields):
    """A preset with top-level fields replaced (``nonideal`` may be a dict of its fields)."""
    d = preset(base).to_dict()
    nonideal = fields.pop("nonideal", None)
    d.update(fields)
    if nonideal:
        d["nonideal"].update(nonideal)
    d.setdefault("name", base)
    return config_from_dict(d, "test chip")


def digits(key: str = "x"):
    data = np.load(DIGITS / "test.npz", allow_pickle=False)
    return data[key].astype(np.float32), data["y"]


def within_deadline(fn):
    """``fn()`` in a thread; the test fails if it takes longer than DEADLINE_S (a lost task
    fails the test instead of hanging it)."""
    import pytest

    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 (re-raised in the test's thread)
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(DEADLINE_S)
    if t.is_alive():
        pytest.fail(f"the sweep did not finish within {DEADLINE_S} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
