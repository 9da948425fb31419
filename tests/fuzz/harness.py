"""Running one fuzz case through the commands that read it, and judging the outcome.

Each command runs in this process (click's CliRunner) under a time limit (``CASE_SECONDS``, an
alarm) and a memory cap (``CASE_MIB`` more address space than the process had, with
``RLIMIT_AS``; imcc's limits must refuse an input long before it). A case passes when every
command ends with

* exit status 0, or 2 with one diagnostic on stderr: one ``error:`` line followed only by its
  indented source, caret and hint lines (an assembly source may list several diagnostics, each
  so, then ``N errors generated.``);
* no traceback, no Python warning line (``RuntimeWarning: ...``), no ``out of memory``;
* on failure, no output file left, nor a temporary one;
* no file opened outside the case's folder (the folder above it holds decoys that hostile
  paths such as ``../secret.bin`` name; ``/etc/passwd`` likewise), seen by an audit hook.

Anything else (exit 1, an exception escaping click, a hang, a read outside) is a finding;
:func:`run_case` returns its description, or None when the case passes. Assembled programs also
have to survive a disassembly round trip byte for byte.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import random
import re
import resource
import signal
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from imcc.cli import cli
from isa.assembler import assemble_file
from isa.objfile import to_bytes
from tests.fuzz.mutators import ASM_SAMPLES, GENERATORS, SAMPLES, mutate_object

CASE_SECONDS = 60
CASE_MIB = 2048
#: (command, exit status) -> how many times; campaigns print it to show how deep cases reach
OUTCOMES: collections.Counter = collections.Counter()
SUFFIX = {"asm": ".s", "obj": ".imo", "onnx": ".onnx", "npy": ".npy", "config": ".json",
          "precision": ".toml", "pack": ".json"}
MLP = SAMPLES / "models" / "mlp.onnx"
DOT = SAMPLES / "asm" / "dot.s"
RUN_STEPS = "200000"
COMPILE = ("--no-estimate", "-q", "--time-limit", "0.5", "--workers", "1")
#: Files beside the case's folder that hostile paths name; opening one is a finding.
DECOYS = ("secret.bin", "secret.npy", "secret.json")
OUTSIDE = ("/etc/passwd", "/etc/hostname", "/etc/shadow")


@functools.cache
def _compiled_mlp() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mlp.imo"
        r = CliRunner().invoke(cli, ["compile", str(MLP), "-o", str(out), *COMPILE,
                                     "--chip", "ideal-int8"])
        assert r.exit_code == 0, r.output
        return out.read_bytes()


@functools.cache
def base_objects() -> tuple[bytes, ...]:
    """Objects to mutate: the assembled sample programs and a compiled sample model."""
    return (*(to_bytes(assemble_file(p).obj) for p in ASM_SAMPLES), _compiled_mlp())


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


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def _memory_cap(mib: int):
    """At most ``mib`` MiB of address space beyond what the process holds now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if not Path("/proc/self/status").exists():  # pragma: no cover - Linux only
        yield
        return
    cap = _vm_bytes() + mib * 2**20
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_OPENED: list[str] | None = None  # paths opened while a command runs (see _audit)


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def _recording_opens():
    global _OPENED
    _OPENED = []
    try:
        yield _OPENED
    finally:
        _OPENED = None


def _outside(opened: list[str], case_dir: Path) -> str | None:
    """The first path of ``opened`` that is a decoy beside ``case_dir`` or a system file."""
    root = case_dir.parent.resolve()
    inside = case_dir.resolve()
    for p in opened:
        try:
            r = Path(p).resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if str(r) in OUTSIDE or (root in r.parents and inside not in r.parents and r != inside):
            return p
    return None


_HEAD = re.compile(r"^(\S.*?: error: |imcc: error: )")
_COUNT = re.compile(r"^\d+ errors? generated\.$")
_PY_WARNING = re.compile(r"\b[A-Z]\w*Warning\b")


def _judge(r, cmd: str, outputs: list[Path], several: bool) -> str | None:
    """The finding of one finished command (see the module doc), or None."""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return f"crash in {cmd}: {type(r.exception).__name__}: {r.exception}"
    err = r.stderr
    if r.exit_code not in (0, 2):
        return f"exit {r.exit_code} in {cmd}: {r.output.strip()[:500]}"
    if "Traceback" in r.output:
        return f"traceback in {cmd}"
    if _PY_WARNING.search(err):
        return f"a Python warning on stderr of {cmd}: {err.strip()[:300]}"
    if "out of memory" in err:
        return f"{cmd} reached the memory cap ({CASE_MIB} MiB): no limit refused the input first"
    if r.exit_code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        heads = [ln for ln in lines if not ln.startswith("    ") and not _COUNT.match(ln)]
        if not heads or not all(_HEAD.match(ln) for ln in heads):
            return f"exit 2 without one clean error line in {cmd}: {err.strip()[:300]}"
        if len(heads) > 1 and not several:
            return f"{len(heads)} error lines in {cmd}: {err.strip()[:300]}"
        for o in outputs:
            if o.exists():
                return f"{o.name} left behind after a failed {cmd}"
    for o in outputs:
        left = list(o.parent.glob(f".{o.name}.*.tmp"))
        if left:
            return f"temporary file {left[0].name} left behind by {cmd}"
    return None


