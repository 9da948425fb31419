"""Layering points one way: isa imports nothing of the project; runtime imports only isa;
imcc's library code never imports runtime: only the command-line shell (imcc/commands), which
reads chip files and runs programs, the explore engine, which runs them for a sweep, the
Python interface (imcc/api.py, api_checks.py, api_program.py), whose programs run on the
reference machine, generation (imcc/llm.py), which reruns a decoder's program on one machine,
and imcc.torch, which reuses the machine's crossbar numerics (programming, device noise,
converter ranges). No package has an import cycle, and no module or function outgrows the
house's sizes."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED_RUNTIME_IN_IMCC = {"imcc/commands", "imcc/explore", "imcc/api.py", "imcc/api_checks.py",
                           "imcc/api_program.py", "imcc/llm.py", "imcc/torch"}


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


# ---- no import cycle inside a package --------------------------------------------------------


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for annotations
    only, which never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
            else:
                todo.append(child)


def _import_graph(pkg: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``pkg`` it imports, anywhere in it (inside functions too; not
    the annotation-only imports under ``if TYPE_CHECKING:``): the module named, or for ``from a
    import b`` the submodule ``a.b`` where there is one. The parent packages Python imports on
    the way are not edges."""
    files = {_module_name(f, root): f for f in sorted((root / pkg).rglob("*.py"))}
    edges: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here[: len(here) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    edges[mod].add(t)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"d"}, "d": {"c"}}) == [["c", "d"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_counts_imports_inside_functions(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nimport os\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from pkg import a\nelse:\n    import pkg.sub.b\n")
    edges = _import_graph("pkg", tmp_path)
    assert edges == {"pkg": set(), "pkg.sub": {"pkg.sub.b"}, "pkg.a": {"pkg.sub.b"},
                     "pkg.sub.b": {"pkg.a"}, "pkg.c": {"pkg.sub.b"}}
    assert _cycles(edges) == [["pkg.a", "pkg.sub.b"]]


def test_no_import_cycle_inside_a_package():
    for pkg in ("isa", "runtime", "imcc"):
        assert _cycles(_import_graph(pkg)) == [], pkg


# ---- sizes: no module over 500 lines, no function over 80 ------------------------------------

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# Data, not code: the report page's style sheet and script, as strings.
DATA_MODULES = {"imcc/report/assets.py"}


def _sizes():
    """(file, module lines, [(function, lines)]) of every module of isa, runtime and imcc; a
    function's lines run from its ``def`` to its last line (decorators not counted)."""
    for pkg in ("isa", "runtime", "imcc"):
        for f in _files(pkg):
            text = f.read_text()
            funcs = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(text))
                     if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
            yield f.relative_to(ROOT).as_posix(), len(text.splitlines()), funcs


def test_no_module_over_500_lines_and_no_function_over_80():
    long_modules, long_functions = [], []
    for rel, lines, funcs in _sizes():
        if rel in DATA_MODULES:
            continue
        if lines > MAX_MODULE_LINES:
            long_modules.append(f"{rel} ({lines} lines)")
        long_functions += [f"{rel}: {name} ({n} lines)" for name, n in funcs
                           if n > MAX_FUNCTION_LINES]
    assert long_modules + long_functions == []


def test_the_allow_lists_name_existing_files():
    for rel in DATA_MODULES:
        assert (ROOT / rel).is_file(), rel
