"""Two sweeps side by side: what moved beyond the repeat-to-repeat noise.

    python -m experiments.compare RUN_A RUN_B [--out DIR] [--names A B] [--any-machine]
    nox -s compare -- RUN_A RUN_B

For every configuration both runs measured (same study, mode, shape, workload, load) and
each metric (throughput, latency p50 and p99, weak-scaling efficiency), it tests the
per-repeat values of the two runs (``runs.csv``): Welch's t-test on their logarithms, the
p-values of all the pair's comparisons adjusted together (Benjamini–Hochberg). A difference
is flagged only when the adjusted p-value is below ``ALPHA`` and the ratio of medians B / A
moves beyond ``MIN_EFFECT`` and beyond each run's own spread over its repeats; an
improvement or a regression by the metric's direction. With fewer than ``MIN_REPEATS``
repeats on either side the verdict is "too few repeats". Configurations found in one run
only are named.

Writes ``COMPARE.md``, ``compare.csv`` (one row per configuration and metric) and plots with
both runs overlaid into DIR (default ``results/compare-<A>-vs-<B>``). Runs measured on
different machines (``machine.json``: host name, CPUs, processor, platform) are refused
unless ``--any-machine`` is given: their differences would be the machines'.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from experiments import setup_logging
from experiments.analysis.figures import config_label
from experiments.analysis.metrics import CONFIG_KEYS, with_defaults
from experiments.analysis.pages import page

log = logging.getLogger("compare")

#: metric -> True when higher is better
METRICS = {"throughput": True, "latency_p50": False, "latency_p99": False, "efficiency": True}
#: what must match for two runs to be "the same machine"
MACHINE_FIELDS = ("hostname", "cpu_count", "processor", "platform")
#: configurations are matched on these (the load kind follows from the study and the load's
#: parameters, and runs from before it was recorded lack it; a user function is matched by its
#: name and arguments, not by where its file lies, so a new version of it compares with the old)
KEYS = [k for k in CONFIG_KEYS if k not in ("loop", "function")]
#: the false-discovery rate over all comparisons of a pair
ALPHA = 0.05
#: the smallest change flagged, whatever the tests say
MIN_EFFECT = 0.10
#: fewer repeats than this on a side: "too few repeats"
MIN_REPEATS = 3
TEMPLATES = Path(__file__).parent / "templates"


class Incomparable(ValueError):
    """Two runs that cannot be compared (different machines, or nothing in common)."""


def _runs(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "runs.csv"
    if not path.exists():
        raise Incomparable(f"{run_dir} is not a sweep's run directory (no runs.csv)")
    runs = with_defaults(pd.read_csv(path))
    runs["arg"] = runs["arg"].astype(float)
    runs["rate"] = runs["rate"].astype(float)
    return runs


def machine_differences(a: Path, b: Path) -> list[str]:
    """The machine fields on which runs ``a`` and ``b`` differ (fields both recorded)."""
    ma, mb = (json.loads((d / "machine.json").read_text()) for d in (a, b))
    return [
        f"{field}: {ma[field]!r} against {mb[field]!r}"
        for field in MACHINE_FIELDS
        if field in ma and field in mb and ma[field] != mb[field]
    ]


def _p_value(va: np.ndarray, vb: np.ndarray) -> float:
    """Welch's two-sided t-test on the logarithms; samples without spread: 0 if their
    values differ, 1 if not."""
    la, lb = np.log(va), np.log(vb)
    if la.std() == 0 and lb.std() == 0:
        return float(la.mean() != lb.mean())
    return float(stats.ttest_ind(lb, la, equal_var=False).pvalue)


def _spread(values: np.ndarray) -> float:
    """A run's repeat-to-repeat spread: its largest value over its smallest."""
    return float(values.max() / values.min())


def _row(key: dict, metric: str, va: np.ndarray, vb: np.ndarray) -> dict:
    return {
        **key,
        "label": label(key),
        "metric": metric,
        "median_a": np.median(va),
        "median_b": np.median(vb),
        "min_a": va.min(),
        "max_a": va.max(),
        "min_b": vb.min(),
        "max_b": vb.max(),
        "repeats_a": len(va),
        "repeats_b": len(vb),
        "ratio": np.median(vb) / np.median(va),
        "spread": max(_spread(va), _spread(vb)),
        "p": _p_value(va, vb) if min(len(va), len(vb)) >= MIN_REPEATS else np.nan,
    }


