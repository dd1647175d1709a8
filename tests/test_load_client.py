"""experiments/load/client.py: Poisson arrival times (the asked rate, exponential gaps); a run
measures with the client's heap frozen."""

from __future__ import annotations

import asyncio
import gc

import numpy as np
from scipy import stats

from experiments.load.client import _measured, arrivals, frozen_heap


def test_arrivals_offer_exactly_the_rate_with_exponential_gaps() -> None:
    offsets = np.array(arrivals(20_000, rate=400.0, seed=7))
    assert np.all(np.diff(offsets) >= 0) and offsets[0] >= 0
    assert offsets[-1] <= 20_000 / 400.0
    assert abs(len(offsets) / offsets[-1] - 400.0) < 4  # 1 %
    gaps = np.diff(offsets)
    assert abs(gaps.mean() * 400.0 - 1) < 0.02
    # exponential with mean 1/rate: Kolmogorov-Smirnov does not reject it
    assert stats.kstest(gaps, "expon", args=(0, 1 / 400.0)).pvalue > 0.01
    # and a uniform grid would be rejected (the test can tell them apart)
    assert stats.kstest(np.full(1000, 1 / 400.0), "expon", args=(0, 1 / 400.0)).pvalue < 1e-6


def test_arrivals_are_reproducible_from_the_seed() -> None:
    assert arrivals(50, 10.0, seed=1) == arrivals(50, 10.0, seed=1)
    assert arrivals(50, 10.0, seed=1) != arrivals(50, 10.0, seed=2)


def test_a_run_hides_the_clients_heap_from_the_collector_and_gives_it_back() -> None:
    gc.unfreeze()
    kept = [[i] for i in range(5000)]  # alive before the run: rows of earlier runs
    with frozen_heap():
        assert gc.get_freeze_count() >= len(kept)
        during = [[i] for i in range(100)]  # made during the run: still collected
        assert gc.get_freeze_count() < len(kept) + 1_000_000
    assert gc.get_freeze_count() == 0
    assert kept[4999] == [4999] and during[99] == [99]

    seen: list[int] = []

    @_measured
    async def run() -> str:
        seen.append(gc.get_freeze_count())
        return "rows"

    assert asyncio.run(run()) == "rows"
    assert seen[0] >= len(kept) and gc.get_freeze_count() == 0
