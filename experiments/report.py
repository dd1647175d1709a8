"""REPORT.md from a sweep's CSVs (no re-measurement): setup, method, plots with what they
show in numbers, and a summary table comparing the modes.

    python -m experiments.report [RUN_DIR]      # default: results/latest
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from experiments.metrics import PARTS, per_task
from experiments.plot import all_plots

SUMMARY_COLUMNS = ["mode", "no-op tasks/s (peak)", "at processes", "CPU tasks/s (peak)",
                   "weak-scaling efficiency (largest)", "latency p50 ms", "latency p99 ms",
                   "largest payload p50 ms"]


def _pick(summary: pd.DataFrame, study: str, workload: str | None = None) -> pd.DataFrame:
    df = summary[summary["study"] == study]
    return df if workload is None else df[df["workload"] == workload]


def _ms(df: pd.DataFrame, column: str) -> float | None:
    return round(1000 * df[column].iloc[0], 2) if len(df) else None


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per mode: the figures the report's table shows."""
    rows = []
    for mode in summary["mode"].drop_duplicates():
        s = summary[summary["mode"] == mode]
        noop = _pick(s, "throughput", "noop")
        best = noop.loc[noop["throughput_median"].idxmax()] if len(noop) else None
        cpu = _pick(s, "throughput", "cpu")["throughput_median"]
        weak = _pick(s, "weak_scaling").sort_values("processes")
        lat = _pick(s, "latency")
        payload = _pick(s, "payload").sort_values("arg")
        rows.append({
            "mode": mode,
            "no-op tasks/s (peak)": round(best["throughput_median"]) if best is not None else None,
            "at processes": int(best["processes"]) if best is not None else None,
            "CPU tasks/s (peak)": round(cpu.max(), 1) if len(cpu) else None,
            "weak-scaling efficiency (largest)": (
                f"{100 * weak.iloc[-1]['efficiency_median']:.1f}% at {weak.iloc[-1]['processes']}"
                if len(weak) else None),
            "latency p50 ms": _ms(lat, "latency_p50_median"),
            "latency p99 ms": _ms(lat, "latency_p99_median"),
            "largest payload p50 ms": (round(1000 * payload.iloc[-1]["latency_p50_median"], 1)
                                       if len(payload) else None),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join("—" if pd.isna(v) else str(v) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _throughput_text(summary: pd.DataFrame) -> str:
    noop = _pick(summary, "throughput", "noop")
    if noop.empty:
        return "No throughput study in this run."
    peaks = noop.groupby("mode", sort=False)["throughput_median"].max()
    base = peaks.get("local", peaks.max())
    parts = [f"{mode} {rate:.0f} tasks/s ({rate / base:.2f}× local)" for mode, rate in
             peaks.items()]
    cpu = _pick(summary, "throughput", "cpu")
    cpu_text = ""
    if not cpu.empty:
        by_p = cpu.groupby("processes")["throughput_median"].max()
        cpu_text = (f" CPU-bound tasks reach {by_p.max():.1f} tasks/s at {by_p.idxmax()} "
                    f"processes (from {by_p.iloc[0]:.1f} with {by_p.index[0]}): the machine has "
                    f"{_cpus(summary)} cores, so more processes than cores cannot add "
                    "compute.")
    return ("Peak no-op throughput (median of repeats): " + "; ".join(parts) + "." + cpu_text)


def _cpus(summary: pd.DataFrame) -> str:
    return str(summary.attrs.get("cpu_count", "?"))


def _weak_text(summary: pd.DataFrame) -> str:
    weak = _pick(summary, "weak_scaling")
    if weak.empty:
        return "No weak-scaling study in this run."
    largest = weak[weak["processes"] == weak["processes"].max()]
    parts = [f"{r.mode} {100 * r.efficiency_median:.1f}%" for r in largest.itertuples()]
    worst = weak.loc[weak["efficiency_median"].idxmin()]
    return (f"At {int(weak['processes'].max())} processes the efficiency is "
            + ", ".join(parts) + f". The lowest median is {100 * worst['efficiency_median']:.1f}%"
            f" ({worst['mode']}, {int(worst['processes'])} processes). Sleep tasks keep the "
            "2 cores idle, so what is lost is the platform's own overhead: submission through "
            "HTTP and the dispatch round trips.")


def _latency_text(tasks: pd.DataFrame) -> str:
    lat = per_task(tasks[tasks["study"] == "latency"])
    if lat.empty:
        return "No latency study in this run."
    q = lat.groupby("mode", sort=False)["latency"].quantile([0.5, 0.95, 0.99]).unstack() * 1000
    parts = [f"{m} p50 {r[0.5]:.2f} / p95 {r[0.95]:.2f} / p99 {r[0.99]:.2f} ms"
             for m, r in q.iterrows()]
    return "Sequential no-op round trips, all repeats pooled: " + "; ".join(parts) + "."


def _overhead_text(tasks: pd.DataFrame) -> str:
    lat = per_task(tasks[tasks["study"] == "latency"])
    if lat.empty:
        return ""
    med = lat.groupby("mode", sort=False)[PARTS].median() * 1000
    parts = []
    for mode, row in med.iterrows():
        top = row.idxmax()
        parts.append(f"{mode}: {row.sum():.2f} ms in all, most in *{top}* ({row[top]:.2f} ms)")
    return ("Median time per step (queue = API accepted → dispatched, dispatch → started in a "
            "process, execution, result = finished → stored, observe = stored → the client "
            "saw it): " + "; ".join(parts) + ".")


def _payload_text(summary: pd.DataFrame) -> str:
    pay = _pick(summary, "payload").sort_values("arg")
    if pay.empty:
        return "No payload study in this run."
    parts = []
    for mode, g in pay.groupby("mode", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        parts.append(f"{mode} {1000 * first['latency_p50_median']:.1f} ms at "
                     f"{first['arg'] / 1000:g} KB → {1000 * last['latency_p50_median']:.1f} ms "
                     f"at {last['arg'] / 1000:g} KB")
    return ("Median latency of an echo task (the argument comes back as the result): "
            + "; ".join(parts) + ". Large payloads pay base64 at the API both ways and one "
            "copy per hop.")


def render(out: Path) -> Path:
    """Plots and REPORT.md for the run in ``out``."""
    tasks = pd.read_csv(out / "tasks.csv")
    summary = pd.read_csv(out / "summary.csv")
    info = json.loads((out / "machine.json").read_text())
    summary.attrs["cpu_count"] = info.get("cpu_count")
    plots = all_plots(out)
    failed = int((tasks["status"] != "COMPLETED").sum())
    repeats = int(summary["repeats"].max())
    text = f"""# faas benchmark report — {out.name}

## Setup

- Machine: {info['cpu_count']} CPUs, {info['platform']}, Python {info['python']}
- {info['redis_server']}
- Commit `{info['git_commit']}`, measured {info['date']}
- Packages: {", ".join(f"{k} {v}" for k, v in info['packages'].items())}

## Method

Each stack shape (mode, workers × processes per worker) runs on a fresh stack: an embedded
`redis-server`, the API, the dispatcher and its workers as separate processes on 127.0.0.1,
all sharing this machine's cores with the load client. Tasks go through the REST API with
an aiohttp client (open loop: 16 submitters and 16 result pollers; latency and payload
studies: one task at a time). Per task, the API records *submitted*, the dispatcher
*dispatched* and *stored*, the pool process *started* and *finished*, and the client
*observed*. Every configuration ran {repeats} times; figures are medians over repeats with
min–max error bars. {len(tasks)} tasks in all, {failed} not COMPLETED.

Throughput = tasks / (last observed − first submitted). Weak-scaling efficiency = ideal
makespan / measured makespan, with 4 tasks of `sleep(0.2)` per process (ideal 0.8 s) and
makespan = last stored − first submitted.

## Throughput

![throughput]({plots['throughput'].name})

{_throughput_text(summary)}

## Weak scaling

![weak scaling]({plots['weak_scaling'].name})

{_weak_text(summary)}

## Latency

![latency CDF]({plots['latency_cdf'].name})

{_latency_text(tasks)}

![overhead breakdown]({plots['overhead'].name})

{_overhead_text(tasks)}

## Payload size

![payload latency]({plots['payload'].name})

{_payload_text(summary)}

## Summary

{_markdown(summary_table(summary))}

Raw data: `tasks.csv` (one row per task), `runs.csv` (one per run), `summary.csv` (one per
configuration). Regenerate this report and its plots with `python -m experiments.report
{out}`.
"""
    path = out / "REPORT.md"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("results/latest"))
    args = parser.parse_args()
    print(render(args.run_dir.resolve()))


if __name__ == "__main__":
    main()
