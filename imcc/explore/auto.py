"""Automatic per-layer precision: the least energy under an accuracy (or output-error) budget.

The search (greedy, from the most precise setting down):

1. The evaluation part of the data is cut in two: a *search* part (the first ``1 - holdout``
   of it) that drives every decision, and a *held-out* part used only to validate the result.
2. Start from the base point (the chip's precision, the precision file, ``--set`` overrides);
   every IMC layer starts with its resolved ``weight_bits``, ``input_bits`` and ``adc_bits``.
   The budget is the float model's score on the same part minus the allowed drop (or a largest
   relative output error).
3. Each round tries, for every layer and knob still open, one step down the knob's ladder:
   ``weight_bits`` down to 2, ``input_bits`` down to ``max(2, dac_bits)``, ``adc_bits`` down
   to 1 (an ideal ADC, costed at the cost table's ``adc_ref_bits``, steps to one bit below
   that). A step is the next value that *costs less energy*: many values cost the same (with
   4-bit cells, 8- to 6-bit weights all take two slices), so the ladder is walked down until
   the cost model's energy drops (:func:`~imcc.explore.evaluate.probe_energy`, one batch of
   zeros, since the cost does not depend on the data), taking the most precise value at the
   lower energy. Every candidate is then compiled and run over all seeds on the search part;
   its score is the mean over seeds.
4. Among the candidates that meet the budget and save energy, take the one with the largest
   energy saving per point of score lost (a candidate that loses nothing ranks above any that
   does, larger saving first). A (layer, knob) whose step broke the budget is closed: the
   search does not try it again. Stop when no candidate is left.
5. Validate the result on the held-out part. If it misses the budget there, walk back along the
   accepted steps to the last setting that meets it (the start, at worst; the report says when
   even the start misses it).

Each round costs one evaluation per open (layer, knob), so the search makes at most
``layers x knobs x (steps + 1)`` evaluations; results stream to the same JSONL file as a sweep,
so an interrupted search resumes where it stopped and replays its decisions from the file.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from dataclasses import dataclass, field

from imcc.explore.data import Dataset
from imcc.explore.engine import Progress, evaluate, study_key
from imcc.explore.evaluate import Point, Study, chips, compile_point, probe_energy
from imcc.explore.results import ResultStore, Summary, summarize
from imcc.precision import resolve
from isa.diagnostics import ConfigError

KNOBS = ("weight_bits", "input_bits", "adc_bits")


@dataclass(frozen=True)
class Budget:
    """Allowed accuracy drop in percentage points (needs labels), or a largest mean relative
    output error."""

    drop_pp: float | None = None
    max_error: float | None = None

    def threshold(self, data: Dataset) -> float:
        """The lowest acceptable score (Summary.score) on ``data``."""
        if self.drop_pp is not None:
            if data.labels is None:
                raise ConfigError("--target-accuracy-drop needs labels",
                                  hint="give --labels or --label-key, or use --target-error")
            return data.float_score()["accuracy"] - self.drop_pp / 100.0
        if self.max_error is None:
            raise ConfigError("--auto needs --target-accuracy-drop PP or --target-error E")
        return -self.max_error


@dataclass(frozen=True)
class Step:
    point: Point
    score: float
    energy_pj: float
    change: str  # "start" or "layer: knob a -> b"


@dataclass(frozen=True)
class AutoResult:
    """The accepted steps (search part), the chosen point and its held-out validation."""

    layers: tuple[str, ...]
    threshold_search: float
    threshold_holdout: float
    path: tuple[Step, ...]
    chosen: Step
    holdout: Summary
    start_holdout: Summary
    meets_budget: bool
    evaluations: int
    notes: tuple[str, ...] = field(default=())


def next_value(knob: str, value: int, dac_bits: int, adc_ref_bits: int) -> int | None:
    """One step down a knob's ladder, or None at its end (see the module docstring)."""
    if knob == "weight_bits":
        return value - 1 if value > 2 else None
    if knob == "input_bits":
        return value - 1 if value > max(2, dac_bits) else None
    if knob == "adc_bits":
        if value == 0:
            return adc_ref_bits - 1 if adc_ref_bits > 1 else None
        return value - 1 if value > 1 else None
    raise ConfigError(f"--knobs: unknown knob {knob!r} (knobs: {', '.join(KNOBS)})")


def _summary(study: Study, data: Dataset, tag: str, p: Point, seeds, store) -> Summary:
    return summarize(study_key(study, data, tag), [p], seeds, store)[0]