def _invoke(args: list[str], outputs: list[Path], case_dir: Path,
            several: bool = False) -> tuple[str | None, int]:
    """Run one command; (finding or None, exit status)."""
    for o in outputs:
        o.unlink(missing_ok=True)
    cmd = "imcc " + " ".join(args)
    try:
        with _deadline(CASE_SECONDS), _memory_cap(CASE_MIB), _recording_opens() as opened:
            r = CliRunner().invoke(cli, args, catch_exceptions=True)
    except _Hang:
        return f"hang (> {CASE_SECONDS} s): {cmd}", -1
    OUTCOMES[args[0], r.exit_code] += 1
    leak = _outside(opened, case_dir)
    if leak is not None:
        return f"{cmd} opened {leak}, outside the input's folder", r.exit_code
    return _judge(r, cmd, outputs, several), r.exit_code


def _round_trip(obj: Path, work: Path) -> str | None:
    """disasm -o then asm must give the same bytes back."""
    lst = work / "dis.s"
    again = work / "again.imo"
    for args, outs in ((["disasm", str(obj), "-o", str(lst)], [lst]),
                       (["asm", str(lst), "-o", str(again)], [again])):
        finding, code = _invoke(args, outs, work, several=True)
        if finding or code != 0:
            return finding or f"round trip failed at imcc {' '.join(args)}"
    if again.read_bytes() != obj.read_bytes():
        return "disassembly does not re-assemble to the same bytes"
    return None


def _case_dir(work: Path) -> Path:
    """``work/case``, emptied, with the decoys beside it in ``work``."""
    for name in DECOYS:
        decoy = work / name
        if not decoy.exists():
            decoy.write_bytes(b"\x93NUMPY decoy: imcc must never open this file\n")
    case = work / "case"
    case.mkdir(exist_ok=True)
    for p in case.iterdir():
        if p.is_dir() and not p.is_symlink():
            continue
        p.unlink()
    return case


def _steps(category: str, case: Path, work: Path):
    """The commands a case of ``category`` goes through: (args, outputs, several errors)."""
    out = work / "out.imo"
    if category == "obj":
        lst = work / "dis.s"
        return [(["disasm", str(case)], [], False),
                (["disasm", str(case), "-o", str(lst)], [lst], False),
                (["run", str(case), "--max-steps", RUN_STEPS], [], False)]
    if category == "onnx":
        return [(["stats", str(case)], [], False),
                (["compile", str(case), "-o", str(out), *COMPILE], [out], False)]
    if category == "npy":
        prog = work / "mlp.imo"
        if not prog.exists():
            prog.write_bytes(_compiled_mlp())
        result = work / "y.npz"
        return [(["run", str(prog), "--input", str(case), "--output", str(result)], [result],
                 False),
                (["run", str(prog), "--input", f"input={case}:input"], [], False),
                (["run", str(prog), "--input", str(case), "--labels", str(case)], [], False)]
    if category == "config":
        return [(["compile", str(MLP), "--config", str(case), "-o", str(out), *COMPILE], [out],
                 False),
                (["run", str(DOT), "--config", str(case), "--max-steps", RUN_STEPS], [], False)]
    if category == "precision":
        return [(["compile", str(MLP), "--chip", "ideal-int8", "--precision", str(case), "-o",
                  str(out), *COMPILE], [out], False)]
    if category == "pack":
        placed = work / "placed.json"
        return [(["pack", str(case), "--time-limit", "0.1", "--workers", "1", "--json",
                  str(placed)], [placed], False),
                (["pack", str(case), "--priority", "efficiency", "--time-limit", "0.1",
                  "--no-cpsat"], [], False)]
    raise ValueError(category)


def run_case(category: str, payload: bytes | str, work: Path) -> str | None:
    """Write the case into ``work/case`` and run it (see the module doc)."""
    work = _case_dir(work)
    case = work / f"case{SUFFIX[category]}"
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass")
    case.write_bytes(payload)
    if category == "asm":
        out = work / "out.imo"
        finding, code = _invoke(["asm", str(case), "-o", str(out)], [out], work, several=True)
        if finding or code:
            return finding
        finding, _ = _invoke(["run", str(out), "--max-steps", RUN_STEPS], [], work)
        return finding or _round_trip(out, work)
    for args, outs, several in _steps(category, case, work):
        finding, _ = _invoke(args, outs, work, several)
        if finding:
            return finding
    return None


def make_case(category: str, rng: random.Random) -> bytes | str:
    """A new case of ``category`` drawn with ``rng``."""
    return obj_case(rng) if category == "obj" else GENERATORS[category](rng)
