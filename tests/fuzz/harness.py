"""Running one fuzz case through the commands that read it, and judging the outcome.

A case passes when every command ends with exit status 0, or 2 with an error line, no
traceback and no output file (nor a temporary one) left behind, within ``CASE_SECONDS``.
Anything else (exit 1, an exception escaping click, a hang) is a finding; :func:`run_case`
returns its description, or None when the case passes. Assembled programs also have to survive
a disassembly round trip byte for byte.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import random
import signal
import tempfile
from pathlib import Path

from click.testing import CliRunner

from imcc.cli import cli
from isa.assembler import assemble_file
from isa.objfile import to_bytes
from tests.fuzz.mutators import ASM_SAMPLES, GENERATORS, SAMPLES, mutate_object

CASE_SECONDS = 60
#: (command, exit status) -> how many times; campaigns print it to show how deep cases reach
OUTCOMES: collections.Counter = collections.Counter()
SUFFIX = {"asm": ".s", "obj": ".imo", "onnx": ".onnx", "config": ".json", "precision": ".toml"}
MLP = SAMPLES / "models" / "mlp.onnx"
DOT = SAMPLES / "asm" / "dot.s"
RUN_STEPS = "200000"
COMPILE = ("--no-estimate", "-q", "--time-limit", "0.5", "--workers", "1")


@functools.cache
def base_objects() -> tuple[bytes, ...]:
    """Objects to mutate: the assembled sample programs and a compiled sample model."""
    blobs = [to_bytes(assemble_file(p).obj) for p in ASM_SAMPLES]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mlp.imo"
        r = CliRunner().invoke(cli, ["compile", str(MLP), "-o", str(out), *COMPILE,
                                     "--chip", "ideal-int8"])
        assert r.exit_code == 0, r.output
        blobs.append(out.read_bytes())
    return tuple(blobs)


def obj_case(rng: random.Random) -> bytes:
    return mutate_object(rng.choice(base_objects()), rng)


class _Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` swallows it."""


@contextlib.contextmanager
def _deadline(seconds: int):
    def fire(signum, frame):
        raise _Hang()

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _invoke(args: list[str], outputs: list[Path]) -> tuple[str | None, int]:
    """Run one command; (finding or None, exit status)."""
    for o in outputs:
        o.unlink(missing_ok=True)
    try:
        with _deadline(CASE_SECONDS):
            r = CliRunner().invoke(cli, args, catch_exceptions=True)
    except _Hang:
        return f"hang (> {CASE_SECONDS} s): imcc {' '.join(args)}", -1
    cmd = "imcc " + " ".join(args)
    OUTCOMES[args[0], r.exit_code] += 1
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return f"crash in {cmd}: {type(r.exception).__name__}: {r.exception}", -1
    if r.exit_code not in (0, 2):
        return f"exit {r.exit_code} in {cmd}: {r.output.strip()[:500]}", r.exit_code
    if "Traceback" in r.output:
        return f"traceback in {cmd}", r.exit_code
    if r.exit_code == 2:
        if "error" not in r.output:
            return f"exit 2 without an error message in {cmd}: {r.output[:300]}", 2
        for o in outputs:
            if o.exists():
                return f"{o.name} left behind after a failed {cmd}", 2
    for o in outputs:
        left = list(o.parent.glob(f".{o.name}.*.tmp"))
        if left:
            return f"temporary file {left[0].name} left behind by {cmd}", r.exit_code
    return None, r.exit_code


def _round_trip(obj: Path, work: Path) -> str | None:
    """disasm -o then asm must give the same bytes back."""
    lst = work / "dis.s"
    again = work / "again.imo"
    for args, outs in ((["disasm", str(obj), "-o", str(lst)], [lst]),
                       (["asm", str(lst), "-o", str(again)], [again])):
        finding, code = _invoke(args, outs)
        if finding or code != 0:
            return finding or f"round trip failed at imcc {' '.join(args)}"
    if again.read_bytes() != obj.read_bytes():
        return "disassembly does not re-assemble to the same bytes"
    return None


def run_case(category: str, payload: bytes | str, work: Path) -> str | None:
    """Write the case into ``work`` and run it (see the module doc)."""
    case = work / f"case{SUFFIX[category]}"
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    case.write_bytes(payload)
    out = work / "out.imo"
    out.unlink(missing_ok=True)
    if category == "asm":
        finding, code = _invoke(["asm", str(case), "-o", str(out)], [out])
        if finding or code:
            return finding
        finding, _ = _invoke(["run", str(out), "--max-steps", RUN_STEPS], [])
        return finding or _round_trip(out, work)
    if category == "obj":
        lst = work / "dis.s"
        for args, outs in ((["disasm", str(case)], []),
                           (["disasm", str(case), "-o", str(lst)], [lst]),
                           (["run", str(case), "--max-steps", RUN_STEPS], [])):
            finding, _ = _invoke(args, outs)
            if finding:
                return finding
        return None
    if category == "onnx":
        finding, _ = _invoke(["stats", str(case)], [])
        if finding:
            return finding
        finding, _ = _invoke(["compile", str(case), "-o", str(out), *COMPILE], [out])
        return finding
    if category == "config":
        finding, _ = _invoke(["compile", str(MLP), "--config", str(case), "-o", str(out),
                              *COMPILE], [out])
        if finding:
            return finding
        finding, _ = _invoke(["run", str(DOT), "--config", str(case), "--max-steps",
                              RUN_STEPS], [])
        return finding
    if category == "precision":
        finding, _ = _invoke(["compile", str(MLP), "--chip", "ideal-int8", "--precision",
                              str(case), "-o", str(out), *COMPILE], [out])
        return finding
    raise ValueError(category)


def make_case(category: str, rng: random.Random) -> bytes | str:
    """A new case of ``category`` drawn with ``rng``."""
    return obj_case(rng) if category == "obj" else GENERATORS[category](rng)
