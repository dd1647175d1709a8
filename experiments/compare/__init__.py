"""Two sweeps side by side: what moved beyond the repeat-to-repeat noise.

    python -m experiments.compare RUN_A RUN_B [--out DIR] [--any-machine]
    nox -s compare -- RUN_A RUN_B

For every configuration both runs measured (same study, mode, shape, workload, load), and
for each metric — throughput, latency p50 and p99, weak-scaling efficiency — it takes the
per-repeat values of each run (``runs.csv``), their medians, the ratio B / A of the medians
and a 95 % bootstrap confidence interval of that ratio (``scipy.stats.bootstrap``, 9 999
resamples of the repeats of each run, percentile method). A difference counts when the
interval excludes 1; it is an improvement or a regression by the metric's direction
(throughput and efficiency: higher is better; latency: lower is better). With fewer than 2
repeats in either run there is no interval and nothing is flagged.

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
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from experiments import setup_logging
from experiments.analysis.figures import config_label  # noqa: E402
from experiments.analysis.metrics import CONFIG_KEYS, with_defaults  # noqa: E402

log = logging.getLogger("compare")

#: metric -> True when higher is better
METRICS = {"throughput": True, "latency_p50": False, "latency_p99": False, "efficiency": True}
#: what must match for two runs to be "the same machine"
MACHINE_FIELDS = ("hostname", "cpu_count", "processor", "platform")
#: configurations are matched on these (the load kind follows from the study and the load's
#: parameters; runs from before it was recorded lack it)
KEYS = [k for k in CONFIG_KEYS if k != "loop"]
CONFIDENCE = 0.95
RESAMPLES = 9_999


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


def ratio_interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The bootstrap interval (``CONFIDENCE``) of median(b) / median(a); NaNs when either
    sample has fewer than 2 values."""
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")

    def ratio(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    result = stats.bootstrap(
        (a, b),
        ratio,
        n_resamples=RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        paired=False,
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def compare(a: Path, b: Path, any_machine: bool = False) -> pd.DataFrame:
    """One row per shared configuration and metric: medians, ratio B/A, its interval and
    the verdict (``improved``, ``regressed`` or ``same``)."""
    if not any_machine:
        differences = machine_differences(a, b)
        if differences:
            raise Incomparable(
                "the runs were measured on different machines ("
                + "; ".join(differences)
                + "); pass --any-machine to compare them anyway"
            )
    ra, rb = _runs(a), _runs(b)
    shared = ra[KEYS].drop_duplicates().merge(rb[KEYS].drop_duplicates(), on=KEYS)
    if shared.empty:
        raise Incomparable(f"{a.name} and {b.name} have no configuration in common")
    rows = []
    for seed, (_, config) in enumerate(shared.iterrows()):
        key = config.to_dict()
        pick = lambda runs, key=key: runs[(runs[KEYS] == pd.Series(key)).all(axis=1)]  # noqa: E731
        ga, gb = pick(ra), pick(rb)
        for metric, higher_better in METRICS.items():
            va, vb = ga[metric].dropna().to_numpy(), gb[metric].dropna().to_numpy()
            if not len(va) or not len(vb):
                continue
            low, high = ratio_interval(va, vb, seed)
            ratio = np.median(vb) / np.median(va)
            verdict = "same"
            if low > 1 or high < 1:
                verdict = "improved" if (low > 1) == higher_better else "regressed"
            rows.append(
                {
                    **key,
                    "label": f"{key['study']}: {config_label(pd.Series(key))}",
                    "metric": metric,
                    "median_a": np.median(va),
                    "median_b": np.median(vb),
                    "min_a": va.min(),
                    "max_a": va.max(),
                    "min_b": vb.min(),
                    "max_b": vb.max(),
                    "repeats_a": len(va),
                    "repeats_b": len(vb),
                    "ratio": ratio,
                    "ci_low": low,
                    "ci_high": high,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def _overlay(df: pd.DataFrame, metric: str, names: tuple[str, str], path: Path) -> Path | None:
    """Both runs' medians (min–max bars) per configuration for ``metric``."""
    d = df[df["metric"] == metric].reset_index(drop=True)
    if d.empty:
        return None
    scale, unit = (1000, "ms") if metric.startswith("latency") else (1, "")
    unit = {"throughput": "tasks/s", "efficiency": "efficiency"}.get(metric, unit)
    y = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.3 * len(d)))
    for offset, run, color, name in (
        (-0.15, "a", "#1b9e77", names[0]),
        (0.15, "b", "#d95f02", names[1]),
    ):
        med = d[f"median_{run}"] * scale
        ax.errorbar(
            med,
            y + offset,
            xerr=[med - d[f"min_{run}"] * scale, d[f"max_{run}"] * scale - med],
            fmt="o",
            color=color,
            capsize=2,
            label=name,
        )
    for i, verdict in enumerate(d["verdict"]):
        if verdict != "same":
            ax.annotate(
                "▲" if verdict == "improved" else "▼",
                (1.0, y[i]),
                xycoords=("axes fraction", "data"),
                color="green" if verdict == "improved" else "red",
                va="center",
            )
    ax.set_yticks(y, d["label"], fontsize=7)
    ax.invert_yaxis()
    log_scale = metric.startswith("latency") or (d["median_a"].max() > 20 * d["median_a"].min())
    ax.set(
        xlabel=f"{metric.replace('_', ' ')} {unit} (median, min–max over repeats)",
        xscale="log" if log_scale else "linear",
        title=f"{metric.replace('_', ' ')}: {names[0]} against {names[1]} "
        "(▲ improved / ▼ regressed beyond the noise)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _table(df: pd.DataFrame) -> str:
    lines = [
        "| configuration | metric | A | B | B / A | 95 % interval | repeats |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        scale = 1000 if r.metric.startswith("latency") else 1
        unit = " ms" if scale == 1000 else ""
        interval = "—" if np.isnan(r.ci_low) else f"{r.ci_low:.3f}–{r.ci_high:.3f}"
        lines.append(
            f"| {r.label} | {r.metric} | {r.median_a * scale:.4g}{unit} | "
            f"{r.median_b * scale:.4g}{unit} | {r.ratio:.3f} | {interval} | "
            f"{r.repeats_a}/{r.repeats_b} |"
        )
    return "\n".join(lines)


def write(a: Path, b: Path, out: Path, any_machine: bool = False) -> Path:
    """Compare runs ``a`` and ``b``; write COMPARE.md, compare.csv and plots into ``out``."""
    df = compare(a, b, any_machine)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "compare.csv", index=False)
    names = (a.resolve().name, b.resolve().name)
    plots = [_overlay(df, m, names, out / f"compare_{m}.png") for m in METRICS]
    ma, mb = (json.loads((d / "machine.json").read_text()) for d in (a, b))
    improved, regressed = df[df["verdict"] == "improved"], df[df["verdict"] == "regressed"]
    configs = df.groupby(KEYS, dropna=False).ngroups
    ra, rb = _runs(a), _runs(b)
    only_a = len(ra[KEYS].drop_duplicates()) - configs
    only_b = len(rb[KEYS].drop_duplicates()) - configs
    differences = machine_differences(a, b)
    text = f"""# Comparison: {names[0]} (A) against {names[1]} (B)

- A: `{a}`, commit `{ma.get("git_commit")}`, measured {ma.get("date")}
- B: `{b}`, commit `{mb.get("git_commit")}`, measured {mb.get("date")}
- Machine: {
        "the same (" + str(ma.get("cpu_count")) + " CPUs)"
        if not differences
        else "**different** — " + "; ".join(differences)
    }

{configs} configurations in both runs ({only_a} only in A, {only_b} only in B);
{len(df)} comparisons (configuration × metric). **{len(improved)} improved, {len(regressed)}
regressed**, {len(df) - len(improved) - len(regressed)} within the noise.

Method: per configuration and metric, the ratio B / A of the medians over repeats and its
{CONFIDENCE:.0%} bootstrap interval (`scipy.stats.bootstrap`, {RESAMPLES} resamples of each
run's repeats, percentile method). A difference is flagged when the interval excludes 1;
throughput and efficiency are better higher, latency lower. With 3 repeats a side the
interval is coarse: a flag means every resampled ratio but the extreme 5 % fell on one side
of 1, not that the change is large.

## Regressions

{_table(regressed) if len(regressed) else "None beyond the noise."}

## Improvements

{_table(improved) if len(improved) else "None beyond the noise."}

## Plots

{chr(10).join(f"![{p.stem}]({p.name})" for p in plots if p)}

## Every comparison

{_table(df)}
"""
    (out / "COMPARE.md").write_text(text)
    return out / "COMPARE.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path, help="the baseline run directory")
    parser.add_argument("run_b", type=Path, help="the run to compare against it")
    parser.add_argument("--out", type=Path, default=None, help="where to write COMPARE.md")
    parser.add_argument(
        "--any-machine", action="store_true", help="compare runs of different machines"
    )
    args = parser.parse_args()
    setup_logging(logging.WARNING)
    out = args.out or Path("results") / (
        f"compare-{args.run_a.resolve().name}-vs-{args.run_b.resolve().name}"
    )
    try:
        path = write(args.run_a, args.run_b, out, args.any_machine)
    except Incomparable as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    df = pd.read_csv(out / "compare.csv")
    print(
        f"comparison: {path} ({df.groupby(KEYS, dropna=False).ngroups} configurations, "
        f"{(df['verdict'] == 'improved').sum()} improved, "
        f"{(df['verdict'] == 'regressed').sum()} regressed)"
    )
