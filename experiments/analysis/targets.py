"""The project's performance targets, per mode, read from a run's data: the measured value,
whether it is met, and for a target missed, what bounds it (the cores each component kept
busy, the py-spy profiles, the server's timestamps) and what removes it on real hosts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analysis.metrics import PARTS, per_task
from experiments.analysis.tables import celery_summary
from experiments.measure.profile import top_functions
from faas.models import Mode

#: What each target asks (issue #14's table), as the report's rows name it.
REST_X, P50_X, BATCH_X, P99_X, DIRECT_TPS, WEAK, API_US = 2.0, 0.8, 5.0, 2.0, 5000, 0.95, 400
COMPONENT_NAMES = {
    "api": "API",
    "redis": "Redis",
    "dispatcher": "dispatcher",
    "worker": "workers",
    "client": "load client",
}


def cores_text(rows: pd.DataFrame) -> str:
    """Medians of the ``cores_*`` columns (:func:`experiments.measure.cpu.cores_used`) in words: how
    busy the machine was and which component kept how many cores busy."""
    if rows is None or "cores_host" not in rows or rows["cores_host"].isna().all():
        return ""
    med = rows[[c for c in rows if c.startswith("cores_")]].median()
    parts = ", ".join(
        f"{name} {med[f'cores_{key}']:.2f}"
        for key, name in COMPONENT_NAMES.items()
        if f"cores_{key}" in med
    )
    return (
        f"the machine was busy {med['cores_host']:.2f} cores of the {med['cores_had']:.2f} it "
        f"had ({parts})"
    )


def package_shares(raw: Path, n: int = 6) -> str:
    """A py-spy profile's samples by the package of the frame running (own time)."""
    shares: dict[str, float] = {}
    for share, fn in top_functions(raw, 10_000):
        where = fn.rpartition("(")[2].split("/")[0].split(".py")[0].split(":")[0]
        shares[where] = shares.get(where, 0.0) + share
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {100 * share:.0f} %" for name, share in top)


def round_trip_text(tasks: pd.DataFrame | None, mode: str) -> str:
    """Where a sequential round trip's time goes in ``mode`` (the latency study, medians of
    each step from the server's timestamps)."""
    if tasks is None or "latency" not in set(tasks["study"]):
        return ""
    lat = per_task(tasks[(tasks["study"] == "latency") & (tasks["mode"] == mode)])
    if lat.empty:
        return ""
    steps = {"request in": lat["submitted"] - lat["sent"]} | {p: lat[p] for p in PARTS}
    return "a sequential round trip's steps (latency study, medians): " + ", ".join(
        f"{name} {1000 * v.median():.2f} ms" for name, v in steps.items()
    )


def first_wave_text(tasks: pd.DataFrame | None, mode: str, processes: int) -> str:
    """How long the API took to accept the first wave of a weak-scaling run (one task per
    process), against the makespan the target allows beyond the ideal."""
    if tasks is None:
        return ""
    w = tasks[
        (tasks["study"] == "weak_scaling")
        & (tasks["mode"] == mode)
        & (tasks["processes"] == processes)
    ]
    if w.empty:
        return ""
    waves, extra = [], []
    for _, g in w.groupby("repeat"):
        start = g["submitted"].min()
        waves.append(g["submitted"].sort_values().iloc[min(processes, len(g)) - 1] - start)
        extra.append(g["stored"].max() - start - len(g) / processes * g["arg"].iloc[0])
    budget = (1 / WEAK - 1) * len(g) / processes * g["arg"].iloc[0]
    return (
        f"the API accepted the first {processes} tasks, one per process, over "
        f"{1000 * pd.Series(waves).median():.0f} ms and the makespan exceeded the ideal by "
        f"{1000 * pd.Series(extra).median():.0f} ms, medians of repeats, where the target "
        f"allows {1000 * budget:.0f} ms"
    )


