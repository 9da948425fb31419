"""imcc: a compiler from ONNX models to the imcc in-memory-computing ISA.

The Python interface (:mod:`imcc.api`, docs/python.md): :func:`imcc.compile`, :func:`imcc.load`,
:class:`imcc.Program`, :class:`imcc.TensorSpec` and the exception type :data:`imcc.Error`. They
are imported on first use, so ``import imcc`` (and the command line's start) stays light.
:func:`imcc.generate` (:mod:`imcc.llm`, docs/llm.md) generates tokens with a decoder and its KV
cache on the machine.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imcc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"

_API = ("Error", "Program", "TensorSpec", "compile", "load")


def __getattr__(name: str):
    if name in _API:
        from imcc import api

        return getattr(api, name)
    if name == "generate":
        from imcc import llm

        return llm.generate
    raise AttributeError(f"module 'imcc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, "generate"})
