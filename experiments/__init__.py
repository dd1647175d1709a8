"""The research harness: load clients, benchmarks, sweeps and fault injection.

It needs the ``harness`` extra; any ``python -m experiments...`` command stops at once,
with the line to install it, when it is missing."""

from faas.extras import require

require("harness", "the harness (python -m experiments...)")


def setup_logging(level: int | str = "INFO") -> None:
    """The one logging setup of every harness command: ``time name: message`` on stderr,
    HTTP clients' per-request lines hidden."""
    import logging

    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
