"""The results pages: one per committed record under ``docs/results/``, each headed by when
it was measured, on which code and machine, and with which command, its tables rendered
from its files by the same functions the harness uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from experiments.analysis.pages import markdown
from experiments.analysis.tables import api_table
from experiments.sweep import api as api_bench
from experiments.sweep import dispatcher as dispatcher_bench
from experiments.sweep.fsync import summary as fsync_summary
from experiments.sweep.modes import table as modes_table

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def header(record: Path, title: str) -> str:
    """A results page's head: its title and the record's ``record.json``."""
    info = json.loads((record / "record.json").read_text())
    return (
        f"# {title}\n\n"
        f"Measured {info['measured']} on {info['machine']}; code: {info['code']}; "
        f"command: `{info['command']}`. Files: `docs/results/{record.name}/`.\n"
    )


def api_bench_page(record: Path) -> str:
    api = pd.read_csv(record / "api.csv")
    return "\n".join(
        [
            header(record, "The API alone"),
            "Medians (min–max) over the repeats of this code:\n",
            api_table(api),
            "\nAPI CPU per request, this code against the one before (`--against`):\n",
            api_bench.ratio_table(api),
        ]
    )


def modes_page(record: Path) -> str:
    return (
        header(record, "Each mode alone")
        + "\n"
        + modes_table(pd.read_csv(record / "bench_modes.csv"))
    )


def memory_page(record: Path) -> str:
    m = pd.read_csv(record / "memory.csv")
    mib = m["used_memory"] / 2**20
    figures = pd.DataFrame(
        [
            {
                "samples": len(m),
                "tasks done": int(m["tasks_done"].max()),
                "seconds": round(float(m["t_s"].max()), 1),
                "MiB p5–p95": f"{mib.quantile(0.05):.2f}–{mib.quantile(0.95):.2f}",
                "MiB max": f"{mib.max():.2f}",
                "MiB at the end": f"{mib.iloc[-1]:.2f}",
                "keys at the end": int(m["task_keys"].iloc[-1]),
            }
        ]
    )
    return "\n".join(
        [header(record, "Redis memory over 100 000 tasks"), markdown(figures),
         "\n![memory](memory/memory.png)\n"]
    )  # fmt: skip


def prefetch_page(record: Path) -> str:
    ab = pd.read_csv(record / "adaptive-ab.csv")
    fixed = pd.read_csv(record / "prefetch.csv")
    fixed = fixed.groupby(["study", "prefetch"])["value"].median().unstack("study").reset_index()
    return "\n".join(
        [
            header(record, "Prefetch"),
            "The adaptive prefetch, fed directly, tasks/s (medians of interleaved repeats):\n",
            dispatcher_bench.ratio_table(ab),
            "\nA fixed prefetch, medians of the repeats (`prefetch.csv`):\n",
            markdown(fixed.round(3)),
        ]
    )


def faults_page(record: Path) -> str:
    faults = pd.read_csv(record / "faults.csv")
    columns = ["scenario", "mode", "submitted", "completed", "failed", "lost", "retried",
               "detect_s", "recover_s", "readmit_s", "redis_fsync"]  # fmt: skip
    return "\n".join(
        [
            header(record, "Fault injection"),
            "One run per scenario and mode (200 tasks of `sleep(0.2)`, 2 workers × 2 "
            "processes); *detect*: fault → first loss event; *recover*: fault → every task "
            "hit has ended; *readmit*: link restored → serving again.\n",
            markdown(faults[columns].round(2)),
            "\nRedis's `appendfsync`: what `always` costs (closed loop, medians and ranges of "
            "the repeats) and what `everysec` lost on a disk throttled to 5 writes/s:\n",
            *(f"- {line}" for line in fsync_summary(_fsync_rows(record / "fsync.csv"))),
        ]
    )


def _fsync_rows(path: Path) -> list[dict]:
    rows = pd.read_csv(path).to_dict("records")
    for r in rows:
        if r["part"] == "loss":
            r["lost"], r["vanished"] = int(r["lost"]), int(r["vanished"])
    return rows


def chaos_page(record: Path) -> str:
    faults = pd.read_csv(record / "faults.csv")
    tasks = pd.read_csv(record / "tasks.csv.gz")
    counts = faults["fault"].value_counts().rename_axis("fault").reset_index(name="injected")
    outcome = pd.DataFrame(
        [
            {
                "tasks accepted": len(tasks),
                "lost": int((~tasks["status"].isin(["COMPLETED", "FAILED"])).sum()),
                "wrong": int(
                    (tasks["status"].isin(["COMPLETED", "FAILED"]) & (tasks["correct"] == 0)).sum()
                ),  # fmt: skip
                "ran twice": int((tasks["executions"] > 1).sum()),
                "faults": len(faults),
            }
        ]
    )
    return "\n".join(
        [header(record, "Chaos soak"), markdown(outcome), "", markdown(counts),
         "\n![timeline](chaos-run/timeline.png)\n"]
    )  # fmt: skip


def compare_noise_page(record: Path) -> str:
    pairs = pd.read_csv(record / "noise.csv")
    aa = pairs[pairs["kind"] == "A/A"]
    ab = pairs[pairs["kind"] == "A/B"].iloc[0]
    summary = (
        f"{len(aa)} A/A pairs (same code, same spec), {int((aa['flagged'] == 0).sum())} flagged "
        f"nothing; the A/B pair (`work` 1.5× slower) was flagged in {ab['work_flagged']} of "
        f"{ab['work_configurations']} configurations of `work`."
    )
    shown = pairs[["kind", "a", "b", "comparisons", "flagged", "flagged_what"]].fillna("")
    return "\n".join(
        [header(record, "How far compare can be trusted"), summary, "", markdown(shown)]
    )


def failure_tests_page(record: Path) -> str:
    """The model test's long searches (``model.csv``: seed, mode, examples, outcome, seconds)
    and the mutation score (``mutants.csv``, one row per planted bug)."""
    model = pd.read_csv(record / "model.csv")
    mutants = pd.read_csv(record / "mutants.csv")
    killed = int(mutants["killed"].astype(bool).sum())
    return "\n".join(
        [
            header(record, "How strong the failure model's tests are"),
            f"The dispatcher's model test (`tests/dispatcher/test_model.py`): "
            f"{int((model['outcome'] == 'passed').sum())} of {len(model)} searches passed, "
            f"{int(model['examples'].min())} examples each, seeds "
            f"{', '.join(map(str, sorted(model['seed'].unique())))}:\n",
            markdown(model),
            f"\nMutation score (`nox -s mutants`, `tests/mutants.toml`): mutants: {killed} of "
            f"{len(mutants)} killed.\n",
            markdown(mutants[["mutant", "file", "killed", "seconds"]]),
        ]
    )


#: each record folder with a generated page, its page's function and nav title
PAGES: dict[str, tuple[Callable[[Path], str], str]] = {
    "api-bench": (api_bench_page, "The API alone"),
    "bench-modes": (modes_page, "Each mode alone"),
    "memory": (memory_page, "Redis memory"),
    "prefetch": (prefetch_page, "Prefetch"),
    "faults": (faults_page, "Fault injection"),
    "chaos-run": (chaos_page, "Chaos soak"),
    "compare-noise": (compare_noise_page, "Compare's noise"),
    "failure-tests": (failure_tests_page, "The failure model's tests"),
}


def results_pages(root: Path = RESULTS) -> dict[str, str]:
    """``results/<name>.md`` → its text, for every record present."""
    return {
        f"results/{name}.md": page(root / name)
        for name, (page, _) in PAGES.items()
        if (root / name / "record.json").exists()
    }


def celery_headline(record: Path = RESULTS / "reference-run") -> str:
    """The README's headline table: faas in each mode against Celery on the same machine,
    medians over the record's repeats (``celery.csv``), stamped with its date, machine and
    commit (``machine.json``)."""
    from experiments.analysis.tables import celery_summary

    info = json.loads((record / "machine.json").read_text())
    p = celery_summary(pd.read_csv(record / "celery.csv")).set_index("system")
    rows = ["| | Celery | faas local | faas pull | faas push |", "|---|---|---|---|---|"]
    for label, key, fmt in (
        ("no-op tasks/s, one request per task", "rest_tasks_per_s", "{:.0f}"),
        ("no-op tasks/s, batch (`Executor.map` / `group`)", "batch_tasks_per_s", "{:.0f}"),
        ("round trip p50, ms", "p50_ms", "{:.2f}"),
        ("round trip p99, ms", "p99_ms", "{:.2f}"),
    ):
        cells = [
            fmt.format(p.loc[s, key]) for s in ("celery", "faas-local", "faas-pull", "faas-push")
        ]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    stamp = (
        f"Measured {info['date'][:10]} on {info['cpu_count']} cores ({info['platform']}), "
        f"commit `{info['git_commit'][:7]}`, medians of "
        f"{int(pd.read_csv(record / 'celery.csv')['repeat'].max()) + 1} repeats"
    )
    return stamp + ":\n\n" + "\n".join(rows)
