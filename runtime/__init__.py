"""The imcc reference machine: chip configuration, crossbar model, interpreter, cost model.

This package imports only :mod:`isa` from the project (docs/machine.md is its contract).
"""
