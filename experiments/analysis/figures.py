"""Plots of a sweep, from its CSVs only: one PNG per message, units on every axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.analysis.metrics import PARTS, per_task, read_tasks, with_defaults

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


def celery_comparison(rows: pd.DataFrame, path: Path) -> Path:
    """Throughput (REST and batch paths) and round-trip latency, faas against Celery."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    systems = list(rows["system"].drop_duplicates())
    _celery_throughput(left, rows, systems)
    _celery_latency(right, rows, systems)
    return _save(fig, path)


def _celery_throughput(ax: plt.Axes, rows: pd.DataFrame, systems: list[str]) -> None:
    x = np.arange(len(systems))
    celery_rest = rows[(rows["system"] == "celery") & (rows["path"] == "rest")][
        "tasks_per_s"
    ].median()
    for offset, path_name in ((-0.2, "rest"), (0.2, "batch")):
        rates = rows[rows["path"] == path_name].groupby("system", sort=False)["tasks_per_s"]
        median = rates.median().reindex(systems)
        spread = [median - rates.min().reindex(systems), rates.max().reindex(systems) - median]
        label = "one request per task" if path_name == "rest" else "batch path"
        bars = ax.bar(x + offset, median, 0.4, yerr=spread, capsize=3, label=label)
        ax.bar_label(bars, labels=[f"{v / celery_rest:.1f}×" for v in median], fontsize=8)
    ax.set(
        title="No-op throughput (× Celery's one-per-task rate)",
        ylabel="tasks/s",
        xticks=x,
        xticklabels=systems,
    )
    ax.legend(fontsize=8)


def _celery_latency(ax: plt.Axes, rows: pd.DataFrame, systems: list[str]) -> None:
    x = np.arange(len(systems))

    def medians(path_name: str) -> pd.DataFrame:
        of_path = rows[rows["path"] == path_name].groupby("system", sort=False)
        return of_path[["p50_ms", "p99_ms"]].median().reindex(systems)

    lat, inv = medians("latency"), medians("invoke")
    ax.bar(x - 0.3, lat["p50_ms"], 0.2, label="p50")
    ax.bar(x - 0.1, lat["p99_ms"], 0.2, label="p99")
    ax.bar(x + 0.1, inv["p50_ms"], 0.2, label="p50, one request (/invoke)")
    ax.bar(x + 0.3, inv["p99_ms"], 0.2, label="p99, one request (/invoke)")
    ax.set(title="Sequential round trip", ylabel="ms", xticks=x, xticklabels=systems)
    ax.legend(fontsize=8)


def hosts(summary: pd.DataFrame, path: Path) -> Path:
    """The emulated-hosts axis: weak-scaling efficiency and no-op throughput against hosts,
    and echo latency against payload size over rate-limited host links."""
    study = summary["study"]
    weak, thr = summary[study == "hosts_weak"], summary[study == "hosts_throughput"]
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
    for ax, df in ((left, weak), (middle, thr)):
        if not df.empty:
            ax.set_xticks(sorted(df["hosts"].unique()))
    _links(right, summary[study == "hosts_payload"])
    return _save(fig, path)


def _links(ax: plt.Axes, pay: pd.DataFrame) -> None:
    """Echo p50 against payload size, per mode and host link rate."""
    for (mode, link), g in pay.groupby(["mode", "link"], sort=False):
        g = g.sort_values("arg")
        ax.plot(g["arg"] / 1000, 1000 * g["latency_p50_median"], marker="o",
                color=COLORS.get(mode), ls="-" if link == "1gbit" else "--",
                label=f"{mode}, {link} links")  # fmt: skip
    ax.set(
        title="Echo over rate-limited host links",
        xlabel="payload KB (log)",
        ylabel="p50 ms (log)",
        xscale="log",
        yscale="log",
    )
    ax.grid(alpha=0.3)
    if not pay.empty:
        ax.legend(fontsize=8)


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