def targets(
    summary: pd.DataFrame,
    celery_rows: pd.DataFrame | None,
    direct: pd.DataFrame | None,
    api: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    profiles: Path | None = None,
) -> pd.DataFrame:
    """Each performance target of the project, per mode: measured value, whether met, and
    for a target missed, what bounds it, from the run's own data (the cores each component
    kept busy, the py-spy profiles, the server's timestamps)."""
    rows: list[dict] = []
    if celery_rows is not None and not celery_rows.empty:
        rows += _celery_targets(celery_rows, tasks)
    if direct is not None and not direct.empty:
        rows += _direct_targets(direct, profiles)
    if api is not None and "code" in api:
        api = api[api["code"] == "this"]  # not another checkout's (sweep.api --against)
    if api is not None and not api.empty:
        rows += _api_targets(api, profiles)
    rows += _weak_targets(summary, tasks)
    return pd.DataFrame(rows, columns=["target", "mode", "measured", "met", "bound", "value"])


def _row(target: str, mode: str, value: float, text: str, met: bool, bound: str = "") -> dict:
    return {
        "target": target,
        "mode": mode,
        "measured": text,
        "met": "yes" if met else "**no**",
        "bound": "" if met else bound,
        "value": value,
    }


def _celery_targets(celery_rows: pd.DataFrame, tasks: pd.DataFrame | None) -> list[dict]:
    p = celery_summary(celery_rows).set_index("system")
    rows = []
    for mode in tuple(Mode):
        r = p.loc[f"faas-{mode}"]
        mine = celery_rows[celery_rows["system"] == f"faas-{mode}"]
        rest, batch = (cores_text(mine[mine["path"] == path]) for path in ("rest", "batch"))
        rows += [
            _row(f"REST ≥ {REST_X:g}× Celery", mode, r["rest_vs_celery"],
                 f"{r['rest_tasks_per_s']:.0f} tasks/s = {r['rest_vs_celery']:.2f}×",
                 r["rest_vs_celery"] >= REST_X, rest),
            _row(f"batch ≥ {BATCH_X:g}× Celery one-per-task", mode, r["batch_vs_celery"],
                 f"{r['batch_tasks_per_s']:.0f} tasks/s = {r['batch_vs_celery']:.2f}×",
                 r["batch_vs_celery"] >= BATCH_X, batch),
            _row("batch against Celery's `group` (ratio only)", mode, r["batch_vs_group"],
                 f"{r['batch_vs_group']:.2f}× Celery's group", True),
        ]  # fmt: skip
        rows += _round_trip_targets(r, mode, round_trip_text(tasks, mode))
    for path_name in ("rest", "batch"):
        rate = p[f"{path_name}_tasks_per_s"]
        pull, local = rate["faas-pull"] / rate["faas-push"], rate["faas-local"] / rate["faas-push"]
        rows.append(_row(f"pull within 25 % of push ({path_name})", "pull", pull,
                         f"{pull:.2f}× push", pull >= 0.75))  # fmt: skip
        rows.append(_row(f"local ≥ push ({path_name})", "local", local,
                         f"{local:.2f}× push", local >= 1.0))  # fmt: skip
    return rows


def _round_trip_targets(r: pd.Series, mode: str, bound: str) -> list[dict]:
    rows = []
    for label, key in (("execute + long-poll", ""), ("one request, /invoke", "invoke_")):
        for q, limit in (("p50", P50_X), ("p99", P99_X)):
            ratio = r[f"{key}{q}_vs_celery"]
            rows.append(
                _row(f"{q} ≤ {limit:g}× Celery's ({label})", mode, ratio,
                     f"{r[f'{key}{q}_ms']:.2f} ms = {ratio:.2f}×", ratio <= limit, bound)
            )  # fmt: skip
    return rows


def _direct_targets(direct: pd.DataFrame, profiles: Path | None) -> list[dict]:
    if "code" in direct:
        direct = direct[direct["code"] == "this"]
    local = direct.loc[direct["mode"] == "local", "tasks_per_s"].median()
    rows = []
    for mode, g in direct.groupby("mode", sort=False):
        rate = g["tasks_per_s"].median()
        bound = cores_text(g)
        spied = profiles / f"{mode}-dispatcher.txt" if profiles else None
        if spied is not None and spied.exists():
            bound += f"; the dispatcher's thread busy {100 * busy_share(spied):.0f} % of samples"
        if mode != "local" and local == local:
            bound += (
                f"; local mode, the same dispatcher with no worker hop at all, moved "
                f"{local:.0f} tasks/s: no pipelining of the hop lifts {mode} above it"
            )
        rows.append(_row(f"fed directly ≥ {DIRECT_TPS} tasks/s", mode, rate,
                         f"{rate:.0f} tasks/s", rate >= DIRECT_TPS, bound))  # fmt: skip
    return rows


