"""REPORT.md from a sweep's CSVs (no re-measurement): setup, method, plots with what they
show in numbers, and a summary table comparing the modes.

    python -m experiments.analysis [RUN_DIR]      # default: results/latest
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from experiments.analysis.figures import all_plots
from experiments.analysis.metrics import PARTS, per_task, read_tasks, with_defaults
from experiments.analysis.tables import api_table, peer_summary
from experiments.spec.runs import SUSTAINED
from faas.models import Mode

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


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += [
        "| " + " | ".join("—" if pd.isna(v) else str(v) for v in row) + " |"
        for row in df.itertuples(index=False)
    ]
    return "\n".join(lines)


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


#: What each target asks (issue #14's table), as the report's rows name it.
REST_X, P50_X, BATCH_X, P99_X, DIRECT_TPS, WEAK, API_US = 2.0, 0.8, 5.0, 2.0, 5000, 0.95, 400
COMPONENT_NAMES = {
    "api": "API",
    "redis": "Redis",
    "dispatcher": "dispatcher",
    "worker": "workers",
    "client": "load client",
}


def cores_text(rows: pd.DataFrame) -> str:
    """Medians of the ``cores_*`` columns (:func:`experiments.measure.cpu.cores_used`) in words: how
    busy the machine was and which component kept how many cores busy."""
    if rows is None or "cores_host" not in rows or rows["cores_host"].isna().all():
        return ""
    med = rows[[c for c in rows if c.startswith("cores_")]].median()
    parts = ", ".join(
        f"{name} {med[f'cores_{key}']:.2f}"
        for key, name in COMPONENT_NAMES.items()
        if f"cores_{key}" in med
    )
    return (
        f"the machine was busy {med['cores_host']:.2f} cores of the {med['cores_had']:.2f} it "
        f"had ({parts})"
    )


def package_shares(raw: Path, n: int = 6) -> str:
    """A py-spy profile's samples by the package of the frame running (own time)."""
    from experiments.measure.profile import top_functions

    shares: dict[str, float] = {}
    for share, fn in top_functions(raw, 10_000):
        where = fn.rpartition("(")[2].split("/")[0].split(".py")[0].split(":")[0]
        shares[where] = shares.get(where, 0.0) + share
    top = sorted(shares.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{name} {100 * share:.0f} %" for name, share in top)


def _round_trip_text(tasks: pd.DataFrame | None, mode: str) -> str:
    """Where a sequential round trip's time goes in ``mode`` (the latency study, medians of
    each step from the server's timestamps)."""
    if tasks is None or "latency" not in set(tasks["study"]):
        return ""
    lat = per_task(tasks[(tasks["study"] == "latency") & (tasks["mode"] == mode)])
    if lat.empty:
        return ""
    steps = {"request in": lat["submitted"] - lat["sent"]} | {p: lat[p] for p in PARTS}
    return "a sequential round trip's steps (latency study, medians): " + ", ".join(
        f"{name} {1000 * v.median():.2f} ms" for name, v in steps.items()
    )


def _first_wave_text(tasks: pd.DataFrame | None, mode: str, processes: int) -> str:
    """How long the API took to accept the first wave of a weak-scaling run (one task per
    process), against the makespan the target allows beyond the ideal."""
    if tasks is None:
        return ""
    w = tasks[
        (tasks["study"] == "weak_scaling")
        & (tasks["mode"] == mode)
        & (tasks["processes"] == processes)
    ]
    if w.empty:
        return ""
    waves, extra = [], []
    for _, g in w.groupby("repeat"):
        start = g["submitted"].min()
        waves.append(g["submitted"].sort_values().iloc[min(processes, len(g)) - 1] - start)
        extra.append(g["stored"].max() - start - len(g) / processes * g["arg"].iloc[0])
    budget = (1 / WEAK - 1) * len(g) / processes * g["arg"].iloc[0]
    return (
        f"the API accepted the first {processes} tasks, one per process, over "
        f"{1000 * pd.Series(waves).median():.0f} ms and the makespan exceeded the ideal by "
        f"{1000 * pd.Series(extra).median():.0f} ms, medians of repeats, where the target "
        f"allows {1000 * budget:.0f} ms"
    )


def targets(
    summary: pd.DataFrame,
    peer_rows: pd.DataFrame | None,
    direct: pd.DataFrame | None,
    api: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    profiles: Path | None = None,
) -> pd.DataFrame:
    """Each performance target of the project, per mode: measured value, whether met, and
    for a target missed, what bounds it, from the run's own data (the cores each component
    kept busy, the py-spy profiles, the server's timestamps)."""
    rows = []

    def add(target: str, mode: str, value: float, text: str, met: bool, bound: str = "") -> None:
        rows.append(
            {
                "target": target,
                "mode": mode,
                "measured": text,
                "met": "yes" if met else "**no**",
                "bound": "" if met else bound,
                "value": value,
            }
        )

    if peer_rows is not None and not peer_rows.empty:
        p = peer_summary(peer_rows).set_index("system")
        for mode in tuple(Mode):
            r = p.loc[f"faas-{mode}"]
            mine = peer_rows[peer_rows["system"] == f"faas-{mode}"]
            add(
                f"REST ≥ {REST_X:g}× Celery",
                mode,
                r["rest_vs_celery"],
                f"{r['rest_tasks_per_s']:.0f} tasks/s = {r['rest_vs_celery']:.2f}×",
                r["rest_vs_celery"] >= REST_X,
                cores_text(mine[mine["path"] == "rest"]),
            )
            add(
                f"batch ≥ {BATCH_X:g}× Celery one-per-task",
                mode,
                r["batch_vs_celery"],
                f"{r['batch_tasks_per_s']:.0f} tasks/s = {r['batch_vs_celery']:.2f}×",
                r["batch_vs_celery"] >= BATCH_X,
                cores_text(mine[mine["path"] == "batch"]),
            )
            add(
                "batch against Celery's `group` (ratio only)",
                mode,
                r["batch_vs_group"],
                f"{r['batch_vs_group']:.2f}× Celery's group",
                True,
            )
            for label, key in (("execute + long-poll", ""), ("one request, /invoke", "invoke_")):
                add(
                    f"p50 ≤ {P50_X:g}× Celery's ({label})",
                    mode,
                    r[f"{key}p50_vs_celery"],
                    f"{r[f'{key}p50_ms']:.2f} ms = {r[f'{key}p50_vs_celery']:.2f}×",
                    r[f"{key}p50_vs_celery"] <= P50_X,
                    _round_trip_text(tasks, mode),
                )
                add(
                    f"p99 ≤ {P99_X:g}× Celery's ({label})",
                    mode,
                    r[f"{key}p99_vs_celery"],
                    f"{r[f'{key}p99_ms']:.2f} ms = {r[f'{key}p99_vs_celery']:.2f}×",
                    r[f"{key}p99_vs_celery"] <= P99_X,
                    _round_trip_text(tasks, mode),
                )
        for path_name in ("rest", "batch"):
            ratio = (
                p.loc["faas-pull", f"{path_name}_tasks_per_s"]
                / p.loc["faas-push", f"{path_name}_tasks_per_s"]
            )
            add(
                f"pull within 25 % of push ({path_name})",
                "pull",
                ratio,
                f"{ratio:.2f}× push",
                ratio >= 0.75,
            )
            ratio = (
                p.loc["faas-local", f"{path_name}_tasks_per_s"]
                / p.loc["faas-push", f"{path_name}_tasks_per_s"]
            )
            add(f"local ≥ push ({path_name})", "local", ratio, f"{ratio:.2f}× push", ratio >= 1.0)
    if direct is not None and not direct.empty:
        if "code" in direct:
            direct = direct[direct["code"] == "this"]
        local = direct.loc[direct["mode"] == "local", "tasks_per_s"].median()
        for mode, g in direct.groupby("mode", sort=False):
            rate = g["tasks_per_s"].median()
            bound = cores_text(g)
            spied = profiles / f"{mode}-dispatcher.txt" if profiles else None
            if spied is not None and spied.exists():
                bound += f"; the dispatcher's thread busy {100 * _busy(spied):.0f} % of samples"
            if mode != "local" and local == local:
                bound += (
                    f"; local mode, the same dispatcher with no worker hop at all, moved "
                    f"{local:.0f} tasks/s: no pipelining of the hop lifts {mode} above it"
                )
            add(
                f"fed directly ≥ {DIRECT_TPS} tasks/s",
                mode,
                rate,
                f"{rate:.0f} tasks/s",
                rate >= DIRECT_TPS,
                bound,
            )
    if api is not None and "code" in api:
        api = api[api["code"] == "this"]  # not another checkout's (api_bench --against)
    if api is not None and not api.empty:
        busy = api[api["connections"] == api["connections"].max()]
        for endpoint, g in busy.groupby("endpoint", sort=False):
            us = g["api_cpu_us"].median()
            spied = profiles / "api" / f"api-{endpoint}.txt" if profiles else None
            bound = ""
            if spied is not None and spied.exists():
                bound = "the API's samples by package: " + package_shares(spied)
            add(
                f"API CPU ≤ {API_US} µs per request",
                f"{endpoint} (API)",
                us,
                f"{us:.0f} µs",
                us <= API_US,
                bound,
            )
    weak = _pick(summary, "weak_scaling")
    for mode, g in weak.groupby("mode", sort=False):
        last = g.sort_values("processes").iloc[-1]
        processes = int(last["processes"])
        add(
            f"weak scaling ≥ {100 * WEAK:g} % at {processes}",
            mode,
            last["efficiency_median"],
            f"{100 * last['efficiency_median']:.1f} %",
            last["efficiency_median"] >= WEAK,
            _first_wave_text(tasks, mode, processes),
        )
    return pd.DataFrame(rows)


def _busy(raw: Path) -> float:
    """Share of a py-spy profile's samples not idle in the event loop or a poll."""
    from experiments.measure.profile import top_functions

    idle = ("Runner.run", "Poller.poll")
    return 1 - sum(share for share, fn in top_functions(raw, 50) if fn.startswith(idle))


def _partition_text(out: Path, plots: dict[str, Path]) -> str:
    """The partition timeline (``partition.csv``: ``experiments.faults`` ``--timeline``)."""
    if "partition" not in plots:
        return ""
    t = pd.read_csv(out / "partition.csv")
    parts = []
    for mode, g in t.groupby("mode", sort=False):
        first = lambda kind: g[g["kind"] == kind]["t_s"].min()  # noqa: B023, E731
        stored = g[g["kind"] == "stored"]
        parts.append(
            f"{mode}: declared lost {first('worker_lost'):.2f} s after the cut, link restored "
            f"at {first('heal'):.2f} s, serving again at {first('rejoin'):.2f} s; "
            f"{len(stored)} tasks stored, {int((stored['label'] != 'COMPLETED').sum())} not "
            "COMPLETED"
        )
    return (
        f"\n\n![partition timeline]({plots['partition'].name})\n\n"
        "One host of two cut off for 1.5× the heartbeat timeout while its worker runs tasks "
        "(`python -m experiments.faults partition-host --timeline FILE`): " + "; ".join(parts) + "."
    )


def _hosts_weak_text(out: Path) -> str:
    """The large weak-scaling point (``hosts_weak.csv``) and what its profiles say."""
    path = out / "hosts_weak.csv"
    if not path.exists():
        return ""
    df = pd.read_csv(path)
    h, p = int(df["hosts"].iloc[0]), int(df["procs_per_host"].iloc[0])
    parts = []
    for mode, g in df.groupby("mode", sort=False):
        e = 100 * g["efficiency"]
        busy = [
            f"{name} {100 * _busy(raw):.0f} %"
            for name in ("dispatcher", "api", "worker")
            if (raw := out / "profile" / f"hosts-{mode}" / f"{name}.txt").exists()
        ]
        parts.append(
            f"{mode} {e.median():.1f} % ({e.min():.1f}–{e.max():.1f})"
            + (
                f", busy (py-spy samples outside the event loop or poll): {', '.join(busy)}"
                if busy
                else ""
            )
        )
    return (
        f"\n\nAt {h} hosts × {p} processes ({h * p} processes; 4 × `sleep(0.2)` each, "
        f"submitted in one batch request; `python -m experiments.hosts weak-scaling`), "
        f"efficiency medians of {len(df) // df['mode'].nunique()}: " + "; ".join(parts) + "."
    )


def _hosts_text(out: Path, summary: pd.DataFrame, info: dict, plots: dict[str, Path]) -> str:
    """The "Several hosts" section: the emulated-hosts axis, if this run had one."""
    if "hosts" not in plots:
        return ""
    weak = _pick(summary, "hosts_weak")
    thr = _pick(summary, "hosts_throughput")
    pay = _pick(summary, "hosts_payload")
    parts = []
    for mode, g in weak.groupby("mode", sort=False):
        row = g.sort_values("hosts").iloc[-1]
        parts.append(
            f"{mode} {100 * row['efficiency_median']:.1f} % at {int(row['hosts'])} hosts × "
            f"{int(row['procs'])} processes ({100 * row['efficiency_min']:.1f}–"
            f"{100 * row['efficiency_max']:.1f} %)"
        )
    text = "Weak scaling across hosts: " + "; ".join(parts) + "."
    for mode, g in thr.groupby("mode", sort=False):
        g = g.sort_values("hosts")
        text += (
            f" No-op {mode}: "
            + ", ".join(
                f"{r.throughput_median:.0f} tasks/s at {int(r.hosts)}" for r in g.itertuples()
            )
            + "."
        )
    for (mode, link), g in pay.groupby(["mode", "link"], sort=False):
        last = g.sort_values("arg").iloc[-1]
        text += (
            f" Echo of {last['arg'] / 1e6:g} MB over {link} links ({mode}): p50 "
            f"{1000 * last['latency_p50_median']:.1f} ms."
        )
    text += _hosts_weak_text(out) + _partition_text(out, plots)
    shaping = info.get("shaping", {})
    offered = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in shaping.items()) or "unknown"
    return f"""## Several hosts

![several hosts]({plots["hosts"].name})

Each host is a Linux network namespace joined to a bridge by a veth pair
(`experiments/hosts/`), running one worker; Redis, the API and the dispatcher stay in the
root namespace, the dispatcher bound to the bridge. Traffic between hosts is real TCP
through real interfaces, but every host shares this machine's {_cpus(summary)} cores, so
what the figures show is the platform's overhead, not a cluster's compute. Link shaping on
this kernel: {offered} (rate limits by `tc tbf`; no delay or loss without netem).

{text}
"""


