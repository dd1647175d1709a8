"""The workload of experiments/specs/noise.toml: a task that sleeps ``ms`` milliseconds
(``SLOWDOWN`` times as long: `experiments.compare.noise` writes a copy with 1.5 for its A/B
run)."""

import time

SLOWDOWN = 1.0


def work(ms):
    time.sleep(SLOWDOWN * ms / 1000)
    return ms
