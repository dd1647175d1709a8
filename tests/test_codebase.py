"""The style rules a reader relies on, checked: short functions, a self-contained repository."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 40


def test_no_function_in_the_platform_is_longer_than_40_lines() -> None:
    long = []
    for path in sorted((ROOT / "faas").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert long == []


def test_nothing_refers_to_a_file_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = ("../shared", "DESIGN.md", "SEED-REPORT", "STYLE.md")
    offenders = [
        name
        for name in tracked
        if name.endswith((".py", ".md", ".toml", ".txt"))
        and name != "tests/test_codebase.py"
        and (ROOT / name).exists()
        and any(ref in (ROOT / name).read_text(errors="replace") for ref in outside)
    ]
    assert offenders == []