def _peer_config(out: Path) -> dict:
    """How the peer run was set up (``peer.json``; runs older than it: unknown)."""
    path = out / "peer.json"
    if path.exists():
        return json.loads(path.read_text())
    unknown = "?"
    return dict.fromkeys(("celery", "broker", "celery_pool", "processes", "clients"), unknown)


def _baselines_text(out: Path, summary: pd.DataFrame, tasks: pd.DataFrame | None = None) -> str:
    peer_rows = pd.read_csv(out / "peer.csv") if (out / "peer.csv").exists() else None
    direct = pd.read_csv(out / "direct.csv") if (out / "direct.csv").exists() else None
    if peer_rows is None and direct is None and not (out / "api.csv").exists():
        return ""
    parts = ["## Against Celery, and the dispatcher alone\n"]
    if peer_rows is not None:
        p = peer_summary(peer_rows).set_index("system")
        c = p.loc["celery"]
        cfg = _peer_config(out)
        parts.append(
            f"![faas against Celery](peer.png)\n\nCelery {cfg['celery']} ({cfg['broker']}, "
            f"{cfg['celery_pool']} with {cfg['processes']} processes) against faas with "
            f"{cfg['processes']} processes in each mode. *REST*: one request per task from "
            f"{cfg['clients']} concurrent clients (Celery `.delay()`/`.get()` in "
            f"{cfg['clients']} threads; faas one POST per task, results by long-poll)."
            " *Batch*: Celery `group(...)`; faas `Executor.map` (batch submit, "
            f"long-poll results). Celery did {c['rest_tasks_per_s']:.0f} tasks/s one per task "
            f"and {c['batch_tasks_per_s']:.0f} as a group, with round trips of "
            f"p50 {c['p50_ms']:.2f} / p99 {c['p99_ms']:.2f} ms. Medians of "
            f"{int(peer_rows['repeat'].max()) + 1} repeats"
            + (
                ", interleaved (each repeat runs every system once, on a fresh stack)"
                if cfg.get("interleaved")
                else ""
            )
            + "; ratios are to Celery's one-per-task rate and latencies, and for the batch "
            "path also to Celery's `group`.\n"
        )
    if direct is not None:
        table = direct.groupby("mode", sort=False)["tasks_per_s"].agg(["median", "min", "max"])
        processes = _listed(set(direct["processes"])) if "processes" in direct else "?"
        parts.append(
            "Dispatcher fed directly (tasks queued straight into Redis, no HTTP; "
            f"{processes} processes), tasks/s: "
            + "; ".join(
                f"{m} {r['median']:.0f} ({r['min']:.0f}–{r['max']:.0f})"
                for m, r in table.iterrows()
            )
            + ".\n"
        )
        profiles = sorted((out / "profile").glob("*.txt")) if (out / "profile").exists() else []
        if profiles:
            from experiments.measure.profile import top_functions

            parts.append(
                "Where the time goes (py-spy, 4 s of the fed-directly run, share of "
                "samples by own time; `Runner.run` is the event loop waiting):\n"
            )
            for raw in profiles:
                top = "; ".join(f"{100 * share:.1f}% {fn}" for share, fn in top_functions(raw, 6))
                parts.append(f"- **{raw.stem}**: {top}")
            parts.append("")
    api = pd.read_csv(out / "api.csv") if (out / "api.csv").exists() else None
    if api is not None:
        from experiments.measure.profile import top_functions

        parts.append("### The API alone\n")
        parts.append(
            "`POST /execute_function` and `GET /result/{id}` of a finished task, sent back to "
            "back by 1 or 32 aiohttp connections for a few seconds each (a fresh local stack of "
            "1 process per repeat; `python -m experiments.sweep.api`); CPU per request = the API "
            f"process's CPU time over the run ÷ requests answered; medians of "
            f"{int(api['repeat'].max()) + 1} repeats:\n"
        )
        parts.append(api_table(api) + "\n")
        spied = sorted((out / "profile" / "api").glob("*.txt"))
        if spied:
            parts.append("Where the API's time goes (py-spy, 32 connections, own time):\n")
            for raw in spied:
                top = "; ".join(f"{100 * share:.1f}% {fn}" for share, fn in top_functions(raw, 6))
                parts.append(f"- **{raw.stem}**: {top}")
            parts.append("")
    profiles = out / "profile" if (out / "profile").exists() else None
    t = targets(summary, peer_rows, direct, api, tasks, profiles)
    if not t.empty:
        parts.append("### Performance targets\n")
        parts.append(_markdown(t[["target", "mode", "measured", "met"]]))
        parts.append(_missed_text(t))
    return "\n".join(parts) + "\n"


