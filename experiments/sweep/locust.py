"""Run Locust headless against a fresh stack, optionally injecting a fault mid-run.

    python -m experiments.sweep.locust [--mode push] [--users 20] [--spawn-rate 10]
                                   [--duration 30] [--fault kill-worker --fault-at 10]

Leaves in ``results/loadtest-<time>/``: Locust's CSVs (``locust_stats.csv``,
``locust_stats_history.csv``, ``locust_failures.csv``), ``summary.json`` and ``summary.md``
(requests, failures, task throughput, task latency p50/p95/p99) and
``latency_over_time.png`` (task latency per second, the fault marked).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from experiments import setup_logging
from experiments.analysis.pages import markdown
from experiments.faults import APPLIES, fault_injector
from faas.models import Mode
from faas.stack import Stack

log = logging.getLogger("loadtest")
LOCUSTFILES = Path(__file__).resolve().parents[2] / "loadtests"


@dataclass
class LoadSummary:
    """The figures of one load run."""

    mode: str
    users: int
    duration_s: float
    requests: int
    failures: int
    task_count: int
    task_failures: int
    tasks_per_s: float
    task_p50_ms: float
    task_p95_ms: float
    task_p99_ms: float
    fault: str | None = None
    fault_at_s: float | None = None


def _summarize(
    out: Path, mode: str, users: int, duration_s: float, fault: str | None, fault_at: float | None
) -> LoadSummary:
    stats = pd.read_csv(out / "locust_stats.csv")
    total = stats[stats["Name"] == "Aggregated"].iloc[0]
    tasks = stats[stats["Type"] == "TASK"]
    count = int(tasks["Request Count"].sum())
    weights = tasks["Request Count"] / max(count, 1)

    def pct(column: str) -> float:
        return float((tasks[column] * weights).sum()) if count else float("nan")

    return LoadSummary(
        mode=mode,
        users=users,
        duration_s=duration_s,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        task_count=count,
        task_failures=int(tasks["Failure Count"].sum()),
        tasks_per_s=count / duration_s,
        task_p50_ms=pct("50%"),
        task_p95_ms=pct("95%"),
        task_p99_ms=pct("99%"),
        fault=fault,
        fault_at_s=fault_at,
    )


def _plot(out: Path, fault_at: float | None) -> Path:
    history = pd.read_csv(out / "locust_stats_history.csv")
    tasks = history[(history["Type"] == "TASK") & (history["Name"] != "Aggregated")]
    fig, ax = plt.subplots(figsize=(8, 4))
    if not tasks.empty:
        start = history["Timestamp"].min()
        for name, g in tasks.groupby("Name"):
            g = g[g["50%"] != "N/A"]
            ax.plot(g["Timestamp"] - start, pd.to_numeric(g["95%"]), label=f"{name} p95")
        failures = history[(history["Name"] == "Aggregated")]
        ax2 = ax.twinx()
        ax2.bar(
            failures["Timestamp"] - start,
            failures["Failures/s"],
            color="red",
            alpha=0.3,
            width=1.0,
            label="failures/s",
        )
        ax2.set_ylabel("failures/s (all requests)")
    if fault_at is not None:
        ax.axvline(fault_at, color="black", ls="--", label="fault")
    ax.set(
        title="Task latency over time (execute → result seen)",
        xlabel="time (s)",
        ylabel="latency p95, last 10 s window (ms)",
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = out / "latency_over_time.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_loadtest(
    mode: str = "push",
    users: int = 20,
    spawn_rate: float = 10,
    duration_s: float = 30,
    workers: int = 2,
    procs: int = 2,
    fault: str | None = None,
    fault_at_s: float = 10.0,
    out: Path | None = None,
) -> LoadSummary:
    """Start a stack, run Locust headless against it, write CSVs, summary and plot."""
    if fault and mode not in APPLIES[fault]:
        raise ValueError(f"{fault} does not apply to {mode} mode")
    out = out or Path("results") / f"loadtest-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    with Stack(mode, workers=workers, procs=procs) as stack:
        started = time.monotonic()
        locust = subprocess.Popen(_locust_command(stack.url, users, spawn_rate, duration_s, out))
        injected: list[float] = []
        if fault:
            _inject_later(fault, fault_at_s, stack, started, injected)
        try:
            locust.wait(duration_s + 60)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait()
    summary = _summarize(out, mode, users, duration_s, fault, injected[0] if injected else None)
    values = asdict(summary)
    (out / "summary.json").write_text(json.dumps(values, indent=2))
    cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in values.values()]
    (out / "summary.md").write_text(markdown(pd.DataFrame([cells], columns=list(values))) + "\n")
    _plot(out, summary.fault_at_s)
    return summary


def _inject_later(
    fault: str, at_s: float, stack: Stack, started: float, injected: list[float]
) -> None:
    """Inject ``fault`` ``at_s`` seconds after ``started`` (a thread); note when in ``injected``."""

    def inject() -> None:
        time.sleep(at_s)
        injected.append(time.monotonic() - started)
        fault_injector(fault, 3.0)(stack, {})

    threading.Thread(target=inject, daemon=True).start()


def _locust_command(
    url: str, users: int, spawn_rate: float, duration_s: float, out: Path
) -> list[str]:
    """Locust headless on the repository's locustfiles, its CSVs into ``out``."""
    return [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILES), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", f"{duration_s:g}s", "--host", url,
        "--csv", str(out / "locust"), "--csv-full-history", "--only-summary",
        "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=list(Mode), default="push")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", type=float, default=30, help="seconds")
    parser.add_argument("--fault", choices=tuple(APPLIES), default=None)
    parser.add_argument("--fault-at", type=float, default=10.0, help="seconds into the run")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    summary = run_loadtest(
        args.mode,
        args.users,
        args.spawn_rate,
        args.duration,
        args.workers,
        args.procs,
        args.fault,
        args.fault_at,
        args.out,
    )
    print(json.dumps(asdict(summary), indent=2))


if __name__ == "__main__":
    main()
