"""Plots of a sweep, from its CSVs only: one PNG per message, units on every axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.metrics import PARTS, per_task, read_tasks  # noqa: E402

COLORS = {"local": "#1b9e77", "pull": "#d95f02", "push": "#7570b3", "celery": "#666666"}


def _errorbars(ax: plt.Axes, df: pd.DataFrame, x: str, metric: str, scale: float = 1.0) -> None:
    for mode, g in df.groupby("mode", sort=False):
        g = g.sort_values(x)
        median = g[f"{metric}_median"] * scale
        low = median - g[f"{metric}_min"] * scale
        high = g[f"{metric}_max"] * scale - median
        ax.errorbar(
            g[x],
            median,
            yerr=[low, high],
            marker="o",
            capsize=3,
            label=mode,
            color=COLORS.get(mode),
        )
    if not df.empty:
        ax.legend(title="mode")
    ax.grid(alpha=0.3)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput(summary: pd.DataFrame, path: Path) -> Path:
    """No-op and CPU-bound tasks/s against processes, per mode."""
    df = summary[summary["study"] == "throughput"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, workload, title in zip(
        axes, ["noop", "cpu"], ["no-op tasks", "CPU-bound tasks"], strict=True
    ):
        _errorbars(ax, df[df["workload"] == workload], "processes", "throughput")
        ax.set(title=title, xlabel="processes", ylabel="tasks/s (median, min–max)")
        ax.set_xticks(sorted(df["processes"].unique()))
    fig.suptitle("Throughput through the REST API")
    return _save(fig, path)


def weak_scaling(summary: pd.DataFrame, path: Path) -> Path:
    """Efficiency (ideal / measured makespan) against processes, per mode."""
    df = summary[summary["study"] == "weak_scaling"]
    fig, ax = plt.subplots(figsize=(6, 4))
    _errorbars(ax, df, "processes", "efficiency", scale=100)
    ax.axhline(100, color="black", lw=0.8, ls="--")
    ax.set(
        title="Weak scaling: 4 × sleep(0.2 s) per process",
        xlabel="processes (log scale)",
        ylabel="efficiency % (median, min–max)",
        xscale="log",
        ylim=(0, 110),
    )
    ax.set_xticks(sorted(df["processes"].unique()), labels=sorted(df["processes"].unique()))
    return _save(fig, path)


def latency_cdf(tasks: pd.DataFrame, path: Path) -> Path:
    """Distribution of sequential no-op round trips, per mode."""
    df = per_task(tasks[tasks["study"] == "latency"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, g in df.groupby("mode", sort=False):
        ms = np.sort(g["latency"].to_numpy() * 1000)
        ax.plot(ms, np.arange(1, len(ms) + 1) / len(ms), label=mode, color=COLORS.get(mode))
    ax.set(
        title="Latency of sequential no-op tasks",
        xlabel="submitted → observed (ms)",
        ylabel="fraction of tasks",
    )
    ax.grid(alpha=0.3)
    ax.legend(title="mode")
    return _save(fig, path)


def overhead_breakdown(tasks: pd.DataFrame, path: Path) -> Path:
    """Median time in each step of a no-op task's path, per mode (stacked)."""
    df = per_task(tasks[tasks["study"] == "latency"])
    medians = df.groupby("mode", sort=False)[PARTS].median() * 1000
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = np.zeros(len(medians))
    for part in PARTS:
        ax.bar(medians.index, medians[part], bottom=bottom, label=part)
        bottom += medians[part].to_numpy()
    ax.set(title="Where a no-op task's time goes (medians)", ylabel="ms")
    ax.legend(title="step", fontsize=8)
    return _save(fig, path)


def payload_latency(summary: pd.DataFrame, path: Path) -> Path:
    """Round-trip latency against argument (and result) size, per mode."""
    df = summary[summary["study"] == "payload"]
    fig, ax = plt.subplots(figsize=(6, 4))
    _errorbars(ax, df.assign(kb=df["arg"] / 1000), "kb", "latency_p50", scale=1000)
    ax.set(
        title="Latency of an echo task by payload size",
        xscale="log",
        yscale="log",
        xlabel="argument = result size (KB)",
        ylabel="latency p50 (ms, median, min–max)",
    )
    return _save(fig, path)


