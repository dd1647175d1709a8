"""The documentation site's generated pages show their data: references list everything the
code defines, results pages the tables computed from their committed files, the README's
headline table its record's (data → page; no test reads a sentence of prose)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.analysis.tables import api_table
from experiments.site.reference import cli_page, configuration_page, rest_page, spec_page
from experiments.site.results import RESULTS, celery_headline, results_pages
from experiments.sweep import api as api_bench
from experiments.sweep import dispatcher as dispatcher_bench
from experiments.sweep.modes import table as modes_table
from faas.api.app import create_app
from faas.cli import parser
from faas.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_configuration_page_lists_every_setting_with_its_default() -> None:
    page = configuration_page()
    for name, field in Settings.model_fields.items():
        row = next(
            line for line in page.splitlines() if line.startswith(f"| `FAAS_{name.upper()}`")
        )
        if field.default is not None:
            assert f"`{field.default}`" in row
    assert "A file of API keys, one per line" in page  # a field's own comment travels


def test_the_rest_page_has_every_endpoint_of_the_schema() -> None:
    page = rest_page()
    schema = create_app().openapi()
    for path, methods in schema["paths"].items():
        for method in methods:
            assert f"## `{method.upper()} {path}`" in page
    for name in schema["components"]["schemas"]:
        assert f"### {name}" in page


def test_the_cli_page_has_every_subcommand_and_option() -> None:
    page = cli_page()
    top = parser()
    commands = next(a for a in top._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f"## faas {name}" in page
        for action in sub._actions:
            for flag in action.option_strings:
                assert flag in page


def test_the_spec_page_names_every_key_the_spec_accepts() -> None:
    from experiments import spec

    page = spec_page()
    for key in spec.STUDY_KEYS | spec.LOAD_KEYS | spec.BASELINE_KEYS:
        assert f"`{key}`" in page


def test_each_results_page_shows_the_tables_of_its_committed_data() -> None:
    pages = results_pages()
    api = pd.read_csv(RESULTS / "api-bench" / "api.csv")
    assert api_table(api) in pages["results/api-bench.md"]
    assert api_bench.ratio_table(api) in pages["results/api-bench.md"]
    ab = pd.read_csv(RESULTS / "prefetch" / "adaptive-ab.csv")
    assert dispatcher_bench.ratio_table(ab) in pages["results/prefetch.md"]
    modes = pd.read_csv(RESULTS / "bench-modes" / "bench_modes.csv")
    assert modes_table(modes) in pages["results/bench-modes.md"]
    memory = pd.read_csv(RESULTS / "memory" / "memory.csv")
    assert f"| {len(memory)} | {memory['tasks_done'].max()} |" in pages["results/memory.md"]
    chaos = pd.read_csv(RESULTS / "chaos-run" / "tasks.csv.gz")
    assert f"| {len(chaos)} | 0 | 0 |" in pages["results/chaos-run.md"]
    for page in pages.values():
        assert page.startswith("# ") and "Measured " in page.splitlines()[2]


def test_the_readme_headline_table_is_the_reference_runs() -> None:
    assert celery_headline() in (ROOT / "README.md").read_text()
