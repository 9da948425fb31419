"""The HTML report's data, without a browser: the page holds exactly the data it was given (read
back from its JSON element), names from a model cannot end the script element, the graph layout
puts every node below its inputs, the node summary agrees with the compile report's partition
and with the ONNX graph, and the commands write the page (or refuse --html where it has no
meaning)."""

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import imcc
from imcc.cli import cli
from imcc.report import layout, render

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "samples" / "digits"
DATA = DIGITS / "test.npz"


def page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="imcc-data">(.*?)</script>', page, re.DOTALL)
    return json.loads(m.group(1))


def test_the_page_carries_the_data_and_no_name_escapes_its_script():
    hostile = '</script><script>alert(1)</script><!-- \u2028 & "x"'
    data = {"kind": "compile", "title": hostile, "summary": [["k", hostile]],
            "nodes": [{"name": hostile, "op": "Conv", "class": "imc", "preds": [],
                       "model_inputs": [hostile], "model_outputs": [], "shape": [1, 2],
                       "dtype": "float32"}], "cost": {"energy_pj": float("nan")}}
    page = render(data)
    assert page.count("</script>") == 2  # the data element's and the script's own
    assert "<script>alert" not in page and "<!--" not in page
    back = page_data(page)
    assert back["title"] == hostile and back["nodes"][0]["name"] == hostile
    assert back["cost"]["energy_pj"] is None  # NaN is not JSON
    assert back["layout"] == {"x": [75.0], "y": [28.0], "width": 150.0, "height": 56.0}
    assert "&lt;/script&gt;&lt;script&gt;" in page.split("<title>")[1].split("</title>")[0]


def _chain_and_diamond():
    # 0 -> 1 -> 3, 0 -> 2 -> 3, 3 -> 4; 5 alone
    preds = [[], [0], [0], [1, 2], [3], []]
    return [{"name": f"n{i}", "preds": p} for i, p in enumerate(preds)]


def test_layout_puts_each_node_below_its_inputs_and_none_on_another():
    nodes = _chain_and_diamond()
    lay = layout(nodes)
    for i, n in enumerate(nodes):
        for p in n["preds"]:
            assert lay["y"][p] < lay["y"][i]
    spots = set(zip(lay["x"], lay["y"]))
    assert len(spots) == len(nodes)
    assert lay["y"][3] == lay["y"][1] + 56 and lay["y"][4] == lay["y"][3] + 56
    assert layout(nodes) == lay  # deterministic
    assert max(lay["x"]) < lay["width"] and max(lay["y"]) < lay["height"]


def test_node_summary_matches_the_onnx_graph_and_the_partition():
    prog = imcc.compile(str(DIGITS / "cnn.onnx"), "ideal-int8")
    nodes = prog._nodes
    counts = {}
    for n in nodes:
        counts[n["class"]] = counts.get(n["class"], 0) + 1
    assert counts == prog.report["partition"]
    model = onnx.load(str(DIGITS / "cnn.onnx"))
    # the compiled graph is the model with its BatchNormalizations folded into the convolutions
    # and Flatten in its normal form, a Reshape (docs/frontend.md)
    ops = [{"Flatten": "Reshape"}.get(n.op_type, n.op_type) for n in model.graph.node
           if n.op_type != "BatchNormalization"]
    assert [n["op"] for n in nodes] == ops
    imc = {n["name"] for n in nodes if n["class"] == "imc"}
    assert imc == {layer["name"] for layer in prog.storage_map["layers"]}
    assert nodes[0]["model_inputs"] == ["input"] and nodes[-1]["model_outputs"] == ["logits"]
    assert all(p < i for i, n in enumerate(nodes) for p in n["preds"])


def test_dynamic_matmul_is_its_own_class():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 8],
                           np.random.default_rng(0).standard_normal(64).astype(np.float32))
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="proj"),
                           helper.make_node("Transpose", ["h"], ["ht"], perm=[0, 2, 1],
                                            name="t"),
                           helper.make_node("MatMul", ["h", "ht"], ["y"], name="scores")],
                          "g", [x], [y], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    prog = imcc.compile(model, "ideal")
    classes = {n["name"]: n["class"] for n in prog._nodes}
    assert classes == {"proj": "imc", "t": "digital", "scores": "dynamic"}
    by = {n["name"]: n for n in prog._nodes}
    assert by["scores"]["preds"] == [0, 1]


def test_commands_write_the_page(tmp_path):
    inv = CliRunner().invoke
    r = inv(cli, ["compile", str(DIGITS / "cnn.onnx"), "--chip", "ideal-int8", "--no-estimate",
                  "-o", str(tmp_path / "c.imo"), "--html", str(tmp_path / "c.html")])
    assert r.exit_code == 0, r.output
    d = page_data((tmp_path / "c.html").read_text())
    assert d["kind"] == "compile" and "cost" not in d  # --no-estimate: no cost model run
    assert len(d["nodes"]) == 8 and d["storage_map"]["schema"] == "imcc.storage-map/1"
    # compared on random inputs (no --calib): ideal-int8 is close to the float model
    (row,) = d["compare"]["outputs"]
    assert row["name"] == "logits" and 0 < row["max_rel"] < 0.05
    np.save(tmp_path / "x.npy", np.load(DATA)["x_img"][:20])
    np.save(tmp_path / "y.npy", np.load(DATA)["y"][:20])
    r = inv(cli, ["run", str(tmp_path / "c.imo"), "--input", str(tmp_path / "x.npy"),
                  "--labels", str(tmp_path / "y.npy"), "--html", str(tmp_path / "r.html"),
                  "--output", str(tmp_path / "o.npz")])
    assert r.exit_code == 0, r.output
    d = page_data((tmp_path / "r.html").read_text())
    out = np.load(tmp_path / "o.npz")["logits"]
    want = float((out.argmax(1) == np.load(DATA)["y"][:20]).mean())
    assert d["compare"]["accuracy"] == {"imc": want, "samples": 20, "float": None}
    assert d["nodes"] is None and any("--compare" in w for w in d["warnings"])
    assert d["cost"]["energy_pj"] == pytest.approx(sum(d["cost"]["energy_breakdown_pj"].values()))
    r = inv(cli, ["explore", str(DIGITS / "linear.onnx"), "--data", str(DATA), "--input-key",
                  "x", "--auto", "--target-accuracy-drop", "1", "--html", str(tmp_path / "a.html")])
    assert r.exit_code == 2 and "--html draws the Pareto plot of a sweep" in r.output
