"""The results file (JSONL, one record per (point, seed), appended as results arrive) and the
per-point summary (mean and spread over seeds) written as CSV.

A record: ``{"schema", "key", "study", "point": {"set": {...}, "layers": {...}}, "seed",
"accuracy", "rel_error", "energy_pj", "energy_breakdown_pj", "latency_ns",
"program_energy_pj", "adc_conversions", "batch", "arrays_used", "samples", "run_s",
"compile_s", "error"}``; a failed evaluation has ``error`` set (a one-line message) and no
scores. ``key`` covers the model, data, base chip and precision, compile options, the point and
the seed (:func:`imcc.explore.evaluate.result_key`), so a rerun skips every key already in the
file, and records of other studies in the same file are left alone. A run killed while writing
leaves at most one partial last line; it is dropped when the file is opened again.

Spread: ``std`` is the sample standard deviation over seeds (``ddof = 1``; 0 for one seed).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from imcc.explore.evaluate import SCHEMA, Point, result_key
from imcc.explore.pareto import pareto_front
from isa import hostlimits
from isa.diagnostics import ConfigError
from isa.objfile import atomic_write


class ResultStore:
    """The records of a results file by key (the last record of a key wins), and the file
    they are appended to (``path = None``: kept in memory only)."""

    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self.records: dict[str, dict] = {}
        self._file = None
        self._need_newline = False
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        blob = hostlimits.read_bytes(self.path, f"{self.path}: the results file")
        pos, good = 0, 0
        lines = blob.split(b"\n")
        for i, line in enumerate(lines):
            end = pos + len(line) + 1
            last = i == len(lines) - 1
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError:
                    if last:  # a write cut short by a kill: drop it
                        break
                    raise ConfigError(f"{self.path}:{i + 1}: not a JSON record",
                                      hint="give another results file with -o") from None
                if not isinstance(rec, dict) or rec.get("schema") != SCHEMA or "key" not in rec:
                    raise ConfigError(f"{self.path}:{i + 1}: not an imcc explore record "
                                      f"(schema {SCHEMA})",
                                      hint="give another results file with -o")
                self.records[rec["key"]] = rec
            good = min(end, len(blob))
            pos = end
        if good < len(blob):
            with open(self.path, "r+b") as f:
                f.truncate(good)
        self._need_newline = good > 0 and not blob[:good].endswith(b"\n")

    def done(self, key: str, retry_errors: bool = False) -> bool:
        rec = self.records.get(key)
        return rec is not None and not (retry_errors and rec.get("error"))

    def append(self, record: dict) -> None:
        """Add a record and write it to the file at once (one line, flushed)."""
        self.records[record["key"]] = record
        if self.path is None:
            return
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
            if self._need_newline:
                self._file.write("\n")
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _stats(values: list[float]) -> tuple[float, float, float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std, min(values), max(values)


@dataclass(frozen=True)
class Summary:
    """One point over its seeds. ``accuracy`` and ``rel_error`` are (mean, std, min, max), or
    None where no seed succeeded (accuracy also without labels)."""

    point: Point
    seeds: int
    accuracy: tuple | None
    rel_error: tuple | None
    energy_pj: float | None
    latency_ns: float | None
    arrays_used: int | None
    adc_conversions: float | None
    errors: tuple[str, ...]
    pareto: bool = False

    @property
    def score(self) -> float | None:
        """Higher is better: mean accuracy, or minus the mean relative error without labels."""
        if self.accuracy is not None:
            return self.accuracy[0]
        return None if self.rel_error is None else -self.rel_error[0]


def summarize(study_fp: str, points: list[Point], seeds: tuple[int, ...],
              store: ResultStore) -> list[Summary]:
    """Summaries of ``points`` from the store, with the Pareto front (score up, energy down)
    marked among the points that have results."""
    out = []
    for p in points:
        recs = [store.records.get(result_key(study_fp, p, s)) for s in seeds]
        recs = [r for r in recs if r is not None]
        ok = [r for r in recs if not r.get("error")]
        errors = tuple(sorted({r["error"] for r in recs if r.get("error")}))
        acc = [r["accuracy"] for r in ok if r.get("accuracy") is not None]
        err = [r["rel_error"] for r in ok]
        first = ok[0] if ok else {}
        out.append(Summary(p, len(ok), _stats(acc) if acc else None,
                           _stats(err) if err else None, first.get("energy_pj"),
                           first.get("latency_ns"), first.get("arrays_used"),
                           first.get("adc_conversions"), errors))
    idx = [i for i, s in enumerate(out) if s.score is not None and s.energy_pj is not None]
    front = pareto_front([(out[i].score, out[i].energy_pj) for i in idx])
    marked = list(out)
    for i, f in zip(idx, front):
        if f:
            s = marked[i]
            marked[i] = Summary(s.point, s.seeds, s.accuracy, s.rel_error, s.energy_pj,
                                s.latency_ns, s.arrays_used, s.adc_conversions, s.errors, True)
    return marked


COLUMNS = ("seeds", "accuracy_mean", "accuracy_std", "accuracy_min", "accuracy_max",
           "rel_error_mean", "rel_error_std", "energy_pj", "latency_ns", "arrays_used",
           "adc_conversions", "pareto", "error")


def row(s: Summary, names: list[str]) -> dict:
    """A CSV row: the swept parameters (``layers`` for per-layer settings) and the columns."""
    d: dict = {n: dict(s.point.overrides).get(n, "") for n in names}
    if s.point.layers:
        d["layers"] = " ".join(f"{layer}:{k}={v}" for layer, k, v in s.point.layers)
    acc = s.accuracy or ("",) * 4
    err = s.rel_error or ("",) * 2
    d.update(zip(COLUMNS, (s.seeds, *acc, *err[:2], _blank(s.energy_pj), _blank(s.latency_ns),
                           _blank(s.arrays_used), _blank(s.adc_conversions), int(s.pareto),
                           "; ".join(s.errors))))
    return d


def _blank(v):
    return "" if v is None else v


def to_csv(summaries: list[Summary], names: list[str]) -> str:
    cols = list(names) + (["layers"] if any(s.point.layers for s in summaries) else [])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols + list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for s in summaries:
        w.writerow(row(s, names))
    return buf.getvalue()


def write_csv(path: str | Path, summaries: list[Summary], names: list[str]) -> None:
    atomic_write(path, to_csv(summaries, names).encode())