def _verdicts(df: pd.DataFrame) -> pd.DataFrame:
    """Adjust the p-values over the pair (Benjamini–Hochberg) and give each row its verdict."""
    tested = df["p"].notna()
    df["p_adjusted"] = np.nan
    if tested.any():
        df.loc[tested, "p_adjusted"] = stats.false_discovery_control(df.loc[tested, "p"])
    shift = np.abs(np.log(df["ratio"]))
    beyond = (shift > np.log1p(MIN_EFFECT)) & (shift > np.log(df["spread"]))
    flagged = tested & (df["p_adjusted"] < ALPHA) & beyond
    better = (df["ratio"] > 1) == df["metric"].map(METRICS)
    df["verdict"] = np.where(
        ~tested,
        "too few repeats",
        np.where(~flagged, "same", np.where(better, "improved", "regressed")),
    )
    return df


def _check_machines(a: Path, b: Path) -> None:
    differences = machine_differences(a, b)
    if differences:
        raise Incomparable(
            "the runs were measured on different machines ("
            + "; ".join(differences)
            + "); pass --any-machine to compare them anyway"
        )


def compare(a: Path, b: Path, any_machine: bool = False) -> pd.DataFrame:
    """One row per shared configuration and metric: medians, ratio B/A, the larger repeat
    spread, p-values (raw and adjusted) and the verdict (``improved``, ``regressed``,
    ``same`` or ``too few repeats``)."""
    if not any_machine:
        _check_machines(a, b)
    ra, rb = _runs(a), _runs(b)
    shared = ra[KEYS].drop_duplicates().merge(rb[KEYS].drop_duplicates(), on=KEYS)
    if shared.empty:
        raise Incomparable(f"{a.name} and {b.name} have no configuration in common")
    rows = []
    for _, config in shared.iterrows():
        key = config.to_dict()
        ga, gb = (runs.merge(config.to_frame().T, on=KEYS) for runs in (ra, rb))
        for metric in METRICS:
            va, vb = ga[metric].dropna().to_numpy(float), gb[metric].dropna().to_numpy(float)
            if len(va) and len(vb):
                rows.append(_row(key, metric, va, vb))
    return _verdicts(pd.DataFrame(rows))


def label(key: dict[str, Any] | pd.Series) -> str:
    """A configuration in words: its study, shape and load (the load kind is not among the
    keys: a rate means Poisson arrivals, clients a closed loop)."""
    row = dict(key)
    row["loop"] = "poisson" if row.get("rate") else "closed" if row.get("clients") else ""
    return f"{row['study']}: {config_label(pd.Series(row))}"


def only_in(a: Path, b: Path) -> tuple[list[str], list[str]]:
    """The configurations found in run ``a`` only and in run ``b`` only, by label."""
    ca, cb = (_runs(d)[KEYS].drop_duplicates() for d in (a, b))
    both = ca.merge(cb, on=KEYS)
    return tuple(  # type: ignore[return-value]
        [label(r) for _, r in c.merge(both, on=KEYS, how="left", indicator=True).iterrows()
         if r["_merge"] == "left_only"]
        for c in (ca, cb)
    )  # fmt: skip


