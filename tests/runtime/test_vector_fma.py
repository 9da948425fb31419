"""``vfma`` whose destination shares memory with its sources: the product is computed into the
destination only where that cannot change what is read (runtime/ops/vector.py, _fma)."""

import numpy as np
import pytest

from tests.runtime.test_vector_ops import (BASES, dense_strides, execute, f32, indices,
                                           memory)


@pytest.mark.parametrize("dest", ["a", "b", "c", "c+1", "c-3", "apart"])
def test_vfma_reads_every_source_before_writing(dest):
    rng = np.random.default_rng(len(dest) * 7 + ord(dest[0]))
    n = (2, 3, 1, 4, 1, 5)
    strides = dense_strides(rng, n)
    agu = {"n": n, "a": strides, "b": strides, "c": strides, "d": strides}
    agu["b"] = (0, 0, 0, 1, 0, 0) if dest != "b" else strides  # a broadcast scale
    base = {"a": BASES["a"], "b": BASES["b"], "c": BASES["c"], "c+1": BASES["c"] + 1,
            "c-3": BASES["c"] - 3, "apart": BASES["d"]}[dest]
    mem = memory(rng)
    a, b, c = (indices(BASES[op], n, agu[op]) for op in "abc")
    didx = indices(base, n, strides)
    expect = mem.copy()
    for idx in np.ndindex(*n):  # every source read from the memory before the instruction
        expect[didx[idx]] = f32(f32(float(mem[a[idx]]) * float(mem[b[idx]])) + float(mem[c[idx]]))
    got = execute("vfma x20, x21, x22, x23", agu, mem, regs={"x20": f"m + {4 * base}"})
    np.testing.assert_array_equal(got, expect)
