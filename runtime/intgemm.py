"""Integer matrix products ``(A - za) @ B`` with ``A`` uint8, ``B`` int8 and int32 results, for
the bit-serial loop (:mod:`runtime.bitserial`): every product and sum is an exact integer, so
the result is the float products' result wherever those are exact, in a fraction of the time
(8-bit integer kernels: about 8x numpy's float32 product of the same bit-serial shapes on the
machine of docs/performance.md, one thread, a Xeon with AVX-512 VNNI and AMX).

numpy has no integer BLAS; the products run through onnxruntime's ``MatMulInteger`` (its MLAS
kernels) where onnxruntime is installed, a dependency this module adds only as an option:
:func:`available` says whether it is there, and callers keep their float path for when it is
not. The session runs ``OMP_NUM_THREADS`` (else ``OPENBLAS_NUM_THREADS``) intra-op threads
where the environment sets one, as numpy's BLAS does, else onnxruntime's default, without
spinning between calls.

Ranges, so that no kernel saturates: ``A`` in ``[0, 127]`` (x86 kernels without VNNI sum two
``u8 x s8`` products in a saturating int16, ``2 * 127 * 128 < 2**15``), ``B`` in ``[-128, 127]``
(:func:`int8`) and every sum, ``A @ B`` and ``za * colsum(B)`` included, below
:data:`SUM_MAX` in magnitude (int32).
"""

from __future__ import annotations

import os

import numpy as np

#: The largest ``A`` (digit plus zero point) no kernel saturates on.
A_MAX = 127
#: Bound on ``|(A - za) @ B|`` and ``|A @ B|``: int32.
SUM_MAX = 2**31 - 1


def _model(scaled: bool):
    """A one-node graph: ``MatMulInteger(a, b, za)`` (int32), or with ``scaled``
    ``MatMulIntegerToFloat(a, b, sa, 1, za)`` (float32: each exact int32 sum converted and times
    the power of two ``sa``, exact below ``2**24``)."""
    from onnx import TensorProto, helper

    u8, i8, f32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT
    ins = [helper.make_tensor_value_info("a", u8, ["m", "k"]),
           helper.make_tensor_value_info("b", i8, ["k", "n"]),
           helper.make_tensor_value_info("za", u8, [])]
    if scaled:
        ins += [helper.make_tensor_value_info(n, f32, []) for n in ("sa", "sb")]
        node = helper.make_node("MatMulIntegerToFloat", ["a", "b", "sa", "sb", "za"], ["y"],
                                domain="com.microsoft")
    else:
        node = helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"])
    out = helper.make_tensor_value_info("y", f32 if scaled else TensorProto.INT32, ["m", "n"])
    model = helper.make_model(helper.make_graph([node], "intgemm", ins, [out]),
                              opset_imports=[helper.make_opsetid("", 13),
                                             helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model.SerializeToString()


#: Sessions by (process id, scaled): a forked child makes its own and never touches (nor
#: destroys) its parent's, whose thread pool did not survive the fork.
_SESSIONS: dict[tuple[int, bool], object] = {}


def _session(scaled: bool = False):
    """The session of :func:`_model` for this process, or None where onnxruntime cannot be
    imported or does not run the graph."""
    key = (os.getpid(), scaled)
    if key not in _SESSIONS:
        _SESSIONS[key] = _new_session(scaled)
    return _SESSIONS[key]


def _new_session(scaled: bool):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.inter_op_num_threads = 1
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("OPENBLAS_NUM_THREADS")
    if threads and threads.isdigit():
        so.intra_op_num_threads = int(threads)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(_model(scaled), so, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 (a build without the contrib operator)
        return None


def available() -> bool:
    """Whether integer products can run here (onnxruntime is installed)."""
    return _session() is not None


_ZP = [np.array(z, np.uint8) for z in range(A_MAX + 1)]


def int8(b: np.ndarray) -> np.ndarray | None:
    """Exact integer cells ``b`` as int8, or None where one is outside int8."""
    if b.size and (b.min() < -128 or b.max() > 127):
        return None
    return b.astype(np.int8)


def matmul(a: np.ndarray, b: np.ndarray, za: int = 0) -> np.ndarray:
    """``(a - za) @ b`` exactly, int32 (a new array): ``a`` uint8 ``m x k`` with entries in
    ``[0, A_MAX]``, ``b`` int8 ``k x n``, ``za`` in ``[0, A_MAX]``."""
    return _session().run(None, {"a": a, "b": b, "za": _ZP[za]})[0]


_ONE = np.array(1.0, np.float32)


def matmul_scaled(a: np.ndarray, b: np.ndarray, za: int, scale: float) -> np.ndarray:
    """``((a - za) @ b) * scale`` as float32 (a new array), exact where every sum is at most
    ``2**24`` in magnitude and ``scale`` is a power of two: the int32 sums converted and scaled
    in the product's own output pass, where onnxruntime has ``MatMulIntegerToFloat``, else
    :func:`matmul` converted and scaled here (the same values)."""
    s = _session(True)
    if s is None:
        y = matmul(a, b, za).astype(np.float32)
        y *= np.float32(scale)
        return y
    return s.run(None, {"a": a, "b": b, "za": _ZP[za], "sa": np.array(scale, np.float32),
                        "sb": _ONE})[0]
