"""Helpers for the runtime tests: assemble a snippet, run it, look at the result."""

from __future__ import annotations

import dataclasses
import functools
import textwrap

import numpy as np

from isa.assembler import assemble
from runtime.config import ChipConfig, preset
from runtime.machine import Machine


def chip(name: str = "ideal", **changes) -> ChipConfig:
    """A preset, optionally with some top-level fields or ``nonideal``/``cost`` entries
    replaced (``nonideal={"read_noise": 0.1}``)."""
    cfg = preset(name)
    for table in ("nonideal", "cost"):
        if table in changes:
            changes[table] = dataclasses.replace(getattr(cfg, table), **changes[table])
    return dataclasses.replace(cfg, **changes)


def machine(src: str, config: ChipConfig | str = "ideal", **kw) -> Machine:
    cfg = preset(config) if isinstance(config, str) else config
    asm = assemble(textwrap.dedent(src), "t.s")
    m = Machine(cfg, asm.obj, source=asm, **kw)
    _TRACKED.append(m)
    return m


def run(src: str, inputs: dict | None = None, config: ChipConfig | str = "ideal", **kw):
    """Assemble and run once; return (machine, outputs)."""
    m = machine(src, config, **kw)
    return m, m.run(inputs or {})


def f32_bits(v: float) -> int:
    return int(np.float32(v).view(np.uint32))


# ---- which instructions the tests execute --------------------------------------------------

COVERED: set[str] = set()  # mnemonics claimed by @covers, filled when test modules import
_TRACKED: list[Machine] = []  # machines built by machine() during the current @covers test


def covers(*mnemonics: str):
    """Declare that a test executes ``mnemonics``; the test fails unless the machines it built
    with :func:`machine` / :func:`run` really executed each of them."""

    def decorate(fn):
        COVERED.update(mnemonics)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            _TRACKED.clear()
            fn(*args, **kwargs)
            ran = set().union(*(m.mnemonic_counts() for m in _TRACKED))
            missing = sorted(set(mnemonics) - ran)
            _TRACKED.clear()
            assert not missing, f"the test did not execute {missing}"

        return wrapper

    return decorate
