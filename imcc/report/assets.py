"""The style sheet and the script of the HTML report (written for it: no library, no network).

The script reads the JSON of ``#imcc-data`` and builds every section with DOM calls; text from
the data is only ever set as text (``textContent``), never parsed as HTML. It records any error
(an exception, a ``console.error``) in the ``data-errors`` attribute of ``<html>`` and sets
``data-rendered="1"`` when it has finished, so a headless browser's DOM dump tells whether the
page worked.
"""

CSS = r"""
:root { --imc: #e8833a; --dynamic: #9b6bb5; --digital: #4e79a7; --ink: #1d2330;
        --muted: #667085; --line: #d0d5dd; --bg: #f7f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: var(--bg); }
header { background: #1d2330; color: #fff; padding: 14px 24px 8px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header p { margin: 2px 0 8px; color: #c8cdd6; }
nav a { color: #fff; margin-right: 16px; text-decoration: none; font-size: 13px;
        border-bottom: 2px solid transparent; }
nav a:hover { border-bottom-color: var(--imc); }
main { padding: 12px 24px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          padding: 12px 16px 16px; margin: 14px 0; }
section h2 { margin: 2px 0 10px; font-size: 17px; }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 8px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px;
        background: var(--bg); }
.card .k { color: var(--muted); font-size: 12px; }
.card .v { font-size: 16px; font-weight: 600; }
.split { display: flex; gap: 12px; align-items: stretch; }
.split > .view { flex: 1 1 auto; min-width: 0; }
.split > aside { flex: 0 0 320px; border: 1px solid var(--line); border-radius: 6px;
                 padding: 8px 12px; overflow: auto; max-height: 600px; font-size: 13px; }
.view { position: relative; border: 1px solid var(--line); border-radius: 6px; overflow: hidden;
        background: #fcfcfd; }
.view svg { display: block; width: 100%; height: 600px; cursor: grab; user-select: none; }
.view svg.dragging { cursor: grabbing; }
.tools { position: absolute; right: 8px; top: 8px; display: flex; gap: 4px; z-index: 2; }
.tools button { border: 1px solid var(--line); background: #fff; border-radius: 4px;
                min-width: 30px; height: 28px; cursor: pointer; font-size: 14px; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin: 6px 0; font-size: 13px; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
                  margin-right: 5px; vertical-align: -1px; }
.legend .item { cursor: pointer; }
g.node rect { stroke: #fff; stroke-width: 1.5; }
g.node text { fill: #fff; font-size: 12px; font-weight: 600; pointer-events: none; }
g.node { cursor: pointer; }
g.node.selected rect { stroke: #111; stroke-width: 3; }
path.edge { fill: none; stroke: #98a2b3; stroke-width: 1.2; }
path.edge.hl { stroke: #111; stroke-width: 2; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; }
table.data th, table.data td { border-bottom: 1px solid #eaecf0; padding: 4px 8px;
                               text-align: left; white-space: nowrap; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data th { position: sticky; top: 0; background: #f2f4f7; cursor: pointer; }
table.data th[aria-sort="ascending"]::after { content: " \25B2"; font-size: 10px; }
table.data th[aria-sort="descending"]::after { content: " \25BC"; font-size: 10px; }
table.data tr.selected td { background: #fff3e6; }
table.data tbody tr:hover td { background: #f5f8ff; }
.tablewrap { max-height: 520px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff; font-size: 12px; }
#tooltip { position: fixed; pointer-events: none; background: rgba(29, 35, 48, .95); color: #fff;
           padding: 6px 9px; border-radius: 5px; font-size: 12px; display: none; z-index: 10;
           max-width: 420px; white-space: pre-line; }
rect.entry.dim { opacity: .15; }
rect.entry.hl { stroke: #111; stroke-width: 1.2; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; }
.chart h3 { font-size: 14px; margin: 4px 0; }
.chart svg { display: block; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 6px 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; word-break: break-all; }
.warn { color: #b54708; }
button.link { border: none; background: none; color: #175cd3; cursor: pointer; padding: 0;
              margin-right: 12px; font-size: 13px; }
"""

