"""Chip files: presets, validation messages naming the file and field, the configuration hash."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from isa.assembler import assemble
from isa.diagnostics import ConfigError
from runtime.config import ChipConfig, config_from_dict, load_config, preset, preset_names
from runtime.machine import Machine

ROOT = Path(__file__).resolve().parents[2]


def test_presets_exist_with_eight_arrays_per_tile():
    assert {"ideal", "ideal-int8", "rram", "pcm"} <= set(preset_names())
    for name in preset_names():
        cfg = preset(name)
        assert cfg.name == name
        assert cfg.arrays_per_tile == 8  # samples/asm/two_tiles.s relies on it
        assert (cfg.rows, cfg.cols) == (256, 256)
        assert cfg.total_arrays == cfg.tiles * 8


def test_ideal_presets_are_lossless_and_realistic_ones_are_not():
    ideal, int8 = preset("ideal"), preset("ideal-int8")
    assert ideal.weight_bits == 0 and ideal.input_bits == 0 and ideal.adc_bits == 0
    assert (int8.weight_bits, int8.cell_bits, int8.input_bits, int8.adc_bits) == (8, 8, 8, 0)
    for cfg in (ideal, int8):
        assert dataclasses.astuple(cfg.nonideal)[1:] == (0.0,) * 6 + (1.0,)
    rram, pcm = preset("rram"), preset("pcm")
    assert rram.adc_bits == 8 and rram.cell_bits == 2
    assert rram.nonideal.program_noise > 0 and rram.nonideal.stuck_off > 0
    assert pcm.nonideal.drift_nu > 0


def test_sample_configs_are_the_shipped_presets():
    shipped = ROOT / "runtime" / "presets"
    samples = ROOT / "samples" / "configs"
    names = sorted(p.name for p in shipped.glob("*.toml"))
    assert names == sorted(p.name for p in samples.glob("*.toml"))
    for n in names:
        assert (shipped / n).read_bytes() == (samples / n).read_bytes(), n


def _write(tmp_path, text, name="chip.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bad_value_names_file_and_dotted_field(tmp_path):
    p = _write(tmp_path, 'name = "x"\n[nonideal]\nread_noise = -1\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.message == f"{p}: nonideal.read_noise = -1: must be >= 0"


@pytest.mark.parametrize(
    "body, message",
    [
        ('name = "x"\ntiles = 0\n', "tiles = 0: must be >= 1"),
        ('name = "x"\ncell_bits = 12\n', "cell_bits = 12: must be <= 11"),
        ('name = "x"\nrows = "many"\n', "rows = 'many': must be an integer"),
        ('name = "x"\nrows = 2.5\n', "rows = 2.5: must be an integer"),
        ('name = "x"\nsigned = "twos"\n', "signed = 'twos': must be one of differential, offset"),
        ('name = "x"\n[cost]\nadc_pj = -2.5\n', "cost.adc_pj = -2.5: must be >= 0"),
        ('name = "x"\n[nonideal]\nstuck_on = 0.7\nstuck_off = 0.7\n',
         "nonideal.stuck_on + nonideal.stuck_off = 1.4: must be <= 1"),
        ('name = "x"\n[nonideal]\ndrift_t0 = 0\n', "nonideal.drift_t0 = 0: must be > 0"),
        ('name = "x"\nweight_bits = 1\n', "weight_bits = 1: the differential scheme"),
        ('name = "x"\nsigned = "direct"\n', 'signed = "direct" (cells holding signed float '
         'values) needs float cells and an ideal ADC (weight_bits = 0, adc_bits = 0); this chip '
         'has weight_bits = 8, adc_bits = 0'),
        ('name = "x"\nsigned = "direct"\nweight_bits = 0\nadc_bits = 8\n',
         'signed = "direct" (cells holding signed float values) needs float cells and an ideal '
         'ADC (weight_bits = 0, adc_bits = 0); this chip has weight_bits = 0, adc_bits = 8'),
        ('tiles = 4\n', "name: missing"),
        ('name = ""\n', "name = '': must be a non-empty string"),
        ('name = "x"\nnonideal = 3\n', "nonideal: must be a table"),
        ('name = "x"\ntiles = [1, 2]\n', "tiles: expected a single value, got a list"),
    ],
)
def test_validation_messages(tmp_path, body, message):
    p = _write(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.message.startswith(f"{p}: {message}")


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path):
    p = _write(tmp_path, 'name = "x"\n[nonideal]\nread_nosie = 0.1\n')
    with pytest.raises(ConfigError, match=r"nonideal\.read_nosie: unknown key "
                                          r"\(did you mean 'nonideal\.read_noise'\?\)"):
        load_config(p)
    p = _write(tmp_path, 'name = "x"\n[chip]\ntiles = 2\n')
    with pytest.raises(ConfigError, match="chip: unknown key"):
        load_config(p)


def test_syntax_errors_and_formats(tmp_path):
    with pytest.raises(ConfigError, match=r"chip\.toml: not valid TOML"):
        load_config(_write(tmp_path, 'name = "x\n'))
    with pytest.raises(ConfigError, match=r"chip\.json: not valid JSON"):
        load_config(_write(tmp_path, '{"name": ', "chip.json"))
    with pytest.raises(ConfigError, match="unknown chip file format '.yaml'"):
        load_config(_write(tmp_path, "name: x", "chip.yaml"))
    with pytest.raises(ConfigError, match="cannot read chip file"):
        load_config(tmp_path / "missing.toml")


def test_json_and_toml_give_the_same_chip(tmp_path):
    cfg = preset("rram")
    p = _write(tmp_path, json.dumps(cfg.to_dict()), "rram.json")
    loaded = load_config(p)
    assert loaded == cfg and loaded.hash == cfg.hash
    assert load_config(ROOT / "samples" / "configs" / "rram.toml") == cfg


def test_hash_identifies_the_chip():
    base = ChipConfig(name="x")
    assert re.fullmatch("[0-9a-f]{16}", base.hash)
    assert ChipConfig(name="x").hash == base.hash
    assert dataclasses.replace(base, description="other words").hash == base.hash
    changed = [
        dataclasses.replace(base, name="y"),
        dataclasses.replace(base, adc_bits=7),
        dataclasses.replace(base, nonideal=dataclasses.replace(base.nonideal, seed=1)),
        dataclasses.replace(base, cost=dataclasses.replace(base.cost, adc_pj=2.0)),
    ]
    assert len({c.hash for c in changed} | {base.hash}) == 5


def test_integers_and_floats_are_the_same_setting(tmp_path):
    a = load_config(_write(tmp_path, 'name = "x"\n[nonideal]\nread_noise = 0\n', "a.toml"))
    b = load_config(_write(tmp_path, 'name = "x"\n[nonideal]\nread_noise = 0.0\n', "b.toml"))
    assert a.hash == b.hash == ChipConfig(name="x").hash


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown chip preset 'rrma'") as e:
        preset("rrma")
    assert "ideal" in e.value.message and e.value.hint == "did you mean 'rram'?"


def test_object_for_another_chip_is_refused():
    rram = preset("rram")
    obj = assemble(f'.chip "rram", "{rram.program_hash}"\n    halt\n').obj
    Machine(rram, obj)  # the right chip runs
    with pytest.raises(ConfigError) as e:
        Machine(preset("ideal"), obj)
    msg = e.value.message
    assert f"chip 'rram' (program hash {rram.program_hash})" in msg
    assert f"chip 'ideal' has program hash {preset('ideal').program_hash}" in msg
    stale = assemble('.chip "rram", "0123456789abcdef"\n    halt\n').obj
    with pytest.raises(ConfigError, match="program hash 0123456789abcdef"):
        Machine(rram, stale)


def test_noise_and_costs_do_not_change_the_program_hash():
    rram = preset("rram").to_dict()
    other = dict(rram, name="rram-worn", description="after a year of use",
                 nonideal=dict(rram["nonideal"], program_noise=0.05, stuck_on=0.01),
                 cost=dict(rram["cost"], adc_pj=3.0))
    worn = config_from_dict(other, "t")
    assert worn.hash != preset("rram").hash
    assert worn.program_hash == preset("rram").program_hash
    obj = assemble(f'.chip "rram", "{preset("rram").program_hash}"\n    halt\n').obj
    Machine(worn, obj)  # same architecture: runs
    for field, value in (("adc_bits", 6), ("rows", 128), ("signed", "offset")):
        assert config_from_dict(dict(rram, **{field: value}), "t").program_hash != \
            preset("rram").program_hash, field


def test_every_chip_key_is_documented():
    doc = (ROOT / "docs" / "runtime.md").read_text()
    for cls in (ChipConfig, type(preset("ideal").nonideal), type(preset("ideal").cost)):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc or f"`[{f.name}]`" in doc, \
                f"docs/runtime.md does not describe '{f.name}'"
