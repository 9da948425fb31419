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
        r = CliRunner().invoke(cli, ["compile", str(model), "-o", str(out)])
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"crash: {r.exception!r}") from r.exception
        assert r.exit_code in (0, 2), r.output
        assert "Traceback" not in r.output
        if r.exit_code == 2:
            assert r.output.startswith("imcc: error:") or ": error:" in r.output.splitlines()[0]
            assert not out.exists()
        out.unlink(missing_ok=True)
