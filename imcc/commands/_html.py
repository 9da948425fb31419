"""What ``--html FILE`` puts in the page of ``imcc compile``, ``run`` and ``explore``
(:mod:`imcc.report` draws it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Samples of the calibration data (or random inputs) that ``compile --html`` runs to compare
#: the program with the float model.
COMPARE_SAMPLES = 16


def output_errors(outputs: dict, reference: dict) -> list[dict]:
    """Per output the program and the float model share: max abs and max relative error
    (relative to the largest float magnitude), what ``imcc run --compare`` prints."""
    from isa.diagnostics import InputError

    rows = []
    for name, out in outputs.items():
        if name not in reference:
            continue
        want = np.asarray(reference[name], dtype=np.float64)
        if want.size != np.size(out):
            raise InputError(f"--compare: output {name!r} has shape {list(want.shape)} in the "
                             f"model, the program's has {list(np.shape(out))}",
                             hint="compare with the model the program was compiled from")
        d = np.abs(np.asarray(out, dtype=np.float64) - want.reshape(np.shape(out)))
        scale = max(float(np.abs(want).max()) if want.size else 0.0, 1e-30)
        big = float(d.max()) if d.size else 0.0
        rows.append({"name": name, "max_abs": big, "max_rel": big / scale, "scale": scale})
    return rows


def _chip(chip) -> dict:
    return {"name": chip.name, "hash": chip.program_hash, "tiles": chip.tiles,
            "arrays_per_tile": chip.arrays_per_tile, "rows": chip.rows, "cols": chip.cols,
            "global_mib": chip.global_mib}


def compare_samples(prog, model: Path, calib: dict | None) -> tuple[dict, str]:
    """Inputs for ``compile --html``'s comparison: the first samples of the calibration data,
    else seeded standard normal inputs of one batch (None where an input holds integers)."""
    feeds, what = {}, "calibration"
    for t in prog.inputs:
        if calib is not None and t.name in calib:
            a = np.asarray(calib[t.name])
            n = max(t.shape[0] if t.shape else 1, min(len(a), COMPARE_SAMPLES)) if a.ndim else 1
            feeds[t.name] = a[:n] if a.ndim else a
        elif np.dtype(t.dtype).kind in "iub":
            return {}, ""
        else:
            rng = np.random.default_rng(0)
            feeds[t.name] = rng.standard_normal(t.shape).astype(t.dtype)
            what = "random (seeded standard normal)"
    return feeds, what


def compile_page(prog, model: Path, rep: dict, *, calib: dict | None,
                 compare: bool = True, constants: dict | None = None) -> dict:
    """The page of ``imcc compile --html``: partition, layers, storage map, the cost model's
    estimate (in ``rep``, the compile report, unless ``--no-estimate``) and, on a few samples,
    the comparison with the float model (given ``constants``, the inputs ``--const`` bound)."""
    from imcc.reference import evaluate

    chip = prog.chip
    smap = prog.storage_map
    est = rep.get("estimate") or {}
    batch = prog.inputs[0].shape[0] if prog.inputs and prog.inputs[0].shape else 1
    summary = [
        ["partition", ", ".join(f"{v} {k}" for k, v in rep["partition"].items())],
        ["arrays", (f"{rep['arrays_used']} of {rep['arrays_available']} "
                    f"(lower bound {rep['lower_bound']})")],
        ["chip", (f"{chip.tiles} tiles x {chip.arrays_per_tile} arrays of "
                  f"{chip.rows}x{chip.cols}")],
        ["instructions", f"{rep['instructions']:,}"],
        ["cell levels", f"{rep['weight_bytes'] / 1024:,.1f} KiB"],
        ["global memory", f"{rep['memory_bytes'] / 2**20:.2f} of {chip.global_mib} MiB"],
        ["compile time", f"{rep['total_s']:.2f} s"],
    ]
    data = {"kind": "compile", "title": f"{Path(str(model)).name} on chip {chip.name}",
            "subtitle": f"imcc compile: {rep['priority']} priority, program hash "
                        f"{chip.program_hash}, compiled for a batch of {batch}",
            "chip": _chip(chip), "summary": summary, "nodes": prog._nodes,
            "storage_map": smap, "warnings": list(rep["warnings"])}
    if est:
        data["cost"] = {"energy_pj": est["energy_pj"], "latency_ns": est["latency_ns"],
                        "energy_breakdown_pj": est.get("energy_breakdown_pj", {}),
                        "counts": est.get("counts"),
                        "per": f"per inference of a batch of {batch} (two runs on zeros)",
                        "extra": [["programming the arrays once",
                                   f"{est['program_energy_pj'] / 1e6:.3f} uJ"]]}
    if compare:
        feeds, what = compare_samples(prog, model, calib)
        if feeds:
            outs = prog.run(feeds)
            ref, engine = evaluate(model, {**feeds, **(constants or {})})
            n = len(next(iter(feeds.values())))
            data["compare"] = {"engine": engine, "samples": n,
                               "outputs": output_errors(outs, ref),
                               "note": f"The program and the float ONNX model ({engine}) on "
                                       f"{n} {what} sample(s)."}
        else:
            data["compare"] = {"outputs": [], "note": "The model has integer inputs and no "
                               "calibration data was given (--calib): imcc run --compare "
                               "compares it on inputs of your own."}
    return data


def run_page(prog, program: Path, *, outputs: dict, compare: Path | None, reference,
             labels, accuracy: dict | None, nodes: list | None, samples: int) -> dict:
    """The page of ``imcc run --html``: the run's cost, the comparison with the float model
    (``--compare``, ``--labels``), the storage map and layers, and the partition when the
    model is given."""
    cost = prog.cost
    chip = prog.chip
    data = {"kind": "run", "title": f"{program.name} on chip {chip.name}",
            "subtitle": f"imcc run: {samples} sample(s) in {cost.runs} run(s)",
            "chip": _chip(chip),
            "summary": [["samples", str(samples)], ["runs", str(cost.runs)],
                        ["energy", f"{cost.energy_pj / 1e6:.3f} uJ"],
                        ["latency", f"{cost.latency_ns / 1e6:.3f} ms"],
                        ["instructions", f"{cost.instructions:,}"]],
            "nodes": nodes, "storage_map": prog.storage_map,
            "cost": {"energy_pj": cost.energy_pj, "latency_ns": cost.latency_ns,
                     "energy_breakdown_pj": dict(cost.energy_breakdown_pj),
                     "per": f"for the whole run ({cost.runs} run(s) of the program)",
                     "counts": {"MVMs": cost.mvms, "DAC conversions": cost.dac_conversions,
                                "ADC conversions": cost.adc_conversions,
                                "cells programmed": cost.cells_programmed,
                                "vector elements": cost.vector_elements}}}
    if compare is not None and reference is not None:
        ref, engine = reference
        data["compare"] = {"engine": engine, "samples": samples,
                           "outputs": output_errors(outputs, ref), "accuracy": accuracy}
    elif accuracy is not None:
        data["compare"] = {"samples": samples, "outputs": [], "accuracy": accuracy,
                           "note": "Accuracy against the labels (no --compare model given)."}
    if nodes is None and prog.storage_map is not None:
        data["warnings"] = ["the partition graph needs the model: give --compare MODEL.onnx"]
    return data


def explore_page(model: Path, chip_name: str, summaries, names: list[str], seeds: int,
                 float_score: dict) -> dict:
    """The page of ``imcc explore --html``: the Pareto plot (settings on hover) and the
    results."""
    acc = float_score.get("accuracy") is not None
    points = []
    for s in summaries:
        m = s.accuracy if acc else s.rel_error
        points.append({"settings": dict(s.point.overrides) | {
                           f"{layer}:{k}": v for layer, k, v in s.point.layers},
                       "score": None if m is None else [m[0], m[1]],
                       "energy_pj": s.energy_pj, "latency_ns": s.latency_ns,
                       "arrays": s.arrays_used, "pareto": bool(s.pareto),
                       "errors": list(s.errors)})
    best = max((p for p in points if p["score"] is not None),
               key=lambda p: (p["score"][0] if acc else -p["score"][0]), default=None)
    summary = [["points", str(len(points))], ["seeds", str(seeds)],
               ["on the front", str(sum(p["pareto"] for p in points))]]
    if acc:
        summary.append(["float model", f"{100 * float_score['accuracy']:.2f} %"])
    if best is not None:
        summary.append(["best", (f"{100 * best['score'][0]:.2f} %" if acc else
                                 f"rel. error {best['score'][0]:.4g}")])
    return {"kind": "explore", "title": f"{model.name} on chip {chip_name}: design space",
            "subtitle": f"imcc explore: {len(points)} points x {seeds} seed(s)",
            "summary": summary,
            "explore": {"metric": "accuracy" if acc else "rel_error", "params": names,
                        "seeds": seeds, "float": float_score.get("accuracy"),
                        "points": points}}
