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
])
def test_layer_cannot_exceed_the_chip(tmp_path, chip, text, msg):
    c = preset(chip)
    with pytest.raises(ConfigError, match=msg):
        resolve(c, load_precision(_file(tmp_path, text), c.cell_bits), ["L"])
