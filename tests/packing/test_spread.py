"""The efficiency priority's secondary objective: groups spread over the bins."""

from collections import Counter

from imcc.packing import Rect, pack
from imcc.packing.problem import make_instance
from imcc.packing.spread import spread
from tests.packing.brute import paint


def _crowding(inst, layout):
    c = Counter((inst.groups[i], b) for b, content in enumerate(layout) for i, _, _ in content
                if inst.groups[i] >= 0)
    return max(c.values()), sum(v * v for v in c.values())


def test_swap_spreads_two_stacked_groups():
    rects = [Rect("a1", 2, 1, "A"), Rect("a2", 2, 1, "A"), Rect("b1", 2, 1, "B"),
             Rect("b2", 2, 1, "B")]
    inst = make_instance(rects, 2, 2, "efficiency")
    crowded = [[(0, 0, 0), (1, 0, 1)], [(2, 0, 0), (3, 0, 1)]]
    out = spread(inst, crowded)
    assert len(out) == 2 and sorted(i for b in out for i, _, _ in b) == [0, 1, 2, 3]
    where = {i: (b, x, y) for b, content in enumerate(out) for i, x, y in content}
    assert paint([(2, 1, 0), (2, 1, 0), (2, 1, 1), (2, 1, 1)], [where[i] for i in range(4)],
                 2, 2, rows_rule=True) == []
    assert _crowding(inst, out) == (1, 4)


def test_move_into_free_space():
    # a 1x1 rect of group A sits above another A rect; bin 1 has room and no A
    rects = [Rect(0, 1, 1, "A"), Rect(1, 1, 1, "A"), Rect(2, 2, 1, "B")]
    inst = make_instance(rects, 2, 2, "efficiency")
    out = spread(inst, [[(0, 0, 0), (1, 0, 1)], [(2, 0, 0)]])
    where = {i: (b, x, y) for b, content in enumerate(out) for i, x, y in content}
    assert paint([(1, 1, 0), (1, 1, 0), (2, 1, 1)], [where[i] for i in range(3)], 2, 2,
                 rows_rule=True) == []
    assert _crowding(inst, out)[0] == 1


def test_pack_spreads_layers():
    # 8 layers of four 64x32 tiles on 64x128 arrays: 8 arrays are needed and enough, and every
    # layer can have its four tiles on four different arrays
    rects = [Rect(f"L{g}.{k}", 64, 32, f"L{g}") for g in range(8) for k in range(4)]
    res = pack(rects, 64, 128, priority="efficiency", time_limit=1.0)
    assert res.bins_used == 8
    per = Counter((r.group, p.bin) for r, p in zip(rects, res.placements))
    assert max(per.values()) == 1
