"""``simulate by-clients``: the model's CPU per task by component, and the table against
16 clients (the measuring half runs real stacks: tests/integration/test_simulate.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments.simulate.by_clients import CLIENTS, PARTS, modelled, relative, render, sleeps_table
from tests.sim.test_model import CPU_MS, _waking


def test_the_model_pays_the_one_client_cpu_at_one_client_and_less_at_16() -> None:
    """Each component's CPU per task in the model's runs: at one client what calibration
    measured there (here twice CPU_MS, the API's submission and long-poll together), at 16
    clients on 2 shared cores less; the throughput rises with the clients. (A visit's CPU
    is an exponential draw around its mean: 900 tasks' mean is within ~3 % of it.)"""
    table = modelled(["push"], _waking(2.0), seeds=3).set_index("clients")
    assert list(table.index) == list(CLIENTS)
    one = table.loc[1]
    expected = {
        "client": 2 * CPU_MS["client"],
        "api": 2 * (CPU_MS["api_submit"] + CPU_MS["api_result"]),
        "redis": 2 * CPU_MS["redis"],
        "dispatcher": 2 * CPU_MS["dispatcher"],  # (push: no worker asks)
        "worker": 2 * CPU_MS["worker"],
    }
    for part in PARTS:
        assert one[f"cpu_us_{part}"] == pytest.approx(1000 * expected[part], rel=0.1), part
    total = table[[f"cpu_us_{k}" for k in PARTS]].sum(axis=1)
    assert total.loc[16] < 0.8 * total.loc[1]
    assert table["throughput_tps"].is_monotonic_increasing
    # the visits that woke each process: at one client most of a task's two (the client's
    # and the API's second visit may come while the first one's after-reply work runs),
    # the worker's one; at 16 clients fewer
    for part in ("client", "api", "redis", "dispatcher"):
        assert 1.0 <= one[f"sleeps_{part}"] <= 2.0, part
        assert table.loc[16, f"sleeps_{part}"] < one[f"sleeps_{part}"], part
    assert one["sleeps_worker"] == pytest.approx(1.0, abs=0.05)


def test_relative_divides_each_median_by_the_same_modes_at_16_clients() -> None:
    rows = []
    for mode, scale in (("pull", 1.0), ("push", 3.0)):
        for clients in CLIENTS:
            for tps in (90.0, 100.0, 200.0):  # median 100 at every count
                cpu = {f"cpu_us_{k}": scale * (1000 if clients == 1 else 500) for k in PARTS}
                rows.append(
                    {"mode": mode, "clients": clients, "throughput_tps": tps * clients, **cpu}
                )
    rel = relative(pd.DataFrame(rows)).set_index(["mode", "clients"])
    for mode in ("pull", "push"):
        assert rel.loc[(mode, 1), "throughput_tps"] == pytest.approx(1 / 16)
        assert rel.loc[(mode, 1), "cpu_us_total"] == pytest.approx(2.0)
        assert rel.loc[(mode, 4), "cpu_us_dispatcher"] == pytest.approx(1.0)
        assert rel.loc[(mode, 16), "throughput_tps"] == pytest.approx(1.0)
    report = render(pd.DataFrame(rows).assign(gauge_ms=0.3), pd.DataFrame(rows))
    assert "| pull | 1 | 0.06 / 0.06 | 2.00 / 2.00 |" in report
    assert "The speed gauge read 0.300 ms" in report
    assert "## Sleeps" not in report  # runs without sleeps counted (before they were)


def test_the_sleeps_table_puts_the_measured_median_beside_the_models_mean() -> None:
    sleeps = {f"sleeps_{k}": 1.0 for k in PARTS}
    real = pd.DataFrame(
        [
            {"mode": "push", "clients": 4, "throughput_tps": 1.0, **sleeps, "sleeps_api": s}
            for s in (1.0, 1.25, 9.0)
        ]
    )
    model = pd.DataFrame(
        [
            {"mode": "push", "clients": 4, "throughput_tps": 1.0, **sleeps, "sleeps_api": s}
            for s in (0.5, 1.5)
        ]
    )
    table = "\n".join(sleeps_table(real, model))
    assert "| push | 4 | 1.00 / 1.00 | 1.25 / 1.00 | 1.00 / 1.00 |" in table
