"""The 2D bin packer on the standard instances and on the tile sets of real models.

``bpp2d``: the 500 instances of Berkey & Wang (classes 1-6) and Martello & Vigo (classes 7-10),
oriented, from ``<repo>/../shared/benchmarks/bpp2d``. Per class and size: bins found, our lower
bound, the best-known sum from the literature, and time; against Berkey and Wang's finite first
fit (FFF) measured in the same run, and against each published method's own sums in the
benchmark file (the best-known sum of a group is the least over those methods). Targets (issue
26): at most 10 s per instance on one worker, a total of at most 7,230 bins (the best-known sum),
the optimum on every instance of the groups whose lower bounds already meet the best-known sum,
and the same bins for any ``--workers``.

``models``: the weight tiles of ResNet-50 and BERT-base on 128x128 and 256x256 arrays, 8-bit
weights on 8-bit cells (one slice), on 2-bit cells (four slices side by side: a tile of ``n``
outputs is ``4 n`` columns wide) and, as a harder case, on 3-bit cells (three slices, so
``floor(256 / 3) = 85`` outputs per tile and ragged remainders). Signed weights are taken as
one column per slice (offset encoding); a differential pair would double every width. Each K x N
weight matrix is cut into tiles of at most the array size, full tiles first and the remainder
last; tiles of one layer form one group. Compared: arrays used by ``pack`` (both priorities), the
lower bound, one tile per array (PUMA, PIMCOMP), and a skyline bottom-left heuristic (the
OpenCIMTC style).

Run::

    python benchmarks/bench_packing.py bpp2d [--classes 1,3] [--limit 2] [--time-limit 10]
    python benchmarks/bench_packing.py bpp2d --only cl04_060_03,cl06_100_02 -v
    python benchmarks/bench_packing.py models [--time-limit 30]
    python benchmarks/bench_packing.py large [--time-limit 10]

``--limit N`` keeps the first N instances of every (class, n) group. The full bpp2d run takes
12 to 32 minutes on one core at the default limit, depending on the machine's load (most
instances stop early, at the bound).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

from imcc.packing import Rect, check_packing, pack
from imcc.packing.baselines import finite_first_fit, one_per_bin, skyline
from imcc.packing.instances import Instance, read_instances
from isa.diagnostics import ConfigError

REPO = Path(__file__).resolve().parent.parent
BPP2D = REPO.parent / "shared" / "benchmarks" / "bpp2d" / "instances_cl01_10.json"


def _progress(msg: str) -> None:
    if sys.stderr.isatty():
        print(f"\r\033[K{msg}", end="", file=sys.stderr, flush=True)


def _done_progress() -> None:
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- bpp2d instances


def load_bpp2d(path: Path = BPP2D) -> tuple[list[Instance], dict]:
    """The instances of ``path`` (any format ``imcc pack`` reads) and the best-known bins per
    (class, n) group when the file gives them (the shared bpp2d JSON does)."""
    if not path.is_file():
        raise SystemExit(f"bench_packing: {path} not found; the shared benchmark folder must sit "
                         "beside the repository (../shared/benchmarks/bpp2d), or give "
                         "--instances FILE")
    text = path.read_text()
    try:
        instances = read_instances(text, str(path))
    except ConfigError as e:
        raise SystemExit(f"bench_packing: {e}") from None
    best = {}
    if text.lstrip().startswith("{"):
        best = json.loads(text).get("group_best_known_sum_bins", {})
    return instances, best


def _group(ins: Instance) -> str:
    return f"cl{ins.cls:02d}_{ins.n:03d}" if ins.cls and ins.n else "other"


def run_bpp2d(args: argparse.Namespace) -> dict:
    instances, best = load_bpp2d(args.instances)
    classes = {int(c) for c in args.classes.split(",")} if args.classes else None
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    only = set(args.only.split(",")) if args.only else None
    picked = [ins for ins in instances
              if (classes is None or ins.cls in classes)
              and (args.limit is None or ins.index is None or ins.index <= args.limit)
              and (only is None or ins.name in only)]
    if only and len(picked) < len(only):
        missing = sorted(only - {ins.name for ins in picked})
        raise SystemExit(f"bench_packing: --only: no instance named {', '.join(missing)} "
                         f"in {args.instances} (names look like cl04_060_03)")
    t_all = time.perf_counter()
    worst = 0.0
    for k, ins in enumerate(picked):
        W, H, rects = ins.W, ins.H, list(ins.rects)
        _progress(f"[{k + 1}/{len(picked)}] {ins.name}")
        res = pack(rects, W, H, time_limit=args.time_limit, seed=args.seed,
                   workers=args.workers)
        errs = check_packing(rects, W, H, res.placements, bins_used=res.bins_used)
        if errs:
            raise SystemExit(f"{ins.name}: invalid packing: {errs[0]}")
        fff, _ = finite_first_fit(rects, W, H)
        if args.verbose:
            print(f"{ins.name}: {res.bins_used} bins, lower {res.lower_bound}, "
                  f"{res.solve_time_s:.1f} s", flush=True)
        g = rows[_group(ins)]
        g["instances"] += 1
        g["bins"] += res.bins_used
        g["lb"] += res.lower_bound
        g["fff"] += fff
        g["time"] += res.solve_time_s
        g["max_time"] = max(g["max_time"], res.solve_time_s)
        g["at_lb"] += res.bins_used == res.lower_bound
        worst = max(worst, res.solve_time_s)
    _done_progress()
    wall = time.perf_counter() - t_all
    print(f"bpp2d: {len(picked)} instances, time limit {args.time_limit} s, seed {args.seed}, "
          f"workers {args.workers}")
    head = (f"{'group':9} {'inst':>4} {'bins':>6} {'lower':>6} {'best':>6} {'FFF':>6} "
            f"{'at LB':>5} {'time s':>7} {'max s':>6}")
    print(head)
    print("-" * len(head))
    tot = defaultdict(float)
    full_groups = 0
    misses = []
    for name in sorted(rows):
        g = rows[name]
        full = g["instances"] == 10 and name in best
        bk = best[name]["best_sum"] if full else None
        print(f"{name:9} {int(g['instances']):4d} {int(g['bins']):6d} {int(g['lb']):6d} "
              f"{bk if bk is not None else '-':>6} {int(g['fff']):6d} {int(g['at_lb']):5d} "
              f"{g['time']:7.1f} {g['max_time']:6.1f}")
        for key in ("instances", "bins", "lb", "fff", "time", "at_lb"):
            tot[key] += g[key]
        if full:
            full_groups += 1
            tot["best"] += bk
            tot["bins_full"] += g["bins"]
            if g["lb"] == bk and g["at_lb"] < 10:
                misses.append(f"{name} ({int(g['at_lb'])}/10 at the bound)")
    print("-" * len(head))
    print(f"{'total':9} {int(tot['instances']):4d} {int(tot['bins']):6d} {int(tot['lb']):6d} "
          f"{int(tot['best']) if full_groups else '-':>6} {int(tot['fff']):6d} "
          f"{int(tot['at_lb']):5d} {tot['time']:7.1f} {worst:6.1f}")
    print(f"bins / FFF = {tot['bins'] / tot['fff']:.4f}; wall time {wall:.0f} s")
    if full_groups:
        print(f"complete groups: {full_groups}; bins {int(tot['bins_full'])} vs best known "
              f"{int(tot['best'])} ({100 * (tot['bins_full'] / tot['best'] - 1):+.2f} %)")
        print("groups whose lower-bound sum meets the best-known sum, not all at the bound: "
              + (", ".join(misses) if misses else "none"))
        print(_by_method(rows, best))
    return {"groups": {k: dict(v) for k, v in rows.items()}, "total": dict(tot), "wall_s": wall}


def _by_method(rows: dict, best: dict) -> str:
    """Our bins against each published method's own sums, over the complete groups for which
    the benchmark file lists that method (the best-known sum is a minimum over methods, per
    group, which no one method need reach)."""
    methods = sorted({m for v in best.values() for m in v if m != "best_sum"})
    lines = ["against each method (complete groups it reports; groups where we take fewer / "
             "more bins):"]
    for m in methods:
        ours = theirs = fewer = more = groups = 0
        for name, g in rows.items():
            if g["instances"] != 10 or m not in best.get(name, {}):
                continue
            groups += 1
            ours += int(g["bins"])
            theirs += best[name][m]
            fewer += g["bins"] < best[name][m]
            more += g["bins"] > best[name][m]
        if groups:
            lines.append(f"  {m:10} {groups:3d} groups: ours {ours}, theirs {theirs} "
                         f"({ours - theirs:+d}); fewer in {fewer}, more in {more}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- model tile sets


def resnet50_layers() -> list[tuple[str, int, int]]:
    """(layer, K, N) of every conv and the classifier of torchvision's ResNet-50 (v1.5).

    K = Cin x kh x kw (the im2col patch), N = Cout. Bottleneck blocks: 1x1 (width), 3x3
    (width), 1x1 (4 x width), and a 1x1 projection on the first block of each stage.
    """
    layers = [("conv1", 3 * 7 * 7, 64)]
    cin = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            layers += [(f"{p}.conv1", cin, width), (f"{p}.conv2", width * 9, width),
                       (f"{p}.conv3", width, 4 * width)]
            if b == 0:
                layers.append((f"{p}.downsample", cin, 4 * width))
            cin = 4 * width
    layers.append(("fc", 2048, 1000))
    return layers


def bert_base_layers() -> list[tuple[str, int, int]]:
    """(layer, K, N) of BERT-base's weight matrices: per encoder layer the query, key, value
    and output projections (768 x 768) and the feed-forward pair (768 x 3072, 3072 x 768);
    then the pooler (768 x 768). Embeddings are lookups, not matrix products."""
    layers = []
    for i in range(12):
        p = f"encoder.layer.{i}"
        layers += [(f"{p}.query", 768, 768), (f"{p}.key", 768, 768), (f"{p}.value", 768, 768),
                   (f"{p}.attention.output", 768, 768), (f"{p}.intermediate", 768, 3072),
                   (f"{p}.output", 3072, 768)]
    layers.append(("pooler", 768, 768))
    return layers


MODELS = {"ResNet-50": resnet50_layers, "BERT-base": bert_base_layers}
CELL_BITS = (8, 2, 3)  # 8-bit weights on 8-, 2- and 3-bit cells: 1, 4 and 3 slices
EXPECTED_WEIGHTS = {"ResNet-50": 25_502_912, "BERT-base": 85_524_480}


def cut_tiles(layers: list[tuple[str, int, int]], rows: int, cols: int, w_bits: int,
              cell_bits: int) -> list[Rect]:
    """Tiles of at most ``rows x cols`` cells; ``ceil(w_bits / cell_bits)`` columns per output."""
    slices = math.ceil(w_bits / cell_bits)
    outs = cols // slices
    rects = []
    for name, K, N in layers:
        for r0 in range(0, K, rows):
            for c0 in range(0, N, outs):
                rects.append(Rect(f"{name}[{r0}:{min(K, r0 + rows)},{c0}:{min(N, c0 + outs)}]",
                                  min(outs, N - c0) * slices, min(rows, K - r0), name))
    return rects


def run_models(args: argparse.Namespace) -> list[dict]:
    out = []
    for model, fn in MODELS.items():
        layers = fn()
        weights = sum(K * N for _, K, N in layers)
        note = "" if weights == EXPECTED_WEIGHTS[model] else " (differs from the reference!)"
        print(f"{model}: {len(layers)} weight matrices, {weights:,} weights{note}")
    head = (f"{'model':10} {'array':>7} {'cell':>4} {'tiles':>6} {'1/array':>7} {'skyline':>7} "
            f"{'t s':>5} {'lower':>6} {'resource':>8} {'t s':>5} {'lower':>6} {'efficiency':>10} "
            f"{'t s':>5}")
    print(head)
    print("-" * len(head))
    for model, fn in MODELS.items():
        for size in (128, 256):
            for cell in CELL_BITS:
                rects = cut_tiles(fn(), size, size, 8, cell)
                row = {"model": model, "array": size, "cell_bits": cell, "tiles": len(rects)}
                row["one_per_array"] = one_per_bin(rects, size, size)[0]
                t0 = time.perf_counter()
                sky, sky_pl = skyline(rects, size, size)
                row["skyline_time_s"] = time.perf_counter() - t0
                assert not check_packing(rects, size, size, sky_pl, bins_used=sky)
                row["skyline"] = sky
                for prio in ("resource", "efficiency"):
                    _progress(f"{model} {size}x{size} {cell}-bit cells, {prio}")
                    res = pack(rects, size, size, priority=prio, time_limit=args.time_limit,
                               seed=args.seed, workers=args.workers)
                    errs = check_packing(rects, size, size, res.placements, priority=prio,
                                         bins_used=res.bins_used)
                    if errs:
                        raise SystemExit(f"{model} {size} {cell} {prio}: invalid: {errs[0]}")
                    row[prio] = res.bins_used
                    row[f"{prio}_lower"] = res.lower_bound
                    row[f"{prio}_time_s"] = res.solve_time_s
                    row[f"{prio}_area_bound"] = res.lower_bounds["area"]
                _done_progress()
                out.append(row)
                print(f"{model:10} {size:>3}x{size:<3} {cell:>4} {len(rects):6d} "
                      f"{row['one_per_array']:7d} {row['skyline']:7d} "
                      f"{row['skyline_time_s']:5.1f} {row['resource_lower']:6d} "
                      f"{row['resource']:8d} "
                      f"{row['resource_time_s']:5.1f} {row['efficiency_lower']:6d} "
                      f"{row['efficiency']:10d} {row['efficiency_time_s']:5.1f}")
    print("1/array: one tile per array (PUMA, PIMCOMP); skyline: skyline bottom-left first fit "
          "(no row rule); lower: each priority's best lower bound.")
    return out


# --------------------------------------------------------------------------- large inputs


def tinyllama_layers() -> list[tuple[str, int, int]]:
    """(matrix, K, N) of ``imcc.models.llama``'s ``tinyllama-1.1b`` preset: per layer the
    query, key, value (grouped: 4 KV heads), output, gate, up and down projections; the LM
    head."""
    from imcc.models.llama import config

    p = config("tinyllama-1.1b")
    d, f = p["hidden"], p["intermediate"]
    kv = d // p["heads"] * p["kv_heads"]
    mats = [(f"l{i}.{name}", K, N) for i in range(p["layers"])
            for name, K, N in (("q", d, d), ("k", d, kv), ("v", d, kv), ("o", d, d),
                               ("gate", d, f), ("up", d, f), ("down", f, d))]
    return mats + [("lm_head", d, p["vocab"])]


def tinyllama_tiles(chip_name: str = "ideal-signed") -> tuple[list[Rect], int, int]:
    """TinyLlama-1.1B's tile set as the mapper cuts it (:func:`imcc.tiling.divide_layer` with
    the chip's precision), without building the model: the rects, array columns and rows."""
    from imcc.precision import chip_default
    from imcc.tiling import divide_layer
    from runtime.config import preset

    chip = preset(chip_name)
    prec = chip_default(chip)
    rects = [Rect(t.id, t.w, t.h, t.layer) for name, K, N in tinyllama_layers()
             for t in divide_layer(name, "MatMul", (K, N), 1, prec, chip.rows, chip.cols).tiles]
    return rects, chip.cols, chip.rows


