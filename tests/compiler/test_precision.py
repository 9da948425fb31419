"""Precision files: validation names file and field; rules apply in order; a layer cannot ask
for more than the chip's cells and converters provide."""

import pytest

from imcc.precision import LayerPrecision, load_precision, resolve
from isa.diagnostics import ConfigError
from runtime.config import preset


def _file(tmp_path, text):
    p = tmp_path / "prec.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,msg", [
    ("[default]\nweight_bit = 8\n", "unknown key 'weight_bit'"),
    ("[default]\nweight_bits = 1\n", "weight_bits = 1"),
    ("[default]\ncell_bits = 9\n", "cell_bits = 9: must be in 1..8"),
    ("[default]\nsigned = \"twos\"\n", "signed = 'twos'"),
    ("[[layer]]\nweight_bits = 4\n", "needs match"),
    ("[defaults]\n", "unknown table 'defaults'"),
    ("[default\n", "not valid TOML"),
])
def test_bad_files_name_the_field(tmp_path, text, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        load_precision(_file(tmp_path, text), chip_cell_bits=8)
    assert "prec.toml" in e.value.message


def test_rules_apply_in_order_and_unmatched_rules_warn(tmp_path):
    p = load_precision(_file(tmp_path, """
[default]
weight_bits = 6
[[layer]]
match = "conv*"
weight_bits = 4
[[layer]]
match = "conv2"
cell_bits = 2
[[layer]]
match = "nothing*"
weight_bits = 3
"""), chip_cell_bits=8)
    precs, warnings = resolve(preset("ideal-int8"), p, ["conv1", "conv2", "fc"])
    assert precs["conv1"] == LayerPrecision(4, 8, 8, 8, 0)
    assert precs["conv2"].weight_bits == 4 and precs["conv2"].cell_bits == 2
    assert precs["fc"].weight_bits == 6
    assert len(warnings) == 1 and "nothing*" in warnings[0]


@pytest.mark.parametrize("chip,text,msg", [
    ("rram", "[default]\ninput_bits = 0\n", "ideal DAC"),
    ("rram", "[default]\ndac_bits = 4\n", "exceeds the chip's DAC"),
    ("rram", "[default]\nadc_bits = 10\n", "8-bit ADC"),
    ("ideal-int8", "[default]\nweight_bits = 0\n", "float cells"),
    ("ideal", "[default]\nsigned = \"direct\"\n", "needs a chip whose cells hold signed values"),
    ("ideal-signed", "[default]\nsigned = \"direct\"\nweight_bits = 8\n",
     "needs weight_bits = 0 and an ideal ADC"),
    ("ideal-signed", "[default]\nsigned = \"offset\"\n", "need signed = \"differential\" or"),
])
def test_layer_cannot_exceed_the_chip(tmp_path, chip, text, msg):
    c = preset(chip)
    with pytest.raises(ConfigError, match=msg):
        resolve(c, load_precision(_file(tmp_path, text), c.cell_bits), ["L"])


def test_percentile_weight_scale_clips_outliers():
    import numpy as np

    from imcc.quant import quantize

    rng = np.random.default_rng(0)
    w = rng.standard_normal((200, 3)).astype(np.float32)
    w[0, 0] = 40.0  # one outlier in column 0
    q = quantize(w, 8, percentile=99.0)
    r = np.percentile(np.abs(w), 99.0, axis=0)  # independent: numpy on the raw weights
    assert np.allclose(q.scale, r / 127, rtol=1e-6)
    assert q.values[0, 0] == 127  # the outlier is clipped to the largest level
    assert np.abs(q.values).max() <= 127
    full = quantize(w, 8)
    assert full.scale[0] > 10 * q.scale[0]  # max-abs spends the levels on the outlier


def test_programmatic_precision_gets_file_checks():
    from imcc.precision import precision_from_dict

    ok = precision_from_dict({"default": {"weight_bits": 6, "weight_scale": "percentile",
                                          "weight_percentile": 99.5},
                              "layer": [{"match": "fc*", "adc_bits": 6}]}, "sweep")
    assert dict(ok.default)["weight_percentile"] == 99.5 and ok.rules[0][0] == "fc*"
    with pytest.raises(ConfigError, match="sweep: \\[\\[layer\\]\\] #1: adc_bits = 40"):
        precision_from_dict({"layer": [{"match": "x", "adc_bits": 40}]}, "sweep")
    with pytest.raises(ConfigError, match="weight_percentile = 20"):
        precision_from_dict({"default": {"weight_percentile": 20}}, "sweep")


def test_signed_float_cells_hold_the_weights_in_one_block():
    """The direct scheme: one block per weight column holding W itself (negative values
    included), recombined with coefficient 1; the differential float path needs two."""
    import numpy as np

    from imcc.quant import SliceSpec, coefficients, quantize, slice_blocks

    W = np.array([[0.5, -1.25], [-0.0, 3.0]], np.float32)
    q = quantize(W, 0)
    direct, diff = SliceSpec(0, 11, "direct"), SliceSpec(0, 11, "differential")
    assert direct.blocks == 1 and diff.blocks == 2
    b = slice_blocks(q.values, direct)
    assert b.shape == (1, 2, 2) and np.array_equal(b[0], W) and coefficients(direct).tolist() == [1]
    d = slice_blocks(q.values, diff)
    assert (d >= 0).all() and np.array_equal(
        np.tensordot(coefficients(diff).astype(np.float32), d, axes=1), W)
    precs, _ = resolve(preset("ideal-signed"), None, ["L"])
    assert precs["L"].signed == "direct" and precs["L"].weight_bits == 0


@pytest.mark.parametrize("w_bits,cell_bits,scheme", [
    (8, 2, "differential"), (8, 2, "offset"), (7, 3, "differential"), (4, 4, "offset"),
    (0, 11, "differential"), (0, 11, "direct")])
def test_slice_blocks_recombine_and_pick(w_bits, cell_bits, scheme):
    """Every block holds cell levels (0..max_level) and ``sum_b coefficient_b * block_b``
    gives back the weights (plus the offset); a picked subset of blocks, in any order, is the
    same as those blocks of the full slicing (tiles slice only the blocks they hold)."""
    import numpy as np

    from imcc.quant import SliceSpec, coefficients, slice_blocks

    spec = SliceSpec(w_bits, cell_bits, scheme)
    rng = np.random.default_rng(w_bits * 10 + cell_bits)
    if spec.is_float:
        v = rng.standard_normal((5, 7)).astype(np.float32)
        want = v
    else:
        lim = 1 << (w_bits - 1)
        v = rng.integers(-lim + (scheme == "differential"), lim, (5, 7), dtype=np.int32)
        want = v + (lim if scheme == "offset" else 0)
    full = slice_blocks(v, spec)
    assert full.shape == (spec.blocks, 5, 7)
    if not spec.is_float:
        assert full.min() >= 0 and full.max() <= spec.max_level
    got = np.tensordot(coefficients(spec).astype(np.float64), full.astype(np.float64), axes=1)
    assert np.array_equal(got, want.astype(np.float64))
    picks = tuple(rng.permutation(spec.blocks)[: max(1, spec.blocks - 1)].tolist())
    assert np.array_equal(slice_blocks(v, spec, picks), full[list(picks)])
