"""REPORT.md from a sweep's CSVs (no re-measurement): setup, method, plots with what they
show in numbers, and a summary table comparing the modes.

    python -m experiments.analysis [RUN_DIR] [--curate]   # default: results/latest
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.analysis.figures import all_plots
from experiments.analysis.metrics import PARTS, curate, per_task, read_tasks, with_defaults
from experiments.analysis.pages import markdown, page
from experiments.analysis.tables import api_table, celery_summary
from experiments.analysis.targets import busy_share, missed_text, targets
from experiments.measure.profile import top_functions
from experiments.spec.runs import SUSTAINED

SUMMARY_COLUMNS = [
    "mode",
    "no-op tasks/s (peak)",
    "at processes",
    "CPU tasks/s (peak)",
    "weak-scaling efficiency (largest)",
    "latency p50 ms",
    "latency p99 ms",
    "largest payload p50 ms",
]


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
        rows.append(
            {
                "mode": mode,
                "no-op tasks/s (peak)": round(best["throughput_median"])
                if best is not None
                else None,
                "at processes": int(best["processes"]) if best is not None else None,
                "CPU tasks/s (peak)": round(cpu.max(), 1) if len(cpu) else None,
                "weak-scaling efficiency (largest)": (
                    f"{100 * weak.iloc[-1]['efficiency_median']:.1f}% at "
                    f"{weak.iloc[-1]['processes']}"
                    if len(weak)
                    else None
                ),
                "latency p50 ms": _ms(lat, "latency_p50_median"),
                "latency p99 ms": _ms(lat, "latency_p99_median"),
                "largest payload p50 ms": (
                    round(1000 * payload.iloc[-1]["latency_p50_median"], 1)
                    if len(payload)
                    else None
                ),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _throughput_text(summary: pd.DataFrame) -> str:
    noop = _pick(summary, "throughput", "noop")
    if noop.empty:
        return "No throughput study in this run."
    peaks = noop.groupby("mode", sort=False)["throughput_median"].max()
    base = peaks.get("local", peaks.max())
    parts = [
        f"{mode} {rate:.0f} tasks/s ({rate / base:.2f}× local)" for mode, rate in peaks.items()
    ]
    cpu = _pick(summary, "throughput", "cpu")
    cpu_text = ""
    if not cpu.empty:
        by_p = cpu.groupby("processes")["throughput_median"].max()
        cpu_text = (
            f" CPU-bound tasks reach {by_p.max():.1f} tasks/s at {by_p.idxmax()} "
            f"processes (from {by_p.iloc[0]:.1f} with {by_p.index[0]}): the machine has "
            f"{_cpus(summary)} cores, so more processes than cores cannot add "
            "compute."
        )
    return "Peak no-op throughput (median of repeats): " + "; ".join(parts) + "." + cpu_text


def _cpus(summary: pd.DataFrame) -> str:
    return str(summary.attrs.get("cpu_count", "?"))


def _weak_text(summary: pd.DataFrame) -> str:
    weak = _pick(summary, "weak_scaling")
    if weak.empty:
        return "No weak-scaling study in this run."
    largest = weak[weak["processes"] == weak["processes"].max()]
    parts = [f"{r.mode} {100 * r.efficiency_median:.1f}%" for r in largest.itertuples()]
    worst = weak.loc[weak["efficiency_median"].idxmin()]
    return (
        f"At {int(weak['processes'].max())} processes the efficiency is "
        + ", ".join(parts)
        + f". The lowest median is {100 * worst['efficiency_median']:.1f}%"
        f" ({worst['mode']}, {int(worst['processes'])} processes). Sleep tasks leave the "
        f"{_cpus(summary)} cores idle, so what is lost is the platform's own overhead: "
        "submission through HTTP and the dispatch round trips."
    )


def _latency_text(tasks: pd.DataFrame) -> str:
    lat = per_task(tasks[tasks["study"] == "latency"])
    if lat.empty:
        return "No latency study in this run."
    q = lat.groupby("mode", sort=False)["latency"].quantile([0.5, 0.95, 0.99]).unstack() * 1000
    parts = [
        f"{m} p50 {r[0.5]:.2f} / p95 {r[0.95]:.2f} / p99 {r[0.99]:.2f} ms" for m, r in q.iterrows()
    ]
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
    return (
        "Median time per step (queue = API accepted → dispatched, dispatch → started in a "
        "process, execution, result = finished → stored, observe = stored → the client "
        "saw it): " + "; ".join(parts) + "."
    )


def _payload_text(summary: pd.DataFrame) -> str:
    pay = _pick(summary, "payload").sort_values("arg")
    if pay.empty:
        return "No payload study in this run."
    parts = []
    for mode, g in pay.groupby("mode", sort=False):
        first, last = g.iloc[0], g.iloc[-1]
        parts.append(
            f"{mode} {1000 * first['latency_p50_median']:.1f} ms at "
            f"{first['arg'] / 1000:g} KB → {1000 * last['latency_p50_median']:.1f} ms "
            f"at {last['arg'] / 1000:g} KB"
        )
    return (
        "Median latency of an echo task (the argument comes back as the result): "
        + "; ".join(parts)
        + ". Not measured here, a hypothesis for the growth with size: the API decodes and "
        "encodes base64 both ways and each hop (API → Redis → dispatcher → worker → "
        "process) copies the bytes."
    )


TEMPLATES = Path(__file__).parent / "templates"


def _page(template: str, **context: object) -> str:
    return page(TEMPLATES, template, **context)


def _read(out: Path, name: str) -> pd.DataFrame | None:
    return pd.read_csv(out / name) if (out / name).exists() else None


def _partition(out: Path, plots: dict[str, Path]) -> dict | None:
    """The partition timeline (``partition.csv``: ``experiments.faults`` ``--timeline``)."""
    if "partition" not in plots:
        return None
    t = pd.read_csv(out / "partition.csv")
    parts = []
    for mode, g in t.groupby("mode", sort=False):
        first = g.groupby("kind")["t_s"].min()
        stored = g[g["kind"] == "stored"]
        parts.append(
            f"{mode}: declared lost {first['worker_lost']:.2f} s after the cut, link restored "
            f"at {first['heal']:.2f} s, serving again at {first['rejoin']:.2f} s; "
            f"{len(stored)} tasks stored, {int((stored['label'] != 'COMPLETED').sum())} not "
            "COMPLETED"
        )
    return {"plot": plots["partition"].name, "parts": parts}


def _hosts_large(out: Path) -> dict | None:
    """The large weak-scaling point (``hosts_weak.csv``) and what its profiles say."""
    df = _read(out, "hosts_weak.csv")
    if df is None:
        return None
    parts = []
    for mode, g in df.groupby("mode", sort=False):
        e = 100 * g["efficiency"]
        busy = [
            f"{name} {100 * busy_share(raw):.0f} %"
            for name in ("dispatcher", "api", "worker")
            if (raw := out / "profile" / f"hosts-{mode}" / f"{name}.txt").exists()
        ]
        text = f"{mode} {e.median():.1f} % ({e.min():.1f}–{e.max():.1f})"
        if busy:
            text += f", busy (py-spy samples outside the event loop or poll): {', '.join(busy)}"
        parts.append(text)
    return {
        "hosts": int(df["hosts"].iloc[0]),
        "procs": int(df["procs_per_host"].iloc[0]),
        "repeats": len(df) // df["mode"].nunique(),
        "parts": parts,
    }


def _hosts_text(out: Path, summary: pd.DataFrame, info: dict, plots: dict[str, Path]) -> str:
    """The "Several hosts" section: the emulated-hosts axis, if this run had one."""
    if "hosts" not in plots:
        return ""
    weak = [
        f"{mode} {100 * r['efficiency_median']:.1f} % at {int(r['hosts'])} hosts × "
        f"{int(r['procs'])} processes ({100 * r['efficiency_min']:.1f}–"
        f"{100 * r['efficiency_max']:.1f} %)"
        for mode, g in _pick(summary, "hosts_weak").groupby("mode", sort=False)
        if (r := g.sort_values("hosts").iloc[-1]) is not None
    ]
    throughput = [
        (mode, [f"{r.throughput_median:.0f} tasks/s at {int(r.hosts)}" for r in g.itertuples()])
        for mode, g in _pick(summary, "hosts_throughput").sort_values("hosts").groupby("mode")
    ]
    payload = [
        f"Echo of {last['arg'] / 1e6:g} MB over {link} links ({mode}): p50 "
        f"{1000 * last['latency_p50_median']:.1f} ms"
        for (mode, link), g in _pick(summary, "hosts_payload").groupby(["mode", "link"])
        if (last := g.sort_values("arg").iloc[-1]) is not None
    ]
    shaping = info.get("shaping", {})
    return _page(
        "hosts.jinja",
        plot=plots["hosts"].name,
        cpus=_cpus(summary),
        shaping=", ".join(f"{k} {'yes' if v else 'no'}" for k, v in shaping.items()) or "unknown",
        weak=weak,
        throughput=throughput,
        payload=payload,
        large=_hosts_large(out),
        partition=_partition(out, plots),
    )


def _celery_config(out: Path) -> dict:
    """How the Celery comparison was set up (``celery.json``; runs older than it: unknown)."""
    path = out / "celery.json"
    if path.exists():
        return json.loads(path.read_text())
    unknown = "?"
    return dict.fromkeys(("celery", "broker", "celery_pool", "processes", "clients"), unknown)


def _top(raws: list[Path]) -> list[tuple[str, str]]:
    """Each py-spy profile's six busiest functions (own time)."""
    return [
        (raw.stem, "; ".join(f"{100 * share:.1f}% {fn}" for share, fn in top_functions(raw, 6)))
        for raw in raws
    ]


