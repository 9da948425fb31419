"""The compiler driver's pass checks: ``imcc compile --dump-after PASS`` (and ``--dump-file``)
prints the graph after a canonicalization pass, ``--verify-each`` runs the verifier after every
pass, and ``imcc.compile`` takes the same as ``dump_after`` and ``verify_each``."""

import contextlib
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli
from imcc.ir import format_graph
from imcc.mapper import load_graph
from imcc.options import CompileOptions
from imcc.passes import PASSES, pipeline, run_passes

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "samples" / "digits" / "cnn.onnx"
LENET = ROOT / "samples" / "models" / "lenet.onnx"


def _compile(tmp_path, *args):
    return CliRunner().invoke(cli, ["compile", str(CNN), "-o", str(tmp_path / "cnn.imo"),
                                    "--no-estimate", *map(str, args)])


def _dumps(text: str) -> list[tuple[str, str]]:
    """(pass name, graph text) of each dump in ``text``."""
    parts = re.split(r"^# after pass (\S+)\n", text, flags=re.M)
    return [(parts[i], parts[i + 1].rstrip("\n")) for i in range(1, len(parts), 2)]


def test_dump_after_prints_the_graph_after_that_pass(tmp_path):
    r = _compile(tmp_path, "--dump-after", "fold-constants", "--dump-after", "dead-code")
    assert r.exit_code == 0, r.output
    dumps = _dumps(r.stderr)
    assert [name for name, _ in dumps] == ["fold-constants", "dead-code"]
    # The oracle: the passes of the pipeline up to that one, run here on the loaded model.
    graph = load_graph(CNN, CompileOptions())
    passes = pipeline()
    after_first = run_passes(graph, passes[:1])
    assert dumps[0][1] == format_graph(after_first)
    assert dumps[1][1] == format_graph(run_passes(graph, passes))
    assert "compiled" in r.stdout and "# after pass" not in r.stdout


def test_a_pass_that_runs_twice_is_dumped_twice_into_the_dump_file(tmp_path):
    out = tmp_path / "passes.txt"
    r = _compile(tmp_path, "--dump-after", "normalize-reshape", "--dump-file", out, "-q")
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
    runs = sum(p.name == "normalize-reshape" for p in pipeline())
    assert runs == 2
    assert [name for name, _ in _dumps(out.read_text())] == ["normalize-reshape"] * runs


def test_a_dump_file_without_passes_to_dump_is_an_error(tmp_path):
    r = _compile(tmp_path, "--dump-file", tmp_path / "passes.txt")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [f"imcc: error: --dump-file {tmp_path / 'passes.txt'}: "
                                     "nothing to write into it; name the passes to print with "
                                     "--dump-after PASS"]
    assert not (tmp_path / "passes.txt").exists() and not (tmp_path / "cnn.imo").exists()


def test_an_unknown_pass_is_one_error_line_listing_the_passes(tmp_path):
    r = _compile(tmp_path, "--dump-after", "fold-constant")
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("imcc: error: --dump-after 'fold-constant'")
    listed = lines[0].split("the passes are ")[1].split(", ")
    assert set(listed) == set(PASSES) and len(listed) == len(PASSES)
    assert not (tmp_path / "cnn.imo").exists()


def test_verify_each_runs_the_verifier_after_every_pass(monkeypatch):
    import imcc.passes as passes

    seen = []
    verify = passes.verify

    def counting(graph):
        seen.append(len(graph.nodes))
        verify(graph)

    monkeypatch.setattr(passes, "verify", counting)
    imcc.compile(CNN)
    assert seen == []
    imcc.compile(CNN, verify_each=True)
    assert len(seen) == len(pipeline())


def test_the_interface_takes_dump_after_and_refuses_what_is_not_a_pass():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        imcc.compile(CNN, dump_after="dead-code")
    assert [name for name, _ in _dumps(err.getvalue())] == ["dead-code"]
    for bad in ("no-such-pass", 3, ["dead-code", None]):
        with pytest.raises(imcc.Error, match="dump_after"):
            imcc.compile(CNN, dump_after=bad)
    with pytest.raises(imcc.Error, match="verify_each"):
        imcc.compile(CNN, verify_each="yes")

