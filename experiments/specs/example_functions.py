"""A user's workload for experiments/specs/example.toml: any function of a Python file."""

import hashlib


def digest(rounds, size=1024):
    """SHA-256 of a ``size``-byte block, chained ``rounds`` times."""
    block = b"x" * size
    for _ in range(rounds):
        block = hashlib.sha256(block).digest() * (size // 32)
    return block[:8].hex()