def _api_targets(api: pd.DataFrame, profiles: Path | None) -> list[dict]:
    busy = api[api["connections"] == api["connections"].max()]
    rows = []
    for endpoint, g in busy.groupby("endpoint", sort=False):
        us = g["api_cpu_us"].median()
        spied = profiles / "api" / f"api-{endpoint}.txt" if profiles else None
        bound = ""
        if spied is not None and spied.exists():
            bound = "the API's samples by package: " + package_shares(spied)
        rows.append(_row(f"API CPU ≤ {API_US} µs per request", f"{endpoint} (API)", us,
                         f"{us:.0f} µs", us <= API_US, bound))  # fmt: skip
    return rows


def _weak_targets(summary: pd.DataFrame, tasks: pd.DataFrame | None) -> list[dict]:
    weak = summary[summary["study"] == "weak_scaling"]
    rows = []
    for mode, g in weak.groupby("mode", sort=False):
        last = g.sort_values("processes").iloc[-1]
        processes = int(last["processes"])
        e = last["efficiency_median"]
        rows.append(_row(f"weak scaling ≥ {100 * WEAK:g} % at {processes}", mode, e,
                         f"{100 * e:.1f} %", e >= WEAK,
                         first_wave_text(tasks, mode, processes)))  # fmt: skip
    return rows


def busy_share(raw: Path) -> float:
    """Share of a py-spy profile's samples not idle in the event loop or a poll."""
    idle = ("Runner.run", "Poller.poll")
    return 1 - sum(share for share, fn in top_functions(raw, 50) if fn.startswith(idle))


#: What removes each kind of bound on real hosts (by the start of a target's name).
ON_REAL_HOSTS = {
    "REST": "the load client, Redis and the workers on hosts of their own leave the API its "
    "cores; the API keeps no state outside Redis, so more API processes behind one address "
    "add capacity",
    "batch": "the SDK client serializes and long-polls in the same process that measures; on "
    "its own host it stops competing with the platform for cores",
    "p50": "a faas round trip is two HTTP requests and hops API → Redis → dispatcher → worker "
    "and back, where Celery's is client → Redis → worker; on real hosts each hop costs a "
    "network round trip instead of a wait for a shared core, so the hop count stays: "
    "`POST /invoke` saves one request",
    "p99": "as p50; the tail is each hop waiting for one of the 2 shared cores",
    "fed directly": "the workers' processes and Redis on other hosts leave the dispatcher's "
    "thread a core of its own; past that, more dispatchers each serve their own workers",
    "API CPU": "what is left is uvicorn, asyncio and redis-py themselves, not faas's own "
    "steps; more API processes divide the load, a compiled HTTP server would cut the cost",
    "weak": "the first wave waits for the API to accept one request per task on the shared "
    "cores; a client and an API on their own cores accept it faster, and "
    "`POST /execute_function_batch` submits a wave in one request",
}


def missed_text(t: pd.DataFrame) -> str:
    """Each target missed, by how much in each mode, what bounds it there (from the run's
    data) and what removes it on real hosts."""
    missed = t[t["met"] != "yes"]
    if missed.empty:
        return "\nEvery target was met.\n"
    lines = ["\nWhat bounds each target missed, from this run's data, and what removes it:\n"]
    for target, g in missed.groupby("target", sort=False):
        fix = next((v for k, v in ON_REAL_HOSTS.items() if target.startswith(k)), "")
        modes = "; ".join(
            f"{r.mode} {r.measured}" + (f" — {r.bound.lstrip('; ')}" if r.bound else "")
            for r in g.itertuples()
        )
        lines.append(f"- **{target}**: {modes}." + (f" *On real hosts:* {fix}." if fix else ""))
    return "\n".join(lines) + "\n"