def search(study: Study, start: Point, seeds: tuple[int, ...], budget: Budget,
           store: ResultStore, *, holdout: float = 0.5, knobs: tuple[str, ...] = KNOBS,
           executor: cf.Executor | None = None,
           progress: Callable[[Progress], None] | None = None,
           log: Callable[[str], None] | None = None) -> AutoResult:
    """Run the greedy search described in the module docstring."""
    say = log or (lambda _m: None)
    for k in knobs:
        next_value(k, 8, 1, 8)  # rejects unknown knobs before any work
    n_search = round(study.data.size * (1 - holdout))
    if not 0 < n_search < study.data.size:
        raise ConfigError(f"--holdout {holdout}: leaves no samples for the search or the "
                          f"validation ({study.data.size} evaluation samples)")
    part, held = study.data.split(n_search)
    t_search, t_held = budget.threshold(part), budget.threshold(held)
    evals = 0

    def score(points: list[Point], data: Dataset, tag: str) -> list[Summary]:
        nonlocal evals
        evals += evaluate(study, [(p, s) for p in points for s in seeds], store,
                          executor=executor, data=data, tag=tag, progress=progress)
        return summarize(study_key(study, data, tag), points, seeds, store)

    layers = compile_point(study, start).layers
    ladder = _Ladder(study, start, layers)
    first = score([start], part, "search")[0]
    if first.score is None:
        raise ConfigError(f"--auto: the starting point cannot be evaluated: "
                          f"{'; '.join(first.errors) or 'no result'}")
    cur = Step(start, first.score, first.energy_pj, "start")
    path = [cur]
    say(f"start: score {_show(cur.score)} (budget {_show(t_search)}), "
        f"energy {cur.energy_pj:.4g} pJ per inference")
    notes = []
    if cur.score < t_search:
        notes.append("the starting point misses the budget on the search part")
    open_ = {(layer, k) for layer in layers for k in knobs}
    while open_ and cur.score >= t_search:
        cands = []
        for layer, k in sorted(open_):
            st = ladder.step(cur.point, layer, k)
            if st is None:
                open_.discard((layer, k))
                continue
            cands.append(((layer, k, *st), cur.point.with_layer(layer, k, st[1])))
        if not cands:
            break
        best = _pick(cur, cands, score([p for _, p in cands], part, "search"), t_search, open_)
        if best is None:
            break
        cur = best
        path.append(cur)
        say(f"{cur.change}: score {_show(cur.score)}, energy {cur.energy_pj:.4g} pJ")
    start_held = score([start], held, "holdout")[0]
    chosen, held_sum, ok = _validate(path, lambda p: score([p], held, "holdout")[0], t_held,
                                     notes)
    return AutoResult(tuple(layers), t_search, t_held, tuple(path), chosen, held_sum, start_held,
                      ok, evals, tuple(notes))


class _Ladder:
    """Steps down the knobs' ladders to the next value that lowers the energy (probed once per
    point: :func:`~imcc.explore.evaluate.probe_energy`)."""

    def __init__(self, study: Study, start: Point, layers: tuple[str, ...]):
        run_chip, cchip, prec, _ = chips(study, start)
        self.study = study
        self.precs, _ = resolve(cchip, prec, list(layers))
        self.adc_ref = run_chip.cost.adc_ref_bits
        self.probes: dict[Point, float] = {}

    def energy(self, p: Point) -> float:
        if p not in self.probes:
            self.probes[p] = probe_energy(self.study, p)
        return self.probes[p]

    def step(self, point: Point, layer: str, k: str) -> tuple[int, int] | None:
        """(current value, next value that lowers the energy), or None."""
        v = point.layer_value(layer, k, getattr(self.precs[layer], k))
        if k == "input_bits" and v == 0:  # an ideal DAC stays ideal
            return None
        e0, nv = self.energy(point), v
        while (nv := next_value(k, nv, self.precs[layer].dac_bits, self.adc_ref)) is not None:
            if self.energy(point.with_layer(layer, k, nv)) < e0 * (1 - 1e-12):
                return v, nv
        return None


def _pick(cur: Step, cands: list, sums: list[Summary], threshold: float,
          open_: set) -> Step | None:
    """The candidate that meets the budget with the most energy saved per point of score lost
    (one that loses nothing first); a (layer, knob) whose step broke the budget is closed."""
    best = None
    for (layer, k, v, nv), s in zip([c for c, _ in cands], sums):
        if s.score is None or s.score < threshold:
            open_.discard((layer, k))
            continue
        saving = cur.energy_pj - s.energy_pj
        if saving <= 0:
            continue
        loss = cur.score - s.score
        rank = (loss <= 0, saving if loss <= 0 else saving / loss)
        if best is None or rank > best[0]:
            best = (rank, Step(s.point, s.score, s.energy_pj, f"{layer}: {k} {v} -> {nv}"))
    return None if best is None else best[1]


def _validate(path: list[Step], held_score: Callable[[Point], Summary], threshold: float,
              notes: list[str]) -> tuple[Step, Summary, bool]:
    """The last step of ``path`` that meets the budget on the held-out part (walking back), its
    held-out summary and whether it meets the budget (notes say what was undone)."""
    chosen = path[-1]
    held_sum = held_score(chosen.point)
    ok = held_sum.score is not None and held_sum.score >= threshold
    i = len(path) - 1
    while not ok and i > 0:
        i -= 1
        chosen = path[i]
        held_sum = held_score(chosen.point)
        ok = held_sum.score is not None and held_sum.score >= threshold
        if ok:
            notes.append(f"the last {len(path) - 1 - i} step(s) missed the budget on the "
                         "held-out part and were undone")
    if not ok:
        notes.append("even the starting point misses the budget on the held-out part")
    return chosen, held_sum, ok


def _show(score: float) -> str:
    return f"{100 * score:.2f} %" if score >= 0 else f"rel. error {-score:.4g}"


def precision_toml(result: AutoResult, base: Point) -> str:
    """The chosen per-layer settings as a precision file for ``imcc compile --precision``
    (uniform ``--set`` overrides of precision names go to ``[default]``)."""
    from imcc.explore.params import PRECISION_KEYS

    lines = ["# per-layer precision chosen by `imcc explore --auto`", ""]
    default = [(k, v) for k, v in base.overrides if k in PRECISION_KEYS or k == "slices"]
    if default:
        lines.append("[default]")
        lines += [f"{k} = {_toml(v)}" for k, v in default]
        lines.append("")
    per: dict[str, list] = {}
    for layer, k, v in result.chosen.point.layers:
        per.setdefault(layer, []).append((k, v))
    for layer in result.layers:
        if layer not in per:
            continue
        lines.append("[[layer]]")
        lines.append(f"match = {_toml(_escape_glob(layer))}")
        lines += [f"{k} = {_toml(v)}" for k, v in per[layer]]
        lines.append("")
    return "\n".join(lines)


def _escape_glob(name: str) -> str:
    import glob

    return glob.escape(name)


def _toml(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)
