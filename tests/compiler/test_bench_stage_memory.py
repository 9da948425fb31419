"""benchmarks/bench_models.py's ``--stage-memory``: the largest resident memory seen during each
compile stage, a stage starting with the progress message that names it (the packer's own
messages belong to the packing stage), checked against the values a fake memory reading gave."""

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "bench_models", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_models.py")
bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bench)


def test_each_stage_keeps_the_largest_reading_made_in_it(monkeypatch):
    reading = [10]
    monkeypatch.setattr(bench, "_rss_now", lambda: reading[0])
    s = bench._StagePeaks()
    s._stop.set()  # readings only where the test makes them
    s._thread.join()
    for msg, values in [("loading", [12, 30, 11]), ("canonicalizing", [40]),
                        ("packing 780 tiles onto arrays", [41]), ("804 tiles", [90, 45]),
                        ("heuristics: first fit", [50]), ("calibrating 53 layer input(s)", [70]),
                        ("quantizing weights", [60])]:
        s.progress(msg)
        for v in values:
            reading[0] = v
            s.note(v)
    peaks = s.stop()
    assert peaks == {"imports": 10, "loading": 30, "canonicalizing": 40, "packing": 90,
                     "calibrating": 70, "quantizing": 70}
