"""faas: a small Function-as-a-Service platform built as a research harness."""

__version__ = "0.1.0"
