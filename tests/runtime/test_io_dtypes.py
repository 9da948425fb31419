"""Integer results out of the machine: raw-bits outputs read the words the scalar unit stored;
integer outputs read float32 values and trap on anything but whole numbers within 2**24."""

import numpy as np
import pytest

from isa.diagnostics import InputError, MachineTrap
from tests.runtime.helpers import f32_bits, machine, run

STORED = [-5, 7, -(2**31), 2**31 - 1]


def _store(dtype: str) -> str:
    lines = "".join(f"    li x2, {v}\n    sw x2, {4 * k}(x1)\n" for k, v in enumerate(STORED))
    return f'.output "y", y, [{len(STORED)}], {dtype}\n    li x1, y\n{lines}    halt\n' \
           f".data\ny: .zero {4 * len(STORED)}\n"


def test_raw_bits_outputs_read_the_stored_words():
    _, out = run(_store("i32bits"))
    assert out["y"].dtype == np.int32 and out["y"].tolist() == STORED
    _, out = run(_store("u32bits"))
    assert out["y"].dtype == np.uint32
    assert out["y"].tolist() == np.array(STORED, np.int64).astype(np.uint32).tolist()


def test_integer_output_of_stored_integers_is_a_trap_not_a_wrong_number():
    with pytest.raises(MachineTrap, match=r"output 'y' \(int32\) holds nan, which is no") as e:
        run(_store("int32"))
    assert "i32bits" in e.value.hint
    src = '.output "y", y, [1], int32\n    li x1, y\n    li x2, 5\n    sw x2, 0(x1)\n' \
          "    halt\n.data\ny: .zero 4\n"
    with pytest.raises(MachineTrap, match="not a whole number") as e:
        run(src)
    assert "stored with sw" in e.value.hint


@pytest.mark.parametrize("value,match", [(2.5, "holds 2.5, not a whole number"),
                                         (float("nan"), "holds nan, which is no integer"),
                                         (float("inf"), "holds inf, which is no integer"),
                                         (2.0**25, "beyond the whole numbers")])
def test_integer_output_traps_on_a_value_that_is_no_whole_number(value, match):
    src = f'.output "y", y, [2], int64\n    vsetli 2\n    li x1, y\n    li x2, ' \
          f"{f32_bits(value)}\n    vfill x1, x2\n    halt\n.data\ny: .zero 8\n"
    with pytest.raises(MachineTrap, match=match):
        run(src)


def test_integer_output_of_float32_whole_numbers_converts():
    # What the compiler emits: whole numbers as float32 values (here -3.0), exact.
    src = f'.output "y", y, [2], int32\n    vsetli 2\n    li x1, y\n    li x2, ' \
          f"{f32_bits(-3.0)}\n    vfill x1, x2\n    halt\n.data\ny: .zero 8\n"
    _, out = run(src)
    assert out["y"].dtype == np.int32 and out["y"].tolist() == [-3, -3]


def test_raw_bits_input_is_written_word_for_word():
    src = '.input "a", a, [2], i32bits\n.output "y", y, [2], i32bits\n    li x1, a\n' \
          "    li x3, y\n    lw x2, 0(x1)\n    addi x2, x2, 1\n    sw x2, 0(x3)\n" \
          "    lw x2, 4(x1)\n    sw x2, 4(x3)\n    halt\n.data\na: .zero 8\ny: .zero 8\n"
    _, out = run(src, {"a": np.array([-(2**31), 123456789])})
    assert out["y"].tolist() == [-(2**31) + 1, 123456789]
    with pytest.raises(InputError, match=r"input 'a' \(i32bits\) must hold whole numbers"):
        run(src, {"a": np.array([2**31, 0])})


def test_integer_output_out_of_its_range_is_a_trap():
    src = f'.output "y", y, [1], uint8\n    vsetli 1\n    li x1, y\n    li x2, ' \
          f"{f32_bits(-1.0)}\n    vfill x1, x2\n    halt\n.data\ny: .zero 4\n"
    with pytest.raises(MachineTrap, match=r"holds -1, outside its range 0 \.\. 255"):
        run(src)


def test_a_run_for_its_cost_only_converts_no_output():
    # imcc compile's estimate runs on zero inputs, where an integer 0 / 0 leaves NaN.
    m = machine('.output "y", y, [1], int32\n    vsetli 1\n    li x1, y\n    li x2, '
                f"{f32_bits(float('nan'))}\n    vfill x1, x2\n    halt\n.data\ny: .zero 4\n")
    assert m.run({}, outputs=False) == {}
    with pytest.raises(MachineTrap, match="holds nan"):
        m.run({})
