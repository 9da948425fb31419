"""Runaway programs: a run is bounded in work (vector elements, array cells) and in time, as
well as in instructions, each with one clear trap."""

import time

import pytest
from click.testing import CliRunner

import imcc
from imcc.cli import cli
from isa.diagnostics import ConfigError, MachineTrap
from tests.runtime.helpers import run

# A loop that never ends, over a 4096-element operand: few instructions, much work.
LOOP = """
    li x1, buf
    li x2, 4096
    vsetl x2
loop:
    vrelu x1, x1
    j loop
.data
buf: .zero 4 * 4096
"""


def test_work_limit_stops_a_vector_loop_long_before_the_step_limit():
    with pytest.raises(MachineTrap, match=r"<loop> \(vrelu x1, x1\): work limit of 100000 "
                                          r"elements and cells per run reached") as e:
        run(LOOP, max_work=100_000)
    assert "--max-work" in e.value.hint


def test_mvm_cells_and_programming_count_as_work():
    src = """
        cfgi xbh, 2
        cfgi xbw, 2
        li x5, W
        wprog x5
        li x6, x
        li x7, y
    again:
        mvm x7, x6
        j again
    .data
    x:  .float 1, 2
    y:  .zero 8
    .weights
    W:  .u8 1, 2, 3, 4
    """
    # wprog: 4 cells; each mvm (vl 1, one input cycle, unquantized): 2 x 2 cells.
    with pytest.raises(MachineTrap, match="work limit of 42"):
        run(src, max_work=42)


def test_time_limit_stops_a_scalar_loop():
    start = time.monotonic()
    with pytest.raises(MachineTrap, match=r"time limit of 0.2 s reached") as e:
        run("loop:\n    addi x1, x1, 1\n    j loop\n", max_seconds=0.2, max_steps=10**12)
    assert "--max-seconds" in e.value.hint
    assert time.monotonic() - start < 5


def test_program_run_and_cli_take_the_limits(tmp_path):
    path = tmp_path / "loop.s"
    path.write_text(LOOP)
    p = imcc.load(path, chip="ideal")
    with pytest.raises(MachineTrap, match="time limit of 0.3 s"):
        p.run({}, max_seconds=0.3)
    with pytest.raises(MachineTrap, match="work limit of 5000 "):
        p.run({}, max_work=5000)
    with pytest.raises(ConfigError, match="max_seconds"):
        p.run({}, max_seconds=0)
    r = CliRunner().invoke(cli, ["run", str(path), "--chip", "ideal", "--max-seconds", "0.3"])
    assert r.exit_code == 2 and "time limit of 0.3 s reached" in r.output
    r = CliRunner().invoke(cli, ["run", str(path), "--chip", "ideal", "--max-work", "9000"])
    assert r.exit_code == 2 and "work limit of 9000 elements" in r.output
