"""Metrics from per-task rows (README: "Benchmark report"), in pandas.

Per task: latency = observed - submitted (for a Poisson load: observed - the scheduled
arrival, so time a submission waited in the client counts); overhead = latency -
(finished - started); its parts: queue = dispatched - submitted, dispatch = started -
dispatched, execution = finished - started, result = stored - finished, observe = observed -
stored.
Per run: throughput = tasks / (last observed - first submitted; Poisson: first scheduled
arrival); makespan = last stored - first submitted (server clocks, not the client's
polling); weak-scaling efficiency = ideal makespan / makespan, where ideal = tasks per
process x task duration.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.measure.profile import keep_own_time

#: The columns of one run's identity.
RUN_KEYS = [
    *("study", "mode", "workers", "procs", "processes", "workload", "arg"),
    *("hosts", "link", "function", "args", "loop", "clients", "rate", "repeat"),
]
#: Values of the identity columns runs recorded before those columns existed (and of empty
#: CSV cells, which pandas reads as NaN).
DEFAULTS = {
    "hosts": 0,
    "link": "unshaped",
    "function": "",
    "args": "",
    "loop": "",
    "clients": 0,
    "rate": 0.0,
}
#: The configuration, across repeats.
CONFIG_KEYS = [k for k in RUN_KEYS if k != "repeat"]
PARTS = ["queue", "dispatch", "execution", "result", "observe"]


def per_task(tasks: pd.DataFrame) -> pd.DataFrame:
    """Add latency, overhead and its parts (seconds) to raw task rows."""
    t = with_defaults(tasks)
    t["latency"] = t["observed"] - t["submitted"]
    if "sent" in t:
        poisson = t["loop"] == "poisson"
        t.loc[poisson, "latency"] = t["observed"] - t["sent"]
    t["execution"] = t["finished"] - t["started"]
    t["overhead"] = t["latency"] - t["execution"]
    t["queue"] = t["dispatched"] - t["submitted"]
    t["dispatch"] = t["started"] - t["dispatched"]
    t["result"] = t["stored"] - t["finished"]
    t["observe"] = t["observed"] - t["stored"]
    return t


def summarize_run(run: dict, g: pd.DataFrame) -> dict:
    """The metrics of one run's tasks ``g``; ``run`` holds its configuration."""
    n = len(g)
    makespan = g["stored"].max() - g["submitted"].min()
    ideal = n / run["processes"] * run["arg"] if run["workload"] == "sleep" else float("nan")
    # a Poisson load's clock starts at the first scheduled arrival, as its latencies do
    first = g["sent"].min() if run.get("loop") == "poisson" else g["submitted"].min()
    return {
        **run,
        "tasks": n,
        "completed": int((g["status"] == "COMPLETED").sum()),
        "throughput": n / (g["observed"].max() - first),
        "makespan": makespan,
        "efficiency": ideal / makespan,
        "latency_p50": g["latency"].quantile(0.50),
        "latency_p95": g["latency"].quantile(0.95),
        "latency_p99": g["latency"].quantile(0.99),
        "overhead_p50": g["overhead"].quantile(0.50),
        **{f"{part}_p50": g[part].quantile(0.50) for part in PARTS},
    }


def per_run(tasks: pd.DataFrame) -> pd.DataFrame:
    """One row per run: throughput, makespan, efficiency, latency percentiles."""
    t = per_task(tasks)
    return pd.DataFrame(
        [
            summarize_run(dict(zip(RUN_KEYS, key, strict=True)), g)
            for key, g in t.groupby(RUN_KEYS, sort=False)
        ]
    )


def per_config(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: the median over repeats, with min and max as the spread."""
    metrics = [
        "throughput",
        "makespan",
        "efficiency",
        "latency_p50",
        "latency_p95",
        "latency_p99",
        "overhead_p50",
    ]
    grouped = runs.groupby(CONFIG_KEYS, sort=False)[metrics]
    out = grouped.median().add_suffix("_median")
    out = out.join(grouped.min().add_suffix("_min")).join(grouped.max().add_suffix("_max"))
    out["repeats"] = grouped.size()
    return out.reset_index()


def with_defaults(tasks: pd.DataFrame) -> pd.DataFrame:
    """``tasks`` with every identity column, missing ones and empty cells at their defaults
    (runs from before the hosts axis ran everything on loopback, with built-in workloads)."""
    t = tasks.copy()
    for column, value in DEFAULTS.items():
        if column not in t:
            t[column] = value
        elif isinstance(value, str):  # an all-empty column reads as float NaN
            t[column] = t[column].astype(object).where(t[column].notna(), value)
        else:
            t[column] = t[column].fillna(value)
    return t


#: The studies whose figures need every task's timestamps (latency CDF, where the time
#: goes, the first wave of weak scaling); a curated record keeps only their rows.
PER_TASK_STUDIES = ("latency", "weak_scaling", "payload", "hosts_weak")


def read_tasks(run_dir: Path) -> pd.DataFrame:
    """A run's per-task rows: ``tasks.csv.gz`` (what the sweep writes), else ``tasks.csv``."""
    packed = run_dir / "tasks.csv.gz"
    return with_defaults(pd.read_csv(packed if packed.exists() else run_dir / "tasks.csv"))


def curate(run_dir: Path) -> int:
    """Keep only the per-task rows a figure needs (:data:`PER_TASK_STUDIES`) in the run's
    ``tasks.csv.gz``, for a record committed to the repository (totals stay in
    ``runs.csv``) and only each function's own time in its py-spy profiles; answer the rows
    dropped."""
    tasks = pd.read_csv(run_dir / "tasks.csv.gz")
    kept = tasks[tasks["study"].isin(PER_TASK_STUDIES)]
    kept.to_csv(run_dir / "tasks.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
    for raw in (run_dir / "profile").rglob("*.txt"):  # py-spy: the own time the report reads
        keep_own_time(raw)
    return len(tasks) - len(kept)