#: What removes each kind of bound on real hosts (by the start of a target's name).
ON_REAL_HOSTS = {
    "REST": "the load client, Redis and the workers on hosts of their own leave the API its "
    "cores; the API keeps no state outside Redis, so more API processes behind one address "
    "add capacity",
    "batch": "the SDK client serializes and long-polls in the same process that measures; on "
    "its own host it stops competing with the platform for cores",
    "p50": "a faas round trip is two HTTP requests and hops API → Redis → dispatcher → worker "
    "and back, where Celery's is client → Redis → worker; on real hosts each hop costs a "
    "network round trip instead of a wait for a shared core, so the hop count stays: "
    "`POST /invoke` saves one request",
    "p99": "as p50; the tail is each hop waiting for one of the 2 shared cores",
    "fed directly": "the workers' processes and Redis on other hosts leave the dispatcher's "
    "thread a core of its own; past that, more dispatchers each serve their own workers",
    "API CPU": "what is left is uvicorn, asyncio and redis-py themselves, not faas's own "
    "steps; more API processes divide the load, a compiled HTTP server would cut the cost",
    "weak": "the first wave waits for the API to accept one request per task on the shared "
    "cores; a client and an API on their own cores accept it faster, and "
    "`POST /execute_function_batch` submits a wave in one request",
}