def run_large(args: argparse.Namespace) -> list[dict]:
    """Elapsed time over the budget on 20,000 distinct random rects (sides 1..256 in 256x256
    bins), and TinyLlama-1.1B's tile set (the chip's, and cut for 3-bit cells: ragged)."""
    import random

    rng = random.Random(args.seed)
    cases = [("random 20,000 distinct", [Rect(i, rng.randint(1, 256), rng.randint(1, 256))
                                         for i in range(20_000)], 256, 256, ("resource",))]
    rects, cols, rows = tinyllama_tiles()
    cases.append(("TinyLlama-1.1B, ideal-signed", rects, cols, rows,
                  ("resource", "efficiency")))
    cases.append(("TinyLlama-1.1B, 3-bit cells", cut_tiles(tinyllama_layers(), 256, 256, 8, 3),
                  256, 256, ("resource", "efficiency")))
    out = []
    print(f"{'input':30} {'rects':>6} {'priority':>10} {'bins':>6} {'lower':>6} "
          f"{'time s':>7} {'cpu s':>6} {'budget s':>8} {'ratio':>6} {'cpu ratio':>9}")
    for name, rects, W, H, prios in cases:
        for prio in prios:
            cpu = time.process_time()
            res = pack(rects, W, H, priority=prio, time_limit=args.time_limit, seed=args.seed,
                       workers=args.workers)
            cpu = time.process_time() - cpu
            errs = check_packing(rects, W, H, res.placements, priority=prio,
                                 bins_used=res.bins_used)
            if errs:
                raise SystemExit(f"{name} {prio}: invalid: {errs[0]}")
            ratio = res.solve_time_s / args.time_limit
            out.append({"input": name, "rects": len(rects), "priority": prio,
                        "bins": res.bins_used, "lower": res.lower_bound,
                        "time_s": res.solve_time_s, "cpu_s": cpu, "ratio": ratio})
            print(f"{name:30} {len(rects):6d} {prio:>10} {res.bins_used:6d} "
                  f"{res.lower_bound:6d} {res.solve_time_s:7.1f} {cpu:6.1f} "
                  f"{args.time_limit:8.1f} {ratio:6.2f} {cpu / args.time_limit:9.2f}")
    print("ratio: elapsed time over the time limit (the effort budget; target at most 1.5); "
          "cpu ratio: the process's CPU time over it (what a busy machine does not stretch)")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("suite", choices=("bpp2d", "models", "large", "all"))
    ap.add_argument("--instances", type=Path, default=BPP2D,
                    help="bpp2d problem file: the shared JSON (default), another collection, or "
                    "2BP / 2DPackLib text (any format imcc pack reads)")
    ap.add_argument("--classes", help="comma-separated classes (1-10) of bpp2d")
    ap.add_argument("--limit", type=int, help="first N instances of every bpp2d group")
    ap.add_argument("--only", help="comma-separated bpp2d instance names (cl04_060_03,...)")
    ap.add_argument("--time-limit", type=float, default=10.0, help="per instance (seconds of "
                    "effort budget, see imcc/packing/effort.py)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per bpp2d instance")
    args = ap.parse_args(argv)
    report = {}
    if args.suite in ("bpp2d", "all"):
        report["bpp2d"] = run_bpp2d(args)
    if args.suite in ("models", "all"):
        report["models"] = run_models(args)
    if args.suite in ("large", "all"):
        report["large"] = run_large(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