def _overlay(df: pd.DataFrame, metric: str, names: tuple[str, str], path: Path) -> Path | None:
    """Both runs' medians (min–max bars) per configuration for ``metric``."""
    d = df[df["metric"] == metric].reset_index(drop=True)
    if d.empty:
        return None
    scale = 1000 if metric.startswith("latency") else 1
    unit = {"throughput": "tasks/s", "efficiency": "efficiency"}.get(metric, "ms")
    y = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.35 * len(d)))
    for offset, run, color, name in (
        (-0.15, "a", "#1b9e77", names[0]),
        (0.15, "b", "#d95f02", names[1]),
    ):
        med = d[f"median_{run}"] * scale
        spread = [med - d[f"min_{run}"] * scale, d[f"max_{run}"] * scale - med]
        ax.errorbar(med, y + offset, xerr=spread, fmt="o", color=color, capsize=2, label=name)
    _mark_verdicts(ax, d["verdict"], y)
    ax.set_yticks(y, d["label"], fontsize=8)
    ax.invert_yaxis()
    log_scale = metric.startswith("latency") or (d["median_a"].max() > 20 * d["median_a"].min())
    ax.set_xlabel(f"{metric.replace('_', ' ')} ({unit}; median, min–max over repeats)")
    ax.set_xscale("log" if log_scale else "linear")
    title = f"{metric.replace('_', ' ')}: A = {names[0]}, B = {names[1]}"
    ax.set_title(
        textwrap.fill(title + " (▲ improved, ▼ regressed beyond the noise)", 90), fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _mark_verdicts(ax: plt.Axes, verdicts: pd.Series, y: np.ndarray) -> None:
    for i, verdict in enumerate(verdicts):
        if verdict in ("improved", "regressed"):
            up = verdict == "improved"
            ax.annotate("▲" if up else "▼", (1.0, y[i]), xycoords=("axes fraction", "data"),
                        color="green" if up else "red", va="center")  # fmt: skip


def _table(df: pd.DataFrame) -> str:
    lines = [
        "| configuration | metric | A | B | B / A | spread | p (adjusted) | repeats | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        scale = 1000 if r.metric.startswith("latency") else 1
        unit = " ms" if scale == 1000 else ""
        p = "—" if np.isnan(r.p_adjusted) else f"{r.p_adjusted:.3g}"
        lines.append(
            f"| {r.label} | {r.metric} | {r.median_a * scale:.4g}{unit} | "
            f"{r.median_b * scale:.4g}{unit} | {r.ratio:.3f} | {r.spread:.2f} | {p} | "
            f"{r.repeats_a}/{r.repeats_b} | {r.verdict} |"
        )
    return "\n".join(lines)


def run_name(run_dir: Path) -> str:
    """A run's name for legends: its commit and date (``machine.json``), else its folder."""
    info = json.loads((run_dir / "machine.json").read_text())
    commit, date = str(info.get("git_commit", ""))[:7], str(info.get("date", ""))[:10]
    return f"{commit} of {date}" if commit and date else run_dir.resolve().name


def write(
    a: Path, b: Path, out: Path, any_machine: bool = False, names: tuple[str, str] | None = None
) -> Path:
    """Compare runs ``a`` and ``b``; write COMPARE.md, compare.csv and plots into ``out``."""
    df = compare(a, b, any_machine)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "compare.csv", index=False)
    names = names or (f"A: {run_name(a)}", f"B: {run_name(b)}")
    plots = [_overlay(df, m, names, out / f"compare_{m}.png") for m in METRICS]
    only_a, only_b = only_in(a, b)
    improved, regressed = df[df["verdict"] == "improved"], df[df["verdict"] == "regressed"]
    text = page(
        TEMPLATES,
        "compare.jinja",
        names=(a.resolve().name, b.resolve().name),
        a=a, b=b,
        ma=json.loads((a / "machine.json").read_text()),
        mb=json.loads((b / "machine.json").read_text()),
        differences=machine_differences(a, b),
        shared=df.groupby(KEYS, dropna=False).ngroups,
        comparisons=len(df),
        improved=improved, regressed=regressed,
        same=int((df["verdict"] == "same").sum()),
        too_few=int((df["verdict"] == "too few repeats").sum()),
        only_a=only_a, only_b=only_b,
        alpha=ALPHA, min_effect=round(100 * MIN_EFFECT), min_repeats=MIN_REPEATS,
        improved_table=_table(improved), regressed_table=_table(regressed),
        plots=[p for p in plots if p],
        table=_table(df),
    )  # fmt: skip
    (out / "COMPARE.md").write_text(text)
    return out / "COMPARE.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path, help="the baseline run directory")
    parser.add_argument("run_b", type=Path, help="the run to compare against it")
    parser.add_argument("--out", type=Path, default=None, help="where to write COMPARE.md")
    parser.add_argument("--names", nargs=2, default=None, metavar=("A", "B"),
                        help="the runs' names in plots (default: commit and date)")  # fmt: skip
    parser.add_argument(
        "--any-machine", action="store_true", help="compare runs of different machines"
    )
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    out = args.out or Path("results") / (
        f"compare-{args.run_a.resolve().name}-vs-{args.run_b.resolve().name}"
    )
    try:
        path = write(
            args.run_a, args.run_b, out, args.any_machine, args.names and tuple(args.names)
        )
    except Incomparable as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    df = pd.read_csv(out / "compare.csv")
    only_a, only_b = only_in(args.run_a, args.run_b)
    print(
        f"comparison: {path} ({df.groupby(KEYS, dropna=False).ngroups} configurations, "
        f"{(df['verdict'] == 'improved').sum()} improved, "
        f"{(df['verdict'] == 'regressed').sum()} regressed, "
        f"{len(only_a)} only in A, {len(only_b)} only in B)"
    )
