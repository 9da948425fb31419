"""imcc: a compiler from ONNX models to the imcc in-memory-computing ISA."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imcc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
