"""The research harness: load clients, benchmarks, sweeps and fault injection."""
