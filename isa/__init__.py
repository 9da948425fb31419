"""The imcc instruction set: table, encoder/decoder, assembler, disassembler, object files.

This package imports nothing from ``runtime`` or ``imcc``.
"""