def peer(peer_rows: pd.DataFrame, path: Path) -> Path:
    """Throughput (REST and batch paths) and round-trip latency, faas against Celery."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    systems = list(peer_rows["system"].drop_duplicates())
    x = np.arange(len(systems))
    celery_rest = peer_rows[(peer_rows["system"] == "celery") & (peer_rows["path"] == "rest")][
        "tasks_per_s"
    ].median()
    for offset, path_name in ((-0.2, "rest"), (0.2, "batch")):
        rates = peer_rows[peer_rows["path"] == path_name].groupby("system", sort=False)[
            "tasks_per_s"
        ]
        median = rates.median().reindex(systems)
        spread = [median - rates.min().reindex(systems), rates.max().reindex(systems) - median]
        bars = left.bar(
            x + offset,
            median,
            0.4,
            yerr=spread,
            capsize=3,
            label="one request per task" if path_name == "rest" else "batch path",
        )
        left.bar_label(bars, labels=[f"{v / celery_rest:.1f}×" for v in median], fontsize=8)
    left.set(
        title="No-op throughput (× Celery's one-per-task rate)",
        ylabel="tasks/s",
        xticks=x,
        xticklabels=systems,
    )
    left.legend(fontsize=8)
    lat = (
        peer_rows[peer_rows["path"] == "latency"]
        .groupby("system", sort=False)[["p50_ms", "p99_ms"]]
        .median()
        .reindex(systems)
    )
    inv = (
        peer_rows[peer_rows["path"] == "invoke"]
        .groupby("system", sort=False)[["p50_ms", "p99_ms"]]
        .median()
        .reindex(systems)
    )
    right.bar(x - 0.3, lat["p50_ms"], 0.2, label="p50")
    right.bar(x - 0.1, lat["p99_ms"], 0.2, label="p99")
    right.bar(x + 0.1, inv["p50_ms"], 0.2, label="p50, one request (/invoke)")
    right.bar(x + 0.3, inv["p99_ms"], 0.2, label="p99, one request (/invoke)")
    right.set(title="Sequential round trip", ylabel="ms", xticks=x, xticklabels=systems)
    right.legend(fontsize=8)
    return _save(fig, path)


def hosts(summary: pd.DataFrame, path: Path) -> Path:
    """The emulated-hosts axis: weak-scaling efficiency and no-op throughput against hosts,
    and echo latency against payload size over rate-limited host links."""
    study = summary["study"]
    weak, thr = summary[study == "hosts_weak"], summary[study == "hosts_throughput"]
    pay = summary[study == "hosts_payload"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    _errorbars(left, weak, "hosts", "efficiency", scale=100)
    left.axhline(100, color="black", lw=0.8, ls="--")
    left.set(
        title="Weak scaling across hosts (4 processes each)",
        xlabel="hosts",
        ylabel="efficiency % (median, min–max)",
        ylim=(0, 110),
    )
    _errorbars(middle, thr, "hosts", "throughput")
    middle.set(
        title="No-op throughput across hosts (2 processes each)",
        xlabel="hosts",
        ylabel="tasks/s (median, min–max)",
    )
    for (mode, link), g in pay.groupby(["mode", "link"], sort=False):
        g = g.sort_values("arg")
        right.plot(
            g["arg"] / 1000,
            1000 * g["latency_p50_median"],
            marker="o",
            color=COLORS.get(mode),
            ls="-" if link == "1gbit" else "--",
            label=f"{mode}, {link} links",
        )
    right.set(
        title="Echo over rate-limited host links",
        xlabel="payload KB (log)",
        ylabel="p50 ms (log)",
        xscale="log",
        yscale="log",
    )
    right.grid(alpha=0.3)
    if not pay.empty:
        right.legend(fontsize=8)
    for ax, df in ((left, weak), (middle, thr)):
        if not df.empty:
            ax.set_xticks(sorted(df["hosts"].unique()))
    return _save(fig, path)


def partition(timeline: pd.DataFrame, path: Path) -> Path:
    """Tasks stored over time around a host's partition, per mode, with the cut, the
    detection, the restored link and the rejoin marked."""
    modes = list(timeline["mode"].drop_duplicates())
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        t = timeline[timeline["mode"] == mode]
        stored = np.sort(t[t["kind"] == "stored"]["t_s"].to_numpy())
        ax.step(stored, np.arange(1, len(stored) + 1), where="post", color=COLORS.get(mode))
        marks = {
            "fault": ("link cut", "red"),
            "heal": ("link restored", "green"),
            "rejoin": ("worker serving again", "blue"),
        }
        for kind, (label, color) in marks.items():
            for x in t[t["kind"] == kind]["t_s"]:
                ax.axvline(x, color=color, ls="--", lw=1, label=label)
        lost = t[t["kind"] == "worker_lost"]["t_s"]
        ax.scatter(
            lost, [0] * len(lost), marker="x", color="black", zorder=3, label="worker declared lost"
        )
        ax.set(
            title=f"{mode}: one host cut off",
            xlabel="seconds from the cut",
            ylabel="tasks stored (cumulative)",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def all_plots(out: Path) -> dict[str, Path]:
    """Every plot of the run in ``out``, by name."""
    tasks = read_tasks(out)
    summary = pd.read_csv(out / "summary.csv")
    plots = {}
    if (out / "peer.csv").exists():
        plots["peer"] = peer(pd.read_csv(out / "peer.csv"), out / "peer.png")
    if summary["study"].str.startswith("hosts_").any():
        plots["hosts"] = hosts(summary, out / "hosts.png")
    if (out / "partition.csv").exists():
        plots["partition"] = partition(pd.read_csv(out / "partition.csv"), out / "partition.png")
    return plots | {
        "throughput": throughput(summary, out / "throughput.png"),
        "weak_scaling": weak_scaling(summary, out / "weak_scaling.png"),
        "latency_cdf": latency_cdf(tasks, out / "latency_cdf.png"),
        "overhead": overhead_breakdown(tasks, out / "overhead_breakdown.png"),
        "payload": payload_latency(summary, out / "payload_latency.png"),
    }
