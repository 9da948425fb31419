"""What keeps a decode step cheap on the machine: a run returns only the outputs asked for."""

from __future__ import annotations

import numpy as np
import pytest

from isa.assembler import assemble
from isa.diagnostics import InputError
from runtime.config import preset
from runtime.machine import Machine

_SRC = '''
.input "x", x, [2]
.output "y", y, [2]
.output "z", z, [2]
    cfgi n5, 2
    cfgi sd5, 1
    cfgi sa5, 1
    cfgi sb5, 1
    li x5, y
    li x6, x
    vadd x5, x6, x6
    li x5, z
    vmul x5, x6, x6
    halt
.data
x:  .zero 8
y:  .zero 8
z:  .zero 8
'''


def test_a_run_returns_the_outputs_it_names():
    m = Machine(preset("ideal"), assemble(_SRC).obj)
    x = np.array([1.5, -2.0], np.float32)
    everything = m.run({"x": x})
    assert sorted(everything) == ["y", "z"]
    only = m.run({"x": x}, outputs=("z",))
    assert list(only) == ["z"]
    np.testing.assert_array_equal(only["z"], x * x)
    np.testing.assert_array_equal(m.run({"x": x}, outputs="y")["y"], x + x)
    with pytest.raises(InputError, match="output 'w' is not an output of the program"):
        m.run({"x": x}, outputs=("w",))