def _direct(direct: pd.DataFrame | None) -> dict | None:
    if direct is None:
        return None
    table = direct.groupby("mode", sort=False)["tasks_per_s"].agg(["median", "min", "max"])
    return {
        "processes": _listed(set(direct["processes"])) if "processes" in direct else "?",
        "rates": [
            f"{m} {r['median']:.0f} ({r['min']:.0f}–{r['max']:.0f})" for m, r in table.iterrows()
        ],
    }


def _baselines_text(out: Path, summary: pd.DataFrame, tasks: pd.DataFrame | None = None) -> str:
    """The Celery comparison, the dispatcher fed directly, the API alone, the targets."""
    celery_rows, direct, api = (_read(out, n) for n in ("celery.csv", "direct.csv", "api.csv"))
    if celery_rows is None and direct is None and api is None:
        return ""
    profile = out / "profile"
    t = targets(summary, celery_rows, direct, api, tasks, profile if profile.exists() else None)
    return _page(
        "celery.jinja",
        celery=None
        if celery_rows is None
        else celery_summary(celery_rows).set_index("system").loc["celery"].to_dict(),
        cfg=_celery_config(out),
        repeats=0 if celery_rows is None else int(celery_rows["repeat"].max()) + 1,
        direct=_direct(direct),
        profiles=_top(sorted(profile.glob("*.txt"))) if direct is not None else [],
        api=None
        if api is None
        else {
            "repeats": int(api["repeat"].max()) + 1,
            "table": api_table(api),
            "profiles": _top(sorted((profile / "api").glob("*.txt"))),
        },
        targets=markdown(t[["target", "mode", "measured", "met"]]) if not t.empty else "",
        missed=missed_text(t) if not t.empty else "",
    )


