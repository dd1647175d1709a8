"""The quick sweep end to end on real stacks: CSVs, plots and a report that matches them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from experiments.analysis.metrics import read_tasks, with_defaults
from experiments.analysis.report import knees, render
from experiments.hosts import available
from experiments.simulate.benchrun import expressible
from experiments.spec import Spec, builtin
from experiments.sweep import run_sweep


def _grid_of(spec: Spec) -> tuple[list, int]:
    return spec.runs, spec.repeats


pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]  # the quick sweep: ~2-3 min

TASK_COLUMNS = {
    "study",
    "mode",
    "workers",
    "procs",
    "processes",
    "workload",
    "arg",
    "repeat",
    "task_id",
    "status",
    "worker",
    "submitted",
    "dispatched",
    "started",
    "finished",
    "stored",
    "observed",
    "sent",
    "payload_bytes",
    "probe_s",
}
PLOTS = [
    "throughput.png",
    "weak_scaling.png",
    "latency_cdf.png",
    "overhead_breakdown.png",
    "payload_latency.png",
    "celery.png",
    "load_curve.png",
]


HOSTS, _ = available()


def _grid(run_dir: Path) -> tuple[list[dict], int]:
    """The runs the quick sweep ran (grid.json): the quick grid, without the hosts axis where
    namespaces do not work and without the load curve's rates skipped past saturation."""
    recorded = json.loads((run_dir / "grid.json").read_text())
    runs, repeats = _grid_of(builtin(quick=True))
    expected = [r.__dict__ for r in runs if HOSTS or not r.hosts]
    order = lambda runs: sorted(runs, key=lambda r: json.dumps(r, sort_keys=True))  # noqa: E731
    assert order(recorded["runs"] + recorded["skipped"]) == order(expected)
    assert all(r["study"] == "load_curve" for r in recorded["skipped"])
    return recorded["runs"], repeats


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = builtin(quick=True)
    out = tmp_path_factory.mktemp("results") / "quick"
    return run_sweep(spec.runs, spec.repeats, out, spec.baselines, spec.text)


def test_tasks_csv_has_every_task_with_server_timestamps(run_dir: Path) -> None:
    tasks = read_tasks(run_dir)
    runs, repeats = _grid(run_dir)
    assert set(tasks.columns) >= TASK_COLUMNS
    assert len(tasks) == repeats * sum(run["tasks"] for run in runs)
    assert (tasks["status"] == "COMPLETED").all()
    ordered = ["submitted", "dispatched", "started", "finished", "stored", "observed"]
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        assert (tasks[later] >= tasks[earlier] - 0.002).all(), (earlier, later)  # clock jitter
    remote = tasks[tasks["mode"] != "local"]
    assert remote["worker"].str.len().min() > 0


def test_summary_has_one_row_per_configuration(run_dir: Path) -> None:
    summary = pd.read_csv(run_dir / "summary.csv")
    runs, repeats = _grid(run_dir)
    assert len(summary) == len(runs)
    assert (summary["repeats"] == repeats).all()
    studies = {"throughput", "weak_scaling", "latency", "payload", "load_curve"} | (
        {"hosts_weak"} if HOSTS else set()
    )
    assert set(summary["study"]) == studies


@pytest.mark.skipif(not HOSTS, reason="no network namespaces here")
def test_the_two_host_points_ran_on_two_hosts(run_dir: Path) -> None:
    tasks = read_tasks(run_dir)
    two = tasks[tasks["study"] == "hosts_weak"]
    assert set(two["hosts"]) == {2}
    for (_, _), g in two.groupby(["mode", "repeat"]):
        assert g["worker"].nunique() == 2  # both hosts' workers ran tasks
    report = (run_dir / "REPORT.md").read_text()
    assert "## Several hosts" in report and "](hosts.png)" in report
    assert "Link shaping on\nthis kernel: tbf yes" in report


