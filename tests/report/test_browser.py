"""The HTML reports of ``imcc compile|run|explore --html`` in a real browser: headless Chromium
(Debian's ``chromium``, which ``.ci/run`` installs) loads each page from a file with the network
off, a script appended here clicks a node, sorts a table, hovers a storage-map tile and a Pareto
point, zooms and drags, and writes what it saw into the DOM; ``--dump-dom`` returns it. A page
passes when it drew every section, recorded no error (its own ``data-errors``, and no console
message in Chromium's log) and every interaction did what it should. A screenshot of each page
is saved (``IMCC_SCREENSHOTS=DIR`` saves them there too: how ``docs/img/report-*.png`` are
made)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imcc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"
DATA = DIGITS / "test.npz"


def _chromium() -> str:
    for name in (os.environ.get("IMCC_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser: Debian's chromium package is not installed "
                "(apt-get install chromium; .ci/run installs it)")


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-extensions", "--disable-default-apps", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--virtual-time-budget=5000"]


# Appended to a copy of the page: interacts like a person and writes the results into the DOM.
SELFTEST = r"""
<script>
(function () {
  var out = {}, root = document.documentElement;
  function check(name, f) { try { out[name] = !!f(); } catch (e) { out[name] = "error: " + e; } }
  function $(q) { return document.querySelector(q); }
  function $$(q) { return Array.prototype.slice.call(document.querySelectorAll(q)); }
  function fire(target, type, init, cls) {
    var E = cls || MouseEvent;
    target.dispatchEvent(new E(type, Object.assign({bubbles: true, cancelable: true,
                                                    clientX: 200, clientY: 200}, init || {})));
  }
  function column(table, key) {
    var k = $$(table + " th").findIndex(function (th) { return th.getAttribute("data-key") === key; });
    return $$(table + " tbody tr").map(function (tr) { return tr.children[k].textContent; });
  }
  function sortedBy(values, dir) {
    var nums = values.filter(function (v) { return v !== ""; }).map(parseFloat);
    for (var i = 1; i < nums.length; i++) {
      if (dir > 0 ? nums[i] < nums[i - 1] : nums[i] > nums[i - 1]) return false;
    }
    return nums.length > 1;
  }
  var kind = JSON.parse($("#imcc-data").textContent).kind;
  out.kind = kind;
  if (kind !== "explore") {
    var node = $("g.node[data-class=imc]");
    check("graph has nodes", function () { return $$("#partition-graph g.node").length > 3; });
    check("graph has edges", function () { return $$("#partition-graph path.edge").length > 2; });
    check("classes coloured", function () {
      return $$("g.node.imc rect")[0].getAttribute("fill") !== $$("g.node.digital rect")[0].getAttribute("fill");
    });
    fire(node.querySelector("rect"), "click");
    var name = root.getAttribute("data-selected");
    check("click shows the layer", function () {
      var info = $("#node-info").textContent;
      return name && info.indexOf(name) >= 0 && info.indexOf("matrix") >= 0 && info.indexOf("bits") >= 0;
    });
    check("click selects its table row", function () {
      var row = $("#layer-table tr.selected");
      return row && row.getAttribute("data-i") === node.getAttribute("data-i");
    });
    check("click picks its tiles out", function () {
      var hl = $$("rect.entry.hl"), dim = $$("rect.entry.dim");
      return hl.length > 0 && hl.every(function (r) { return r.getAttribute("data-layer") === name; }) &&
             dim.length === $$("rect.entry").length - hl.length;
    });
    var th = $('#layer-table th[data-key="cells"]');
    fire(th, "click");
    check("sort ascending", function () {
      return th.getAttribute("aria-sort") === "ascending" && sortedBy(column("#layer-table", "cells").map(function (v) { return v.replace(/,/g, ""); }), 1);
    });
    fire(th, "click");
    check("sort descending", function () {
      return th.getAttribute("aria-sort") === "descending" && sortedBy(column("#layer-table", "cells").map(function (v) { return v.replace(/,/g, ""); }), -1);
    });
    var byName = $('#layer-table th[data-key="name"]');
    fire(byName, "click");
    check("sort by text", function () {
      var v = column("#layer-table", "name");
      return v.every(function (x, i) { return i === 0 || v[i - 1].localeCompare(x) <= 0; });
    });
    var entry = $$("rect.entry")[0];
    fire(entry, "mousemove");
    check("hover a tile: layer, slice, replica, bits", function () {
      var t = $("#tooltip");
      return t.style.display === "block" && /layer /.test(t.textContent) && /slice \d/.test(t.textContent) &&
             /replica \d/.test(t.textContent) && /bits: weights \d+, cells \d+/.test(t.textContent) &&
             t.textContent.indexOf(entry.getAttribute("data-layer")) >= 0;
    });
    var map = $("#storage-map"), before = +map.getAttribute("data-scale");
    fire(map, "wheel", {deltaY: -400}, WheelEvent);
    check("wheel zooms the map", function () { return +map.getAttribute("data-scale") > before * 1.5; });
    var g = map.querySelector("g.content"), t0 = g.getAttribute("transform");
    fire(map, "pointerdown", {button: 0, clientX: 300, clientY: 300}, PointerEvent);
    fire(window, "pointermove", {clientX: 360, clientY: 330}, PointerEvent);
    fire(window, "pointerup", {clientX: 360, clientY: 330}, PointerEvent);
    check("drag pans the map", function () { return g.getAttribute("transform") !== t0; });
    var gg = $("#partition-graph"), s0 = +gg.getAttribute("data-scale");
    fire(gg, "wheel", {deltaY: 300}, WheelEvent);
    check("wheel zooms the graph", function () { return +gg.getAttribute("data-scale") < s0; });
    check("energy chart", function () { return $$("#energy-chart g.bar").length >= 3; });
    check("latency chart", function () { return $$("#latency-chart g.bar").length >= 3; });
    check("comparison", function () { return $$("#compare-table tbody tr").length >= 1; });
  } else {
    var pts = $$("#pareto-plot circle.point");
    check("points drawn", function () { return pts.length >= 3; });
    check("front marked", function () { return $$("#pareto-plot circle.pareto").length >= 1; });
    fire(pts[0], "mousemove");
    check("hover shows settings", function () {
      var t = $("#tooltip").textContent;
      return $("#tooltip").style.display === "block" && /adc_bits = \d/.test(t) && /energy /.test(t);
    });
    var th = $('#results-table th[data-key="energy"]');
    fire(th, "click");
    check("results sort", function () {
      var v = $$("#results-table tbody tr").map(function (tr) { return tr.children[3].textContent; });
      return th.getAttribute("aria-sort") === "ascending" && v.length === pts.length;
    });
  }
  var pre = document.createElement("pre");
  pre.id = "selftest";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _browse(html: Path, tmp: Path, shot_name: str) -> tuple[dict, str, bytes]:
    """(self-test results, the DOM's <html> tag, the screenshot PNG) of a page."""
    chrome = _chromium()
    test_page = tmp / ("selftest-" + html.name)
    text = html.read_text()
    test_page.write_text(text.replace("</body>", SELFTEST + "</body>"))
    p = subprocess.run([chrome, *_flags(tmp / "profile"), "--enable-logging=stderr", "--v=0",
                        "--dump-dom", test_page.as_uri()], capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    console = [ln for ln in p.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    dom = p.stdout
    head = re.search(r"<html[^>]*>", dom).group(0)
    m = re.search(r'<pre id="selftest">(.*?)</pre>', dom, re.DOTALL)
    assert m, dom[-3000:]
    results = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    png = tmp / shot_name
    p = subprocess.run([chrome, *_flags(tmp / "profile"), "--window-size=1400,1800",
                        f"--screenshot={png}", html.as_uri()], capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0 and png.exists(), p.stderr[-2000:]
    blob = png.read_bytes()
    if os.environ.get("IMCC_SCREENSHOTS"):
        out = Path(os.environ["IMCC_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        (out / shot_name).write_bytes(blob)
    return results, head, blob


def _png_size(blob: bytes) -> tuple[int, int]:
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", blob[16:24])


def _static_checks(html: str) -> None:
    """Self-contained: no address outside the page (the SVG namespace is a name, not a load)."""
    urls = set(re.findall(r"https?://[^\s\"')]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html, re.IGNORECASE)
    assert not re.search(r"<script[^>]+src=", html, re.IGNORECASE)
    assert "default-src 'none'" in html  # and the page forbids loading anything itself


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    _chromium()
    d = tmp_path_factory.mktemp("pages")
    x = np.load(DATA)["x_img"]
    np.save(d / "x.npy", x[:80])
    np.save(d / "y.npy", np.load(DATA)["y"][:80])
    inv = CliRunner().invoke
    r = inv(cli, ["compile", str(DIGITS / "cnn.onnx"), "--chip", "rram", "--calib",
                  f"{DATA}:x_img", "-o", str(d / "cnn.imo"), "--html", str(d / "compile.html")])
    assert r.exit_code == 0, r.output
    r = inv(cli, ["run", str(d / "cnn.imo"), "--input", str(d / "x.npy"), "--labels",
                  str(d / "y.npy"), "--compare", str(DIGITS / "cnn.onnx"), "--html",
                  str(d / "run.html")])
    assert r.exit_code == 0, r.output
    r = inv(cli, ["explore", str(DIGITS / "cnn.onnx"), "--data", str(DATA), "--input-key",
                  "x_img", "--label-key", "y", "--chip", "rram", "--sweep", "adc_bits=4,6,8",
                  "--sweep", "cell_bits=2,4", "--seeds", "1", "--workers", "1", "--limit", "60",
                  "-o", str(d / "ex"), "--html", str(d / "explore.html")])
    assert r.exit_code == 0, r.output
    return d


@pytest.mark.parametrize("kind", ["compile", "run", "explore"])
def test_page_in_a_browser(pages, kind, tmp_path):
    html = pages / f"{kind}.html"
    _static_checks(html.read_text())
    results, head, png = _browse(html, tmp_path, f"report-{kind}.png")
    assert "data-rendered=\"1\"" in head and "data-errors" not in head, head
    sections = re.search(r'data-sections="([^"]*)"', head).group(1).split()
    want = {"compile": ["summary", "partition", "layers", "storage", "cost", "compare"],
            "run": ["summary", "partition", "layers", "storage", "cost", "compare"],
            "explore": ["summary", "pareto", "results"]}[kind]
    assert sections == want
    failed = {k: v for k, v in results.items() if v is not True and k != "kind"}
    assert not failed, failed
    assert len(results) == (5 if kind == "explore" else 17)  # every check ran
    w, h = _png_size(png)
    assert (w, h) == (1400, 1800) and len(png) > 30_000  # drawn, not a blank page
