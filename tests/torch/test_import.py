"""torch stays optional: the core never imports it, works where it is missing, and imcc.torch
says in one line what to install. (These tests run with or without torch installed.)"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_TORCH = "import sys; sys.modules['torch'] = None\n"  # any `import torch` now fails


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_core_does_not_import_torch():
    r = _python(
        "import sys, numpy as np, imcc, imcc.cli, imcc.compiler, imcc.explore, runtime.machine\n"
        "p = imcc.compile('samples/digits/linear.onnx', 'rram', priority='resource')\n"
        "p.run(np.zeros((1, 64), np.float32))\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_imcc_works_without_torch():
    r = _python(WITHOUT_TORCH + "import numpy as np, imcc\n"
                "p = imcc.compile('samples/digits/linear.onnx', 'ideal-int8')\n"
                "print(p.run(np.zeros((1, 64), np.float32))['logits'].shape)\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(1, 10)"


def test_imcc_torch_without_torch_is_one_error_line():
    r = _python(WITHOUT_TORCH + "import imcc\n"
                "try:\n"
                "    import imcc.torch\n"
                "except imcc.Error as e:\n"
                "    print(type(e).__name__, isinstance(e, ImportError))\n"
                "    print(e)\n")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "MissingDependencyError True"
    assert lines[1] == "imcc: error: imcc.torch needs PyTorch, which is not installed"
    assert "pip install 'imcc[torch]'" in lines[2]
