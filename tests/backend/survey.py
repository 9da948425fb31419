"""Run onnx's backend test cases through ``BackendTest`` as the tests do, and print the counts
by outcome and by reason (the groups of ``expected_failures.py``)::

    python -m tests.backend.survey            # counts by reason
    python -m tests.backend.survey --write    # and rewrite expected_failures.py's dict
    python -m tests.backend.survey -k gather  # only cases whose name matches

A case passes, is refused (an :data:`imcc.Error`: its reason is derived from the message), is
WRONG (the runner's comparison failed; "mismatch (listed)" for the cases of
``EXPECTED_MISMATCHES``) or CRASHES (any other exception).
"""

from __future__ import annotations

import argparse
import collections
import gc
import re
import sys
import time
import unittest
import warnings

from tests.backend.conftest import KINDS, reason_of
from tests.backend.expected_failures import EXPECTED_MISMATCHES

#: (pattern of the message, reason); the first that matches names the group.
RULES = (
    (r"opset \d+ is outside the opsets imcc reads",
     "opsets imcc does not read (newer than onnx knows, or old ones onnx's converter refuses)"),
    (r"\(new at opset \d+\) is not supported",
     "an attribute a newer opset added, at a value that changes the operator's meaning"),
    (r"a bit pattern from \w+ to \w+",
     "BitCast between float and integer types (the machine holds values, not bits)"),
    (r"beyond the whole numbers the machine's float32 words hold exactly",
     "integers beyond 2**24 (the machine's float32 words hold them exactly up to there)"),
    (r"beyond float32's range",
     "float64 values beyond float32's range (the machine computes float32)"),
    (r"Cast from \w+ to \w+ is not supported",
     "Cast to or from a type the machine does not convert (2-bit, FLOAT4, FLOAT8E8M0)"),
    (r"(has shape \[[\d, ]*\], a dimension of size 0|is empty \(shape)",
     "empty (size-0) tensors"),
    (r"\b(float16|bfloat16|float64) (tensor|input)",
     "float16, bfloat16 or float64 tensors (the machine computes float32)"),
    (r"(not a numeric tensor|is not a tensor)",
     "strings, sequences, maps or optionals (the machine holds numeric tensors)"),
    (r"control flow with subgraphs", "control flow (If, Loop, Scan, SequenceMap)"),
    (r"unknown operator domain|imports no version of the standard ONNX domain",
     "operators outside the standard ONNX domain (training, preview, custom)"),
    (r"cannot be determined statically|would depend on the data",
     "output shapes that depend on input data"),
    (r"(is not a constant|must be constants?)",
     "a runtime tensor where imcc needs a constant (weights, shapes, axes, parameters)"),
    (r"training mode|training_mode", "training mode"),
    (r"Mean and InvStdDev", "LayerNormalization's Mean and InvStdDev outputs"),
    (r"only 2-D (convolution|pooling)", "3-D (and higher) convolution and pooling"),
    (r"operands that broadcast a letter", "Einsum whose operands broadcast"),
    (r"Indices output", "MaxPool's Indices output"),
    (r"fmod=1", "Mod with fmod = 1"),
    (r"ONNX shape inference fails", "models onnx's own shape inference rejects"),
    (r"the (\w+) node writing '[^']*'(?: \(as \w+\))?;",
     "operator not implemented: {0}"),
)


def reason(message: str) -> str:
    for pattern, why in RULES:
        m = re.search(pattern, message)
        if m:
            return why.format(*m.groups())
    return "other: " + re.sub(r"'[^']*'", "'...'", message)[:100]


def survey(pattern: str | None = None, progress: bool = True) -> dict[str, tuple[str, str]]:
    """Case name -> (outcome, detail) for the CPU variant of every case the tests run."""
    import numpy as np
    import onnx.backend.test

    from isa.diagnostics import ToolchainError
    from tests.backend.test_onnx_backend import FastBackend

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    cases = onnx.backend.test.BackendTest(FastBackend, __name__).test_cases
    gc.collect()
    gc.freeze()
    out: dict[str, tuple[str, str]] = {}
    for cls_name in KINDS:
        case = cases[cls_name]
        names = sorted(n for n in dir(case) if n.startswith("test_") and n.endswith("_cpu"))
        for i, name in enumerate(names):
            if pattern and not re.search(pattern, name):
                continue
            if progress:
                print(f"\r{cls_name} {i + 1}/{len(names)}", end="", file=sys.stderr)
            try:
                getattr(case, name)(case(name))
                res = ("pass", "")
            except unittest.SkipTest as e:
                res = ("skip", str(e))
            except ToolchainError as e:
                res = ("refused", e.message)
            except AssertionError as e:
                res = ("WRONG", str(e).strip().replace("\n", " ")[:300])
            except Exception as e:  # noqa: BLE001 - the survey reports every kind of failure
                res = ("CRASH", f"{type(e).__name__}: {e}"[:300])
            out[name[: -len("_cpu")]] = res
    if progress:
        print(file=sys.stderr)
    return out


def _write(groups: dict[str, list[str]]) -> None:
    from pathlib import Path

    path = Path(__file__).with_name("expected_failures.py")
    head = path.read_text().split("EXPECTED_FAILURES: dict")[0]
    lines = ["EXPECTED_FAILURES: dict[str, tuple[str, ...]] = {"]
    for why, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"    {why!r}: (")
        lines += [f"        {n!r}," for n in sorted(names)]
        lines.append("    ),")
    path.write_text(head + "\n".join(lines) + "\n}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="pattern", help="only cases whose name matches this regex")
    ap.add_argument("--write", action="store_true",
                    help="rewrite the dict of expected_failures.py with the refusals found")
    args = ap.parse_args()
    t = time.perf_counter()
    res = survey(args.pattern)
    listed = reason_of(EXPECTED_MISMATCHES)
    res = {name: ("mismatch (listed)", d) if o == "WRONG" and name in listed else (o, d)
           for name, (o, d) in res.items()}
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for name, (outcome, detail) in res.items():
        if outcome == "refused":
            groups[reason(detail)].append(name)
    if args.write:
        _write(groups)
    counts = collections.Counter(o for o, _ in res.values())
    print(f"{len(res)} cases in {time.perf_counter() - t:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    for name, (outcome, detail) in sorted(res.items()):
        if outcome in ("WRONG", "CRASH"):
            print(f"  {outcome} {name}: {detail}")
    for why, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"{len(names):5d}  {why}")


if __name__ == "__main__":
    main()
