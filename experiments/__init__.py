"""The research harness: load clients, benchmarks, sweeps and fault injection.

It needs the ``harness`` extra; any ``python -m experiments...`` command stops at once,
with the line to install it, when it is missing."""

from faas.extras import require

require("harness", "the harness (python -m experiments...)")