def _missed_text(t: pd.DataFrame) -> str:
    """Each target missed, by how much in each mode, what bounds it there (from the run's
    data) and what removes it on real hosts."""
    missed = t[t["met"] != "yes"]
    if missed.empty:
        return "\nEvery target was met.\n"
    lines = ["\nWhat bounds each target missed, from this run's data, and what removes it:\n"]
    for target, g in missed.groupby("target", sort=False):
        fix = next((v for k, v in ON_REAL_HOSTS.items() if target.startswith(k)), "")
        modes = "; ".join(
            f"{r.mode} {r.measured}" + (f" — {r.bound.lstrip('; ')}" if r.bound else "")
            for r in g.itertuples()
        )
        lines.append(f"- **{target}**: {modes}." + (f" *On real hosts:* {fix}." if fix else ""))
    return "\n".join(lines) + "\n"


#: The model's accuracy targets (issue #16): the largest relative error accepted.
MODEL_TARGETS = {"throughput_tps": 0.15, "p50_ms": 0.20, "p99_ms": 0.30}


def _model_text(out: Path, plots: dict[str, Path]) -> str:
    """The "Model against measurement" section, if the run has ``model.csv``."""
    if "model" not in plots:
        return ""
    table = pd.read_csv(out / "model.csv")
    info = json.loads((out / "model.json").read_text()) if (out / "model.json").exists() else {}
    names = {"throughput_tps": "throughput", "p50_ms": "p50", "p99_ms": "p99"}
    rows = []
    for (study, mode), g in table.groupby(["study", "mode"], sort=False):
        row = {"study": study, "mode": mode, "configurations": len(g)}
        for metric, name in names.items():
            err = g[f"error_{metric}"]
            within = int((err.abs() <= MODEL_TARGETS[metric]).sum())
            row[f"{name} error, mean (range)"] = (
                f"{100 * err.mean():+.0f} % ({100 * err.min():+.0f} … {100 * err.max():+.0f})"
            )
            row[f"{name} within ±{100 * MODEL_TARGETS[metric]:.0f} %"] = f"{within}/{len(g)}"
        rows.append(row)
    total = {
        name: (
            100 * table[f"error_{metric}"].abs().mean(),
            int((table[f"error_{metric}"].abs() <= MODEL_TARGETS[metric]).sum()),
        )
        for metric, name in names.items()
    }
    summary = "; ".join(
        f"{name} {mean:.0f} % ({within} of {len(table)} within ±"
        f"{100 * MODEL_TARGETS[metric]:.0f} %)"
        for (metric, name), (mean, within) in zip(names.items(), total.values(), strict=True)
    )
    if "probed" in table and table["probed"].all():
        speed = (
            "at the speed this run measured (its speed probe before each run against the "
            f"calibration's: {table['speed'].min():.2f}–{table['speed'].max():.2f}× the "
            "calibration's)"
        )
    else:
        speed = "at the calibration's speed (this run has no speed probes)"
    return f"""## Model against measurement

![model against measurement]({plots["model"].name})

The simulator (`experiments/sim`) predicted every configuration of this run it expresses
(tasks that sleep or do nothing; burst, sequential, closed-loop and Poisson loads; emulated
hosts sharing this machine's cores) from a calibration this run did not contribute to
(`{info.get("calibration", "?")}`, measured {info.get("calibrated_on", "?")} on commit
`{str(info.get("calibrated_commit", "?"))[:7]}`), {speed}, with {info.get("seeds", "?")}
seeds; measured figures are recomputed with the model's definitions
(latency from the client's send). Errors are predicted ÷ measured − 1, signed (negative:
the model predicts less than was measured); `model.csv` holds every configuration. Mean absolute
error over all {len(table)}: {summary}.

{_markdown(pd.DataFrame(rows))}
"""


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