#: The model's accuracy targets: the largest relative error accepted.
MODEL_TARGETS = {"throughput_tps": 0.15, "p50_ms": 0.20, "p99_ms": 0.30}
_METRIC_NAMES = {"throughput_tps": "throughput", "p50_ms": "p50", "p99_ms": "p99"}


def _model_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Per study and mode: each metric's signed error, mean (range), and how many
    configurations fall within its target."""
    rows = []
    for (study, mode), g in table.groupby(["study", "mode"], sort=False):
        row = {"study": study, "mode": mode, "configurations": len(g)}
        for metric, name in _METRIC_NAMES.items():
            err = g[f"error_{metric}"]
            within = int((err.abs() <= MODEL_TARGETS[metric]).sum())
            row[f"{name} error, mean (range)"] = (
                f"{100 * err.mean():+.0f} % ({100 * err.min():+.0f} … {100 * err.max():+.0f})"
            )
            row[f"{name} within ±{100 * MODEL_TARGETS[metric]:.0f} %"] = f"{within}/{len(g)}"
        rows.append(row)
    return pd.DataFrame(rows)


def model_errors(table: pd.DataFrame) -> list[tuple[str, float, int, float]]:
    """Per metric: its name, the mean absolute error (%), how many configurations are
    within its target, and the target (%)."""
    out = []
    for metric, name in _METRIC_NAMES.items():
        err, limit = table[f"error_{metric}"].abs(), MODEL_TARGETS[metric]
        out.append((name, 100 * err.mean(), int((err <= limit).sum()), 100 * limit))
    return out


def _model_text(out: Path, plots: dict[str, Path]) -> str:
    """The "Model against measurement" section, if the run has ``model.csv``."""
    if "model" not in plots:
        return ""
    table = pd.read_csv(out / "model.csv")
    info = json.loads((out / "model.json").read_text()) if (out / "model.json").exists() else {}
    overall = [
        f"{name} {mean:.0f} % ({within} of {len(table)} within ±{limit:.0f} %)"
        for name, mean, within, limit in model_errors(table)
    ]
    if "probed" in table and table["probed"].all():
        speed = (
            "at the speed this run measured (its speed probe before each run against the "
            f"calibration's: {table['speed'].min():.2f}–{table['speed'].max():.2f}× the "
            "calibration's)"
        )
    else:
        speed = "at the calibration's speed (this run has no speed probes)"
    return _page(
        "model.jinja",
        plot=plots["model"].name,
        info=info,
        speed=speed,
        n=len(table),
        overall=overall,
        table=markdown(_model_rows(table)),
    )


def _listed(values: set) -> str:
    return "/".join(f"{v:g}" for v in sorted(values))


def grid_facts(out: Path) -> dict[str, str]:
    """The grid's parameters in words, from the run's ``grid.json``."""
    path = out / "grid.json"
    keys = ("clients", "throughput", "weak", "latency", "payload")
    if not path.exists():
        return dict.fromkeys(keys, "(not recorded: this run has no grid.json)")
    grid = json.loads(path.read_text())
    study: dict[str, list[dict]] = {}
    for run in grid["runs"]:
        study.setdefault(run["study"], []).append(run)
    thr, weak = study.get("throughput", []), study.get("weak_scaling", [])
    lat, pay = study.get("latency", []), study.get("payload", [])
    per_process = {r["tasks"] // (r["workers"] * r["procs"]) for r in weak}
    sleep_s = {r["arg"] for r in weak}
    ideal = {n * s for n in per_process for s in sleep_s}
    procs = lambda runs: _listed({r["workers"] * r["procs"] for r in runs})  # noqa: E731
    return {
        "clients": str(grid["client_concurrency"]),
        "throughput": "; ".join(
            f"{_listed({r['tasks'] for r in thr if r['workload'] == w})} {w} tasks per run"
            for w in sorted({r["workload"] for r in thr})
        )
        + f" on {procs(thr)} processes",
        "weak": f"{_listed(per_process)} tasks of `sleep({_listed(sleep_s)})` per process on "
        f"{procs(weak)} processes (ideal makespan {_listed(ideal)} s)",
        "latency": f"{_listed({r['tasks'] for r in lat})} sequential no-op tasks per run",
        "payload": f"{_listed({r['tasks'] for r in pay})} sequential echo tasks per size, "
        f"{_listed({r['arg'] / 1000 for r in pay})} KB",
    }


def knees(summary: pd.DataFrame) -> pd.DataFrame:
    """Per mode of the load curve: the knee — the highest offered rate whose achieved
    throughput (median of repeats) is at least 90 % of it — with the latency there, and the
    first rate past it (None: the curve never saturated)."""

    curve = _pick(summary, "load_curve")
    rows = []
    for mode, g in curve.groupby("mode", sort=False):
        g = g.sort_values("rate")
        ok = g[g["throughput_median"] >= SUSTAINED * g["rate"]]
        past = g[g["throughput_median"] < SUSTAINED * g["rate"]]
        knee = ok.iloc[-1] if len(ok) else None
        rows.append(
            {
                "mode": mode,
                "knee": knee["rate"] if knee is not None else None,
                "p50_ms": 1000 * knee["latency_p50_median"] if knee is not None else None,
                "p99_ms": 1000 * knee["latency_p99_median"] if knee is not None else None,
                "low_p50_ms": 1000 * g.iloc[0]["latency_p50_median"],
                "low_rate": g.iloc[0]["rate"],
                "past": past.iloc[0]["rate"] if len(past) else None,
                "past_achieved": past.iloc[0]["throughput_median"] if len(past) else None,
            }
        )
    return pd.DataFrame(rows)


def _knee_text(k: Any) -> str:
    """One mode's knee in words (``k``: a row of :func:`knees`)."""
    if pd.isna(k.knee):
        return f"{k.mode} sustained none of its rates (lowest {k.low_rate:g}/s)"
    text = (
        f"{k.mode}: knee at {k.knee:g} tasks/s offered (p50 {k.p50_ms:.1f} ms, p99 "
        f"{k.p99_ms:.1f} ms there, against p50 {k.low_p50_ms:.1f} ms at {k.low_rate:g}/s)"
    )
    if pd.notna(k.past):
        return text + f"; at {k.past:g}/s it achieved only {k.past_achieved:.0f}"
    return text + "; it sustained every rate offered"


