"""Corrupted model files: seeded byte mutations of small sample models (overwritten, deleted
and inserted bytes) through ``imcc compile``. Every outcome is either a compiled object (the
mutation was harmless) or one error line with exit status 2 and no output file: never a
traceback."""

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from imcc.cli import cli

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "models"


def _mutate(blob: bytes, rng: random.Random) -> bytes:
    b = bytearray(blob)
    for _ in range(rng.randint(1, 6)):
        k = rng.randrange(len(b))
        r = rng.random()
        if r < 0.6:
            b[k] = rng.randrange(256)
        elif r < 0.8:
            del b[k: k + rng.randint(1, 50)]
        else:
            b[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


@pytest.mark.parametrize("sample", ["lenet.onnx", "tiny_gpt2.onnx"])
@pytest.mark.parametrize("seed", range(12))
def test_mutated_model_compiles_or_fails_cleanly(sample, seed, tmp_path):
    rng = random.Random(f"{sample}-{seed}")
    blob = (SAMPLES / sample).read_bytes()
    model = tmp_path / "m.onnx"
    out = tmp_path / "m.imo"
    for _ in range(4):
        model.write_bytes(_mutate(blob, rng))
        _compiles_or_fails_cleanly(model, out)
        out.unlink(missing_ok=True)


def _compiles_or_fails_cleanly(model: Path, out: Path) -> None:
    """``imcc compile`` writes ``out``, or prints one error line (and its hint), exits 2 and
    writes nothing."""
    r = CliRunner().invoke(cli, ["compile", str(model), "-o", str(out)])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"crash: {r.exception!r}") from r.exception
    assert r.exit_code in (0, 2), r.output
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        first, *rest = r.output.strip().splitlines()
        assert first.startswith("imcc: error:") or ": error:" in first, r.output
        assert all(line.lstrip().startswith("hint:") for line in rest), r.output
        assert not out.exists()


def _external_fields_model(tmp_path: Path):
    """A model whose two large initializers (float32, int64) live in one external file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    n = 4200
    inits = [numpy_helper.from_array(rng.standard_normal((n, 2)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.integers(0, n, n).astype(np.int64), "idx")]
    nodes = [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
             helper.make_node("MatMul", ["g", "w"], ["y"])]
    g = helper.make_graph(nodes, "ext", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        [1, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    p = tmp_path / "ext.onnx"
    onnx.save_model(m, p, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.bin", size_threshold=0)
    return p


@pytest.mark.parametrize("seed", range(16))
def test_mutated_external_data_references_load_or_fail_cleanly(seed, tmp_path):
    # The large initializers' references (offset, length, type, dims) are checked when the
    # model is parsed and read on import: any mutation loads or gives one clear error.
    import onnx

    rng = random.Random(seed)
    p = _external_fields_model(tmp_path)
    m = onnx.load_model(p, load_external_data=False)
    size = (tmp_path / "ext.bin").stat().st_size
    for _ in range(rng.randint(1, 3)):
        t = m.graph.initializer[rng.randrange(2)]
        what = rng.choice(["offset", "length", "type", "dims", "location", "drop"])
        if what in ("offset", "length"):
            for e in t.external_data:
                if e.key == what:
                    e.value = rng.choice([str(rng.randrange(-8, size + 8)), "x", "", "1e3"])
        elif what == "type":
            t.data_type = rng.choice([1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13, 16])
        elif what == "dims":
            t.dims[rng.randrange(len(t.dims))] = rng.choice([0, 1, 2, 4199, 4201, -1, 1 << 40])
        elif what == "location":
            for e in t.external_data:
                if e.key == "location":
                    e.value = rng.choice(["ext.bin/", "./ext.bin", "missing.bin", ".", ""])
        else:
            del t.external_data[:]
    p.write_bytes(m.SerializeToString())
    _compiles_or_fails_cleanly(p, tmp_path / "m.imo")
