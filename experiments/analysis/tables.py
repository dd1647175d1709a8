"""Tables of a run's baseline studies, from their CSVs: the Celery comparison (``celery.csv``)
and the API alone (``api.csv``)."""

from __future__ import annotations

import pandas as pd


def celery_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per system (and min-max for throughput) with ratios to Celery."""
    out = []
    for system, g in df.groupby("system", sort=False):
        rest, batch = g[g["path"] == "rest"], g[g["path"] == "batch"]
        lat, inv = g[g["path"] == "latency"], g[g["path"] == "invoke"]
        out.append(
            {
                "system": system,
                "rest_tasks_per_s": rest["tasks_per_s"].median(),
                "rest_min": rest["tasks_per_s"].min(),
                "rest_max": rest["tasks_per_s"].max(),
                "batch_tasks_per_s": batch["tasks_per_s"].median(),
                "batch_min": batch["tasks_per_s"].min(),
                "batch_max": batch["tasks_per_s"].max(),
                "p50_ms": lat["p50_ms"].median(),
                "p99_ms": lat["p99_ms"].median(),
                "invoke_p50_ms": inv["p50_ms"].median(),
                "invoke_p99_ms": inv["p99_ms"].median(),
            }
        )
    summary = pd.DataFrame(out).set_index("system")
    base = summary.loc["celery"]
    summary["rest_vs_celery"] = summary["rest_tasks_per_s"] / base["rest_tasks_per_s"]
    summary["batch_vs_celery"] = summary["batch_tasks_per_s"] / base["rest_tasks_per_s"]
    summary["batch_vs_group"] = summary["batch_tasks_per_s"] / base["batch_tasks_per_s"]
    summary["p50_vs_celery"] = summary["p50_ms"] / base["p50_ms"]
    summary["p99_vs_celery"] = summary["p99_ms"] / base["p99_ms"]
    summary["invoke_p50_vs_celery"] = summary["invoke_p50_ms"] / base["p50_ms"]
    summary["invoke_p99_vs_celery"] = summary["invoke_p99_ms"] / base["p99_ms"]
    return summary.reset_index()


def api_table(df: pd.DataFrame) -> str:
    """Medians (min–max) per endpoint and connections of this checkout, as Markdown."""
    if "code" in df:
        df = df[df["code"] == "this"]
    lines = [
        "| request | connections | requests/s (min–max) | API CPU µs per request (min–max) |",
        "|---|---|---|---|",
    ]
    names = {"submit": "`POST /execute_function`", "result": "`GET /result/{id}` (finished)"}
    for (endpoint, connections), g in df.groupby(["endpoint", "connections"], sort=False):
        rate, cpu = g["requests_per_s"], g["api_cpu_us"]
        lines.append(
            f"| {names[endpoint]} | {connections} | {rate.median():.0f} "
            f"({rate.min():.0f}–{rate.max():.0f}) | {cpu.median():.0f} "
            f"({cpu.min():.0f}–{cpu.max():.0f}) |"
        )
    return "\n".join(lines)