SCRIPT = r"""
(function () {
"use strict";
var root = document.documentElement, errors = [];
function record(msg) {
  errors.push(String(msg));
  root.setAttribute("data-errors", JSON.stringify(errors));
}
window.addEventListener("error", function (e) { record(e.message || "error"); });
var consoleError = console.error;
console.error = function () {
  record(Array.prototype.join.call(arguments, " "));
  consoleError.apply(console, arguments);
};

var NS = "http://www.w3.org/2000/svg";
var COLORS = {imc: "#e8833a", dynamic: "#9b6bb5", digital: "#4e79a7"};
var PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
  "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
var D = JSON.parse(document.getElementById("imcc-data").textContent);
var tip = document.getElementById("tooltip");
var state = {selectNode: null, layerColor: {}};

function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function sv(tag, attrs, text) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function add(parent) {
  for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]);
  return parent;
}
function num(v, d) {
  if (v === null || v === undefined || isNaN(v)) return "-";
  var a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(d === undefined ? 3 : d);
  return (+v.toPrecision(d === undefined ? 4 : d)).toLocaleString("en-US");
}
function si(v, unit, scale) {
  if (v === null || v === undefined || isNaN(v)) return "-";
  for (var i = 0; i < scale.length; i++) {
    if (Math.abs(v) < scale[i][0] * 1000 || i === scale.length - 1)
      return num(v / scale[i][0], 4) + " " + scale[i][1];
  }
}
function energy(pj) {
  return si(pj, "J", [[1, "pJ"], [1e3, "nJ"], [1e6, "uJ"], [1e9, "mJ"], [1e12, "J"]]);
}
function duration(ns) {
  return si(ns, "s", [[1, "ns"], [1e3, "us"], [1e6, "ms"], [1e9, "s"]]);
}
function showTip(e, text) {
  tip.textContent = text;
  tip.style.display = "block";
  var x = e.clientX + 14, y = e.clientY + 14;
  var w = tip.offsetWidth, h = tip.offsetHeight;
  if (x + w > window.innerWidth - 4) x = e.clientX - w - 10;
  if (y + h > window.innerHeight - 4) y = e.clientY - h - 10;
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}
function hideTip() { tip.style.display = "none"; }
function section(id, title, note) {
  var s = el("section", {id: id});
  add(s, el("h2", {}, title));
  if (note) add(s, el("p", {"class": "note"}, note));
  add(document.getElementById("main"), s);
  add(document.getElementById("nav"), el("a", {href: "#" + id}, title));
  return s;
}

// ---- zoom and pan of an svg's content group -------------------------------------------------
function panzoom(svg, g, w, h, opts) {
  opts = opts || {};
  var s = 1, tx = 0, ty = 0, drag = null;
  function apply() {
    g.setAttribute("transform", "translate(" + tx.toFixed(2) + "," + ty.toFixed(2) +
                   ") scale(" + s.toFixed(5) + ")");
    svg.setAttribute("data-scale", s.toFixed(5));
  }
  function box() {
    var r = svg.getBoundingClientRect();
    return {w: r.width || 900, h: r.height || 600, left: r.left, top: r.top};
  }
  function fit(all) {
    var b = box();
    s = Math.min(b.w / w, b.h / h);
    if (!all && opts.minFit) s = Math.max(s, Math.min(opts.minFit, b.w / w));
    s = Math.min(s, opts.maxFit || 2);
    tx = (b.w - w * s) / 2;
    ty = h * s < b.h ? (b.h - h * s) / 2 : 6;
    apply();
  }
  function zoom(k, cx, cy) {
    var b = box();
    if (cx === undefined) { cx = b.w / 2; cy = b.h / 2; }
    var ns = Math.max(0.01, Math.min(60, s * k));
    tx = cx - (cx - tx) * ns / s;
    ty = cy - (cy - ty) * ns / s;
    s = ns;
    apply();
  }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var b = box();
    zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - b.left, e.clientY - b.top);
  }, {passive: false});
  svg.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    drag = {x: e.clientX, y: e.clientY, tx: tx, ty: ty, moved: false};
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; svg.classList.add("dragging"); }
    tx = drag.tx + dx;
    ty = drag.ty + dy;
    apply();
  });
  window.addEventListener("pointerup", function () {
    if (drag && drag.moved) svg.setAttribute("data-dragged", "1");
    drag = null;
    svg.classList.remove("dragging");
  });
  svg.addEventListener("click", function (e) {
    if (svg.getAttribute("data-dragged")) { svg.removeAttribute("data-dragged"); e.stopPropagation(); }
  }, true);
  svg.addEventListener("dblclick", function () { fit(true); });
  var tools = el("div", {"class": "tools"});
  [["+", "zoom in", function () { zoom(1.4); }], ["\u2212", "zoom out", function () { zoom(1 / 1.4); }],
   ["\u2922", "fit", function () { fit(true); }]].forEach(function (t) {
    var b = el("button", {type: "button", title: t[1], "aria-label": t[1]}, t[0]);
    b.addEventListener("click", t[2]);
    tools.appendChild(b);
  });
  svg.parentNode.insertBefore(tools, svg);
  requestAnimationFrame(function () { fit(false); });
  fit(false);
  return {fit: fit, zoom: zoom, center: function (x, y) {
    var b = box();
    tx = b.w / 2 - x * s;
    ty = b.h / 2 - y * s;
    apply();
  }};
}

// ---- summary ---------------------------------------------------------------------------------
function summary() {
  document.getElementById("title").textContent = D.title || "imcc report";
  document.getElementById("subtitle").textContent = D.subtitle || "";
  if (!D.summary || !D.summary.length) return;
  var s = section("summary", "Summary");
  var cards = el("div", {"class": "cards"});
  D.summary.forEach(function (kv) {
    add(cards, add(el("div", {"class": "card"}), el("div", {"class": "k"}, kv[0]),
                   el("div", {"class": "v"}, kv[1])));
  });
  add(s, cards);
  if (D.warnings && D.warnings.length) {
    D.warnings.forEach(function (w) { add(s, el("p", {"class": "note warn"}, "warning: " + w)); });
  }
}

// ---- layers: the graph's nodes joined with the storage map's layers -------------------------
var smapLayers = {};
var layerArrays = {};
function layerIndex() {
  var m = D.storage_map;
  if (!m) return;
  m.layers.forEach(function (L, i) {
    smapLayers[L.name] = L;
    state.layerColor[L.name] = PALETTE[i % PALETTE.length];
  });
  m.entries.forEach(function (e) {
    (layerArrays[e.layer] = layerArrays[e.layer] || {})[e.array] = 1;
  });
}
function bits(L) {
  var p = L.precision;
  return p.weight_bits + "/" + p.cell_bits + "/" + p.input_bits + "/" + p.dac_bits + "/" + p.adc_bits;
}
function rowsOfLayers() {
  if (D.nodes) {
    return D.nodes.map(function (n, i) {
      var L = smapLayers[n.name];
      return {i: i, name: n.name, op: n.op, cls: n["class"],
              shape: n.shape ? n.shape.join("x") : "", L: L};
    });
  }
  if (!D.storage_map) return [];
  return D.storage_map.layers.map(function (L, i) {
    return {i: i, name: L.name, op: L.op, cls: "imc", shape: "", L: L};
  });
}

// ---- partition graph --------------------------------------------------------------------------
var graphApi = null, nodeEls = [], edgeEls = [];
function partition() {
  if (!D.nodes || !D.nodes.length) return;
  var counts = {imc: 0, dynamic: 0, digital: 0};
  D.nodes.forEach(function (n) { counts[n["class"]] = (counts[n["class"]] || 0) + 1; });
  var s = section("partition", "Partition",
    D.nodes.length + " nodes of the compiled graph: " + counts.imc + " on crossbar arrays (IMC), " +
    counts.dynamic + " dynamic (activation x activation), " + counts.digital +
    " digital. Click a node for its layer; wheel to zoom, drag to pan, double-click to fit.");
  var legend = el("div", {"class": "legend"});
  [["imc", "IMC (crossbar)"], ["dynamic", "dynamic (SRAM-IMC or digital)"],
   ["digital", "digital unit"]].forEach(function (c) {
    add(legend, add(el("span", {}), el("span", {"class": "sw", style: "background:" + COLORS[c[0]]}),
                    document.createTextNode(c[1])));
  });
  add(s, legend);
  var split = el("div", {"class": "split"});
  var view = el("div", {"class": "view"});
  var svg = sv("svg", {id: "partition-graph", role: "img", "aria-label": "partition graph"});
  var g = sv("g", {"class": "content"});
  var lay = D.layout, W = 136, H = 30;
  var eg = sv("g", {"class": "edges"}), ng = sv("g", {"class": "nodes"});
  D.nodes.forEach(function (n, i) {
    n.preds.forEach(function (p) {
      var x1 = lay.x[p], y1 = lay.y[p] + H / 2, x2 = lay.x[i], y2 = lay.y[i] - H / 2;
      var my = (y1 + y2) / 2;
      var path = sv("path", {"class": "edge", d: "M" + x1 + "," + y1 + " C" + x1 + "," + my +
                             " " + x2 + "," + my + " " + x2 + "," + y2,
                             "data-from": p, "data-to": i});
      edgeEls.push(path);
      eg.appendChild(path);
    });
  });
  D.nodes.forEach(function (n, i) {
    var ng1 = sv("g", {"class": "node " + n["class"], "data-i": i, "data-class": n["class"],
                       transform: "translate(" + (lay.x[i] - W / 2) + "," + (lay.y[i] - H / 2) + ")"});
    add(ng1, sv("rect", {width: W, height: H, rx: 5, fill: COLORS[n["class"]] || "#888"}),
        sv("text", {x: W / 2, y: H / 2 + 4, "text-anchor": "middle"},
           n.op.length > 18 ? n.op.slice(0, 17) + "\u2026" : n.op));
    nodeEls.push(ng1);
    ng.appendChild(ng1);
  });
  add(g, eg, ng);
  svg.appendChild(g);
  svg.style.height = Math.max(220, Math.min(600, lay.height + 40)) + "px";
  add(view, svg);
  var info = el("aside", {id: "node-info"});
  add(info, el("p", {"class": "note"}, "Click a node to see its layer."));
  add(split, view, info);
  add(s, split);
  ng.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target.closest("g.node") : null;
    if (t) select(+t.getAttribute("data-i"), false);
  });
  ng.addEventListener("mousemove", function (e) {
    var t = e.target.closest ? e.target.closest("g.node") : null;
    if (!t) return;
    var n = D.nodes[+t.getAttribute("data-i")];
    showTip(e, n.name + "\n" + n.op + " [" + n["class"] + "]" + (n.shape ? "  " + n.shape.join("x") : ""));
  });
  ng.addEventListener("mouseleave", hideTip);
  graphApi = panzoom(svg, g, lay.width, lay.height, {minFit: 0.6, maxFit: 1.2});
}

function select(i, fromTable) {
  var n = D.nodes ? D.nodes[i] : null;
  nodeEls.forEach(function (g) { g.classList.toggle("selected", +g.getAttribute("data-i") === i); });
  edgeEls.forEach(function (p) {
    p.classList.toggle("hl", +p.getAttribute("data-to") === i || +p.getAttribute("data-from") === i);
  });
  var rows = document.querySelectorAll("#layer-table tbody tr");
  for (var r = 0; r < rows.length; r++) {
    rows[r].classList.toggle("selected", +rows[r].getAttribute("data-i") === i);
  }
  var name = n ? n.name : (D.storage_map ? D.storage_map.layers[i].name : null);
  highlightLayer(smapLayers[name] ? name : null);
  var info = document.getElementById("node-info");
  if (info && n) {
    info.textContent = "";
    add(info, el("h3", {}, n.op + " [" + n["class"] + "]"));
    var dl = el("dl", {"class": "kv"});
    var kv = function (k, v) { add(dl, el("dt", {}, k), el("dd", {}, v)); };
    kv("name", n.name);
    kv("output", (n.shape ? n.shape.join("x") : "-") + (n.dtype ? " " + n.dtype : ""));
    kv("inputs from", n.preds.map(function (p) { return D.nodes[p].name; })
                             .concat(n.model_inputs).join(", ") || "-");
    if (n.model_outputs.length) kv("model output", n.model_outputs.join(", "));
    var L = smapLayers[n.name];
    if (L) {
      kv("matrix", L.K + " x " + L.N + (L.groups > 1 ? " (" + L.groups + " groups)" : ""));
      kv("tiles", L.tiles + " tiles, " + L.replicas + " replica" + (L.replicas > 1 ? "s" : ""));
      kv("bits", "weights " + L.precision.weight_bits + ", cells " + L.precision.cell_bits +
         ", inputs " + L.precision.input_bits + ", DAC " + L.precision.dac_bits + ", ADC " +
         L.precision.adc_bits + " (" + L.precision.signed + ", slices in " + L.precision.slices + ")");
      kv("arrays", Object.keys(layerArrays[n.name] || {}).join(", "));
      kv("cells", num(L.cells));
      kv("MVM latency", duration(L.latency_ns) + " (estimate, per inference)");
    }
    add(info, dl);
    var go = el("button", {type: "button", "class": "link"}, "show in the table");
    go.addEventListener("click", function () {
      var row = document.querySelector('#layer-table tbody tr[data-i="' + i + '"]');
      if (row) row.scrollIntoView({block: "center"});
    });
    add(info, go);
    if (L) {
      var sm = el("button", {type: "button", "class": "link"}, "show on the storage map");
      sm.addEventListener("click", function () {
        var m = document.getElementById("storage");
        if (m) m.scrollIntoView();
      });
      add(info, sm);
    }
  }
  if (fromTable && graphApi && D.layout) graphApi.center(D.layout.x[i], D.layout.y[i]);
  root.setAttribute("data-selected", name || "");
}

// ---- sortable table ---------------------------------------------------------------------------
function sortable(table, columns, rows, onRow) {
  var thead = el("thead"), tr = el("tr"), tbody = el("tbody");
  columns.forEach(function (c, k) {
    var th = el("th", {"class": c.num ? "num" : "", scope: "col", "data-key": c.key}, c.label);
    th.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      var ths = tr.querySelectorAll("th");
      for (var j = 0; j < ths.length; j++) ths[j].removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir);
      var sign = dir === "ascending" ? 1 : -1;
      rows.sort(function (a, b) {
        var x = c.value(a), y = c.value(b);
        var xn = x === null || x === undefined || x === "", yn = y === null || y === undefined || y === "";
        if (xn || yn) return xn === yn ? a._k - b._k : (xn ? 1 : -1);
        if (c.num) return sign * (x - y) || a._k - b._k;
        return sign * String(x).localeCompare(String(y)) || a._k - b._k;
      });
      fill();
    });
    tr.appendChild(th);
  });
  rows.forEach(function (r, k) { r._k = k; });
  function fill() {
    tbody.textContent = "";
    rows.forEach(function (r) {
      var row = el("tr", {"data-i": r.i});
      columns.forEach(function (c) {
        var v = c.show ? c.show(r) : c.value(r);
        var td = el("td", {"class": c.num ? "num" : ""});
        if (v instanceof Node) td.appendChild(v); else td.textContent = v === null || v === undefined ? "" : v;
        row.appendChild(td);
      });
      if (onRow) row.addEventListener("click", function () { onRow(r); });
      tbody.appendChild(row);
    });
  }
  add(thead, tr);
  add(table, thead, tbody);
  fill();
}

function layersTable() {
  var rows = rowsOfLayers();
  if (!rows.length) return;
  var s = section("layers", "Layers", (D.nodes ? "Every node of the compiled graph; " :
                  "The crossbar layers of the storage map; ") +
                  "click a column to sort, a row to select the layer.");
  var wrap = el("div", {"class": "tablewrap"});
  var table = el("table", {"class": "data", id: "layer-table"});
  function L(r, f) { return r.L ? f(r.L) : null; }
  sortable(table, [
    {key: "index", label: "#", num: true, value: function (r) { return r.i; }},
    {key: "name", label: "name", value: function (r) { return r.name; }},
    {key: "op", label: "op", value: function (r) { return r.op; }},
    {key: "class", label: "class", value: function (r) { return r.cls; },
     show: function (r) { return el("span", {"class": "badge", style: "background:" + (COLORS[r.cls] || "#888")}, r.cls); }},
    {key: "shape", label: "output", value: function (r) { return r.shape; }},
    {key: "kxn", label: "K x N", num: true, value: function (r) { return L(r, function (l) { return l.K * l.N; }); },
     show: function (r) { return L(r, function (l) { return l.K + " x " + l.N; }); }},
    {key: "tiles", label: "tiles", num: true, value: function (r) { return L(r, function (l) { return l.tiles; }); }},
    {key: "replicas", label: "replicas", num: true, value: function (r) { return L(r, function (l) { return l.replicas; }); }},
    {key: "arrays", label: "arrays", num: true, value: function (r) { return r.L ? Object.keys(layerArrays[r.name] || {}).length : null; }},
    {key: "bits", label: "w/cell/in/dac/adc bits", value: function (r) { return L(r, bits); }},
    {key: "cells", label: "cells", num: true, value: function (r) { return L(r, function (l) { return l.cells; }); },
     show: function (r) { return L(r, function (l) { return num(l.cells); }); }},
    {key: "latency", label: "MVM latency", num: true, value: function (r) { return L(r, function (l) { return l.latency_ns; }); },
     show: function (r) { return L(r, function (l) { return duration(l.latency_ns); }); }}
  ], rows, function (r) { select(r.i, true); });
  add(wrap, table);
  add(s, wrap);
}

// ---- storage map ------------------------------------------------------------------------------
var entryEls = [];
function highlightLayer(name) {
  entryEls.forEach(function (r) {
    var on = name && r.getAttribute("data-layer") === name;
    r.classList.toggle("hl", !!on);
    r.classList.toggle("dim", !!name && !on);
  });
}
function storage() {
  var m = D.storage_map;
  if (!m) return;
  var c = m.chip;
  var s = section("storage", "Storage map",
    m.arrays_used + " of " + m.arrays_available + " arrays used (" + m.priority +
    " priority; lower bound " + m.lower_bound + ") on " + c.tiles + " tiles x " +
    c.arrays_per_tile + " arrays of " + c.rows + "x" + c.cols + " cells. Hover a tile for its " +
    "layer, slice, replica and bits; wheel to zoom, drag to pan; click a layer below to pick it out.");
  var legend = el("div", {"class": "legend", id: "layer-legend"});
  m.layers.slice(0, 60).forEach(function (L) {
    var item = add(el("span", {"class": "item", "data-layer": L.name}),
                   el("span", {"class": "sw", style: "background:" + state.layerColor[L.name]}),
                   document.createTextNode(L.name.length > 36 ? L.name.slice(0, 35) + "\u2026" : L.name));
    item.addEventListener("click", function () {
      var cur = root.getAttribute("data-selected");
      highlightLayer(cur === L.name ? null : L.name);
      root.setAttribute("data-selected", cur === L.name ? "" : L.name);
    });
    legend.appendChild(item);
  });
  if (m.layers.length > 60) add(legend, el("span", {}, "\u2026 " + (m.layers.length - 60) + " more"));
  add(s, legend);
  var arrays = m.arrays.map(function (a) { return a.array; });
  var index = {};
  arrays.forEach(function (a, i) { index[a] = i; });
  var cell = 100, gap = 26;
  var perRow = Math.max(1, Math.min(arrays.length, Math.ceil(Math.sqrt(arrays.length * 2))));
  if (c.arrays_per_tile <= 32 && arrays.length > c.arrays_per_tile)
    perRow = Math.max(c.arrays_per_tile, Math.round(perRow / c.arrays_per_tile) * c.arrays_per_tile);
  var sx = cell / c.cols, sy = cell / c.rows;
  var view = el("div", {"class": "view"});
  var svg = sv("svg", {id: "storage-map", role: "img", "aria-label": "storage map"});
  var g = sv("g", {"class": "content"});
  var util = {};
  m.arrays.forEach(function (a) { util[a.array] = a.utilisation; });
  var bg = sv("g");
  arrays.forEach(function (a, i) {
    var x = gap + (i % perRow) * (cell + gap), y = gap + Math.floor(i / perRow) * (cell + gap);
    add(bg, sv("rect", {"class": "array", x: x, y: y, width: cell, height: cell, fill: "#f2f4f7",
                        stroke: "#98a2b3", "stroke-width": 0.6, "data-array": a}),
        sv("text", {x: x, y: y + cell + 11, "font-size": 9, fill: "#475467"},
           "a" + a + " t" + Math.floor(a / c.arrays_per_tile) + " " + Math.round(100 * util[a]) + "%"));
  });
  var eg = sv("g", {"class": "entries"});
  m.entries.forEach(function (e, k) {
    var i = index[e.array];
    if (i === undefined) return;
    var x = gap + (i % perRow) * (cell + gap) + e.col * sx;
    var y = gap + Math.floor(i / perRow) * (cell + gap) + e.row * sy;
    var r = sv("rect", {"class": "entry", x: x.toFixed(2), y: y.toFixed(2),
                        width: Math.max(0.4, e.width * sx).toFixed(2),
                        height: Math.max(0.4, e.height * sy).toFixed(2),
                        fill: state.layerColor[e.layer] || "#888",
                        "fill-opacity": e.polarity === "-" ? 0.55 : 0.95,
                        stroke: "#fff", "stroke-width": 0.25, "data-k": k, "data-layer": e.layer});
    entryEls.push(r);
    eg.appendChild(r);
  });
  eg.addEventListener("mousemove", function (ev) {
    var k = ev.target.getAttribute && ev.target.getAttribute("data-k");
    if (k === null || k === undefined) return hideTip();
    var e = m.entries[+k], L = smapLayers[e.layer];
    var pol = {"+": "positive", "-": "negative", "u": "unsigned"}[e.polarity] || e.polarity;
    showTip(ev, "layer " + e.layer + "\ntile " + e.tile + " (block " + e.block + ")" +
            "\nslice " + e.slice + " (" + pol + ", bit weight " + e.bit_weight + ")" +
            "\nreplica " + e.replica +
            (L ? "\nbits: weights " + L.precision.weight_bits + ", cells " + L.precision.cell_bits +
                 ", inputs " + L.precision.input_bits + ", ADC " + L.precision.adc_bits : "") +
            "\nmatrix rows " + e.rows[0] + ".." + (e.rows[1] - 1) + ", cols " + e.cols[0] + ".." +
            (e.cols[1] - 1) + "\narray " + e.array + " (chip tile " + e.chip_tile + "), cells " +
            e.row + ".." + (e.row + e.height - 1) + " x " + e.col + ".." + (e.col + e.width - 1));
    tip.setAttribute("data-k", k);
  });
  eg.addEventListener("mouseleave", hideTip);
  add(g, bg, eg);
  svg.appendChild(g);
  add(view, svg);
  add(s, view);
  var rowsN = Math.ceil(arrays.length / perRow);
  var cw = gap + perRow * (cell + gap), ch = gap + rowsN * (cell + gap);
  var vw = view.getBoundingClientRect().width || 900;
  svg.style.height = Math.max(260, Math.min(600, ch * Math.min(2, vw / cw) + 10)) + "px";
  panzoom(svg, g, cw, ch, {maxFit: 2});
}

// ---- charts -----------------------------------------------------------------------------------
function barChart(id, title, items, fmt, width) {
  width = width || 520;
  var wrap = el("div", {"class": "chart"});
  add(wrap, el("h3", {}, title));
  var rowH = 22, labelW = 170, h = items.length * rowH + 8;
  var svg = sv("svg", {id: id, width: width, height: h, role: "img", "aria-label": title});
  var max = Math.max.apply(null, items.map(function (t) { return t[1]; }).concat([1e-30]));
  var total = items.reduce(function (a, t) { return a + t[1]; }, 0);
  items.forEach(function (t, k) {
    var y = 4 + k * rowH, w = Math.max(1, (width - labelW - 120) * t[1] / max);
    var g = sv("g", {"class": "bar", "data-label": t[0], "data-value": t[1]});
    add(g, sv("text", {x: labelW - 6, y: y + 14, "text-anchor": "end", "font-size": 12},
              t[0].length > 26 ? t[0].slice(0, 25) + "\u2026" : t[0]),
        sv("rect", {x: labelW, y: y + 2, width: w.toFixed(1), height: rowH - 6, rx: 2,
                    fill: t[2] || "#4e79a7"}),
        sv("text", {x: labelW + w + 6, y: y + 14, "font-size": 12, fill: "#344054"},
           fmt(t[1]) + (total > 0 && t[3] !== false ? " (" + (100 * t[1] / total).toFixed(1) + " %)" : "")));
    g.addEventListener("mousemove", function (e) { showTip(e, t[0] + ": " + fmt(t[1])); });
    g.addEventListener("mouseleave", hideTip);
    svg.appendChild(g);
  });
  add(wrap, svg);
  return wrap;
}
function cost() {
  var c = D.cost;
  if (!c) return;
  var s = section("cost", "Cost", "From the machine's cost model, " + (c.per || "per inference") + ".");
  var cards = el("div", {"class": "cards"});
  [["energy", energy(c.energy_pj)], ["latency", duration(c.latency_ns)]]
    .concat((c.extra || []).map(function (kv) { return [kv[0], kv[1]]; }))
    .forEach(function (kv) {
      add(cards, add(el("div", {"class": "card"}), el("div", {"class": "k"}, kv[0]),
                     el("div", {"class": "v"}, kv[1])));
    });
  add(s, cards);
  var charts = el("div", {"class": "charts"});
  var eb = c.energy_breakdown_pj || {};
  var items = Object.keys(eb).map(function (k) { return [k, eb[k]]; })
    .filter(function (t) { return t[1] > 0; }).sort(function (a, b) { return b[1] - a[1]; });
  var cat = {adc: "#e15759", dac: "#f28e2b", array: "#e8833a", program: "#9c755f", vector: "#4e79a7",
             sram: "#9b6bb5", noc: "#59a14f", control: "#7f7f7f"};
  items.forEach(function (t) { t[2] = cat[t[0]]; });
  if (items.length) add(charts, barChart("energy-chart", "Energy by component", items, energy));
  if (D.storage_map && D.storage_map.layers.length) {
    var lay = D.storage_map.layers.map(function (L) { return [L.name, L.latency_ns, state.layerColor[L.name]]; })
      .sort(function (a, b) { return b[1] - a[1]; }).slice(0, 15);
    add(charts, barChart("latency-chart", "Estimated MVM latency by layer (slowest " + lay.length + ")",
                         lay, duration, 620));
  }
  if (c.counts) {
    var ci = Object.keys(c.counts).map(function (k) { return [k, c.counts[k], "#76b7b2", false]; });
    add(charts, barChart("count-chart", "Operations " + (c.per || ""), ci, function (v) { return num(v); }));
  }
  add(s, charts);
}

// ---- comparison with the float model ----------------------------------------------------------
function compare() {
  var c = D.compare;
  if (!c) return;
  var s = section("compare", "Comparison with the float model", c.note ||
    ("The float ONNX model on the same " + c.samples + " sample(s), run by " + c.engine + "."));
  if (c.outputs && c.outputs.length) {
    var wrap = el("div", {"class": "tablewrap"});
    var t = el("table", {"class": "data", id: "compare-table"});
    sortable(t, [
      {key: "name", label: "output", value: function (r) { return r.name; }},
      {key: "abs", label: "max abs error", num: true, value: function (r) { return r.max_abs; }, show: function (r) { return num(r.max_abs); }},
      {key: "rel", label: "max relative error", num: true, value: function (r) { return r.max_rel; }, show: function (r) { return num(r.max_rel); }},
      {key: "scale", label: "max |float|", num: true, value: function (r) { return r.scale; }, show: function (r) { return num(r.scale); }}
    ], c.outputs.map(function (o, i) { o.i = i; return o; }));
    add(wrap, t);
    add(s, wrap);
  }
  if (c.accuracy) {
    var a = c.accuracy, items = [["IMC", 100 * a.imc, "#e8833a", false]];
    if (a["float"] !== null && a["float"] !== undefined) items.push(["float model", 100 * a["float"], "#4e79a7", false]);
    add(s, add(el("div", {"class": "charts"}),
               barChart("accuracy-chart", "Top-1 accuracy on " + a.samples + " samples", items,
                        function (v) { return v.toFixed(2) + " %"; })));
  }
}

// ---- explore: the Pareto plot and the results ------------------------------------------------
function explore() {
  var X = D.explore;
  if (!X) return;
  var acc = X.metric === "accuracy";
  var pts = X.points.filter(function (p) { return p.score !== null && p.energy_pj > 0; });
  var s = section("pareto", "Pareto plot", X.points.length + " points x " + X.seeds + " seed(s): " +
    (acc ? "accuracy" : "relative output error") + " against energy per inference; the front is " +
    "joined. Hover a point for its settings.");
  var W = 860, H = 440, L = 70, R = 46, T = 16, B = 46;
  var svg = sv("svg", {id: "pareto-plot", width: W, height: H, role: "img", "aria-label": "Pareto plot"});
  if (pts.length) {
    var xs = pts.map(function (p) { return p.energy_pj; });
    var ys = pts.map(function (p) { return acc ? 100 * p.score[0] : p.score[0]; });
    if (acc && X["float"] !== null && X["float"] !== undefined) ys.push(100 * X["float"]);
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var logx = x1 / x0 > 20;
    var fx = logx ? function (v) { return Math.log10(v); } : function (v) { return v; };
    var a0 = fx(x0), a1 = fx(x1);
    if (a1 - a0 < 1e-12) { a0 -= 0.5; a1 += 0.5; }
    var pad = (a1 - a0) * 0.06; a0 -= pad; a1 += pad;
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
    var py = (y1 - y0) * 0.08; y0 -= py; y1 += py;
    if (acc) { y0 = Math.max(y0, 0); y1 = Math.min(y1, 100); }
    var sx = function (v) { return L + (fx(v) - a0) / (a1 - a0) * (W - L - R); };
    var sy = function (v) { return T + (1 - (v - y0) / (y1 - y0)) * (H - T - B); };
    var axes = sv("g", {"class": "axes", "font-size": 11, fill: "#475467"});
    add(axes, sv("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#98a2b3"}),
        sv("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#98a2b3"}));
    for (var k = 0; k <= 5; k++) {
      var yv = y0 + (y1 - y0) * k / 5, yy = sy(yv);
      add(axes, sv("line", {x1: L, y1: yy, x2: W - R, y2: yy, stroke: "#eaecf0"}),
          sv("text", {x: L - 6, y: yy + 4, "text-anchor": "end"}, acc ? yv.toFixed(1) : num(yv, 3)));
      var av = a0 + (a1 - a0) * k / 5, xv = logx ? Math.pow(10, av) : av;
      add(axes, sv("text", {x: sx(xv), y: H - B + 16, "text-anchor": "middle"}, energy(xv)));
    }
    add(axes, sv("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", fill: "#1d2330"},
                 "energy per inference" + (logx ? " (log scale)" : "")),
        sv("text", {x: 14, y: (T + H - B) / 2, "text-anchor": "middle", fill: "#1d2330",
                    transform: "rotate(-90 14 " + (T + H - B) / 2 + ")"},
           acc ? "accuracy (%)" : "relative error"));
    svg.appendChild(axes);
    if (acc && X["float"] !== null && X["float"] !== undefined) {
      var fy = sy(100 * X["float"]);
      add(svg, sv("line", {x1: L, y1: fy, x2: W - R, y2: fy, stroke: "#4e79a7", "stroke-dasharray": "5 4"}),
          sv("text", {x: W - R - 4, y: fy - 5, "text-anchor": "end", "font-size": 11, fill: "#4e79a7"},
             "float model " + (100 * X["float"]).toFixed(2) + " %"));
    }
    var front = pts.filter(function (p) { return p.pareto; })
      .sort(function (a, b) { return a.energy_pj - b.energy_pj; });
    if (front.length > 1) {
      var d = front.map(function (p, k) {
        var v = acc ? 100 * p.score[0] : p.score[0];
        return (k ? "L" : "M") + sx(p.energy_pj).toFixed(1) + "," + sy(v).toFixed(1);
      }).join(" ");
      add(svg, sv("path", {d: d, fill: "none", stroke: "#e8833a", "stroke-width": 1.5}));
    }
    var dots = sv("g", {"class": "points"});
    pts.forEach(function (p) {
      var v = acc ? 100 * p.score[0] : p.score[0];
      var circle = sv("circle", {cx: sx(p.energy_pj).toFixed(1), cy: sy(v).toFixed(1), r: p.pareto ? 6 : 4.5,
                                 fill: p.pareto ? "#e8833a" : "#98a2b3", stroke: "#fff", "stroke-width": 1,
                                 "class": "point" + (p.pareto ? " pareto" : ""), "data-i": X.points.indexOf(p)});
      dots.appendChild(circle);
    });
    dots.addEventListener("mousemove", function (e) {
      var i = e.target.getAttribute && e.target.getAttribute("data-i");
      if (i === null || i === undefined) return;
      var p = X.points[+i];
      var lines = Object.keys(p.settings).map(function (k) { return k + " = " + p.settings[k]; });
      lines.push((acc ? "accuracy " + (100 * p.score[0]).toFixed(2) + " +- " + (100 * p.score[1]).toFixed(2) + " %"
                      : "relative error " + num(p.score[0]) + " +- " + num(p.score[1])));
      lines.push("energy " + energy(p.energy_pj) + " per inference");
      lines.push("latency " + duration(p.latency_ns) + " per run, " + p.arrays + " arrays");
      if (p.pareto) lines.push("on the Pareto front");
      showTip(e, lines.join("\n"));
      tip.setAttribute("data-i", i);
    });
    dots.addEventListener("mouseleave", hideTip);
    svg.appendChild(dots);
  } else {
    add(svg, sv("text", {x: 20, y: 40}, "no point has a result"));
  }
  add(s, svg);
  var r = section("results", "Results", "One row per point (mean +- standard deviation over seeds); " +
                  "click a column to sort.");
  var wrap = el("div", {"class": "tablewrap"});
  var t = el("table", {"class": "data", id: "results-table"});
  var cols = X.params.map(function (name) {
    return {key: "p:" + name, label: name, num: true, value: function (p) { var v = p.settings[name]; return v === undefined ? null : v; },
            show: function (p) { var v = p.settings[name]; return v === undefined ? "" : String(v); }};
  });
  cols.forEach(function (c) {
    if (X.points.some(function (p) { return typeof p.settings[c.label] === "string"; })) c.num = false;
  });
  cols = cols.concat([
    {key: "score", label: acc ? "accuracy %" : "rel. error", num: true,
     value: function (p) { return p.score ? p.score[0] : null; },
     show: function (p) { return p.score ? (acc ? (100 * p.score[0]).toFixed(2) + " +- " + (100 * p.score[1]).toFixed(2)
                                                : num(p.score[0]) + " +- " + num(p.score[1]))
                                       : "failed: " + (p.errors || []).join("; ").slice(0, 80); }},
    {key: "energy", label: "energy/inference", num: true, value: function (p) { return p.energy_pj; }, show: function (p) { return energy(p.energy_pj); }},
    {key: "latency", label: "latency/run", num: true, value: function (p) { return p.latency_ns; }, show: function (p) { return duration(p.latency_ns); }},
    {key: "arrays", label: "arrays", num: true, value: function (p) { return p.arrays; }},
    {key: "pareto", label: "front", value: function (p) { return p.pareto ? "*" : ""; }}
  ]);
  sortable(t, cols, X.points.map(function (p, i) { p.i = i; return p; }));
  add(wrap, t);
  add(r, wrap);
}

try {
  summary();
  layerIndex();
  partition();
  layersTable();
  storage();
  cost();
  compare();
  explore();
  var ids = Array.prototype.map.call(document.querySelectorAll("main > section"), function (s) { return s.id; });
  root.setAttribute("data-sections", ids.join(" "));
  root.setAttribute("data-rendered", "1");
} catch (e) {
  record((e && e.stack) || e);
  throw e;
}
})();
"""
