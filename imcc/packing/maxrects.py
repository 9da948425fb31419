"""Free space of one bin as maximal empty rectangles (Jylanki's MaxRects), with the row rule.

:class:`BinSpace` keeps the list of maximal free rectangles of one bin. A rect can go at the
lower-left corner of any free rectangle it fits in; under the row rule (rects of one group use
disjoint rows) it is pushed up inside that free rectangle past the rows its group already uses.
Callers score the candidate positions and place one; the free list is then split and pruned.

Scores (smaller is better) follow the classic rules: ``bssf`` (best short side fit), ``baf``
(best area fit), ``bl`` (bottom-left) and ``contact`` (most perimeter touching the bin edges and
other rects, Lodi-Martello-Vigo's touching perimeter).
"""

from __future__ import annotations

from collections.abc import Iterator

FreeRect = tuple[int, int, int, int]  # x, y, w, h
SCORERS = ("bssf", "baf", "bl", "contact")


class BinSpace:
    """Mutable free space of one ``bin_w x bin_h`` bin (used inside one packing run)."""

    __slots__ = ("bin_h", "bin_w", "free", "ops", "placed", "rows", "used_area")

    def __init__(self, bin_w: int, bin_h: int):
        self.bin_w = bin_w
        self.bin_h = bin_h
        self.free: list[FreeRect] = [(0, 0, bin_w, bin_h)]
        self.placed: list[tuple[int, int, int, int, int]] = []  # item, x, y, w, h
        self.rows: dict[int, list[tuple[int, int]]] = {}  # group -> used row intervals
        self.used_area = 0
        self.ops = 0  # elementary steps taken, for effort accounting

    def copy(self) -> BinSpace:
        other = BinSpace(self.bin_w, self.bin_h)
        other.free = list(self.free)
        other.placed = list(self.placed)
        other.rows = {g: list(v) for g, v in self.rows.items()}
        other.used_area = self.used_area
        return other

    def positions(self, w: int, h: int, group: int = -1) -> Iterator[tuple[int, int, FreeRect]]:
        """Lower-left corners where a ``w x h`` rect of ``group`` fits (group -1: no rule)."""
        used = self.rows.get(group) if group >= 0 else None
        for f in self.free:
            fx, fy, fw, fh = f
            if fw < w or fh < h:
                continue
            if not used:
                yield fx, fy, f
                continue
            y = fy
            top = fy + fh - h
            moved = True
            while moved and y <= top:
                moved = False
                for a, b in used:
                    if y < b and a < y + h:
                        y = b
                        moved = True
            if y <= top:
                yield fx, y, f

    def score(self, how: str, x: int, y: int, w: int, h: int, f: FreeRect) -> tuple:
        """Score of putting a ``w x h`` rect at ``(x, y)`` inside free rectangle ``f``."""
        if how == "bssf":
            dw, dh = f[2] - w, f[3] - h
            return (min(dw, dh), max(dw, dh), y, x)
        if how == "baf":
            dw, dh = f[2] - w, f[3] - h
            return (f[2] * f[3] - w * h, min(dw, dh), y, x)
        if how == "bl":
            return (y + h, x)
        return (-self.contact(x, y, w, h), y, x)

    def contact(self, x: int, y: int, w: int, h: int) -> int:
        """Perimeter of rect ``(x, y, w, h)`` touching the bin edges or placed rects."""
        c = 0
        if x == 0 or x + w == self.bin_w:
            c += h
        if y == 0 or y + h == self.bin_h:
            c += w
        for _, px, py, pw, ph in self.placed:
            if px == x + w or px + pw == x:
                c += max(0, min(y + h, py + ph) - max(y, py))
            if py == y + h or py + ph == y:
                c += max(0, min(x + w, px + pw) - max(x, px))
        return c

    def best(self, how: str, w: int, h: int, group: int = -1) -> tuple | None:
        """The best-scoring ``(score, x, y)`` for a ``w x h`` rect, or None if it fits nowhere."""
        best = None
        n = 0
        for x, y, f in self.positions(w, h, group):
            n += 1
            s = (self.score(how, x, y, w, h, f), x, y)
            if best is None or s < best:
                best = s
        self.ops += len(self.free) + n * (2 + (len(self.placed) if how == "contact" else 0))
        return best

    def place(self, item: int, x: int, y: int, w: int, h: int, group: int = -1) -> None:
        """Occupy ``(x, y, w, h)`` with ``item``; split and prune the free rectangles."""
        self.placed.append((item, x, y, w, h))
        self.used_area += w * h
        if group >= 0:
            self.rows.setdefault(group, []).append((y, y + h))
        x2, y2 = x + w, y + h
        keep: list[FreeRect] = []
        new: list[FreeRect] = []
        for f in self.free:
            fx, fy, fw, fh = f
            fx2, fy2 = fx + fw, fy + fh
            if x >= fx2 or x2 <= fx or y >= fy2 or y2 <= fy:
                keep.append(f)
                continue
            if x > fx:
                new.append((fx, fy, x - fx, fh))
            if x2 < fx2:
                new.append((x2, fy, fx2 - x2, fh))
            if y > fy:
                new.append((fx, fy, fw, y - fy))
            if y2 < fy2:
                new.append((fx, y2, fw, fy2 - y2))
        # a new piece is maximal unless another free rectangle contains it (inlined: hot loop)
        pruned: list[FreeRect] = []
        for i, a in enumerate(new):
            ax, ay, aw, ah = a
            ax2, ay2 = ax + aw, ay + ah
            inside = False
            for bx, by, bw, bh in keep:
                if bx <= ax and by <= ay and ax2 <= bx + bw and ay2 <= by + bh:
                    inside = True
                    break
            if not inside:
                for j, b in enumerate(new):
                    if j != i:
                        bx, by, bw, bh = b
                        if bx <= ax and by <= ay and ax2 <= bx + bw and ay2 <= by + bh \
                                and (b != a or j < i):
                            inside = True
                            break
            if not inside:
                pruned.append(a)
        self.free = keep + pruned
        self.ops += len(keep) + len(new) * (len(keep) + len(new)) // 8