def test_every_plot_is_a_png(run_dir: Path) -> None:
    for name in PLOTS:
        data = (run_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name


def test_report_numbers_match_the_csvs(run_dir: Path) -> None:
    report = (run_dir / "REPORT.md").read_text()
    summary = pd.read_csv(run_dir / "summary.csv")
    for name in PLOTS:
        assert f"]({name})" in report
    table = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("local", "pull", "push"):
            table[cells[0]] = cells
    assert set(table) == {"local", "pull", "push"}
    for mode, cells in table.items():
        noop = summary[
            (summary["mode"] == mode)
            & (summary["study"] == "throughput")
            & (summary["workload"] == "noop")
        ]
        assert int(cells[1]) == round(noop["throughput_median"].max())
        latency = summary[(summary["mode"] == mode) & (summary["study"] == "latency")]
        assert float(cells[5]) == round(1000 * latency["latency_p50_median"].iloc[0], 2)
        weak = summary[(summary["mode"] == mode) & (summary["study"] == "weak_scaling")]
        largest = weak.sort_values("processes").iloc[-1]
        assert cells[4] == f"{100 * largest['efficiency_median']:.1f}% at {largest['processes']}"
    peak = summary[summary["study"] == "throughput"]["throughput_median"].max()
    assert re.search(rf"\b{round(peak)} tasks/s", report)


def test_report_regenerates_from_csvs_alone(run_dir: Path) -> None:
    before = (run_dir / "REPORT.md").read_text()
    for name in PLOTS + ["REPORT.md"]:
        (run_dir / name).unlink()
    render(run_dir)
    assert all((run_dir / name).exists() for name in PLOTS + ["REPORT.md"])
    assert (run_dir / "REPORT.md").read_text() == before  # the same text, from files alone


def test_report_prose_takes_its_facts_from_the_run(run_dir: Path) -> None:
    import json

    report = (run_dir / "REPORT.md").read_text()
    machine = json.loads((run_dir / "machine.json").read_text())
    peer = json.loads((run_dir / "celery.json").read_text())
    recorded = json.loads((run_dir / "grid.json").read_text())
    assert f"{recorded['client_concurrency']} submitters" in report
    assert "4 tasks of `sleep(0.2)` per process on 1/2/4 processes (ideal makespan 0.8 s)" in report
    assert f"leave the {machine['cpu_count']} cores idle" in report
    assert (
        f"Celery {peer['celery']} (" in report and f"with {peer['processes']} processes" in report
    )
    assert "(not recorded" not in report and " ? " not in report


def test_celery_comparison_and_dispatcher_direct_are_in_the_report(run_dir: Path) -> None:
    peer = pd.read_csv(run_dir / "celery.csv")
    assert set(peer["system"]) == {"celery", "faas-local", "faas-pull", "faas-push"}
    assert (peer[peer["path"].isin(["rest", "batch"])]["tasks_per_s"] > 0).all()
    assert set(peer[peer["system"] != "celery"]["path"]) == {"rest", "batch", "latency", "invoke"}
    direct = pd.read_csv(run_dir / "direct.csv")
    assert set(direct["mode"]) == {"local", "pull", "push"} and (direct["tasks_per_s"] > 0).all()
    report = (run_dir / "REPORT.md").read_text()
    assert "### Performance targets" in report
    celery_rest = peer[(peer["system"] == "celery") & (peer["path"] == "rest")]["tasks_per_s"]
    assert f"Celery did {celery_rest.median():.0f} tasks/s" in report
    rows = [line for line in report.splitlines() if line.startswith("| REST ≥ 2× Celery")]
    assert len(rows) == 3 and all(row.rstrip(" |").endswith(("yes", "**no**")) for row in rows)
    # what bounds a target missed comes from the cores each component kept busy meanwhile
    for busy in (peer[(peer["system"] != "celery") & (peer["path"] == "rest")], direct):
        assert (busy["cores_host"] > 0).all() and (busy["cores_dispatcher"] > 0).all()
        assert (busy["cores_had"] <= os.cpu_count()).all()
    missed = [line for line in report.splitlines() if line.endswith("| **no** |")]
    assert bool(missed) == ("What bounds each target missed" in report)


def test_the_run_keeps_its_spec_and_the_load_curve_rises_until_saturation(run_dir: Path) -> None:
    assert (run_dir / "spec.toml").read_text() == builtin(quick=True).text
    summary = pd.read_csv(run_dir / "summary.csv")
    curve = summary[summary["study"] == "load_curve"]
    recorded = json.loads((run_dir / "grid.json").read_text())
    for mode, g in curve.groupby("mode"):
        g = g.sort_values("rate")
        sustained = g["throughput_median"] >= 0.9 * g["rate"]
        # every rate below the last one measured was sustained; past a saturated one, the
        # higher rates were skipped, not measured
        assert sustained.iloc[:-1].all(), g
        skipped = {r["rate"] for r in recorded["skipped"] if r["mode"] == mode}
        assert set(g["rate"]) | skipped == {50, 200, 800}
        if skipped:  # skipped only past a rate that was not sustained
            assert not sustained.iloc[-1] and min(skipped) > g["rate"].max()
        assert g["rate"].min() == 50 and g.iloc[0]["throughput_median"] > 0.9 * 50
    report = (run_dir / "REPORT.md").read_text()
    assert "## Latency against offered load" in report and "](load_curve.png)" in report
    for k in knees(curve).itertuples():
        assert f"{k.mode}: knee at {k.knee:g} tasks/s offered" in report


def test_the_api_alone_is_measured_and_reported(run_dir: Path) -> None:
    api = pd.read_csv(run_dir / "api.csv")
    assert set(zip(api["endpoint"], api["connections"], strict=True)) == {
        (e, c) for e in ("submit", "result") for c in (1, 32)
    }
    assert len(api) == 2 * 2 * 2  # endpoints x connections x repeats
    assert (api["requests"] > 0).all() and (api["api_cpu_us"] > 0).all()
    assert (api["requests_per_s"] == api["requests_per_s"]).all()  # no NaN
    report = (run_dir / "REPORT.md").read_text()
    assert "### The API alone" in report
    busy = api[api["connections"] == 32]
    for endpoint, g in busy.groupby("endpoint"):
        row = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| API CPU ≤ 400 µs per request | {endpoint} (API) |")
        )
        assert f"| {g['api_cpu_us'].median():.0f} µs |" in row


def test_the_model_predicts_every_configuration_it_expresses(run_dir: Path) -> None:
    """The sweep ends with the simulator's predictions of the run (model.csv), at the
    speed each run measured, rendered in the report."""
    model = pd.read_csv(run_dir / "model.csv")
    expected = expressible(with_defaults(pd.read_csv(run_dir / "summary.csv")))
    assert len(model) == len(expected) > 0
    assert set(model["study"]) == set(expected["study"])
    assert model["probed"].all() and (model["speed"] > 0).all()
    for metric in ("throughput_tps", "p50_ms", "p99_ms"):
        assert (model[f"predicted_{metric}"] > 0).all()
        ratio = model[f"predicted_{metric}"] / model[f"measured_{metric}"] - 1
        assert list(model[f"error_{metric}"]) == pytest.approx(list(ratio))
    report = (run_dir / "REPORT.md").read_text()
    assert "## Model against measurement" in report and "](model_parity.png)" in report
    assert (run_dir / "model_parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