def _load_curve_text(out: Path, summary: pd.DataFrame, plots: dict[str, Path]) -> str:
    """The "Latency against offered load" section, if this run had a load curve."""
    if "load_curve" not in plots:
        return ""
    path = out / "grid.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    curve = [r for r in recorded.get("runs", []) if r["study"] == "load_curve"]
    duration = {round(r["tasks"] / r["rate"], 1) for r in curve}
    skipped = recorded.get("skipped", [])
    parts = []
    for k in knees(summary).itertuples():
        if pd.isna(k.knee):
            parts.append(f"{k.mode} sustained none of its rates (lowest {k.low_rate:g}/s)")
            continue
        text = (
            f"{k.mode}: knee at {k.knee:g} tasks/s offered (p50 {k.p50_ms:.1f} ms, p99 "
            f"{k.p99_ms:.1f} ms there, against p50 {k.low_p50_ms:.1f} ms at {k.low_rate:g}/s)"
        )
        if pd.notna(k.past):
            text += f"; at {k.past:g}/s it achieved only {k.past_achieved:.0f}"
        else:
            text += "; it sustained every rate offered"
        parts.append(text)
    celery = ""
    if (out / "peer_curve.csv").exists():
        peer = pd.read_csv(out / "peer_curve.csv")
        k = knees(peer[peer["study"] == "load_curve"])
        if len(k):
            c = k.iloc[0]
            celery = (
                f" Celery (grey; {_peer_config(out)['processes']} prefork processes, the "
                "same arrivals, results awaited by threads) "
                + (
                    f"has its knee at {c['knee']:g} tasks/s (p50 {c['p50_ms']:.1f} ms, "
                    f"p99 {c['p99_ms']:.1f} ms there)"
                    if pd.notna(c["knee"])
                    else f"sustained none of its rates (lowest {c['low_rate']:g}/s)"
                )
                + "."
            )
    return f"""## Latency against offered load

![latency against offered load]({plots["load_curve"].name})

Open loop: Poisson arrivals at each offered rate (submissions never wait for results; each
result is awaited by long-poll on its own connection), {_listed(duration)} s of arrivals per
rate, latency counted from each task's scheduled arrival. The rate rises until the achieved
throughput falls below 90 % of the offered rate; {len(skipped)} higher rates were then
skipped. The knee is the highest rate still sustained: {"; ".join(parts)}.{celery}
"""


