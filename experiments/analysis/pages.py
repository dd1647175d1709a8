"""Markdown pages from Jinja2 templates and data frames: the one way the harness writes its
reports (templates hold the prose, code computes what goes in)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2
import pandas as pd


@cache
def _environment(templates: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def page(templates: Path, template: str, **context: object) -> str:
    """Render ``template`` of the folder ``templates`` with ``context``."""
    return _environment(templates).get_template(template).render(**context)


def markdown(df: pd.DataFrame) -> str:
    """A data frame as a Markdown table (missing values as "—")."""
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += [
        "| " + " | ".join("—" if pd.isna(v) else str(v) for v in row) + " |"
        for row in df.itertuples(index=False)
    ]
    return "\n".join(lines)
