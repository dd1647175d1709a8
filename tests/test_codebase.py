"""The style rules a reader relies on, checked: short functions, a self-contained repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from experiments.site.results import PAGES

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 40


def _sources() -> list[Path]:
    """The platform's and the harness's modules."""
    return sorted([*(ROOT / "faas").rglob("*.py"), *(ROOT / "experiments").rglob("*.py")])


def test_no_function_is_longer_than_40_lines() -> None:
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_no_private_name_is_imported_from_another_module() -> None:
    """A name with a leading underscore is its module's own business."""
    crossing = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and node.module.startswith(("faas", "experiments")):
                    crossing.append(f"{path.relative_to(ROOT)}: {node.module} {private}")
    assert crossing == []


def _tracked_texts() -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        name: (ROOT / name).read_text(errors="replace")
        for name in names
        if name.endswith((".py", ".md", ".toml", ".txt")) and (ROOT / name).exists()
    }


#: Markdown files the harness writes into a run directory, and the documentation site's
#: pages generated at build time (experiments/site/): not part of the repository.
GENERATED = {"REPORT.md", "summary.md", "SIMULATION.md", "COMPARE.md", "BY_CLIENTS.md"} | {
    "configuration.md", "cli.md", "simulate-cli.md", "rest.md", "spec.md", "changelog.md",
    *(f"{name}.md" for name in PAGES),
}  # fmt: skip


def test_nothing_refers_to_a_file_outside_the_repository() -> None:
    """Every Markdown file a tracked file names is in the repository (or is one the harness
    writes), and no path climbs out of it."""
    texts = _tracked_texts()
    present = {Path(name).name for name in texts}
    named = {
        (name, Path(found).name)
        for name, text in texts.items()
        for found in re.findall(r"[\w./-]+\.md\b", text)
    }
    missing = sorted((n, f) for n, f in named if f not in present | GENERATED)
    climbing = sorted(
        (n, found)
        for n, text in texts.items()
        for found in re.findall(r"(?:\.\./)+[A-Za-z][\w./-]*", text)
        if not (ROOT / n).parent.joinpath(found).resolve().is_relative_to(ROOT)
    )
    assert missing == [] and climbing == []
