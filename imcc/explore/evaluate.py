"""One evaluation: a point of the design space (overrides of the base chip and precision) and a
seed -> compile -> run the evaluation data on the machine -> scores and cost per inference.

Compiling does not depend on the device model (``nonideal``) nor on the seed, so the engine
compiles once per :func:`compile_key` and runs every noise level and seed of that key on the same
program. The object records the chip's program hash, which leaves the device model out, so the
machine accepts it for every noise variant; ``tests/explore`` checks that compiling for the
noisy chip gives the same program.

Cost per inference: the first run of a machine programs the arrays, later runs start at the
program's ``.rerun`` label. The cost model counts events that depend on the program only, not on
the data, so the cost of one steady-state run is the difference between the cost after the last
run and after the first (an extra run is made when the data fits one batch). ``energy_pj`` is
that run's energy divided by its batch size; ``latency_ns`` is that run's latency (one batch);
``program_energy_pj`` is the one-time cost of programming the arrays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from imcc.compiler import CompileOptions
from imcc.explore.data import Dataset, scores
from imcc.explore.params import apply
from imcc.precision import PrecisionConfig, point_precision

SCHEMA = "imcc.explore/1"


@dataclass(frozen=True)
class Point:
    """A point of the design space: uniform overrides (canonical names, see
    :mod:`imcc.explore.params`) and per-layer precision settings ``(layer, key, value)``."""

    overrides: tuple[tuple[str, Any], ...] = ()
    layers: tuple[tuple[str, str, Any], ...] = ()

    def to_json(self) -> dict:
        out: dict = {"set": dict(self.overrides)}
        if self.layers:
            lay: dict = {}
            for layer, k, v in self.layers:
                lay.setdefault(layer, {})[k] = v
            out["layers"] = lay
        return out

    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.overrides]
        parts += [f"{layer}:{k}={v}" for layer, k, v in self.layers]
        return " ".join(parts) or "base"

    def with_layer(self, layer: str, key: str, value: Any) -> Point:
        rest = tuple(t for t in self.layers if t[:2] != (layer, key))
        return Point(self.overrides, tuple(sorted((*rest, (layer, key, value)))))

    def layer_value(self, layer: str, key: str, default: Any) -> Any:
        for lay, k, v in self.layers:
            if (lay, k) == (layer, key):
                return v
        return default


@dataclass(frozen=True)
class Study:
    """What every point of one exploration shares. Picklable, so it travels to workers."""

    model: str
    model_sha: str
    base_chip: dict
    precision: PrecisionConfig | None
    options: tuple  # CompileOptions fields as (name, value), input_shapes as pairs
    time_s: float | None
    data: Dataset

    @staticmethod
    def make(model: str | Path, base_chip, precision: PrecisionConfig | None,
             options: CompileOptions, time_s: float | None, data: Dataset) -> Study:
        opts = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
        opts["input_shapes"] = tuple(sorted((k, tuple(v))
                                            for k, v in dict(options.input_shapes).items()))
        if not opts.get("fit"):  # off: the fingerprints of studies from before the option
            opts.pop("fit", None)
        sha = hashlib.sha256(Path(model).read_bytes()).hexdigest()[:16]
        chip = base_chip.to_dict() if hasattr(base_chip, "to_dict") else dict(base_chip)
        chip.pop("description", None)  # free text: changes no result (nor the chip's hash)
        # absolute: a worker (another process, maybe another machine) reads it from there
        return Study(os.path.abspath(model), sha, chip, precision, tuple(sorted(opts.items())),
                     time_s, data)

    def compile_options(self) -> CompileOptions:
        d = dict(self.options)
        d["input_shapes"] = MappingProxyType(dict(d["input_shapes"]))
        return CompileOptions(**d)

    @property
    def fingerprint(self) -> str:
        """Everything but the point and the seed that decides a result (16 hex digits)."""
        prec = None if self.precision is None else [self.precision.default,
                                                     self.precision.rules]
        blob = json.dumps([SCHEMA, self.model_sha, self.base_chip, prec, self.options,
                           self.time_s, self.data.fingerprint], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def result_key(study_fp: str, point: Point, seed: int) -> str:
    """The key of one (point, seed) result in the results file."""
    blob = json.dumps([study_fp, point.to_json(), seed], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def chips(study: Study, point: Point):
    """(run chip, compile chip, precision, read time) of a point. The compile chip is the run
    chip without device nonidealities: what the compiler sees does not include them."""
    from runtime.config import config_from_dict

    r = apply(study.base_chip, point.overrides, study.time_s)
    where = f"point {point.label()}"
    run_chip = config_from_dict(r.chip, where)
    compile_chip = config_from_dict({**r.chip, "nonideal": {}}, where)
    prec = point_precision(study.precision, r.precision_default, point.layers)
    return run_chip, compile_chip, prec, r.time_s


def compile_key(study: Study, point: Point) -> str:
    """Points with equal keys compile to the same program."""
    _, cchip, prec, _ = chips(study, point)
    p = None if prec is None else [prec.default, prec.rules]
    blob = json.dumps([cchip.to_dict(), p], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Compiled:
    obj: Any  # isa.objfile.ObjectFile
    arrays_used: int
    layers: tuple[str, ...]  # IMC layer names
    warnings: tuple[str, ...]
    seconds: float
    grown: tuple = ()  # with --fit: (field, value) of the chip's size grown to fit the point

    def chip(self, chip):
        """``chip`` (the point's run or compile chip) grown as the compile grew it."""
        return chip.derive(dict(self.grown), where="--fit") if self.grown else chip


def model_here(study: Study) -> None:
    """Check that the model file this process (a worker, maybe on another machine) reads at the
    study's path is the one the study was made from."""
    import socket

    from isa.diagnostics import InputError

    hint = ("workers read the model (and its external data) at the path the client gives: "
            "put it on a file system every worker sees, at the same path")
    where = f"{study.model} on {socket.gethostname()}"
    try:
        blob = Path(study.model).read_bytes()
    except OSError as e:
        raise InputError(f"{where}: cannot read the model ({e.strerror})", hint=hint) from None
    if hashlib.sha256(blob).hexdigest()[:16] != study.model_sha:
        raise InputError(f"{where}: not the model file the sweep started with (it changed, or "
                         "this machine has another file at that path)", hint=hint)


def compile_point(study: Study, point: Point) -> Compiled:
    """Compile the model for a point (calibrating on the study's calibration part)."""
    from imcc.compiler import compile_model

    t = time.perf_counter()
    model_here(study)
    _, cchip, prec, _ = chips(study, point)
    res = compile_model(study.model, cchip, precision=prec, calib=dict(study.data.calib),
                        options=study.compile_options())
    layers = tuple(entry["name"] for entry in res.storage_map["layers"])
    grown = tuple((k, getattr(res.chip, k)) for k in ("tiles", "arrays_per_tile", "global_mib")
                  if getattr(res.chip, k) != getattr(cchip, k))
    return Compiled(res.obj, int(res.report["arrays_used"]), layers,
                    tuple(res.report["warnings"]), time.perf_counter() - t, grown)


def run_point(study: Study, point: Point, seed: int, compiled: Compiled,
              data: Dataset | None = None) -> dict:
    """Run ``data`` (default: the study's evaluation part) on the point's chip with run seed
    ``seed``; returns scores and cost per inference (see the module docstring)."""
    from runtime.machine import Machine

    data = data or study.data
    t = time.perf_counter()
    chip, _, _, time_s = chips(study, point)
    chip = compiled.chip(chip)
    obj = compiled.obj
    m = Machine(chip, obj, seed=seed, time_s=time_s)
    declared = {io.name: io.shape for io in obj.inputs}
    batch = next(iter(declared.values()))[0]
    n = data.size
    chunks = -(-n // batch)
    outs, first = [], None
    for k in range(max(chunks, 2)):
        c = min(k, chunks - 1)
        feed = {}
        for name, a in data.inputs:
            part = a[c * batch:(c + 1) * batch]
            if len(part) < batch:
                part = np.concatenate([part, np.zeros((batch - len(part), *part.shape[1:]),
                                                      part.dtype)])
            feed[name] = part
        y = m.run(feed)[data.output]
        if k < chunks:
            outs.append(y)
        if k == 0:
            first = m.cost
    last = m.cost
    runs = last.runs - first.runs
    out = np.concatenate(outs)[:n]
    steady = {k: (last.energy_breakdown_pj[k] - first.energy_breakdown_pj.get(k, 0.0)) / runs
              for k in last.energy_breakdown_pj}
    per_run = sum(steady.values())
    rec = scores(out, data)
    rec.update({
        "energy_pj": per_run / batch,
        "energy_breakdown_pj": {k: v / batch for k, v in sorted(steady.items()) if v},
        "latency_ns": (last.latency_ns - first.latency_ns) / runs,
        "program_energy_pj": first.energy_breakdown_pj.get("program", 0.0),
        "adc_conversions": (last.adc_conversions - first.adc_conversions) / runs / batch,
        "batch": batch,
        "arrays_used": compiled.arrays_used,
        "samples": n,
        "run_s": round(time.perf_counter() - t, 3),
        "compile_s": round(compiled.seconds, 3),
    })
    return rec


def probe_energy(study: Study, point: Point) -> float:
    """Energy per inference of a point's program (pJ), from two runs on zero inputs on the
    noise-free chip: the cost model counts events of the program, not of the data, so this is
    the ``energy_pj`` that :func:`run_point` reports, at the price of one batch."""
    from runtime.machine import Machine

    compiled = compile_point(study, point)
    _, chip, _, _ = chips(study, point)
    chip = compiled.chip(chip)
    obj = compiled.obj
    m = Machine(chip, obj)
    feed = {io.name: np.zeros(io.shape, np.float32) for io in obj.inputs}
    m.run(feed)
    first = m.cost
    m.run(feed)
    batch = obj.inputs[0].shape[0] if obj.inputs and obj.inputs[0].shape else 1
    return (m.cost.energy_pj - first.energy_pj) / batch
