"""Plots of the simulation report: parity, the headline scaling plot, round trips, failures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from experiments.analysis.figures import parity_axes

COLORS = {"local": "tab:blue", "pull": "tab:orange", "push": "tab:green"}


def parity(table: pd.DataFrame, path: Path) -> None:
    """Predicted against measured throughput and p50, every held-out configuration."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, metric, label in (
        (axes[0], "throughput_tps", "throughput (tasks/s)"),
        (axes[1], "p50_ms", "p50 latency (ms)"),
    ):
        for mode, g in table.groupby("mode"):
            xerr = [
                g[f"measured_{metric}"] - g[f"measured_{metric}_min"],
                g[f"measured_{metric}_max"] - g[f"measured_{metric}"],
            ]
            ax.errorbar(
                g[f"measured_{metric}"],
                g[f"predicted_{metric}"],
                yerr=g[f"predicted_{metric}_ci"],
                xerr=xerr,
                fmt="o",
                mfc="none",
                color=COLORS.get(mode),
                label=f"{mode}, calibration's speed",
            )
            ax.scatter(
                g[f"measured_{metric}"],
                g[f"adjusted_{metric}"],
                color=COLORS.get(mode),
                label=f"{mode}, run's speed",
            )
        cols = [table[f"{k}_{metric}"] for k in ("measured", "predicted", "adjusted")]
        band = 0.15 if metric == "throughput_tps" else 0.20
        parity_axes(ax, pd.concat(cols), band, label, f"±{band:.0%}")
        ax.legend(fontsize=7)
    fig.suptitle("Model against measurement (held-out configurations)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def headline(scale: pd.DataFrame, measured: pd.DataFrame | None, path: Path) -> None:
    """Predicted peak throughput and p99 against processes, one line per mode and task
    length; measured points of this machine overlaid; the saturating component labelled."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {0.0: "-", 10.0: "--", 1000.0: ":"}
    for (mode, task_ms), g in scale.groupby(["mode", "task_ms"]):
        g = g.assign(processes=g["clients"]).sort_values("processes")
        label = f"{mode}, {task_ms:g} ms"
        kw = {"color": COLORS.get(mode), "ls": styles.get(task_ms, "-"), "label": label}
        axes[0].plot(g["processes"], g["throughput_tps"], marker=".", **kw)
        axes[1].plot(g["processes"], g["p99_ms"], marker=".", **kw)
        if task_ms == 0:
            last = g.iloc[-1]
            where = (last["processes"], last["throughput_tps"])
            axes[0].annotate(last["bottleneck"], where, fontsize=8, color=COLORS.get(mode))
    for mode, g in measured.groupby("mode") if measured is not None else ():
        procs = g["procs"] * g["workers"] if mode != "local" else g["procs"]
        axes[0].scatter(procs, g["measured_throughput_tps"], color=COLORS.get(mode), marker="x",
                        s=50, label=f"{mode} measured (this machine)")  # fmt: skip
    for ax, ylabel, title in (
        (axes[0], "throughput (tasks/s)", "predicted throughput"),
        (axes[1], "p99 latency (ms)", "predicted p99"),
    ):
        ax.set(xscale="log", yscale="log", xlabel="processes", ylabel=ylabel, title=title)
    axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def rtt(frame: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, g in frame.groupby("mode"):
        g = g.sort_values("rtt_ms")
        axes[0].plot(
            g["rtt_ms"], g["throughput_tps"], marker="o", color=COLORS.get(mode), label=mode
        )
        axes[1].plot(g["rtt_ms"], g["p50_ms"], marker="o", color=COLORS.get(mode), label=mode)
    axes[0].set(xscale="log", xlabel="dispatcher-worker round trip (ms)", ylabel="tasks/s")
    axes[1].set(xscale="log", xlabel="dispatcher-worker round trip (ms)", ylabel="p50 (ms)")
    axes[0].legend()
    fig.suptitle("Pull against push over the network (predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def failures(frame: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for mode, g in frame.groupby("mode"):
        g = g.sort_values("failures_per_min_per_100")
        x = g["failures_per_min_per_100"]
        axes[0].plot(x, g["retried"], marker="o", color=COLORS.get(mode), label=mode)
        axes[1].plot(x, g["p99_ms"], marker="o", color=COLORS.get(mode), label=mode)
    axes[0].set(xlabel="worker failures per minute per 100 workers", ylabel="tasks retried")
    axes[1].set(xlabel="worker failures per minute per 100 workers", ylabel="p99 (ms)")
    axes[0].legend()
    fig.suptitle("Worker failures at scale (predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
