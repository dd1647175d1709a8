"""Metric computations on hand-made task rows with known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments.analysis.metrics import per_config, per_run, per_task


def _task(**kw: float | str) -> dict:
    base = {
        "study": "s",
        "mode": "push",
        "workers": 1,
        "procs": 2,
        "processes": 2,
        "workload": "noop",
        "arg": 0.0,
        "hosts": 0,
        "link": "unshaped",
        "repeat": 0,
        "status": "COMPLETED",
        "submitted": 0.0,
        "dispatched": 0.0,
        "started": 0.0,
        "finished": 0.0,
        "stored": 0.0,
        "observed": 0.0,
    }
    return {**base, **kw}


def test_latency_overhead_and_parts() -> None:
    t = per_task(
        pd.DataFrame(
            [
                _task(
                    submitted=10.0,
                    dispatched=10.1,
                    started=10.3,
                    finished=11.3,
                    stored=11.4,
                    observed=11.5,
                )
            ]
        )
    )
    row = t.iloc[0]
    assert row["latency"] == pytest.approx(1.5)
    assert row["execution"] == pytest.approx(1.0)
    assert row["overhead"] == pytest.approx(0.5)
    parts = [row[p] for p in ("queue", "dispatch", "execution", "result", "observe")]
    assert parts == pytest.approx([0.1, 0.2, 1.0, 0.1, 0.1])
    assert sum(parts) == pytest.approx(row["latency"])


def test_throughput_is_tasks_over_first_submit_to_last_observe() -> None:
    rows = [
        _task(submitted=100.0 + i * 0.1, stored=101.0 + i * 0.1, observed=101.5 + i * 0.1)
        for i in range(10)
    ]  # first submitted 100.0, last observed 102.4
    run = per_run(pd.DataFrame(rows)).iloc[0]
    assert run["tasks"] == 10 and run["completed"] == 10
    assert run["throughput"] == pytest.approx(10 / 2.4)
    assert run["makespan"] == pytest.approx(101.9 - 100.0)


def test_weak_scaling_efficiency_is_ideal_over_makespan() -> None:
    # 4 processes x 2 tasks of 0.5 s: ideal makespan 1.0 s; measured 1.25 s -> 80 %
    rows = [
        _task(
            workload="sleep",
            arg=0.5,
            processes=4,
            workers=2,
            procs=2,
            submitted=0.0 + i * 0.01,
            stored=1.25 if i == 7 else 1.0,
            observed=1.3,
        )
        for i in range(8)
    ]
    run = per_run(pd.DataFrame(rows)).iloc[0]
    assert run["efficiency"] == pytest.approx(0.8)


def test_efficiency_is_undefined_for_non_sleep_workloads() -> None:
    assert math.isnan(per_run(pd.DataFrame([_task(observed=1.0)])).iloc[0]["efficiency"])


def test_latency_percentiles() -> None:
    rows = [_task(submitted=0.0, observed=float(ms) / 1000) for ms in range(1, 101)]
    run = per_run(pd.DataFrame(rows)).iloc[0]
    assert run["latency_p50"] == pytest.approx(0.0505)
    assert run["latency_p99"] == pytest.approx(0.09901)


def test_per_config_takes_median_and_spread_over_repeats() -> None:
    rows = []
    for repeat, span in enumerate([1.0, 2.0, 4.0]):  # throughput 10, 5, 2.5 tasks/s
        rows += [_task(repeat=repeat, submitted=0.0, observed=span) for _ in range(10)]
    config = per_config(per_run(pd.DataFrame(rows))).iloc[0]
    assert config["repeats"] == 3
    assert (
        config["throughput_median"],
        config["throughput_min"],
        config["throughput_max"],
    ) == pytest.approx((5.0, 2.5, 10.0))


def test_a_poisson_run_counts_from_the_scheduled_arrival() -> None:
    """Open loop: time a submission waited in the client counts in latency and throughput."""
    rows = [
        _task(loop="poisson", rate=2.0, sent=0.0, submitted=0.3, stored=0.9, observed=1.0),
        _task(loop="poisson", rate=2.0, sent=0.5, submitted=0.6, stored=1.9, observed=2.0),
    ]
    t = per_task(pd.DataFrame(rows))
    assert list(t["latency"]) == pytest.approx([1.0, 1.5])
    run = per_run(pd.DataFrame(rows)).iloc[0]
    assert run["throughput"] == pytest.approx(2 / 2.0)  # from sent 0.0, not submitted 0.3
    burst = per_run(pd.DataFrame([{**r, "loop": "burst"} for r in rows])).iloc[0]
    assert burst["throughput"] == pytest.approx(2 / 1.7)
