"""Design-space exploration (the seed paper's STCO tools): ``imcc explore``.

Modules, one job each:

* :mod:`~imcc.explore.params`: sweepable names, ``--sweep`` syntax, applying a point's overrides;
* :mod:`~imcc.explore.data`: calibration / evaluation split, float reference, scores;
* :mod:`~imcc.explore.evaluate`: :class:`Point`, :class:`Study`, compile and run one point;
* :mod:`~imcc.explore.engine`: run (point, seed) tasks on an executor, streaming records;
* :mod:`~imcc.explore.backends`: in-process, worker processes, Dask;
* :mod:`~imcc.explore.results`: the resumable JSONL file, summaries over seeds, CSV;
* :mod:`~imcc.explore.pareto`: the Pareto front;
* :mod:`~imcc.explore.plot`: accuracy vs energy (SVG, PNG with matplotlib);
* :mod:`~imcc.explore.auto`: greedy per-layer precision under an accuracy budget.

docs/precision.md describes the command and what each parameter means.
"""
