"""Long fuzz campaigns: ``python -m tests.fuzz.campaign [--category C ...] [--cases N]
[--seed S]``. Runs N cases per category through :func:`tests.fuzz.harness.run_case`, prints a
line per finding and a table of cases tried, accepted (exit 0), rejected cleanly (exit 2) and
findings per category; each finding's input is saved into ``tests/fuzz/corpus/CATEGORY/`` so
that ``test_corpus.py`` replays it from then on (fix the defect, keep the file)."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz import harness
from tests.fuzz.mutators import CATEGORIES

CORPUS = Path(__file__).resolve().parent / "corpus"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--category", action="append", choices=CATEGORIES)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", action=argparse.BooleanOptionalAction, default=True,
                    help="save findings into the corpus")
    args = ap.parse_args(argv)
    rows = []
    for cat in args.category or CATEGORIES:
        found = 0
        harness.OUTCOMES.clear()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.cases):
                seed = f"{cat}-{args.seed}-{i}"
                payload = harness.make_case(cat, random.Random(seed))
                finding = harness.run_case(cat, payload, Path(tmp))
                if finding:
                    found += 1
                    print(f"{seed}: {finding}", flush=True)
                    if args.save:
                        d = CORPUS / cat
                        d.mkdir(parents=True, exist_ok=True)
                        blob = payload.encode("utf-8", "surrogatepass") if isinstance(
                            payload, str) else payload
                        (d / f"{seed}{harness.SUFFIX[cat]}").write_bytes(blob)
        outcomes = ", ".join(f"{c} exit {e}: {n}" for (c, e), n in sorted(harness.OUTCOMES.items()))
        rows.append((cat, args.cases, found, time.perf_counter() - t0, outcomes))
    print(f"\n{'category':<10} {'cases':>6} {'findings':>9} {'seconds':>8}  commands run")
    for cat, n, found, secs, outcomes in rows:
        print(f"{cat:<10} {n:>6} {found:>9} {secs:>8.1f}  {outcomes}")
    return 1 if any(r[2] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