def _studies_text(summary: pd.DataFrame, plots: dict[str, Path]) -> str:
    """The section of the spec's own studies (any study outside the built-in ones)."""
    if "studies" not in plots:
        return ""
    from experiments.analysis.figures import STANDARD, config_label

    df = with_defaults(summary)  # built-in workloads have no args (read back as NaN)
    df = df[~df["study"].isin(STANDARD) & ~df["study"].str.startswith("hosts_")]
    rows = [
        {
            "study": r["study"],
            "workload": r["workload"]
            + (
                f"(*{json.loads(r['args'])[0]}, **{json.loads(r['args'])[1]})"
                if r.get("args")
                else ""
            ),
            "configuration": config_label(r),
            "tasks/s (min–max)": f"{r['throughput_median']:.1f} "
            f"({r['throughput_min']:.1f}–{r['throughput_max']:.1f})",
            "p50 ms": f"{1000 * r['latency_p50_median']:.2f}",
            "p99 ms": f"{1000 * r['latency_p99_median']:.2f}",
            "repeats": int(r["repeats"]),
        }
        for _, r in df.iterrows()
    ]
    return f"""## Studies of the spec

![studies]({plots["studies"].name})

Medians over repeats (min–max in brackets) of each configuration the spec (`spec.toml`)
declared; closed loop: each client submits a task and waits for it by long-poll before the
next; Poisson: open loop at the offered rate, latency from the scheduled arrival.

{_markdown(pd.DataFrame(rows))}
"""


