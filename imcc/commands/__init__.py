"""CLI commands, one module per command group; :mod:`imcc.cli` registers them."""
