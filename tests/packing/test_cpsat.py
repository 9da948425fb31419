"""The CP-SAT model agrees with exhaustive search on small one- and two-bin questions."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from imcc.packing import Rect
from imcc.packing.cpsat import solve
from imcc.packing.problem import make_instance
from tests.packing.brute import min_bins, paint

case = st.integers(3, 6).flatmap(lambda W: st.integers(3, 6).flatmap(lambda H: st.tuples(
    st.just(W), st.just(H), st.integers(1, 2),
    st.lists(st.tuples(st.integers(1, W), st.integers(1, H), st.sampled_from([-1, 0, 1])),
             min_size=1, max_size=6),
    st.booleans())))


@settings(max_examples=50, deadline=None)
@given(case)
# OR-Tools 9.15's presolve raised an internal IndexError on this infeasible model
@example((3, 3, 2, [(1, 1, -1), (1, 1, -1), (3, 3, -1), (3, 3, -1)], False))
def test_feasibility_matches_brute_force(c):
    W, H, nbins, items, rows = c
    rects = [Rect(i, w, h, None if g < 0 else f"g{g}") for i, (w, h, g) in enumerate(items)]
    inst = make_instance(rects, W, H, "efficiency" if rows else "resource")
    res = solve(inst, list(range(len(items))), nbins, det_limit=5.0)
    feasible = min_bins(items, W, H, rows_rule=rows) <= nbins
    assert res.status in ("optimal", "feasible", "infeasible")
    assert (res.status != "infeasible") == feasible
    if feasible:
        where = {i: (b, x, y) for i, b, x, y in res.spots}
        assert paint(items, [where[i] for i in range(len(items))], W, H, rows_rule=rows) == []


def test_optional_items_maximise_area():
    # a 4x4 bin takes the 4x3 (area 12, leaving one row: no 2x2 fits) or both 2x2 (area 8):
    # the optimum places area 12
    rects = [Rect(0, 4, 3), Rect(1, 2, 2), Rect(2, 2, 2)]
    inst = make_instance(rects, 4, 4, "resource")
    res = solve(inst, [0, 1, 2], 1, optional=[0, 1, 2], det_limit=5.0)
    assert res.status == "optimal"
    assert sum(inst.ws[i] * inst.hs[i] for i, _, _, _ in res.spots) == 12