def render(out: Path) -> Path:
    """Plots and REPORT.md for the run in ``out`` (each section only where its study ran)."""
    tasks = read_tasks(out)
    summary = pd.read_csv(out / "summary.csv")
    info = json.loads((out / "machine.json").read_text())
    summary.attrs["cpu_count"] = info.get("cpu_count")
    plots = all_plots(out)
    grid = grid_facts(out)
    failed = int((tasks["status"] != "COMPLETED").sum())
    repeats = int(summary["repeats"].max())
    standard = {"throughput", "weak_scaling", "latency", "payload"} <= set(summary["study"])
    if standard:
        method = f"""Tasks go through the REST API with
an aiohttp client (open loop: {grid["clients"]} submitters and {grid["clients"]} result
pollers; latency and payload studies: one task at a time)."""
        definitions = "Throughput = tasks / (last observed − first submitted), with "
        definitions += f"""{grid["throughput"]}.
Weak-scaling efficiency = ideal makespan / measured makespan, with {grid["weak"]}, and
makespan = last stored − first submitted. Latency: {grid["latency"]}. Payload:
{grid["payload"]}."""
    else:
        method = """Tasks go through the REST API with
an aiohttp client, loaded as the run's `spec.toml` declares for each study."""
        definitions = """Throughput = tasks / (last observed − first submitted);
latency = observed − submitted (Poisson loads: observed − scheduled arrival)."""
    sections = []
    if "throughput" in plots:
        sections.append(
            f"## Throughput\n\n![throughput]({plots['throughput'].name})\n\n"
            f"{_throughput_text(summary)}\n"
        )
    if "weak_scaling" in plots:
        sections.append(
            f"## Weak scaling\n\n![weak scaling]({plots['weak_scaling'].name})\n\n"
            f"{_weak_text(summary)}\n"
        )
    if "latency_cdf" in plots:
        sections.append(
            f"## Latency\n\n![latency CDF]({plots['latency_cdf'].name})\n\n{_latency_text(tasks)}"
            f"\n\n![overhead breakdown]({plots['overhead'].name})\n\n{_overhead_text(tasks)}\n"
        )
    if "payload" in plots:
        sections.append(
            f"## Payload size\n\n![payload latency]({plots['payload'].name})\n\n"
            f"{_payload_text(summary)}\n"
        )
    body = "\n".join(sections)
    tail = [
        _load_curve_text(out, summary, plots),
        _studies_text(summary, plots),
        _model_text(out, plots),
    ]
    text = f"""# faas benchmark report — {out.name}

## Setup

- Machine: {info["cpu_count"]} CPUs, {info["platform"]}, Python {info["python"]}
- {info["redis_server"]}
- Commit `{info["git_commit"]}`, measured {info["date"]}
- Packages: {", ".join(f"{k} {v}" for k, v in info["packages"].items())}

## Method

Each stack shape (mode, workers × processes per worker) runs on a fresh stack: an embedded
`redis-server`, the API, the dispatcher and its workers as separate processes on 127.0.0.1,
all sharing this machine's cores with the load client. {method} Per task, the API records
*submitted*, the dispatcher *dispatched* and *stored*, the pool process *started* and
*finished*, and the client *observed*. Every configuration ran {repeats} times; figures are
medians over repeats with min–max error bars. {len(tasks)} tasks in all, {failed} not COMPLETED.

{definitions}

{body}
{_hosts_text(out, summary, info, plots)}
{_baselines_text(out, summary, tasks)}
{"".join(t + chr(10) for t in tail if t)}## Summary

{_markdown(summary_table(summary)) if standard else "See the sections above."}

Raw data: `tasks.csv.gz` (one row per task), `runs.csv` (one per run), `summary.csv` (one
per configuration), `grid.json` (every configuration run), `machine.json`, `peer.csv` and
`peer.json`, `direct.csv`. Regenerate this report and its plots from them with
`python -m experiments.analysis DIR` (DIR: this run's directory; for the committed reference
run, `nox -s report`).
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
