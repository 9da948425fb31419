"""Matrix division (imcc/tiling.py ``divide_layer``), placement (imcc/mapping.py
``map_layers``) and the storage map (imcc/storagemap.py ``build``) on small cases, against
brute force over every weight cell and every array cell and against counts worked out by hand."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from imcc import storagemap
from imcc.mapping import LayerWork, map_layers
from imcc.precision import LayerPrecision
from imcc.tiling import divide_layer, group_matrix

INT8 = LayerPrecision(weight_bits=8, cell_bits=8, input_bits=8, dac_bits=8, adc_bits=0)


def _cover(plan) -> np.ndarray:
    """How often each (input k, output n, slice-block part) is held by a tile of ``plan``,
    counted cell by cell; only the block-diagonal cells of merged conv groups are weights."""
    parts = plan.precision.slice_spec.blocks
    seen = np.zeros((plan.K, plan.N, parts), int)
    for t in plan.tiles:
        b = plan.blocks[t.block]
        for k in range(t.k0, t.k1):
            for n in range(t.n0, t.n1):
                for p in t.parts:
                    seen[b.k_offset + k, b.n_offset + n, p] += 1
    return seen


@pytest.mark.parametrize("K, N, rows, cols", [(300, 10, 256, 256), (5, 7, 4, 3), (8, 8, 8, 8),
                                              (1, 1, 2, 2), (17, 40, 16, 16)])
@pytest.mark.parametrize("signed, slices", [("differential", "columns"),
                                            ("offset", "columns"), ("differential", "arrays")])
def test_every_weight_cell_is_in_exactly_one_tile(K, N, rows, cols, signed, slices):
    prec = LayerPrecision(8, 4, 8, 8, 0, signed=signed, slices=slices)
    spec = prec.slice_spec
    if cols // (spec.blocks if slices == "columns" else 1) < 1 + (signed == "offset"):
        pytest.skip("a weight column's blocks do not fit the array")
    plan = divide_layer("fc", "Gemm", (K, N), 1, prec, rows, cols)
    assert (plan.K, plan.N) == (K, N)
    assert (_cover(plan) == 1).all()
    for t in plan.tiles:
        assert 0 < t.h <= rows and 0 < t.w <= cols
        assert t.part_width == t.n1 - t.n0 + (signed == "offset")
        assert t.w == len(t.parts) * t.part_width
    assert plan.cells == sum(t.h * t.w for t in plan.tiles)


def test_cuts_are_full_tiles_and_a_remainder():
    # 300 rows on 256-row arrays: 256 + 44, not 150 + 150 (full tiles fill whole arrays).
    plan = divide_layer("fc", "Gemm", (300, 600), 1, INT8, 256, 256)
    # 8-bit differential on 8-bit cells: 1 slice x 2 polarities, so 128 weight columns a tile
    assert sorted({t.h for t in plan.tiles}) == [44, 256]
    assert sorted({t.n1 - t.n0 for t in plan.tiles}) == [88, 128]  # 600 = 4 x 128 + 88
    assert len(plan.tiles) == 2 * 5
    assert plan.cells == 300 * 600 * 2


def test_the_slice_count_of_each_scheme():
    # differential: ceil((8 - 1) / 3) = 3 slices x 2 polarities; offset: ceil(8 / 3) = 3 x 1
    diff = divide_layer("a", "Gemm", (4, 4), 1, LayerPrecision(8, 3, 8, 8, 0), 16, 64)
    off = divide_layer("a", "Gemm", (4, 4), 1, LayerPrecision(8, 3, 8, 8, 0, signed="offset"),
                       16, 64)
    assert [t.parts for t in diff.tiles] == [(0, 1, 2, 3, 4, 5)]
    assert [t.parts for t in off.tiles] == [(0, 1, 2)] and off.tiles[0].ref
    apart = divide_layer("a", "Gemm", (4, 4), 1,
                         LayerPrecision(8, 3, 8, 8, 0, slices="arrays"), 16, 64)
    assert sorted(t.parts for t in apart.tiles) == [(p,) for p in range(6)]


def test_a_weight_column_that_does_not_fit_an_array_is_refused():
    from isa.diagnostics import ConfigError

    with pytest.raises(ConfigError, match="do not fit a 5-column array"):
        divide_layer("a", "Gemm", (4, 4), 1, LayerPrecision(8, 1, 8, 8, 0), 16, 5)


@pytest.mark.parametrize("groups, cin_g, cout_g, k, rows, cols", [
    (8, 1, 1, 3, 64, 64),    # depthwise: 9-row groups merged, 7 to a 64-row block
    (4, 3, 2, 1, 256, 256),  # all four in one block
    (3, 40, 20, 2, 64, 64),  # 160-row groups: each its own block, cut into 64-row tiles
])
def test_grouped_conv_blocks_cover_each_group_once(groups, cin_g, cout_g, k, rows, cols):
    shape = (groups * cout_g, cin_g, k, k)
    plan = divide_layer("conv", "Conv", shape, groups, INT8, rows, cols)
    kg, ng = cin_g * k * k, cout_g
    assert (plan.K, plan.N) == (groups * kg, groups * ng)
    assert sum(b.groups for b in plan.blocks) == groups
    seen = _cover(plan)
    # the diagonal (group g's inputs x group g's outputs) exactly once, all else only as the
    # zero cells of a merged block
    for g in range(groups):
        assert (seen[g * kg:(g + 1) * kg, g * ng:(g + 1) * ng] == 1).all()
    for b in plan.blocks:
        assert b.K == b.groups * kg and b.N == b.groups * ng
        assert b.groups == 1 or b.K <= rows  # merged only while the block fits one array
    if k == 3 and rows == 64:
        assert [b.groups for b in plan.blocks] == [7, 1]  # 64 // 9 = 7 groups to a block


def test_group_matrix_is_block_diagonal_in_kh_kw_group_channel_order():
    rng = np.random.default_rng(0)
    groups, cin_g, ng, kh, kw = 3, 2, 2, 2, 3
    w4 = rng.standard_normal((groups * ng, cin_g, kh, kw))
    got = group_matrix(w4, groups, 1, 2)  # groups 1 and 2
    want = np.zeros((kh * kw * 2 * cin_g, 2 * ng))
    for i, g in enumerate((1, 2)):
        for y in range(kh):
            for x in range(kw):
                for c in range(cin_g):
                    row = ((y * kw + x) * 2 + i) * cin_g + c
                    for o in range(ng):
                        want[row, i * ng + o] = w4[g * ng + o, c, y, x]
    np.testing.assert_array_equal(got, want)


# ---- placement ---------------------------------------------------------------------------------


def _check_placements(m, rows, cols):
    """Brute force over every array cell: no two tiles overlap, all inside the array; every
    tile of every replica placed once; a layer's tiles of one replica never share rows of an
    array under the efficiency priority."""
    grid: dict[int, np.ndarray] = {}
    count: dict[tuple, int] = {}
    for pl in m.placements:
        t = pl.tile
        assert 0 <= pl.row and pl.row + t.h <= rows and 0 <= pl.col and pl.col + t.w <= cols
        g = grid.setdefault(pl.array, np.zeros((rows, cols), int))
        g[pl.row:pl.row + t.h, pl.col:pl.col + t.w] += 1
        count[(t.id, pl.replica)] = count.get((t.id, pl.replica), 0) + 1
    assert all((g <= 1).all() for g in grid.values())
    want = {(t.id, r) for p in m.plans for t in p.tiles for r in range(m.replicas[p.layer])}
    assert set(count) == want and set(count.values()) == {1}
    assert m.arrays_used == len(grid) == max(grid) + 1
    if m.priority == "efficiency":
        for a, b in ((a, b) for a in m.placements for b in m.placements if a is not b):
            if (a.array, a.tile.layer, a.replica) == (b.array, b.tile.layer, b.replica):
                assert a.row + a.tile.h <= b.row or b.row + b.tile.h <= a.row
    return grid


@pytest.mark.parametrize("priority", ["efficiency", "resource"])
def test_map_layers_places_every_tile_once_without_overlap(priority):
    plans = [divide_layer("a", "Gemm", (40, 12), 1, INT8, 16, 16),
             divide_layer("b", "Gemm", (9, 30), 1, INT8, 16, 16),
             divide_layer("c", "Conv", (6, 2, 3, 3), 2, INT8, 16, 16)]
    m = map_layers(plans, rows=16, cols=16, arrays_available=64, priority=priority,
                   work={"a": LayerWork(256, 2)}, time_limit=2.0)
    grid = _check_placements(m, 16, 16)
    cells = sum(p.cells * m.replicas[p.layer] for p in plans)
    assert sum(int(g.sum()) for g in grid.values()) == cells
    if priority == "resource":
        assert set(m.replicas.values()) == {1}
        assert m.arrays_used >= math.ceil(cells / 256)


def test_two_small_layers_share_one_array():
    plans = [divide_layer(n, "Gemm", (100, 50), 1, INT8, 256, 256) for n in ("a", "b")]
    for priority in ("efficiency", "resource"):
        m = map_layers(plans, rows=256, cols=256, arrays_available=1, priority=priority,
                       time_limit=1.0)
        assert m.arrays_used == 1  # 100 x 100 cells each: side by side on one 256 x 256 array


def test_the_slowest_layer_is_replicated_onto_the_free_arrays():
    # One 1-array layer streaming 1024 vectors of 3 cycles on a chip of 4 arrays: replicas on
    # the three free arrays, each a quarter of the vectors: ceil(1024 / 4) * 3 * t_read.
    plan = divide_layer("a", "Gemm", (200, 100), 1, INT8, 256, 256)
    m = map_layers([plan], rows=256, cols=256, arrays_available=4, priority="efficiency",
                   work={"a": LayerWork(1024, 3)}, t_cycle_ns=10.0, time_limit=1.0)
    _check_placements(m, 256, 256)
    assert m.replicas["a"] == 4 and m.arrays_used == 4
    assert m.latency_ns == 256 * 3 * 10.0
    few = map_layers([plan], rows=256, cols=256, arrays_available=4, priority="efficiency",
                     work={"a": LayerWork(100, 3)}, t_cycle_ns=10.0, time_limit=1.0)
    assert few.replicas["a"] == 1 and few.latency_ns == 100 * 3 * 10.0  # under 64 per replica


def test_tiles_of_one_layer_on_one_array_take_turns():
    # Two 8 x 8 tiles of one layer on a single 16 x 16 array under the resource priority: they
    # sit side by side (resource allows shared rows) and run one after the other.
    plan = divide_layer("a", "Gemm", (8, 16), 1, LayerPrecision(8, 8, 8, 8, 0), 16, 16)
    assert len(plan.tiles) == 2
    m = map_layers([plan], rows=16, cols=16, arrays_available=1, priority="resource",
                   work={"a": LayerWork(5, 2)}, t_cycle_ns=1.0, time_limit=1.0)
    assert m.arrays_used == 1 and m.latency_ns == 5 * 2 * 2 * 1.0


# ---- the storage map ---------------------------------------------------------------------------


def _chip(rows, cols, tiles=4, apt=2):
    return SimpleNamespace(name="toy", program_hash="0" * 16, tiles=tiles, arrays_per_tile=apt,
                           rows=rows, cols=cols)


@pytest.mark.parametrize("prec", [LayerPrecision(8, 3, 8, 8, 0),
                                  LayerPrecision(8, 3, 8, 8, 0, signed="offset"),
                                  LayerPrecision(8, 3, 8, 8, 0, slices="arrays")],
                         ids=["differential", "offset", "arrays"])
def test_storage_map_entries_cover_the_placed_cells(prec):
    plans = [divide_layer("a", "Gemm", (20, 5), 1, prec, 16, 32),
             divide_layer("b", "Gemm", (7, 3), 1, prec, 16, 32)]
    m = map_layers(plans, rows=16, cols=32, arrays_available=8, priority="resource",
                   time_limit=1.0)
    chip = _chip(16, 32)
    smap = storagemap.build(m, model="toy.onnx", chip=chip)
    spec = prec.slice_spec
    # every (input row, output column, slice, polarity) of every layer exactly once
    seen: dict[tuple, int] = {}
    grid = {a: np.zeros((16, 32), int) for a in range(8)}
    for e in smap["entries"]:
        (k0, k1), (n0, n1) = e["rows"], e["cols"]
        assert e["height"] == k1 - k0
        assert e["width"] == n1 - n0 + (spec.scheme == "offset")
        assert e["chip_tile"] == e["array"] // 2
        assert e["bit_weight"] == 2 ** (3 * e["slice"])
        assert e["polarity"] == ("u" if spec.polarities == 1 else "+-"[e["part"] % 2])
        grid[e["array"]][e["row"]:e["row"] + e["height"], e["col"]:e["col"] + e["width"]] += 1
        for k in range(k0, k1):
            for n in range(n0, n1):
                key = (e["layer"], k, n, e["slice"], e["polarity"])
                seen[key] = seen.get(key, 0) + 1
    pols = "u" if spec.polarities == 1 else "+-"
    want = {(p.layer, k, n, s, pol) for p in plans for k in range(p.K) for n in range(p.N)
            for s in range(spec.slices) for pol in pols}
    assert set(seen) == want and set(seen.values()) == {1}
    assert all((g <= 1).all() for g in grid.values())
    # per array: the cells in use and their share, counted on the grid
    for a in smap["arrays"]:
        used = int(grid[a["array"]].sum())
        assert a["cells_used"] == used and a["utilisation"] == round(used / (16 * 32), 6)
    assert sorted(a["array"] for a in smap["arrays"]) == [a for a in grid if grid[a].any()]
    assert smap["arrays_used"] == m.arrays_used
    assert smap["one_tile_per_array"] == len(plans[0].tiles) + len(plans[1].tiles)
    assert {L["name"]: L["cells"] for L in smap["layers"]} == {p.layer: p.cells for p in plans}