def _celery_knee(out: Path) -> dict | None:
    curve = _read(out, "celery_curve.csv")
    if curve is None:
        return None
    k = knees(curve[curve["study"] == "load_curve"])
    if k.empty:
        return None
    c = k.iloc[0]
    if pd.notna(c["knee"]):
        text = (
            f"has its knee at {c['knee']:g} tasks/s (p50 {c['p50_ms']:.1f} ms, "
            f"p99 {c['p99_ms']:.1f} ms there)"
        )
    else:
        text = f"sustained none of its rates (lowest {c['low_rate']:g}/s)"
    return {"processes": _celery_config(out)["processes"], "text": text}


def _load_curve_text(out: Path, summary: pd.DataFrame, plots: dict[str, Path]) -> str:
    """The "Latency against offered load" section, if this run had a load curve."""
    if "load_curve" not in plots:
        return ""
    path = out / "grid.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    curve = [r for r in recorded.get("runs", []) if r["study"] == "load_curve"]
    return _page(
        "load_curve.jinja",
        plot=plots["load_curve"].name,
        duration=_listed({round(r["tasks"] / r["rate"], 1) for r in curve}),
        skipped=len(recorded.get("skipped", [])),
        knees=[_knee_text(k) for k in knees(summary).itertuples()],
        celery=_celery_knee(out),
    )


