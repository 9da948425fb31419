"""Layering points one way: isa imports nothing of the project; runtime imports only isa;
imcc's library code never imports runtime: only the command-line shell (imcc/commands), which
reads chip files and runs programs, the explore engine, which runs them for a sweep, the
Python interface (imcc/api.py), whose programs run on the reference machine, generation
(imcc/llm.py), which reruns a decoder's program on one machine, and imcc.torch,
which reuses the machine's crossbar numerics (programming, device noise, converter ranges)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_RUNTIME_IN_IMCC = {"imcc/commands", "imcc/explore", "imcc/api.py", "imcc/llm.py",
                           "imcc/torch"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def _files(pkg: str):
    return sorted((ROOT / pkg).rglob("*.py"))


def test_isa_imports_nothing_of_the_project():
    for f in _files("isa"):
        assert not _imports(f) & {"imcc", "runtime"}, f


def test_runtime_imports_only_isa():
    for f in _files("runtime"):
        assert "imcc" not in _imports(f), f


def test_imcc_imports_runtime_only_where_allowed():
    for f in _files("imcc"):
        rel = f.relative_to(ROOT).as_posix()
        if "runtime" in _imports(f):
            assert any(rel == a or rel.startswith(a + "/") for a in ALLOWED_RUNTIME_IN_IMCC), rel