#: The studies of the built-in grids; any other study name is the user's (see spec.py).
STANDARD = {"throughput", "weak_scaling", "latency", "payload", "load_curve"}


def load_curve(summary: pd.DataFrame, path: Path, celery: pd.DataFrame | None = None) -> Path:
    """Latency (p50, p99) and achieved throughput against the offered Poisson rate, per mode
    (and Celery's, from ``celery`` rows with the same columns, when given)."""
    df = summary[summary["study"] == "load_curve"]
    if celery is not None and not celery.empty:
        df = pd.concat([df, celery[celery["study"] == "load_curve"].assign(mode="celery")])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, g in df.groupby("mode", sort=False):
        g = g.sort_values("rate")
        color = COLORS.get(mode)
        for q, style in (("p50", "o-"), ("p99", "s--")):
            ms = 1000 * g[f"latency_{q}_median"]
            left.plot(g["rate"], ms, style, color=color, label=f"{mode} {q}")
        spread = [g["throughput_median"] - g["throughput_min"],
                  g["throughput_max"] - g["throughput_median"]]  # fmt: skip
        right.errorbar(g["rate"], g["throughput_median"], yerr=spread, marker="o", capsize=3,
                       color=color, label=mode)  # fmt: skip
    top = df["rate"].max() if not df.empty else 1
    right.plot([0, top], [0, top], color="black", lw=0.8, ls=":", label="achieved = offered")
    left.set(
        title="Latency against offered load",
        xlabel="offered tasks/s (Poisson arrivals)",
        ylabel="latency ms (median of repeats, log)",
        yscale="log",
    )
    right.set(
        title="Achieved against offered load",
        xlabel="offered tasks/s (Poisson arrivals)",
        ylabel="achieved tasks/s (median, min–max)",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        if not df.empty:
            ax.legend(fontsize=8)
    return _save(fig, path)


def config_label(row: pd.Series) -> str:
    """A configuration in a few characters: mode, workers x procs, hosts, load."""
    label = f"{row['mode']} {row['workers']}x{row['procs']}"
    if row.get("hosts", 0):
        label += f" on {row['hosts']} hosts"
    if row.get("loop") == "closed":
        label += f", {row['clients']} clients"
    elif row.get("loop") == "poisson":
        label += f", {row['rate']:g}/s"
    if row.get("workload") in ("sleep", "cpu", "echo"):
        label += f", {row['workload']}({row['arg']:g})"
    return label


def studies(summary: pd.DataFrame, path: Path) -> Path:
    """The user's studies (any study of a spec outside the built-in ones): throughput and
    latency p50/p99 of every configuration, one row of panels per study."""
    df = with_defaults(summary)
    df = df[~df["study"].isin(STANDARD) & ~df["study"].str.startswith("hosts_")]
    names = list(df["study"].drop_duplicates())
    fig, axes = plt.subplots(len(names), 2, figsize=(12, 1.5 + 0.45 * len(df)), squeeze=False)
    for (left, right), name in zip(axes, names, strict=True):
        g = df[df["study"] == name].reset_index(drop=True)
        labels = [config_label(row) for _, row in g.iterrows()]
        y = np.arange(len(g))
        colors = [COLORS.get(m, "#333333") for m in g["mode"]]
        left.barh(y, g["throughput_median"], color=colors)
        left.errorbar(
            g["throughput_median"],
            y,
            xerr=[
                g["throughput_median"] - g["throughput_min"],
                g["throughput_max"] - g["throughput_median"],
            ],
            fmt="none",
            color="black",
            capsize=3,
        )
        left.set(title=f"{name}: throughput", xlabel="tasks/s (median, min–max)")
        left.set_yticks(y, labels)
        right.scatter(1000 * g["latency_p50_median"], y, color=colors, marker="o", label="p50")
        right.scatter(
            1000 * g["latency_p99_median"], y, color=colors, marker="|", s=200, label="p99"
        )
        right.set(title=f"{name}: latency", xlabel="ms (median of repeats, log)", xscale="log")
        right.set_yticks(y, labels)
        right.legend(fontsize=8)
        for ax in (left, right):
            ax.grid(alpha=0.3)
            ax.invert_yaxis()
    return _save(fig, path)


def parity_axes(ax: plt.Axes, values: pd.Series, band: float, label: str, band_label: str) -> None:
    """Log axes of predicted against measured ``label`` spanning ``values``: the diagonal
    and the band of ±``band`` around it shaded."""
    lo, hi = values.min() * 0.8, values.max() * 1.2
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.fill_between(
        [lo, hi],
        [lo * (1 - band), hi * (1 - band)],
        [lo * (1 + band), hi * (1 + band)],
        color="grey",
        alpha=0.15,
        label=band_label,
    )
    ax.set(xscale="log", yscale="log", xlabel=f"measured {label}", ylabel=f"predicted {label}")


MARKERS = {"throughput": "o", "weak_scaling": "s", "latency": "D", "load_curve": "^"}


def model_parity(table: pd.DataFrame, path: Path) -> Path:
    """The model's predictions against the run's measurements (``model.csv``): throughput
    and p50, one point per configuration (mean over seeds, interval; median over repeats,
    min–max), marker by study, colour by mode, the target band shaded."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, metric, label, band in (
        (axes[0], "throughput_tps", "throughput (tasks/s)", 0.15),
        (axes[1], "p50_ms", "p50 latency (ms)", 0.20),
    ):
        for (study, mode), g in table.groupby(["study", "mode"], sort=False):
            ax.errorbar(
                g[f"measured_{metric}"],
                g[f"predicted_{metric}"],
                xerr=[
                    g[f"measured_{metric}"] - g[f"measured_{metric}_min"],
                    g[f"measured_{metric}_max"] - g[f"measured_{metric}"],
                ],
                yerr=g[f"predicted_{metric}_ci"],
                fmt=MARKERS.get(study, "v"),
                mfc="none",
                color=COLORS.get(mode),
                label=f"{study}, {mode}",
            )
        values = pd.concat([table[f"measured_{metric}"], table[f"predicted_{metric}"]])
        parity_axes(ax, values, band, label, f"±{band:.0%} (target)")
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle("The model against this run (configurations it expresses)")
    return _save(fig, path)


def all_plots(out: Path) -> dict[str, Path]:
    """Every plot of the run in ``out``, by name (each only where its study ran)."""
    tasks = read_tasks(out)
    summary = pd.read_csv(out / "summary.csv")
    present = set(summary["study"])
    plots = {}
    if (out / "celery.csv").exists():
        plots["celery"] = celery_comparison(pd.read_csv(out / "celery.csv"), out / "celery.png")
    if summary["study"].str.startswith("hosts_").any():
        plots["hosts"] = hosts(summary, out / "hosts.png")
    if (out / "partition.csv").exists():
        plots["partition"] = partition(pd.read_csv(out / "partition.csv"), out / "partition.png")
    if "throughput" in present:
        plots["throughput"] = throughput(summary, out / "throughput.png")
    if "weak_scaling" in present:
        plots["weak_scaling"] = weak_scaling(summary, out / "weak_scaling.png")
    if "latency" in present:
        plots["latency_cdf"] = latency_cdf(tasks, out / "latency_cdf.png")
        plots["overhead"] = overhead_breakdown(tasks, out / "overhead_breakdown.png")
    if "payload" in present:
        plots["payload"] = payload_latency(summary, out / "payload_latency.png")
    if "load_curve" in present:
        curve = out / "celery_curve.csv"
        plots["load_curve"] = load_curve(
            summary, out / "load_curve.png", pd.read_csv(curve) if curve.exists() else None
        )
    if (out / "model.csv").exists():
        model = pd.read_csv(out / "model.csv")
        if not model.empty:
            plots["model"] = model_parity(model, out / "model_parity.png")
    if (~summary["study"].isin(STANDARD) & ~summary["study"].str.startswith("hosts_")).any():
        plots["studies"] = studies(summary, out / "studies.png")
    return plots