def _own_studies(summary: pd.DataFrame) -> pd.DataFrame:
    """The spec's own studies (outside the built-in ones), built-in workloads' defaults
    filled in."""
    from experiments.analysis.figures import STANDARD

    df = with_defaults(summary)  # built-in workloads have no args (read back as NaN)
    return df[~df["study"].isin(STANDARD) & ~df["study"].str.startswith("hosts_")]


def _workload(r: pd.Series) -> str:
    if not r.get("args"):
        return r["workload"]
    args, kwargs = json.loads(r["args"])
    return f"{r['workload']}(*{args}, **{kwargs})"


def _studies_text(summary: pd.DataFrame, plots: dict[str, Path]) -> str:
    """The section of the spec's own studies (any study outside the built-in ones)."""
    if "studies" not in plots:
        return ""
    from experiments.analysis.figures import config_label

    rows = [
        {
            "study": r["study"],
            "workload": _workload(r),
            "configuration": config_label(r),
            "tasks/s (min–max)": f"{r['throughput_median']:.1f} "
            f"({r['throughput_min']:.1f}–{r['throughput_max']:.1f})",
            "p50 ms": f"{1000 * r['latency_p50_median']:.2f}",
            "p99 ms": f"{1000 * r['latency_p99_median']:.2f}",
            "repeats": int(r["repeats"]),
        }
        for _, r in _own_studies(summary).iterrows()
    ]
    return _page("studies.jinja", plot=plots["studies"].name, table=markdown(pd.DataFrame(rows)))


def headline(summary: pd.DataFrame) -> pd.DataFrame:
    """What the run found, one row per study: its configurations, the highest throughput
    (median of repeats) and which configuration reached it, and the range of p50 and p99
    latencies (medians of repeats) over its configurations."""
    from experiments.analysis.figures import config_label

    df = with_defaults(summary)
    rows = []
    for study, g in df.groupby("study", sort=False):
        best = g.loc[g["throughput_median"].idxmax()]
        p50, p99 = 1000 * g["latency_p50_median"], 1000 * g["latency_p99_median"]
        rows.append(
            {
                "study": study,
                "configurations": len(g),
                "peak tasks/s": f"{best['throughput_median']:.1f}",
                "reached by": config_label(best),
                "p50 ms (lowest–highest)": f"{p50.min():.2f}–{p50.max():.2f}",
                "p99 ms (lowest–highest)": f"{p99.min():.2f}–{p99.max():.2f}",
            }
        )
    return pd.DataFrame(rows)


