"""The plot: well-formed SVG with one marker per point, the Pareto front ringed, a legend for
the colouring parameter; PNG through matplotlib when it is installed."""

import xml.etree.ElementTree as ET

import pytest

from imcc.explore.evaluate import Point
from imcc.explore.plot import colours, to_png, to_svg
from imcc.explore.results import Summary

NS = "{http://www.w3.org/2000/svg}"


def summaries():
    out = []
    for i, (acc, e) in enumerate([(0.9, 100.0), (0.95, 400.0), (0.8, 50.0), (0.7, 300.0)]):
        out.append(Summary(Point((("adc_bits", 4 + i),)), 3, (acc, 0.01, acc - 0.02, acc + 0.02),
                           (0.1, 0.01, 0.09, 0.11), e, 1000.0, 1, 10.0, (),
                           pareto=(i != 3)))
    out.append(Summary(Point((("adc_bits", 9),)), 0, None, None, None, None, None, None,
                       ("compile: no fit",)))
    return out


def test_svg_is_well_formed_and_marks_the_front():
    svg = to_svg(summaries(), "adc_bits", title="t <&>")
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{NS}g")]
    assert len(groups) == 4  # the failed point has no marker
    rings = [c for c in root.iter(f"{NS}circle") if c.get("fill") == "none"]
    assert len(rings) == 3 + 1  # three Pareto points and the legend's ring
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert "adc_bits" in texts and "t <&>" in texts and "Pareto front" in texts
    assert not any("log scale" in (t or "") for t in texts)  # energies span 8x: linear
    titles = [t.text for t in root.iter(f"{NS}title")]
    assert any("adc_bits=5" in t and "Pareto" in t for t in titles)


def test_energies_spanning_more_than_20x_get_a_log_axis():
    wide = [Summary(Point((("noise", 0.0),)), 1, (0.9, 0, 0.9, 0.9), (0.1, 0, 0.1, 0.1), e, 1.0,
                    1, 1.0, (), True) for e in (10.0, 5000.0)]
    texts = [t.text or "" for t in ET.fromstring(to_svg(wide, "noise")).iter(f"{NS}text")]
    assert any("log scale" in t for t in texts)


def test_empty_plot():
    assert "no results" in to_svg([], None)


def test_colours_categorical_and_ramp():
    cols, legend = colours([8, 4, 8, 6])
    assert cols[0] == cols[2] != cols[1] and [lab for lab, _ in legend] == ["4", "6", "8"]
    cols, legend = colours([float(i) for i in range(20)])
    assert len(set(cols)) == 20 and len(legend) == 3


def test_png(tmp_path):
    pytest.importorskip("matplotlib")
    assert to_png(summaries(), tmp_path / "p.png", "adc_bits", "t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
