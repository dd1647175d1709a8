"""A short headless Locust run against a real stack."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.sweep.locust import run_loadtest

pytestmark = pytest.mark.integration


def test_short_headless_locust_run(tmp_path: Path) -> None:
    summary = run_loadtest(
        "push", users=4, spawn_rate=4, duration_s=6, workers=1, procs=2, out=tmp_path
    )
    stats = pd.read_csv(tmp_path / "locust_stats.csv")
    assert summary.requests > 0 and summary.failures == 0, stats.to_string()
    assert "TASK" in set(stats["Type"])
    assert {"noop", "burst"} <= set(stats[stats["Type"] == "TASK"]["Name"])
    assert summary.task_count > 0 and summary.task_failures == 0
    assert summary.task_p50_ms > 0
    assert (tmp_path / "latency_over_time.png").stat().st_size > 10_000
    assert (tmp_path / "summary.json").exists()