#: The files a run may hold, with what each is; the report lists those present.
RAW_FILES = {
    "tasks.csv.gz": "one row per task, with every timestamp",
    "runs.csv": "one row per run (configuration × repeat)",
    "summary.csv": "one row per configuration: medians and min–max over repeats",
    "grid.json": "every configuration run, and those skipped",
    "spec.toml": "the spec the run was made from",
    "machine.json": "the machine, packages and commit",
    "celery.csv": "the Celery comparison, one row per system, path and repeat",
    "celery.json": "how the Celery comparison was set up",
    "celery_curve.csv": "Celery on the load curve's arrivals",
    "direct.csv": "the dispatcher fed directly",
    "api.csv": "the API alone",
    "hosts_weak.csv": "the large weak-scaling point on emulated hosts",
    "partition.csv": "the partition timeline",
    "model.csv": "the model's prediction of each configuration it expresses",
    "model.json": "which calibration the model used",
}


def _method(out: Path, standard: bool) -> tuple[str, str]:
    """The load's description and the definitions of the figures."""
    if not standard:
        return (
            "Tasks go through the REST API with an aiohttp client, loaded as the run's "
            "`spec.toml` declares for each study.",
            "Throughput = tasks / (last observed − first submitted); latency = observed − "
            "submitted (Poisson loads: observed − scheduled arrival).",
        )
    grid = grid_facts(out)
    return (
        f"Tasks go through the REST API with an aiohttp client (open loop: {grid['clients']} "
        f"submitters and {grid['clients']} result pollers; latency and payload studies: one "
        "task at a time).",
        f"Throughput = tasks / (last observed − first submitted), with {grid['throughput']}. "
        f"Weak-scaling efficiency = ideal makespan / measured makespan, with {grid['weak']}, "
        f"and makespan = last stored − first submitted. Latency: {grid['latency']}. "
        f"Payload: {grid['payload']}.",
    )


def _standard_sections(summary: pd.DataFrame, tasks: pd.DataFrame, plots: dict) -> list[str]:
    """The built-in studies' sections, each where its study ran."""
    sections = []
    if "throughput" in plots:
        text = _throughput_text(summary)
        sections.append(f"## Throughput\n\n![throughput]({plots['throughput'].name})\n\n{text}")
    if "weak_scaling" in plots:
        text = _weak_text(summary)
        sections.append(
            f"## Weak scaling\n\n![weak scaling]({plots['weak_scaling'].name})\n\n{text}"
        )
    if "latency_cdf" in plots:
        sections.append(
            f"## Latency\n\n![latency CDF]({plots['latency_cdf'].name})\n\n{_latency_text(tasks)}"
            f"\n\n![overhead breakdown]({plots['overhead'].name})\n\n{_overhead_text(tasks)}"
        )
    if "payload" in plots:
        text = _payload_text(summary)
        sections.append(f"## Payload size\n\n![payload latency]({plots['payload'].name})\n\n{text}")
    return sections


def render(out: Path) -> Path:
    """Plots and REPORT.md for the run in ``out`` (each section only where its study ran)."""
    tasks, runs = read_tasks(out), pd.read_csv(out / "runs.csv")
    summary = pd.read_csv(out / "summary.csv")
    info = json.loads((out / "machine.json").read_text())
    summary.attrs["cpu_count"] = info.get("cpu_count")
    plots = all_plots(out)
    standard = {"throughput", "weak_scaling", "latency", "payload"} <= set(summary["study"])
    method, definitions = _method(out, standard)
    sections = _standard_sections(summary, tasks, plots) + [
        _hosts_text(out, summary, info, plots),
        _baselines_text(out, summary, tasks),
        _load_curve_text(out, summary, plots),
        _studies_text(summary, plots),
        _model_text(out, plots),
    ]
    text = _page(
        "report.jinja",
        name=out.name,
        info=info,
        packages=", ".join(f"{k} {v}" for k, v in info["packages"].items()),
        headline=markdown(headline(summary)),
        by_mode=markdown(summary_table(summary)) if standard else "",
        method=method,
        repeats=int(summary["repeats"].max()),
        n_tasks=int(runs["tasks"].sum()),
        failed=int((runs["tasks"] - runs["completed"]).sum()),
        definitions=definitions,
        sections=[section.strip() for section in sections if section.strip()],
        raw=[(name, what) for name, what in RAW_FILES.items() if (out / name).exists()],
    )
    path = out / "REPORT.md"
    path.write_text(text)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("results/latest"))
    parser.add_argument(
        "--curate",
        action="store_true",
        help="first keep only the per-task rows a figure needs (for a record to commit)",
    )
    args = parser.parse_args()
    if args.curate:
        curate(args.run_dir)
    print(render(args.run_dir.resolve()))


if __name__ == "__main__":
    main()
