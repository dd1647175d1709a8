"""The benchmark report's performance targets: what each missed target is bound by comes
from the run's own data (experiments/analysis/report.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analysis.targets import (
    cores_text,
    first_wave_text,
    missed_text,
    package_shares,
    targets,
)

CORES = {
    "cores_api": 0.9,
    "cores_redis": 0.2,
    "cores_dispatcher": 0.4,
    "cores_worker": 0.1,
    "cores_client": 0.3,
    "cores_host": 1.9,
    "cores_had": 1.95,
}


def _peer() -> pd.DataFrame:
    """Celery: 300/s one per task, 400/s as a group, p50 5 ms; faas in every mode: 700/s,
    1 600/s batched, p50 3.5 ms (execute + long-poll) and 4.5 ms (/invoke)."""
    rows = []
    for system in ("celery", "faas-local", "faas-pull", "faas-push"):
        faas = system != "celery"
        for repeat in range(3):
            busy = CORES if faas else {}
            rows += [
                {"system": system, "repeat": repeat, "path": "rest",
                 "tasks_per_s": 700.0 if faas else 300.0, **busy},
                {"system": system, "repeat": repeat, "path": "batch",
                 "tasks_per_s": 1600.0 if faas else 400.0, **busy},
                {"system": system, "repeat": repeat, "path": "latency",
                 "p50_ms": 3.5 if faas else 5.0, "p99_ms": 8.0},
            ]  # fmt: skip
            if faas:
                rows.append(
                    {"system": system, "repeat": repeat, "path": "invoke",
                     "p50_ms": 4.5, "p99_ms": 8.0}
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_cores_text_gives_the_medians_of_each_component() -> None:
    rows = pd.DataFrame([CORES, {**CORES, "cores_api": 0.7}, {**CORES, "cores_api": 1.0}])
    assert cores_text(rows) == (
        "the machine was busy 1.90 cores of the 1.95 it had (API 0.90, Redis 0.20, "
        "dispatcher 0.40, workers 0.10, load client 0.30)"
    )
    assert cores_text(pd.DataFrame([{"tasks_per_s": 1.0}])) == ""  # not recorded


def test_package_shares_group_a_profile_by_the_package_running(tmp_path: Path) -> None:
    raw = tmp_path / "api.txt"
    raw.write_text(
        "main (faas/cli.py:1);send (redis/asyncio/connection.py:10) 5\n"
        "main (faas/cli.py:1);parse (redis/_parsers/resp.py:3) 1\n"
        "main (faas/cli.py:1);run (uvicorn/server.py:7) 3\n"
        "main (faas/cli.py:1) 1\n"
    )
    assert package_shares(raw) == "redis 60 %, uvicorn 30 %, faas 10 %"


def test_targets_missed_name_their_bound_and_met_ones_do_not() -> None:
    direct = pd.DataFrame(
        [{"mode": m, "repeat": 0, "tasks_per_s": 2000.0, **CORES} for m in ("local", "push")]
    )
    api = pd.DataFrame(
        [
            {"endpoint": "submit", "connections": 32, "api_cpu_us": 450.0, "code": "this"},
            {"endpoint": "result", "connections": 32, "api_cpu_us": 380.0, "code": "this"},
            {"endpoint": "submit", "connections": 32, "api_cpu_us": 100.0, "code": "against"},
        ]
    )
    t = targets(pd.DataFrame({"study": [], "mode": []}), _peer(), direct, api).set_index(
        ["target", "mode"]
    )
    rest = t.loc[("REST ≥ 2× Celery", "push")]
    assert rest["measured"] == "700 tasks/s = 2.33×" and rest["met"] == "yes"
    assert rest["bound"] == ""
    batch = t.loc[("batch ≥ 5× Celery one-per-task", "pull")]
    assert batch["measured"] == "1600 tasks/s = 5.33×" and batch["met"] == "yes"
    assert t.loc[("batch against Celery's `group` (ratio only)", "pull"), "measured"] == (
        "4.00× Celery's group"
    )
    p50 = t.loc[("p50 ≤ 0.8× Celery's (execute + long-poll)", "local")]
    assert (p50["measured"], p50["met"]) == ("3.50 ms = 0.70×", "yes")
    invoke = t.loc[("p50 ≤ 0.8× Celery's (one request, /invoke)", "local")]
    assert (invoke["measured"], invoke["met"]) == ("4.50 ms = 0.90×", "**no**")
    fed = t.loc[("fed directly ≥ 5000 tasks/s", "push")]
    assert fed["met"] == "**no**" and fed["bound"].startswith("the machine was busy 1.90 cores")
    assert "local mode, the same dispatcher with no worker hop at all, moved 2000" in fed["bound"]
    assert "no worker hop" not in t.loc[("fed directly ≥ 5000 tasks/s", "local"), "bound"]
    submit = t.loc[("API CPU ≤ 400 µs per request", "submit (API)")]
    assert (submit["measured"], submit["met"]) == ("450 µs", "**no**")  # not the other side's
    assert t.loc[("API CPU ≤ 400 µs per request", "result (API)"), "met"] == "yes"
    text = missed_text(t.reset_index())
    assert "- **fed directly ≥ 5000 tasks/s**: local 2000 tasks/s — the machine was busy" in text
    assert "*On real hosts:*" in text and "REST ≥ 2×" not in text


def test_the_first_wave_of_weak_scaling_is_measured_from_the_servers_timestamps() -> None:
    # 4 processes, 8 tasks of 0.1 s: ideal makespan 0.2 s; submitted 10 ms apart, the last
    # stored at 0.26 s
    tasks = pd.DataFrame(
        {
            "study": "weak_scaling",
            "mode": "push",
            "processes": 4,
            "repeat": 0,
            "arg": 0.1,
            "submitted": [0.01 * i for i in range(8)],
            "stored": [0.1] * 7 + [0.26],
        }
    )
    assert first_wave_text(tasks, "push", 4) == (
        "the API accepted the first 4 tasks, one per process, over 30 ms and the makespan "
        "exceeded the ideal by 60 ms, medians of repeats, where the target allows 11 ms"
    )


def test_a_profile_kept_to_own_time_reads_the_same(tmp_path: Path) -> None:
    from experiments.measure.profile import keep_own_time, top_functions

    raw = tmp_path / "p.txt"
    raw.write_text("main;a;b 5\nmain;c 3\nmain;a;c 2\nmain;d 5\nmain;a 1\n")
    before = top_functions(raw, 10)
    keep_own_time(raw)
    assert top_functions(raw, 10) == before == [(5 / 16, "b"), (5 / 16, "c"), (5 / 16, "d"),
                                                (1 / 16, "a")]  # fmt: skip
    assert raw.read_text() == "b 5\nc 5\nd 5\na 1\n"
