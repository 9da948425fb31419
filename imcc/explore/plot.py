"""Accuracy (or output error) against energy per inference, one marker per point, coloured by a
swept parameter; error bars span mean +- std over seeds; the Pareto front is ringed and joined.

:func:`to_svg` writes the SVG itself (no dependency); :func:`to_png` uses matplotlib when it is
installed (the ``plot`` extra) and returns False otherwise. The energy axis is logarithmic when
the energies span more than a factor of 20.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

from imcc.explore.results import Summary

# Colour-blind-safe categorical palette (Okabe-Ito, then Tableau) and a viridis ramp.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#8c564b", "#7f7f7f", "#17becf", "#bcbd22")
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def _ramp(t: float) -> str:
    t = min(max(t, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    rgb = [round(int(a[k:k + 2], 16) * (1 - f) + int(b[k:k + 2], 16) * f) for k in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def colours(values: list) -> tuple[list[str], list[tuple[str, str]]]:
    """A colour per value and the legend entries (label, colour): categorical for up to
    twelve distinct values, a ramp from the smallest to the largest number otherwise."""
    distinct = list(dict.fromkeys(values))
    try:
        distinct.sort()
    except TypeError:
        pass
    if len(distinct) <= len(PALETTE):
        m = {v: PALETTE[i] for i, v in enumerate(distinct)}
        return [m[v] for v in values], [(_fmt(v), m[v]) for v in distinct]
    lo, hi = float(min(distinct)), float(max(distinct))
    span = (hi - lo) or 1.0
    cols = [_ramp((float(v) - lo) / span) for v in values]
    return cols, [(_fmt(lo), _ramp(0)), (_fmt((lo + hi) / 2), _ramp(0.5)), (_fmt(hi), _ramp(1))]


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], start
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** k
            if lo <= v <= hi:
                out.append(v)
    return out


def _si(v: float) -> str:
    for scale, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:g}{p}"
    return f"{v:g}"


def _series(summaries: list[Summary], color_by: str | None):
    pts = [s for s in summaries if s.score is not None and s.energy_pj]
    acc = any(s.accuracy is not None for s in pts)

    def y(s: Summary) -> tuple[float, float]:
        if acc:
            return 100 * s.accuracy[0], 100 * s.accuracy[1]
        return s.rel_error[0], s.rel_error[1]

    key = [dict(s.point.overrides).get(color_by, "-") if color_by else "-" for s in pts]
    return pts, acc, y, key


# The SVG's size and margins (left, right for the legend, top, bottom) and the plot area.
W, H, L, R, T, B = 760, 500, 80, 170, 40, 60
PW, PH = W - L - R, H - T - B


def to_svg(summaries: list[Summary], color_by: str | None = None, title: str = "") -> str:
    """The plot as SVG text (every point with a tooltip naming its settings)."""
    pts, acc, y, key = _series(summaries, color_by)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L + PW / 2}" y="22" text-anchor="middle" font-size="14">'
           f'{html.escape(title)}</text>']
    if not pts:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no results</text>')
        return "\n".join(out + ["</svg>"]) + "\n"
    ys = [y(s) for s in pts]
    sc = _Scale.fit([s.energy_pj for s in pts], ys, acc)
    out += _axes(sc, acc)
    front = sorted((s for s in pts if s.pareto), key=lambda s: s.energy_pj)
    if len(front) > 1:
        xy = [(sc.px(s.energy_pj), sc.py(y(s)[0])) for s in front]
        path = [f"H{x:.1f} V{yy:.1f}" if i else f"M{x:.1f} {yy:.1f}"
                for i, (x, yy) in enumerate(xy)]
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="#555" '
                   'stroke-dasharray="4 3"/>')
    cols, legend = colours(key)
    for s, (m, sd), c in zip(pts, ys, cols):
        out += _marker(s, m, sd, c, acc, sc)
    return "\n".join(out + _legend(color_by, legend) + ["</svg>"]) + "\n"


@dataclass(frozen=True)
class _Scale:
    """Data to pixels: energy on x (logarithmic when it spans more than 20x), score on y."""

    log: bool
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    x_ticks: tuple[float, ...]

    @staticmethod
    def fit(es: list[float], ys: list[tuple[float, float]], acc: bool) -> _Scale:
        e_lo, e_hi = min(es), max(es)
        log = e_lo > 0 and e_hi / e_lo > 20
        if log:
            x_lo, x_hi = math.log10(e_lo) - 0.05, math.log10(e_hi) + 0.05
            xt = _log_ticks(e_lo / 1.1, e_hi * 1.1)
        else:
            pad = (e_hi - e_lo) * 0.05 or e_hi * 0.05 or 1.0
            x_lo, x_hi = e_lo - pad, e_hi + pad
            xt = _nice_ticks(x_lo, x_hi)
        y_lo = min(m - s for m, s in ys)
        y_hi = max(m + s for m, s in ys)
        ypad = (y_hi - y_lo) * 0.05 or 1.0
        y_lo, y_hi = y_lo - ypad, y_hi + ypad
        if acc:
            y_hi = min(y_hi, 100 + ypad)
        return _Scale(log, x_lo, x_hi, y_lo, y_hi, tuple(xt))

    def px(self, e: float) -> float:
        v = math.log10(e) if self.log else e
        return L + (v - self.x_lo) / (self.x_hi - self.x_lo) * PW

    def py(self, v: float) -> float:
        return T + PH - (v - self.y_lo) / (self.y_hi - self.y_lo) * PH


def _axes(sc: _Scale, acc: bool) -> list[str]:
    """The frame, grid lines, tick labels and axis titles."""
    out = [f'<rect x="{L}" y="{T}" width="{PW}" height="{PH}" fill="none" stroke="#333"/>']
    for t in sc.x_ticks:
        x = sc.px(t)
        if L <= x <= L + PW:
            out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + PH}" stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{T + PH + 16}" text-anchor="middle">{_si(t)}'
                       '</text>')
    for t in _nice_ticks(sc.y_lo, sc.y_hi):
        yy = sc.py(t)
        if T <= yy <= T + PH:
            out.append(f'<line x1="{L}" y1="{yy:.1f}" x2="{L + PW}" y2="{yy:.1f}" '
                       'stroke="#eee"/>')
            out.append(f'<text x="{L - 6}" y="{yy + 4:.1f}" text-anchor="end">{t:g}</text>')
    xlab = "energy per inference (pJ" + (", log scale)" if sc.log else ")")
    ylab = "accuracy (%)" if acc else "relative output error vs float"
    out.append(f'<text x="{L + PW / 2}" y="{H - 18}" text-anchor="middle">{xlab}</text>')
    out.append(f'<text transform="translate(20,{T + PH / 2}) rotate(-90)" '
               f'text-anchor="middle">{ylab}</text>')
    return out


def _marker(s: Summary, m: float, sd: float, c: str, acc: bool, sc: _Scale) -> list[str]:
    """One point: its tooltip, error bar, marker and (on the Pareto front) ring."""
    x, yy = sc.px(s.energy_pj), sc.py(m)
    tip = html.escape(f"{s.point.label()}: {'accuracy' if acc else 'error'} {m:.4g} "
                      f"+- {sd:.2g}, energy {s.energy_pj:.4g} pJ"
                      + (", Pareto" if s.pareto else ""))
    out = ["<g>", f"<title>{tip}</title>"]
    if sd > 0:
        out.append(f'<line x1="{x:.1f}" y1="{sc.py(m - sd):.1f}" x2="{x:.1f}" '
                   f'y2="{sc.py(m + sd):.1f}" stroke="{c}" stroke-opacity="0.6"/>')
    out.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="4.5" fill="{c}" fill-opacity="0.85"/>')
    if s.pareto:
        out.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="7.5" fill="none" '
                   'stroke="black" stroke-width="1.5"/>')
    return out + ["</g>"]


def _legend(color_by: str | None, legend: list[tuple[str, str]]) -> list[str]:
    """The colour key (with a swept parameter) and what the ring and the bars mean."""
    lx, ly = L + PW + 18, T + 10
    out = []
    if color_by:
        out.append(f'<text x="{lx}" y="{ly}" font-weight="bold">{html.escape(color_by)}</text>')
        for i, (lab, c) in enumerate(legend):
            yy = ly + 18 * (i + 1)
            out.append(f'<circle cx="{lx + 6}" cy="{yy - 4}" r="5" fill="{c}"/>')
            out.append(f'<text x="{lx + 16}" y="{yy}">{html.escape(lab)}</text>')
        ly += 18 * (len(legend) + 1) + 10
    out.append(f'<circle cx="{lx + 6}" cy="{ly}" r="7.5" fill="none" stroke="black" '
               'stroke-width="1.5"/>')
    out.append(f'<text x="{lx + 18}" y="{ly + 4}">Pareto front</text>')
    out.append(f'<text x="{lx}" y="{ly + 24}" fill="#555">bars: mean +- std</text>')
    out.append(f'<text x="{lx}" y="{ly + 40}" fill="#555">over seeds</text>')
    return out


def to_png(summaries: list[Summary], path: str | Path, color_by: str | None = None,
           title: str = "") -> bool:
    """Write the plot as PNG with matplotlib; False (nothing written) when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    import io

    from isa.objfile import atomic_write

    pts, acc, y, key = _series(summaries, color_by)
    cols, legend = colours(key)
    fig, ax = plt.subplots(figsize=(7.6, 5.0), dpi=110)
    for s, c in zip(pts, cols):
        m, sd = y(s)
        ax.errorbar(s.energy_pj, m, yerr=sd or None, fmt="o", color=c, ms=5, alpha=0.85,
                    elinewidth=1)
    front = sorted((s for s in pts if s.pareto), key=lambda s: s.energy_pj)
    if front:
        ax.scatter([s.energy_pj for s in front], [y(s)[0] for s in front], s=110,
                   facecolors="none", edgecolors="black", linewidths=1.4, label="Pareto front")
        ax.step([s.energy_pj for s in front], [y(s)[0] for s in front], where="post",
                color="#555", ls="--", lw=1)
    if pts and min(s.energy_pj for s in pts) > 0 and \
            max(s.energy_pj for s in pts) / min(s.energy_pj for s in pts) > 20:
        ax.set_xscale("log")
    for lab, c in legend if color_by else ():
        ax.scatter([], [], color=c, label=f"{color_by} = {lab}")
    ax.set_xlabel("energy per inference (pJ)")
    ax.set_ylabel("accuracy (%)" if acc else "relative output error vs float")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return True
